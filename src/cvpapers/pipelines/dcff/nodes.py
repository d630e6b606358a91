"""Kedro glue for DCFF: catalog inputs and ``params:dcff.*`` in, checkpoints, tables and metrics out.

The method lives in ``fusion.py`` (fusion, KL criterion, export) and ``training.py`` (temperature and
re-coding schedule); training goes through the engine's one loop. Every node returns a metrics dict
(keys prefixed by the node's stage) that the project hook logs to the node's MLflow child run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from cvpapers.pipelines.dcff.config import (
    BaselinesConfig,
    DataConfig,
    FusionConfig,
    ModelConfig,
    TrainConfig,
)

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------
# 1. data
# ------------------------------------------------------------------------------------------------


def prepare_data(data: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, float], Any]:
    """Generate the embedded shapes benchmark, or index CIFAR-10 / ImageNet under ``data.root``."""
    from cvpapers.data.manifest import evaluation_split, validate_manifest
    from cvpapers.engine import plots

    cfg = DataConfig.model_validate(data)
    root = Path(cfg.root)
    if cfg.source == "embedded":
        from cvpapers.data.shapes import ShapesConfig, write_shapes_split

        shapes = dict(image_size=cfg.image_size, n_classes=cfg.n_classes, noise=cfg.noise, rotate=cfg.rotate)
        manifest = pd.concat(
            [
                write_shapes_split(root, "train", cfg.n_train, ShapesConfig(**shapes, seed=cfg.train_seed)),
                write_shapes_split(root, "test", cfg.n_test, ShapesConfig(**shapes, seed=cfg.test_seed)),
            ],
            ignore_index=True,
        )
    elif cfg.source == "cifar10":
        from cvpapers.data.cifar import cifar10_manifest

        manifest = cifar10_manifest(root)
    else:
        from cvpapers.data.imagefolder import imagefolder_manifest

        manifest = imagefolder_manifest(root, cfg.imagenet_train_dir, cfg.imagenet_val_dir)
    test_split = evaluation_split(manifest)
    validate_manifest(manifest, ["train", test_split])

    metrics = {
        "data/n_train": float((manifest["split"] == "train").sum()),
        "data/n_test": float((manifest["split"] == test_split).sum()),
        "data/n_classes": float(manifest["label"].nunique()),
    }
    # Real images differ in size: the grid shows 64-px thumbnails of them.
    thumb = 64 if cfg.source == "imagenet" else None
    return manifest, metrics, _sample_grid(manifest, test_split, plots, thumb)


def _sample_grid(
    manifest: pd.DataFrame, split: str, plots: Any, thumb: int | None, per_class: int = 10, max_classes: int = 10
) -> Any:
    """``per_class`` images of each of the first ``max_classes`` classes."""
    from cvpapers.data.classification import load_split

    rows = manifest[(manifest["split"] == split) & (manifest["label"] < max_classes)]
    picked = rows.groupby("label", sort=True).head(per_class)
    x, y = load_split(picked.reset_index(drop=True), split, image_size=thumb)
    names = picked.drop_duplicates("label").sort_values("label")["class_name"].astype(str).tolist()
    return plots.image_grid(x.permute(0, 2, 3, 1).numpy(), y.numpy(), names, per_class)


# ------------------------------------------------------------------------------------------------
# 2. architecture plan
# ------------------------------------------------------------------------------------------------


def _input_size(data: DataConfig) -> tuple[int, int, int, int]:
    side = {"embedded": data.image_size, "cifar10": 32, "imagenet": 224}[data.source]
    return (1, 3, side, side)


def plan_architecture(
    manifest: pd.DataFrame, model: dict[str, Any], data: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, float], pd.DataFrame]:
    """Per-layer widths (c, r, m) and full/compact MACs and params (paper counting rules, §9.1)."""
    from cvpapers.engine.flops import count_macs_params
    from cvpapers.models.classification import build_classifier
    from cvpapers.pipelines.dcff.rates import expand_layer_rates

    mcfg, dcfg = ModelConfig.model_validate(model), DataConfig.model_validate(data)
    rates = expand_layer_rates(mcfg.arch, mcfg.cprate)
    # Classes from the data itself, so an ImageNet subset gets a matching classifier.
    n_classes, input_size = int(manifest["label"].max()) + 1, _input_size(dcfg)
    full = build_classifier(mcfg.arch, n_classes)
    compact = build_classifier(mcfg.arch, n_classes, rates)
    full_macs, full_params = count_macs_params(full, input_size)
    compact_macs, compact_params = count_macs_params(compact, input_size)
    full_cl, _ = count_macs_params(full, input_size, mode="conv_linear")
    compact_cl, _ = count_macs_params(compact, input_size, mode="conv_linear")
    layers = [
        {"layer": name, "c": int(c), "rate": float(r), "m": int(m)}
        for name, c, r, m in zip(
            compact.prunable_convs, full.kept_widths, rates, compact.kept_widths, strict=True
        )
    ]
    plan = {
        "arch": mcfg.arch,
        "cprate": mcfg.cprate,
        "num_classes": n_classes,
        "input_size": list(input_size),
        "layer_rates": rates,
        "layers": layers,
        "full_macs": full_macs,
        "full_params": full_params,
        "compact_macs": compact_macs,
        "compact_params": compact_params,
        "full_macs_conv_linear": full_cl,
        "compact_macs_conv_linear": compact_cl,
        # Q·W per iteration: m·c multiply-adds per weight column of each fused layer.
        "fusion_macs_per_iter": int(
            sum(
                layer["m"] * layer["c"] * int(np.prod(w.shape[1:]))
                for layer, w in zip(
                    layers, [dict(compact.named_modules())[n].weight for n in compact.prunable_convs], strict=True
                )
            )
        ),
    }
    metrics = {
        "arch/full_flops": float(full_macs),
        "arch/compact_flops": float(compact_macs),
        "arch/full_params": float(full_params),
        "arch/compact_params": float(compact_params),
        "arch/flops_reduction": 1.0 - compact_macs / full_macs,
        "arch/params_reduction": 1.0 - compact_params / full_params,
    }
    return plan, metrics, pd.DataFrame(layers)


# ------------------------------------------------------------------------------------------------
# shared by the training nodes
# ------------------------------------------------------------------------------------------------


def _setup(manifest: pd.DataFrame, data: dict[str, Any], train: dict[str, Any], seed: int) -> tuple[DataConfig, Any, TrainConfig]:
    from cvpapers.data.sources import classification_data

    dcfg, tcfg = DataConfig.model_validate(data), TrainConfig.model_validate(train)
    loaded = classification_data(
        manifest, dcfg.source, tcfg.batch_size, tcfg.eval_batch_size, tcfg.augment.model_dump(), seed,
        image_size=dcfg.image_size, workers=dcfg.workers,
    )
    return dcfg, loaded, tcfg


def _topk(dcfg: DataConfig) -> tuple[int, ...]:
    """Top-1, and top-5 where the paper reports it (ImageNet)."""
    return (1, 5) if dcfg.source == "imagenet" else (1,)


def _model_config(plan: dict[str, Any], compact: bool = True) -> dict[str, Any]:
    """What rebuilds the module with ``build_classifier(**config)`` (stored in every checkpoint)."""
    return {"arch": plan["arch"], "num_classes": plan["num_classes"],
            "layer_rates": plan["layer_rates"] if compact else None}


def _train_macs(epochs: int, n_train: int, macs_per_sample: float) -> float:
    """Forward multiply-accumulates spent on training samples (backward costs the same multiple for every arm)."""
    return float(epochs) * n_train * macs_per_sample


def _train(
    model: torch.nn.Module,
    loaded: Any,
    tcfg: TrainConfig,
    dcfg: DataConfig,
    *,
    stage: str,
    log_prefix: str,
    epochs: int,
    lr: float,
    device: torch.device,
    checkpoint_dir: str,
    resume: bool,
    fingerprint: dict[str, Any],
    callbacks: tuple = (),
) -> Any:
    from cvpapers.engine.classification import train_classifier

    return train_classifier(
        model, loaded.train, loaded.test,
        stage=stage, log_prefix=log_prefix, epochs=epochs, lr=lr, device=device,
        optimizer=tcfg.optimizer, momentum=tcfg.momentum, weight_decay=tcfg.weight_decay,
        schedule=tcfg.schedule, milestones_frac=tcfg.lr_milestones_frac, gamma=tcfg.gamma,
        warmup_epochs=tcfg.warmup_epochs,
        checkpoint_path=Path(checkpoint_dir) / f"{stage}.pt", resume=resume,
        fingerprint={**fingerprint, "stage": stage, "epochs": epochs, "lr": lr, "train": tcfg.model_dump(),
                     "data": dcfg.model_dump()},
        callbacks=callbacks, ks=_topk(dcfg),
    )


def _train_seconds(*results: Any) -> float:
    """Training time from the per-epoch records, which survive a resume (wall time of this call does not)."""
    return float(sum(h.get("epoch_time_s", 0.0) for r in results for h in r.history))


def _arm_metrics(prefix: str, result: Any, report_best: bool, train_macs: float, seconds: float) -> dict[str, Any]:
    last = result.last.get("test_acc", float("nan"))
    best = result.best_metrics.get("test_acc", last)
    return {
        f"{prefix}/top1": best if report_best else last,
        f"{prefix}/top1_last": last,
        f"{prefix}/top1_best": best,
        f"{prefix}/best_epoch": float(result.best_epoch if result.best_epoch is not None else -1),
        f"{prefix}/train_macs": float(train_macs),
        f"{prefix}/train_time_s": seconds,
        "history": {f"{prefix}/test_acc": [h.get("test_acc") for h in result.history]},
    }


def _seeded(seed: int, arm: str) -> None:
    from cvpapers.engine.seeding import derive_seed, seed_everything

    seed_everything(derive_seed(seed, arm))


# ------------------------------------------------------------------------------------------------
# 3. DCFF training
# ------------------------------------------------------------------------------------------------


def train_dcff(
    manifest: pd.DataFrame,
    plan: dict[str, Any],
    data: dict[str, Any],
    train: dict[str, Any],
    fusion: dict[str, Any],
    seed: int,
    device: str,
    resume: bool,
    checkpoint_dir: str,
    report_best_epoch: bool,
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, Any], Any]:
    """Train the fused network from scratch with dynamic-coded filter fusion (§3.8)."""
    from cvpapers.engine.checkpoint import model_checkpoint
    from cvpapers.engine.device import resolve_device
    from cvpapers.models.classification import build_classifier
    from cvpapers.pipelines.dcff.fusion import FusedConv2d, FusionController
    from cvpapers.pipelines.dcff.training import FusionSchedule

    dev = resolve_device(device)
    dcfg, loaded, tcfg = _setup(manifest, data, train, seed)
    fcfg = FusionConfig.model_validate(fusion)
    _seeded(seed, "dcff")
    model = build_classifier(**_model_config(plan), conv=FusedConv2d).to(dev)
    controller = FusionController(model, kl_mode=fcfg.kl_mode, kl_eps=fcfg.kl_eps)
    schedule = FusionSchedule(
        controller, tcfg.epochs, fcfg.T_start, fcfg.T_end, fcfg.slope, fcfg.schedule_unit, fcfg.recompute_every_iters
    )
    result = _train(
        model, loaded, tcfg, dcfg, stage="dcff", log_prefix="dcff", epochs=tcfg.epochs, lr=tcfg.lr, device=dev,
        checkpoint_dir=checkpoint_dir, resume=resume, callbacks=(schedule,),
        fingerprint={"seed": seed, "arch": plan["arch"], "layer_rates": plan["layer_rates"], **fcfg.model_dump()},
    )
    # The fused forward computes compact activations; Q·W adds its MACs once per iteration, not per sample.
    train_macs = (_train_macs(tcfg.epochs, loaded.n_train, plan["compact_macs"])
                  + len(loaded.train) * tcfg.epochs * plan["fusion_macs_per_iter"])
    # Rebuild with build_classifier(**config, conv=FusedConv2d): the "kind" says so.
    checkpoint = model_checkpoint(model, _model_config(plan))
    checkpoint["kind"] = "dcff_fused"
    checkpoint["best"] = {"epoch": result.best_epoch, "state_dict": result.best_state}
    selection_log = pd.DataFrame(schedule.log)
    metrics = _arm_metrics("dcff", result, report_best_epoch, train_macs, _train_seconds(result))
    metrics["dcff/frozen_layers_final"] = float(result.last.get("frozen_layers", 0.0))
    metrics["dcff/mean_diag_Q_final"] = float(result.last.get("mean_diag_Q", float("nan")))
    return checkpoint, selection_log, metrics, _selection_heatmap(selection_log, plan)


def _selection_heatmap(log_df: pd.DataFrame, plan: dict[str, Any], max_layers: int = 9) -> Any:
    """For each layer: which original filters are selected (columns) at each recompute (rows)."""
    from cvpapers.engine import plots

    widths = {layer["layer"]: layer["c"] for layer in plan["layers"]}
    mats: dict[str, np.ndarray] = {}
    for name, rows in list(log_df.groupby("layer", sort=False))[:max_layers]:
        m = np.zeros((len(rows), widths[name]), dtype=np.float32)
        for i, sel in enumerate(rows["selected"].astype(str)):
            ids = np.array(sel.split(), dtype=np.int64)
            m[i, ids] = 1.0
        frozen = int(rows["frozen"].astype(bool).sum())
        mats[f"{name} (frozen at {frozen}/{len(rows)} recomputes)"] = m
    return plots.binary_heatmaps(mats, "original filter id", "recompute", "DCFF selected filters")


# ------------------------------------------------------------------------------------------------
# 4–5. export and evaluation of the compact model
# ------------------------------------------------------------------------------------------------


def export_compact(
    fused_checkpoint: dict[str, Any], plan: dict[str, Any], manifest: pd.DataFrame, data: dict[str, Any],
    train: dict[str, Any], seed: int, device: str,
) -> tuple[dict[str, Any], dict[str, float]]:
    """Materialise Q·W into an ordinary smaller network and check it computes the same function."""
    from cvpapers.engine.checkpoint import check_model_checkpoint, model_checkpoint
    from cvpapers.engine.device import resolve_device
    from cvpapers.engine.flops import count_macs_params
    from cvpapers.models.classification import build_classifier
    from cvpapers.pipelines.dcff.fusion import FusedConv2d, export_compact_state_dict

    ckpt = check_model_checkpoint(fused_checkpoint, "dcff.fused_checkpoint")
    dev = resolve_device(device)
    _, loaded, _ = _setup(manifest, data, train, seed)
    x, _ = next(iter(loaded.test.batches(0)))
    x = x.to(dev)
    config = _model_config(plan)
    fused = build_classifier(**config, conv=FusedConv2d).to(dev)
    compact = build_classifier(**config).to(dev)

    def export(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], float]:
        fused.load_state_dict(state)
        compact_state = export_compact_state_dict(fused)
        compact.load_state_dict(compact_state, strict=True)
        fused.eval()
        compact.eval()
        with torch.inference_mode():
            diff = (fused(x) - compact(x)).abs().max().item()
        return compact_state, diff

    last_state, diff_last = export(ckpt["state_dict"])
    out = model_checkpoint(last_state, config)
    best = ckpt.get("best") or {}
    diff_best = float("nan")
    if best.get("state_dict") is not None:
        best_state, diff_best = export(best["state_dict"])
        out["best"] = {"epoch": best["epoch"], "state_dict": model_checkpoint(best_state, config)["state_dict"]}
    macs, params = count_macs_params(build_classifier(**config), tuple(plan["input_size"]))
    metrics = {
        "export/max_abs_diff": diff_last,
        "export/max_abs_diff_best": diff_best,
        "export/compact_flops": float(macs),
        "export/compact_params": float(params),
    }
    return out, metrics


def evaluate_compact(
    compact_checkpoint: dict[str, Any], manifest: pd.DataFrame, data: dict[str, Any], train: dict[str, Any],
    seed: int, device: str, report_best_epoch: bool,
) -> dict[str, float]:
    """Top-1 of the exported compact model itself (last epoch and best epoch)."""
    from cvpapers.engine.checkpoint import check_model_checkpoint
    from cvpapers.engine.device import resolve_device
    from cvpapers.metrics.classification import evaluate_classifier
    from cvpapers.models.classification import build_classifier

    ckpt = check_model_checkpoint(compact_checkpoint, "dcff.compact_checkpoint")
    dev = resolve_device(device)
    dcfg, loaded, _ = _setup(manifest, data, train, seed)
    ks = _topk(dcfg)
    model = build_classifier(**ckpt["config"]).to(dev)
    model.load_state_dict(ckpt["state_dict"])
    last = evaluate_classifier(model, loaded.test.batches(0), dev, ks)
    best, best_epoch = last, -1
    if (ckpt.get("best") or {}).get("state_dict") is not None:
        model.load_state_dict(ckpt["best"]["state_dict"])
        best = evaluate_classifier(model, loaded.test.batches(0), dev, ks)
        best_epoch = ckpt["best"]["epoch"]
    out = {
        "dcff/compact_top1": (best if report_best_epoch else last)["top1"],
        "dcff/compact_top1_last": last["top1"],
        "dcff/compact_top1_best": best["top1"],
        "dcff/compact_best_epoch": float(best_epoch),
    }
    if 5 in ks:
        out["dcff/compact_top5"] = (best if report_best_epoch else last)["top5"]
    return out


# ------------------------------------------------------------------------------------------------
# 6–8. baselines on the same compact architecture and the same epoch budget
# ------------------------------------------------------------------------------------------------


def train_baseline_l1(
    manifest: pd.DataFrame, plan: dict[str, Any], data: dict[str, Any], train: dict[str, Any],
    baselines: dict[str, Any], seed: int, device: str, resume: bool, checkpoint_dir: str, report_best_epoch: bool,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """L1-norm prune-then-fine-tune: train the full network, keep each layer's largest-L1 filters, fine-tune."""
    from cvpapers.engine.checkpoint import model_checkpoint
    from cvpapers.engine.device import resolve_device
    from cvpapers.metrics.classification import evaluate_classifier
    from cvpapers.models.classification import build_classifier
    from cvpapers.models.pruning import l1_prune_into

    dev = resolve_device(device)
    dcfg, loaded, tcfg = _setup(manifest, data, train, seed)
    l1 = BaselinesConfig.model_validate(baselines).l1
    pre_epochs = max(1, round(tcfg.epochs * l1.pretrain_frac))
    ft_epochs = max(1, tcfg.epochs - pre_epochs)
    _seeded(seed, "l1")
    full = build_classifier(**_model_config(plan, compact=False)).to(dev)
    common = dict(device=dev, checkpoint_dir=checkpoint_dir, resume=resume,
                  fingerprint={"seed": seed, "arch": plan["arch"], "layer_rates": plan["layer_rates"]})
    pre = _train(full, loaded, tcfg, dcfg, stage="l1_pretrain", log_prefix="l1/pretrain_", epochs=pre_epochs,
                 lr=tcfg.lr, **common)
    compact = build_classifier(**_model_config(plan)).to(dev)
    compact.load_state_dict(l1_prune_into(full, compact))
    pruned_top1 = evaluate_classifier(compact, loaded.test.batches(0), dev)["top1"]
    ft = _train(compact, loaded, tcfg, dcfg, stage="l1_finetune", log_prefix="l1/finetune_", epochs=ft_epochs,
                lr=l1.finetune_lr, **common)
    train_macs = (_train_macs(pre_epochs, loaded.n_train, plan["full_macs"])
                  + _train_macs(ft_epochs, loaded.n_train, plan["compact_macs"]))
    metrics = _arm_metrics("l1", ft, report_best_epoch, train_macs, _train_seconds(pre, ft))
    metrics.update({"l1/pretrain_top1": pre.last.get("test_acc", float("nan")), "l1/pruned_top1": pruned_top1,
                    "l1/pretrain_epochs": float(pre_epochs), "l1/finetune_epochs": float(ft_epochs)})
    metrics["history"] = {"l1/test_acc": [h.get("test_acc") for h in pre.history + ft.history]}
    return model_checkpoint(compact, _model_config(plan)), metrics


