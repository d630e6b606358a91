"""Kedro glue for DCFF: catalog inputs and ``params:dcff`` in, checkpoints, tables and metrics out.

The method lives in the room's plain-PyTorch modules: ``fusion.py`` (fused conv, KL criterion, export),
``training.py`` (temperature and re-coding schedule), ``compact.py`` (export check and evaluation of the
compact model), ``baselines.py`` (the L1 prune-then-fine-tune protocol), ``arms.py`` (one trainer for every
arm), ``accounting.py`` (MACs) and ``claims.py`` (the claim and the result table). The data is the shared
classification data (:mod:`cvpapers.data.classification_source`). Every node returns a metrics dict of
floats with bare keys; the project hook files them under the node's name (``train_dcff/top1``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from cvpapers.pipelines.dcff.arms import HISTORY_COLUMNS, ArmTrainer
from cvpapers.pipelines.dcff.config import DcffParams


def _start(params: dict[str, Any], pipeline: str) -> tuple[DcffParams, Any]:
    """The validated parameters and the run context (device, threads, seeds, checkpoint paths)."""
    from cvpapers.engine.run import RunContext

    p = DcffParams.model_validate(params)
    return p, RunContext.start(p, pipeline)


def _trainer(manifest: pd.DataFrame, p: DcffParams, run: Any) -> ArmTrainer:
    from cvpapers.data.classification_source import batch_sources, topk

    t = p.train
    data = batch_sources(
        manifest, p.data, t.batch_size, t.eval_batch_size, t.augment.model_dump(), run.seed()
    )
    return ArmTrainer(data, t, p.data, run.device, run.checkpoint_dir, run.resume, topk(p.data))


# 1–2. data and architecture plan


def prepare_data(params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, float], Any]:
    """Generate the embedded shapes benchmark, or index CIFAR-10 / ImageNet under ``data.root``."""
    from cvpapers.data.classification_source import prepare_classification_data

    return prepare_classification_data(DcffParams.model_validate(params).data)


def plan_architecture(
    manifest: pd.DataFrame, params: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, float], pd.DataFrame]:
    """Per-layer widths (c, r, m) and full/compact MACs and params (paper counting rules, §9.1)."""
    from cvpapers.data.classification_source import input_size
    from cvpapers.pipelines.dcff.accounting import architecture_plan, plan_metrics

    p = DcffParams.model_validate(params)
    # Classes from the data itself, so an ImageNet subset gets a matching classifier.
    n_classes = int(manifest["label"].max()) + 1
    plan, layers = architecture_plan(p.model.arch, p.model.cprate, n_classes, input_size(p.data))
    return plan, plan_metrics(plan), pd.DataFrame(layers)


# 3–5. DCFF: train the fused network, export the compact one, evaluate it


def train_dcff(
    manifest: pd.DataFrame, plan: dict[str, Any], params: dict[str, Any], pipeline: str
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, float], pd.DataFrame, Any]:
    """Train the fused network from scratch with dynamic-coded filter fusion (§3.8)."""
    from cvpapers.engine.checkpoint import model_checkpoint
    from cvpapers.pipelines.dcff import accounting, arms, figures
    from cvpapers.pipelines.dcff.fusion import build_fused_classifier

    p, run = _start(params, pipeline)
    trainer, epochs = _trainer(manifest, p, run), p.train.epochs
    model, result, schedule = arms.run_dcff(trainer, plan, p, run)
    macs = accounting.dcff_train_macs(plan, epochs, trainer.data.n_train, len(trainer.data.train))
    checkpoint = model_checkpoint(model, accounting.model_config(plan), build_fused_classifier)
    checkpoint["best"] = {"epoch": result.best_epoch, "state_dict": result.best_state}
    metrics = arms.arm_metrics(result, p.report_best_epoch, macs, arms.train_seconds(result))
    metrics["frozen_layers_final"] = float(result.last.get("frozen_layers", 0.0))
    metrics["mean_diag_Q_final"] = float(result.last.get("mean_diag_Q", float("nan")))
    metrics["skipped_samples"] = float(len(trainer.data.skipped))
    selection_log = pd.DataFrame(schedule.log)
    heatmap = figures.selection_heatmap(selection_log, plan)
    return checkpoint, selection_log, metrics, arms.history_table(result), heatmap


def export_compact(
    fused_checkpoint: dict[str, Any],
    plan: dict[str, Any],
    manifest: pd.DataFrame,
    params: dict[str, Any],
    pipeline: str,
) -> tuple[dict[str, Any], dict[str, float]]:
    """Materialise Q·W into an ordinary smaller network and check it computes the same function."""
    from cvpapers.engine.flops import count_macs_params
    from cvpapers.models.classification import build_classifier
    from cvpapers.pipelines.dcff.compact import export_compact_checkpoint

    p, run = _start(params, pipeline)
    x, _ = next(iter(_trainer(manifest, p, run).data.test.batches(0)))
    compact, diff_last, diff_best = export_compact_checkpoint(fused_checkpoint, x.to(run.device), run.device)
    macs, n_params = count_macs_params(build_classifier(**compact["config"]), tuple(plan["input_size"]))
    metrics = {
        "max_abs_diff": diff_last,
        "max_abs_diff_best": diff_best,
        "compact_flops": float(macs),
        "compact_params": float(n_params),
    }
    return compact, metrics


def evaluate_compact(
    compact_checkpoint: dict[str, Any], manifest: pd.DataFrame, params: dict[str, Any], pipeline: str
) -> dict[str, float]:
    """Top-1 of the exported compact model itself (last epoch and best epoch)."""
    from cvpapers.pipelines.dcff.compact import evaluate_compact_checkpoint

    p, run = _start(params, pipeline)
    trainer = _trainer(manifest, p, run)
    last, best, best_epoch = evaluate_compact_checkpoint(
        compact_checkpoint, trainer.data.test, run.device, trainer.ks
    )
    reported = best if p.report_best_epoch else last
    out = {
        "top1": reported["top1"],
        "top1_last": last["top1"],
        "top1_best": best["top1"],
        "best_epoch": float(best_epoch),
    }
    if 5 in trainer.ks:
        out["top5"] = reported["top5"]
    return out


# 6–8. baselines on the same compact architecture and the same epoch budget


def train_baseline_l1(
    manifest: pd.DataFrame, plan: dict[str, Any], params: dict[str, Any], pipeline: str
) -> tuple[dict[str, Any], dict[str, float], pd.DataFrame]:
    """L1-norm prune-then-fine-tune: train the full network, keep each layer's largest-L1 filters, fine-tune."""
    from cvpapers.engine.checkpoint import model_checkpoint
    from cvpapers.models.classification import build_classifier
    from cvpapers.pipelines.dcff import accounting, arms
    from cvpapers.pipelines.dcff.baselines import l1_metrics

    p, run = _start(params, pipeline)
    trainer = _trainer(manifest, p, run)
    res = arms.run_l1(trainer, plan, p, run)
    macs = accounting.l1_train_macs(plan, res.pretrain_epochs, res.finetune_epochs, trainer.data.n_train)
    metrics = arms.arm_metrics(
        res.finetune, p.report_best_epoch, macs, arms.train_seconds(res.pretrain, res.finetune)
    )
    checkpoint = model_checkpoint(res.compact, accounting.model_config(plan), build_classifier)
    return checkpoint, {**metrics, **l1_metrics(res)}, arms.history_table(res.pretrain, res.finetune)


