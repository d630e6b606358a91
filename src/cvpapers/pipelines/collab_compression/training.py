"""Pretraining and fine-tuning through the engine's one classification loop; every variant fine-tunes
through the same call with the same schedule (spec §3.6, §0.3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from cvpapers.engine.loop import FitResult


def fit_stage(
    model: nn.Module,
    data: Any,
    cfg: Any,
    *,
    stage: str,
    device: torch.device,
    checkpoint_dir: Path,
    resume: bool,
    fingerprint: dict[str, Any],
    ks: tuple[int, ...] = (1,),
) -> FitResult:
    """Train ``model`` with the stage's schedule (``cfg``: pretrain or finetune), curves logged as ``<key>``."""
    from cvpapers.engine.classification import train_classifier

    return train_classifier(
        model,
        data.train,
        data.test,
        stage=stage,
        log_prefix="",
        epochs=cfg.epochs,
        lr=cfg.lr,
        device=device,
        optimizer=cfg.optimizer,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
        schedule=cfg.schedule,
        milestones_frac=cfg.lr_milestones_frac,
        gamma=cfg.gamma,
        checkpoint_path=checkpoint_dir / f"{stage}.pt",
        resume=resume,
        fingerprint={**fingerprint, "stage": stage, "cfg": cfg.model_dump()},
        ks=ks,
        grad_clip=cfg.grad_clip,
    )


def stage_metrics(result: FitResult, report_best: bool) -> dict[str, float]:
    """Top-1 as reported (last epoch unless ``report_best``), the last and best epochs, training time."""
    last = result.last.get("test_acc", float("nan"))
    best = result.best_metrics.get("test_acc", last)
    return {
        "top1": best if report_best else last,
        "top1_last": last,
        "top1_best": best,
        "best_epoch": float(result.best_epoch if result.best_epoch is not None else -1),
        "time_s": float(sum(h.get("epoch_time_s", 0.0) for h in result.history)),
    }


def history_table(result: FitResult) -> Any:
    import pandas as pd

    return pd.DataFrame(
        {
            "epoch": range(len(result.history)),
            "test_acc": [h.get("test_acc") for h in result.history],
            "train_loss": [h.get("train_loss") for h in result.history],
        }
    )