def _train_plain(
    arm: str, rates: list[float] | None, enabled: bool, manifest: pd.DataFrame, plan: dict[str, Any],
    data: dict[str, Any], train: dict[str, Any], seed: int, device: str, resume: bool, checkpoint_dir: str,
    report_best_epoch: bool,
) -> dict[str, Any]:
    if not enabled:
        return {f"{arm}/enabled": 0.0}
    from cvpapers.engine.device import resolve_device
    from cvpapers.models.classification import build_classifier

    dev = resolve_device(device)
    dcfg, loaded, tcfg = _setup(manifest, data, train, seed)
    _seeded(seed, arm)
    model = build_classifier(**_model_config(plan, compact=rates is not None)).to(dev)
    result = _train(model, loaded, tcfg, dcfg, stage=arm, log_prefix=arm, epochs=tcfg.epochs, lr=tcfg.lr, device=dev,
                    checkpoint_dir=checkpoint_dir, resume=resume,
                    fingerprint={"seed": seed, "arch": plan["arch"], "layer_rates": rates})
    macs = plan["compact_macs"] if rates is not None else plan["full_macs"]
    metrics = _arm_metrics(arm, result, report_best_epoch, _train_macs(tcfg.epochs, loaded.n_train, macs),
                           _train_seconds(result))
    metrics[f"{arm}/enabled"] = 1.0
    return metrics


