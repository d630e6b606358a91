"""Every arm on one schedule: the lr scaled to the batch, one batch stream (L1's fine-tuning continues it)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch

from cvpapers.data.classification import TensorBatches
from cvpapers.pipelines.dcff.arms import EpochOffset
from cvpapers.pipelines.dcff.baselines import l1_prune_then_finetune
from cvpapers.pipelines.dcff.config import DcffParams, TrainConfig


def test_lr_is_the_official_lr_scaled_linearly_to_the_batch() -> None:
    p = DcffParams()
    assert p.train.scaled_lr() == pytest.approx(0.1 * 32 / 256)  # 0.0125
    assert p.train.scaled_lr(p.baselines.l1.finetune_lr) == pytest.approx(
        0.01
    )  # L1's fine-tuning lr unchanged
    earlier = TrainConfig(lr=0.05, lr_reference_batch=32)
    assert earlier.scaled_lr() == 0.05  # the earlier setting stays reachable, exactly
    assert TrainConfig(batch_size=256).scaled_lr() == 0.1  # the paper's batch gets the paper's lr


def test_an_epoch_offset_source_serves_the_later_epochs_batches() -> None:
    x = torch.randint(0, 256, (40, 3, 4, 4), dtype=torch.uint8)
    source = TensorBatches(
        x,
        torch.arange(40) % 4,
        8,
        (0.5,) * 3,
        (0.3,) * 3,
        shuffle=True,
        seed=7,
        augment={"hflip": True, "shift_px": 1},
    )
    shifted = EpochOffset(source, 5)
    assert len(shifted) == len(source)
    for (xa, ya), (xb, yb) in zip(shifted.batches(0), source.batches(5), strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(next(iter(shifted.batches(0)))[1], next(iter(source.batches(0)))[1])


class _Recorder:
    """A stand-in ArmTrainer that records each stage's epochs, lr and data offset."""

    def __init__(self, epochs: int) -> None:
        self.train = TrainConfig(epochs=epochs)
        self.device = torch.device("cpu")
        self.calls: list[dict[str, Any]] = []

    def fit(self, model: torch.nn.Module, **kw: Any) -> SimpleNamespace:
        self.calls.append(kw)
        return SimpleNamespace(history=[], last={})

    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        return {"top1": 0.0}


@pytest.mark.parametrize("paired, offset", [(True, 6), (False, 0)])
def test_l1_fine_tuning_continues_the_batch_stream_when_arms_are_paired(paired: bool, offset: int) -> None:
    from cvpapers.models.classification import build_classifier

    trainer = _Recorder(epochs=12)
    full = build_classifier("vgg_small", 10)
    l1_prune_then_finetune(
        trainer,
        full,
        lambda: build_classifier("vgg_small", 10, [0.5] * 6),  # type: ignore[arg-type]
        pretrain_frac=0.5,
        finetune_lr=0.01,
        fingerprint={},
        continue_data=paired,
    )
    pre, ft = trainer.calls
    assert (pre["epochs"], ft["epochs"]) == (6, 6)
    assert pre.get("epoch_offset", 0) == 0 and ft["epoch_offset"] == offset
    assert pre["lr"] == pytest.approx(0.0125) and ft["lr"] == 0.01
    assert (pre["log_prefix"], ft["log_prefix"]) == ("pretrain_", "finetune_")  # the base run's curve names
