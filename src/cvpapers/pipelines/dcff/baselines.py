"""The paper's baseline protocol: L1-norm prune-then-fine-tune at DCFF's compact architecture and budget.

Train the full network for ``pretrain_frac`` of the epochs, keep each layer's largest-L1 filters
(:func:`cvpapers.models.pruning.l1_prune_into`: the next layer's input channels and the BN follow), then
fine-tune the compact network for the remaining epochs at ``finetune_lr`` (spec §8). Same total epochs,
data order and schedule as DCFF (the :class:`~cvpapers.pipelines.dcff.arms.ArmTrainer`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from cvpapers.engine.loop import FitResult
from cvpapers.pipelines.dcff.arms import ArmTrainer


def l1_epochs(epochs: int, pretrain_frac: float) -> tuple[int, int]:
    """Pretraining and fine-tuning epochs: at least one of each, ``epochs`` in all."""
    pretrain = max(1, round(epochs * pretrain_frac))
    return pretrain, max(1, epochs - pretrain)


@dataclass
class L1Result:
    compact: torch.nn.Module
    pretrain: FitResult
    finetune: FitResult
    pruned_top1: float  # right after pruning, before fine-tuning
    pretrain_epochs: int
    finetune_epochs: int


def l1_prune_then_finetune(
    trainer: ArmTrainer,
    full: torch.nn.Module,
    build_compact: Callable[[], torch.nn.Module],
    *,
    pretrain_frac: float,
    finetune_lr: float,
    fingerprint: dict[str, Any],
    continue_data: bool = True,
    prefix: str = "",
) -> L1Result:
    """Curves go under ``pretrain_`` and ``finetune_`` (``<prefix>l1_pretrain_``… with a prefix); ``build_compact`` is called after
    pretraining. ``continue_data``: fine-tuning epoch ``e`` sees the batches of the run's epoch
    ``pretrain + e`` — the ones DCFF and scratch see at that point (paired arms); else it replays epochs 0, 1, …
    ``finetune_lr`` is used as given; the pretraining uses the run's batch-scaled lr."""
    from cvpapers.models.pruning import l1_prune_into

    pre_epochs, ft_epochs = l1_epochs(trainer.train.epochs, pretrain_frac)
    pre = trainer.fit(
        full,
        stage=f"{prefix}l1_pretrain",
        log_prefix=f"{prefix}l1_pretrain_" if prefix else "pretrain_",
        epochs=pre_epochs,
        lr=trainer.train.scaled_lr(),
        fingerprint=fingerprint,
    )
    compact = build_compact().to(trainer.device)
    compact.load_state_dict(l1_prune_into(full, compact))
    pruned_top1 = trainer.evaluate(compact)["top1"]
    ft = trainer.fit(
        compact,
        stage=f"{prefix}l1_finetune",
        log_prefix=f"{prefix}l1_finetune_" if prefix else "finetune_",
        epochs=ft_epochs,
        lr=finetune_lr,
        fingerprint=fingerprint,
        epoch_offset=pre_epochs if continue_data else 0,
    )
    return L1Result(compact, pre, ft, pruned_top1, pre_epochs, ft_epochs)


def l1_metrics(result: L1Result) -> dict[str, float]:
    """What the L1 arm adds to :func:`~cvpapers.pipelines.dcff.arms.arm_metrics`."""
    return {
        "pretrain_top1": result.pretrain.last.get("test_acc", float("nan")),
        "pruned_top1": result.pruned_top1,
        "pretrain_epochs": float(result.pretrain_epochs),
        "finetune_epochs": float(result.finetune_epochs),
    }
