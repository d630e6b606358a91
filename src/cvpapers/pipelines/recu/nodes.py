"""Kedro glue for ReCU: catalog inputs and ``params:recu`` in, checkpoints, tables and metrics out.

The method lives in the room's plain-PyTorch modules: ``binary.py`` (the binarised conv: standardisation,
ReCU clamp, sign STE, ApproxSign, α), ``schedule.py`` (the τ schedule and weight diagnostics as a loop
callback), ``models.py`` (the paper's networks and the tiny embedded one), ``accounting.py`` (params and
binary/FP MACs), ``arms.py`` (one trainer for every arm), ``claims.py`` (the claim rule and the result table)
and ``figures.py``. Every node returns a metrics dict of floats with bare keys; the project hook files them
under the node's name (``train_recu/top1``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from cvpapers.pipelines.recu.arms import LOG_COLUMNS
from cvpapers.pipelines.recu.config import RecuParams


def _start(params: dict[str, Any], pipeline: str) -> tuple[RecuParams, Any]:
    """The validated parameters and the run context (device, threads, seeds, checkpoint paths)."""
    from cvpapers.engine.run import RunContext

    p = RecuParams.model_validate(params)
    return p, RunContext.start(p, pipeline)


def prepare_data(params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, float], Any]:
    """Generate the embedded colour-patch benchmark, or index CIFAR-10 / ImageNet under ``data.root``."""
    from cvpapers.data.classification_source import prepare_classification_data

    return prepare_classification_data(RecuParams.model_validate(params).data)


def plan_model(manifest: pd.DataFrame, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
    """Params, binarised weights and MACs (total, binary, FP; ``conv_linear`` mode) of the chosen network."""
    from cvpapers.data.classification_source import input_size
    from cvpapers.pipelines.recu.accounting import architecture_plan, plan_metrics

    p = RecuParams.model_validate(params)
    t = p.model.tiny
    # Classes from the data itself, so an ImageNet subset gets a matching classifier.
    n_classes = int(manifest["label"].max()) + 1
    plan = architecture_plan(
        p.model.arch, n_classes, input_size(p.data), t.widths, t.blocks_per_stage, t.stem_stride
    )
    return plan, plan_metrics(plan)


def train_arm(
    manifest: pd.DataFrame, plan: dict[str, Any], params: dict[str, Any], pipeline: str, *, method: str
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, float]]:
    """Train one arm (``recu``, ``bnn``, ``ws_only`` or ``fp``) from the shared initial weights on the shared
    batches: its model checkpoint (last and best epoch), per-epoch log and metrics."""
    from cvpapers.data.classification_source import batch_sources, topk
    from cvpapers.engine.checkpoint import model_checkpoint
    from cvpapers.pipelines.recu.arms import ArmRun, arm_metrics, history_table, model_config
    from cvpapers.pipelines.recu.models import build_recu_net

    p, run = _start(params, pipeline)
    t = p.train
    data = batch_sources(
        manifest, p.data, t.batch_size, t.eval_batch_size, t.augment.model_dump(), run.seed()
    )
    config = model_config(plan, p, method)
    run.seed_everything("model")  # the same initial weights for every arm (spec §0.3, pitfall 17)
    model = build_recu_net(**config).to(run.device)
    result = ArmRun(data, p, run.device, run.checkpoint_dir, topk(p.data)).fit(
        model, method, {"arch": plan["arch"]}
    )
    checkpoint = model_checkpoint(model, config, build_recu_net)
    checkpoint["best"] = {"epoch": result.best_epoch, "state_dict": result.best_state}
    metrics = {
        **arm_metrics(result, p.report_best_epoch),
        "enabled": 1.0,
        "skipped_samples": float(len(data.skipped)),
    }
    return checkpoint, history_table(result), metrics


def train_optional_arm(
    manifest: pd.DataFrame, plan: dict[str, Any], params: dict[str, Any], pipeline: str, *, method: str
) -> tuple[pd.DataFrame, dict[str, float]]:
    """The WS-only ablation or the full-precision reference behind its ``arms`` switch (log and metrics only);
    switched off it returns only ``enabled = 0``."""
    if not getattr(RecuParams.model_validate(params).arms, method):
        return pd.DataFrame(columns=LOG_COLUMNS), {"enabled": 0.0}
    _, log, metrics = train_arm(manifest, plan, params, pipeline, method=method)
    return log, metrics


def report(
    plan: dict[str, Any],
    recu: dict[str, float],
    bnn: dict[str, float],
    ws_only: dict[str, float],
    fp: dict[str, float],
    recu_log: pd.DataFrame,
    bnn_log: pd.DataFrame,
    ws_only_log: pd.DataFrame,
    fp_log: pd.DataFrame,
) -> tuple[pd.DataFrame, Any, Any, dict[str, float]]:
    """The result table, per-epoch curves and accuracy-vs-MACs plots, and the paper's claim as metrics."""
    from cvpapers.pipelines.recu import figures
    from cvpapers.pipelines.recu.claims import claim_metrics, results_table

    arms = {"recu": recu, "bnn": bnn, "ws_only": ws_only, "fp": fp}
    table = results_table(plan, arms)
    logs = {"recu": recu_log, "bnn": bnn_log, "ws_only": ws_only_log, "fp": fp_log}
    return (
        table,
        figures.curves(logs),
        figures.accuracy_vs_macs(table),
        claim_metrics(plan["num_classes"], arms),
    )
