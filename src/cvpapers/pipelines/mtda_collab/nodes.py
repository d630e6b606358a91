"""Kedro glue for MTDA-CCL: image sets and checkpoints in, the room's stages called, models, tables and a
metrics dict out. Metric keys are bare (the project hook files them under the node's name); the report's
``claim/…`` and ``compare/…`` are run-level.

Image sets are ``.npz`` dicts: the source (``images``, ``labels``), the targets' training images (``images``,
``hidden_labels`` — never a loss —, ``domain`` index, ``domains`` names) and their validation images
(``images``, ``labels``, ``domain``, ``domains``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cvpapers.engine.run import RunContext
from cvpapers.pipelines.mtda_collab.config import MtdaParams
from cvpapers.pipelines.mtda_collab.room import Room

Arrays = dict[str, np.ndarray]
Checkpoint = dict[str, Any]


def _start(params: dict[str, Any], pipeline: str) -> tuple[MtdaParams, Room]:
    """The node prologue: validated parameters and the run's room (device, threads, seeds, train state)."""
    p = MtdaParams.model_validate(params)
    return p, Room(p, RunContext.start(p, pipeline))


# -- data ------------------------------------------------------------------------------------------------------


def prepare_data(
    params: dict[str, Any],
    manifest: pd.DataFrame | None = None,
) -> tuple[Arrays, Arrays, Arrays, dict[str, float]]:
    """Source, targets' training and validation sets: the benchmark's styles, or the real datasets (in memory at
    ``data.real_size``)."""
    from cvpapers.pipelines.mtda_collab.sets import benchmark_sets, real_sets

    p = MtdaParams.model_validate(params)
    source, train, val = real_sets(p) if manifest is None else benchmark_sets(p, manifest)
    metrics = {"n_source": float(len(source["images"]))}
    for d, t in enumerate(p.data.targets):
        metrics[f"n_train/{t}"] = float((train["domain"] == d).sum())
        metrics[f"n_val/{t}"] = float((val["domain"] == d).sum())
    return source, train, val, metrics


def lab_stats(
    source: Arrays,
    train: Arrays,
    params: dict[str, Any],
    pipeline: str,
) -> tuple[Arrays, dict[str, float], Any]:
    """Per-image LAB statistics of every target's training images (the references of the bridge) and a grid:
    x_s, τ(x_s; T_i) per target, τ(x_{t_j}; T_i) per pair."""
    from cvpapers.pipelines.mtda_collab.sets import lab_statistics

    _, room = _start(params, pipeline)
    return lab_statistics(room, source, train)


# -- training ----------------------------------------------------------------------------------------------------


def train_source_only(
    source: Arrays, train: Arrays, lab: Arrays, val: Arrays, params: dict[str, Any], pipeline: str
) -> tuple[Checkpoint, dict[str, float]]:
    """θ0: source only, each image re-coloured per batch to a random image of a random target (§8.2)."""
    from cvpapers.pipelines.mtda_collab.stages import source_only

    _, room = _start(params, pipeline)
    return source_only(room, source, train, lab, val)


def train_experts_stage1(
    theta0: Checkpoint,
    source: Arrays,
    train: Arrays,
    lab: Arrays,
    val: Arrays,
    params: dict[str, Any],
    pipeline: str,
) -> tuple[Checkpoint, dict[str, float]]:
    """Stage 1 (§3.3): one expert per target from θ0, LAB-translated source CE + ramped self-training."""
    from cvpapers.pipelines.mtda_collab.stages import experts

    _, room = _start(params, pipeline)
    return experts(room, "experts_s1", theta0, None, source, train, lab, val)


def train_experts_indep(
    experts_s1: Checkpoint,
    source: Arrays,
    train: Arrays,
    lab: Arrays,
    val: Arrays,
    params: dict[str, Any],
    pipeline: str,
) -> tuple[Checkpoint, dict[str, float]]:
    """Baseline: the Stage-1 recipe continued for ``iters`` more (fresh optimiser), no collaboration."""
    from cvpapers.pipelines.mtda_collab.stages import experts

    _, room = _start(params, pipeline)
    return experts(room, "experts_indep", None, experts_s1, source, train, lab, val)


def train_ccl(
    experts_s1: Checkpoint,
    theta0: Checkpoint,
    source: Arrays,
    train: Arrays,
    lab: Arrays,
    val: Arrays,
    params: dict[str, Any],
    pipeline: str,
    stage: str = "ccl",
    overrides: dict[str, float] | None = None,
) -> tuple[Checkpoint, Checkpoint, dict[str, float]]:
    """Stage 2 (§3.4): experts and student trained jointly — bridge consistency, weight regulariser, imitation.
    ``overrides`` (ablation variant) replace ``ccl`` weights, e.g. ``{"lambda_con": 0}``."""
    from cvpapers.pipelines.mtda_collab.stages import collaborate

    if overrides:
        params = {**params, "ccl": {**params.get("ccl", {}), **overrides}}
    _, room = _start(params, pipeline)
    return collaborate(room, stage, experts_s1, theta0, source, train, lab, val)


def train_mixed_single(
    theta0: Checkpoint,
    source: Arrays,
    train: Arrays,
    lab: Arrays,
    val: Arrays,
    params: dict[str, Any],
    pipeline: str,
) -> tuple[Checkpoint, dict[str, float]]:
    """Main baseline: one model, θ0 + 2 × ``iters`` of the Stage-1 recipe on the merged targets."""
    from cvpapers.pipelines.mtda_collab.stages import mixed_single

    _, room = _start(params, pipeline)
    return mixed_single(room, theta0, source, train, lab, val)


# -- report ------------------------------------------------------------------------------------------------------


def report(
    params: dict[str, Any],
    pipeline: str,
    val: Arrays,
    student: Checkpoint,
    mixed: Checkpoint,
    theta0: Checkpoint,
    **scores: dict[str, float],
) -> tuple[pd.DataFrame, pd.DataFrame, Any, Any, dict[str, float]]:
    """The targets × models tables, the mIoU bar plot, per-target overlays and the claims (§8.3).

    ``scores``: each node's metrics by model (``source_only``, ``experts_s1``, ``experts_indep``, ``ccl``,
    ``mixed_single`` and, in the ablation variant, ``abl_<name>``)."""
    from cvpapers.pipelines.mtda_collab import tables
    from cvpapers.pipelines.mtda_collab.claims import claims

    p, room = _start(params, pipeline)
    models = tables.model_scores(scores, p.data.targets)
    results, per_target = (
        tables.results_table(models, p.data.targets),
        tables.per_target_table(models, room.classes, p.data.targets),
    )
    metrics = {
        **tables.flat_scores(models, p.data.targets),
        **claims(models, scores, p.data.targets, len(room.classes)),
    }
    overlays = tables.overlays(
        room,
        val,
        {
            "source-only": room.load(theta0),
            "mixed single": room.load(mixed),
            "CCL student": room.load(student),
        },
    )
    return results, per_target, tables.bar_plot(models, p.data.targets), overlays, metrics
