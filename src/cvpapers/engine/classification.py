"""Training a classifier through the one loop: optimiser, per-iteration schedule, test evaluation.

Shared by the classification papers (dcff, collab_compression, recu, pss_net): each passes its own
model, data, callbacks and stage name; nothing here knows about any paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cvpapers.engine.loop import BatchSource, FitConfig, FitResult, LoopCallback, fit
from cvpapers.engine.optim import build_optimizer, build_scheduler, milestone_epochs
from cvpapers.engine.steps import classification_step
from cvpapers.engine.tracking import MetricLogger
from cvpapers.metrics.classification import evaluate_classifier


def train_classifier(
    model: nn.Module,
    train: BatchSource,
    test: BatchSource | None,
    *,
    stage: str,
    epochs: int,
    lr: float,
    device: torch.device,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    schedule: str = "step",
    milestones_frac: Sequence[float] = (),
    gamma: float = 0.1,
    warmup_epochs: float = 0.0,
    checkpoint_path: str | Path | None = None,
    resume: bool = False,
    fingerprint: dict[str, Any] | None = None,
    callbacks: Sequence[LoopCallback] = (),
    log_prefix: str | None = None,
    ks: tuple[int, ...] = (1,),
    param_groups: Sequence[dict[str, Any]] | None = None,
    grad_clip: float | None = None,
) -> FitResult:
    """Cross-entropy training with per-epoch test accuracy (``test_acc`` = top-1 %), best epoch kept.

    ``param_groups`` (optimizer param-group dicts, e.g. ``{"params": [...], "weight_decay": 0.0}``) replace
    ``model.parameters()`` where a paper decays only some parameters; groups without their own
    ``weight_decay`` get ``weight_decay``. ``grad_clip`` clips the gradients' global norm every step (None: off).
    """
    model.to(device)
    params = model.parameters() if param_groups is None else [dict(g) for g in param_groups]
    opt = build_optimizer(params, optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay)  # type: ignore[arg-type]
    sched = build_scheduler(
        opt, len(train), schedule, epochs,  # type: ignore[arg-type]
        milestones=milestone_epochs(milestones_frac, epochs), gamma=gamma, warmup_epochs=warmup_epochs,
    )

    def evaluate(m: nn.Module) -> dict[str, float]:
        if test is None:
            return {}
        res = evaluate_classifier(m, test.batches(0), device, ks)
        out = {"test_acc": res["top1"], "test_loss": res["loss"]}
        out.update({f"test_top{k}": res[f"top{k}"] for k in ks if k != 1})
        return out

    config = FitConfig(
        stage=stage,
        epochs=epochs,
        checkpoint_path=Path(checkpoint_path) if checkpoint_path else None,
        resume=resume,
        fingerprint=dict(fingerprint or {}),
        track_best="test_acc" if test is not None else None,
        grad_clip=grad_clip,
    )
    logger = MetricLogger(prefix=log_prefix if log_prefix is not None else stage)
    return fit(model, train, classification_step, opt, sched, config, device, evaluate, callbacks, logger)
