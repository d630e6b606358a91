"""Kedro glue for MSCL: image sets and checkpoints in, the room's arms called, models, tables, plots and a metrics
dict out. Metric keys are bare (``game/val_miou``): the project hook files them under the node's name
(``train_mscl/game/val_miou``); the report's ``claim/…`` and ``compare/…`` are run-level.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cvpapers.engine.run import RunContext
from cvpapers.pipelines.msda_collab.arms import Arms, train_combined_arm, train_member_arm
from cvpapers.pipelines.msda_collab.config import MsdaParams

Arrays = dict[str, np.ndarray]
Checkpoint = dict[str, Any]
SKIPPED: Checkpoint = {"format": "skipped"}


def _params(params: dict[str, Any]) -> MsdaParams:
    return MsdaParams.model_validate(params)


def _start(params: dict[str, Any], pipeline: str) -> tuple[MsdaParams, Arms]:
    """The node prologue: validated parameters and the run's arms (device, threads, seeds, train state)."""
    p = _params(params)
    return p, Arms(p, RunContext.start(p, pipeline))


# -- data ---------------------------------------------------------------------------------------------------


def prepare_data(
    params: dict[str, Any],
    manifest: pd.DataFrame | None = None,
) -> tuple[Arrays, Arrays, Arrays, dict[str, float]]:
    """Labelled sources (stacked), the unlabelled target pool and the target val set (spec §7 node 1)."""
    from cvpapers.pipelines.msda_collab.sets import embedded_sets, real_sets

    p = _params(params)
    sources, pool, val = real_sets(p) if p.data.real else embedded_sets(manifest, p)  # type: ignore[arg-type]
    metrics = {f"n_{s}": float((sources["domain"] == k).sum()) for k, s in enumerate(sources["domains"])}
    metrics.update(n_target_pool=float(len(pool["images"])), n_val=float(len(val["images"])))
    return sources, pool, val, metrics


def lab_translate(
    sources: Arrays,
    pool: Arrays,
    params: dict[str, Any],
    pipeline: str,
) -> tuple[Arrays, dict[str, float], Any]:
    """§3.1: every source's LAB statistics matched to the target pool (one seeded call per source)."""
    from cvpapers.engine import plots
    from cvpapers.pipelines.msda_collab.sets import lab_translate as translate
    from cvpapers.pipelines.msda_collab.sets import per_source_examples

    p, arms = _start(params, pipeline)
    translated, info = translate(sources, pool, p, lambda s: arms.run.seed("lab", s))
    rows = {}
    for (name, before), after in zip(
        per_source_examples(sources, 6).items(), per_source_examples(translated, 6).values(), strict=True
    ):
        rows.update({f"{name}": before, f"{name} → target LAB": after})
    rows["target"] = pool["images"][:6]
    return translated, info, plots.labelled_rows(rows, "LAB translation of every source (before / after)")


# -- arms ---------------------------------------------------------------------------------------------------


def train_source_only(
    sources: Arrays,
    val: Arrays,
    params: dict[str, Any],
    pipeline: str,
) -> tuple[Checkpoint, dict[str, float]]:
    """Independent source-only models: the MSCL trainer with λ_col = λ_t = 0 (no target batch)."""
    _, arms = _start(params, pipeline)
    ckpt, metrics, _ = train_member_arm(arms, sources, val, "source_only", 0.0, 0.0)
    return ckpt, metrics


def train_collab_only(
    sources: Arrays,
    val: Arrays,
    params: dict[str, Any],
    pipeline: str,
) -> tuple[Checkpoint, dict[str, float]]:
    """Ablation: collaborative learning for all iterations, no target data (``baselines.collab_only``)."""
    p, arms = _start(params, pipeline)
    if not p.baselines.collab_only:
        return SKIPPED, {"enabled": 0.0}
    ckpt, metrics, _ = train_member_arm(arms, sources, val, "collab_only", p.collab.lambda_col, 0.0)
    return ckpt, {**metrics, "enabled": 1.0}