def _train_plain(
    arm: str,
    compact: bool,
    enabled: bool,
    manifest: pd.DataFrame,
    plan: dict[str, Any],
    p: DcffParams,
    run: Any,
) -> tuple[dict[str, float], pd.DataFrame]:
    """The compact or full network trained from random initialisation with DCFF's budget."""
    from cvpapers.pipelines.dcff import accounting, arms

    if not enabled:
        return {"enabled": 0.0}, pd.DataFrame(columns=HISTORY_COLUMNS)
    trainer = _trainer(manifest, p, run)
    result = arms.run_plain(trainer, plan, p, run, arm, compact)
    macs = accounting.plain_train_macs(plan, p.train.epochs, trainer.data.n_train, compact)
    metrics = arms.arm_metrics(result, p.report_best_epoch, macs, arms.train_seconds(result))
    return {**metrics, "enabled": 1.0}, arms.history_table(result)


def train_baseline_scratch(
    manifest: pd.DataFrame, plan: dict[str, Any], params: dict[str, Any], pipeline: str
) -> tuple[dict[str, float], pd.DataFrame]:
    """The compact architecture trained from random initialisation with DCFF's budget."""
    p, run = _start(params, pipeline)
    return _train_plain("scratch", True, p.baselines.scratch, manifest, plan, p, run)


def train_full_reference(
    manifest: pd.DataFrame, plan: dict[str, Any], params: dict[str, Any], pipeline: str
) -> tuple[dict[str, float], pd.DataFrame]:
    """The unpruned network (reference only, off by default)."""
    p, run = _start(params, pipeline)
    return _train_plain("full", False, p.baselines.full, manifest, plan, p, run)


# 9. report


def report(
    plan: dict[str, Any],
    dcff: dict[str, float],
    compact: dict[str, float],
    export: dict[str, float],
    l1: dict[str, float],
    scratch: dict[str, float],
    full: dict[str, float],
    dcff_history: pd.DataFrame,
    l1_history: pd.DataFrame,
    scratch_history: pd.DataFrame,
    full_history: pd.DataFrame,
) -> tuple[pd.DataFrame, Any, Any, dict[str, float]]:
    """The result table, accuracy-vs-MACs and curve plots, and the paper's claim as metrics."""
    from cvpapers.pipelines.dcff import figures
    from cvpapers.pipelines.dcff.claims import claim_metrics, results_table

    table = results_table(plan, dcff, compact, l1, scratch, full)
    metrics = claim_metrics(plan["num_classes"], dcff, compact, export, l1, scratch, full)
    histories = {"dcff": dcff_history, "l1": l1_history, "scratch": scratch_history, "full": full_history}
    return table, figures.accuracy_vs_macs(table), figures.accuracy_curves(histories), metrics


# The ``dcff_budget`` pipeline: the budget at which every arm has plateaued, on a validation split


def study_budget(
    manifest: pd.DataFrame, plan: dict[str, Any], params: dict[str, Any], pipeline: str
) -> tuple[pd.DataFrame, Any, dict[str, float]]:
    """Every arm at each budget of ``budget_study.epochs``, on the training images minus a validation share."""
    from cvpapers.engine.tracking import MetricLogger
    from cvpapers.pipelines.dcff import budget, figures

    p, run = _start(params, pipeline)
    trainer = _trainer(
        budget.carve_validation(manifest, p.budget_study.val_frac, run.seed("validation")), p, run
    )
    table = budget.run_study(
        lambda arm, e: budget.train_arm(arm, trainer, plan, p, run, e), p.budget_study.epochs
    )
    logger = MetricLogger()
    for row in table.itertuples():
        logger.log({f"{row.arm}_val_top1": row.val_top1_last}, step=int(row.budget))
    logger.flush()
    metrics = budget.study_metrics(table)
    return table, figures.plateau_curves(table, int(metrics["plateau_epochs"])), metrics