def train_baseline_scratch(
    manifest: pd.DataFrame, plan: dict[str, Any], data: dict[str, Any], train: dict[str, Any],
    baselines: dict[str, Any], seed: int, device: str, resume: bool, checkpoint_dir: str, report_best_epoch: bool,
) -> dict[str, Any]:
    """The compact architecture trained from random initialisation with DCFF's budget."""
    enabled = BaselinesConfig.model_validate(baselines).scratch
    return _train_plain("scratch", plan["layer_rates"], enabled, manifest, plan, data, train, seed, device,
                        resume, checkpoint_dir, report_best_epoch)


def train_full_reference(
    manifest: pd.DataFrame, plan: dict[str, Any], data: dict[str, Any], train: dict[str, Any],
    baselines: dict[str, Any], seed: int, device: str, resume: bool, checkpoint_dir: str, report_best_epoch: bool,
) -> dict[str, Any]:
    """The unpruned network (reference only, off by default)."""
    enabled = BaselinesConfig.model_validate(baselines).full
    return _train_plain("full", None, enabled, manifest, plan, data, train, seed, device, resume,
                        checkpoint_dir, report_best_epoch)


# ------------------------------------------------------------------------------------------------
# 9. report
# ------------------------------------------------------------------------------------------------


def report(
    plan: dict[str, Any], dcff: dict[str, Any], compact: dict[str, float], export: dict[str, float],
    l1: dict[str, Any], scratch: dict[str, Any], full: dict[str, Any],
) -> tuple[pd.DataFrame, Any, Any, dict[str, float]]:
    """The result table, accuracy-vs-MACs and curve plots, and the paper's claim as metrics."""
    from cvpapers.engine import plots

    rows = [
        _row("DCFF", compact["dcff/compact_top1"], compact["dcff/compact_top1_last"], dcff, "dcff", plan["compact_macs"], plan["compact_params"]),
        _row("L1 prune + fine-tune", l1["l1/top1"], l1["l1/top1_last"], l1, "l1", plan["compact_macs"], plan["compact_params"]),
    ]
    if scratch.get("scratch/enabled"):
        rows.append(_row("scratch (compact)", scratch["scratch/top1"], scratch["scratch/top1_last"], scratch, "scratch", plan["compact_macs"], plan["compact_params"]))
    if full.get("full/enabled"):
        rows.append(_row("full (unpruned)", full["full/top1"], full["full/top1_last"], full, "full", plan["full_macs"], plan["full_params"]))
    table = pd.DataFrame(rows)
    table["train_cost_vs_l1"] = table["train_MMACs"] / table.loc[1, "train_MMACs"]

    metrics = {
        "claim/top1_gain_vs_l1": compact["dcff/compact_top1"] - l1["l1/top1"],
        # The same comparison with last-epoch accuracy (no model selection on the test set).
        "claim/top1_gain_vs_l1_last": compact["dcff/compact_top1_last"] - l1["l1/top1_last"],
        "claim/train_cost_ratio_vs_l1": dcff["dcff/train_macs"] / l1["l1/train_macs"],
        "report/dcff_top1": compact["dcff/compact_top1"],
        "report/l1_top1": l1["l1/top1"],
        "report/export_max_abs_diff": export["export/max_abs_diff"],
    }
    if scratch.get("scratch/enabled"):
        # Reported beside the claim, not claimed (spec §8: expected to be about a tie).
        metrics["compare/top1_gain_vs_scratch"] = compact["dcff/compact_top1"] - scratch["scratch/top1"]
    if full.get("full/enabled"):
        metrics["compare/top1_gap_vs_full"] = compact["dcff/compact_top1"] - full["full/top1"]

    points = [{"method": r["method"], "MMACs": r["MMACs"], "top1": r["top1"]} for r in rows]
    scatter = plots.accuracy_vs_cost(points, "MMACs", "top1", "method", "inference MMACs (paper rules)", "top-1 (%)")
    series = {}
    for part in (dcff, l1, scratch, full):
        series.update({k.split("/")[0]: v for k, v in (part.get("history") or {}).items()})
    curve_fig = plots.curves(series, "test top-1 (%)", title="test accuracy per epoch (L1: pretrain, then fine-tune)")
    return table, scatter, curve_fig, metrics


def _row(method: str, top1: float, top1_last: float, arm: dict[str, Any], prefix: str, macs: float, params: float) -> dict[str, Any]:
    return {
        "method": method,
        "top1": round(float(top1), 2),
        "top1_last_epoch": round(float(top1_last), 2),
        "MMACs": round(macs / 1e6, 3),
        "Mparams": round(params / 1e6, 4),
        "train_MMACs": round(arm[f"{prefix}/train_macs"] / 1e6, 1),
        "train_time_s": round(float(arm[f"{prefix}/train_time_s"]), 1),
    }