def train_mscl(
    sources: Arrays,
    pool: Arrays,
    val: Arrays,
    params: dict[str, Any],
    pipeline: str,
) -> tuple[Checkpoint, dict[str, float], Any]:
    """MSCL, stages A + B in one loop: collaborative learning, then also the ensemble's online pseudo labels."""
    from cvpapers.engine import plots

    p, arms = _start(params, pipeline)
    ckpt, metrics, step = train_member_arm(arms, sources, val, "mscl", p.collab.lambda_col, p.target.lambda_t, pool)
    panels: dict[str, np.ndarray] = {"target image": pool["images"][:4]}
    if step.last_pseudo is not None:
        x, pseudo, hidden = step.last_pseudo
        panels = {
            "target image": arms.to_uint8(x),
            "online pseudo labels (black: ignored)": arms.colorize(pseudo.cpu().numpy()),
        }
        if hidden is not None:
            panels["hidden truth"] = arms.colorize(hidden.cpu().numpy())
    return (
        ckpt,
        metrics,
        plots.segmentation_panels(panels, 4, "last stage-B target batch and its pseudo labels"),
    )


def train_combined(
    sources: Arrays,
    val: Arrays,
    params: dict[str, Any],
    pipeline: str,
) -> tuple[Checkpoint, dict[str, float]]:
    """Source-combined baseline: one model on the union of the LAB-translated sources."""
    _, arms = _start(params, pipeline)
    return train_combined_arm(arms, sources, val, "combined")


def train_combined_no_lab(
    sources: Arrays,
    val: Arrays,
    params: dict[str, Any],
    pipeline: str,
) -> tuple[Checkpoint, dict[str, float]]:
    """Source-combined without LAB translation (``baselines.combined_no_lab``)."""
    p, arms = _start(params, pipeline)
    if not p.baselines.combined_no_lab:
        return SKIPPED, {"enabled": 0.0}
    ckpt, metrics = train_combined_arm(arms, sources, val, "combined_no_lab")
    return ckpt, {**metrics, "enabled": 1.0}


# -- report -------------------------------------------------------------------------------------------------


def report(
    params: dict[str, Any],
    pipeline: str,
    val: Arrays,
    mscl_model: Checkpoint,
    source_only_model: Checkpoint,
    combined_model: Checkpoint,
    **scores: dict[str, float],
) -> tuple[pd.DataFrame, Any, Any, dict[str, float]]:
    """The results table (per-class IoU of every model), the mIoU bar plot, overlays per model, the claims.

    ``scores``: each arm's metrics by name (``source_only``, ``combined``, ``combined_no_lab``, ``collab_only``,
    ``mscl``).
    """
    from cvpapers.engine import plots
    from cvpapers.pipelines.msda_collab.claims import claims
    from cvpapers.pipelines.msda_collab.tables import miou_bars, results_table

    p, arms = _start(params, pipeline)
    table = results_table(scores, arms.names, arms.classes)
    fig_bars = miou_bars(table, "MSCL and its baselines (same budget)")
    members, so = arms.load_members(mscl_model), arms.load_members(source_only_model)
    comb = arms.load_single(combined_model)
    columns = {
        "image": val["images"][:4],
        "truth": arms.colorize(val["labels"][:4]),
        "combined": comb,
        "source-only ensemble": arms.ensemble(so),
    }
    columns.update({f"MSCL {s}": members[s] for s in arms.names})
    columns["MSCL ensemble"] = arms.ensemble(members)
    panels = {
        k: v if isinstance(v, np.ndarray) else arms.colorize(arms.predict(v, val["images"][:4])[1].numpy())
        for k, v in columns.items()
    }
    fig_pred = plots.segmentation_panels(panels, 4, "target val predictions")
    return table, fig_bars, fig_pred, claims(scores, arms.names, len(arms.classes))
