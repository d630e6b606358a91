"""Every arm of the comparison (DCFF, L1, scratch, full) trains through one :class:`ArmTrainer`: the same
data, data order, optimiser, schedule and evaluation, so only the method differs (DESIGN: "every arm gets
the identical schedule, data order and budget"). Plain PyTorch: the engine's one classification loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from cvpapers.engine.loop import FitResult
from cvpapers.pipelines.dcff.config import DataConfig, TrainConfig


@dataclass(frozen=True)
class ArmTrainer:
    data: Any                 # cvpapers.data.sources.ClassificationData: train and test batch sources
    train: TrainConfig
    data_config: DataConfig
    device: torch.device
    checkpoint_dir: Path      # where each stage keeps its train state for ``resume``
    resume: bool
    ks: tuple[int, ...] = (1,)

    def fit(
        self, model: torch.nn.Module, *, stage: str, epochs: int, lr: float, fingerprint: dict[str, Any],
        log_prefix: str = "", callbacks: Sequence[Any] = (),
    ) -> FitResult:
        """Train ``model`` for ``epochs`` at ``lr`` with the run's schedule; curves logged as ``<log_prefix><key>``
        under the running node."""
        from cvpapers.engine.classification import train_classifier

        tcfg = self.train
        return train_classifier(
            model, self.data.train, self.data.test,
            stage=stage, log_prefix=log_prefix, epochs=epochs, lr=lr, device=self.device,
            optimizer=tcfg.optimizer, momentum=tcfg.momentum, weight_decay=tcfg.weight_decay,
            schedule=tcfg.schedule, milestones_frac=tcfg.lr_milestones_frac, gamma=tcfg.gamma,
            warmup_epochs=tcfg.warmup_epochs,
            checkpoint_path=self.checkpoint_dir / f"{stage}.pt", resume=self.resume,
            fingerprint={**fingerprint, "stage": stage, "epochs": epochs, "lr": lr, "train": tcfg.model_dump(),
                         "data": self.data_config.model_dump()},
            callbacks=tuple(callbacks), ks=self.ks,
        )

    def evaluate(self, model: torch.nn.Module, ks: tuple[int, ...] = (1,)) -> dict[str, float]:
        from cvpapers.metrics.classification import evaluate_classifier

        return evaluate_classifier(model, self.data.test.batches(0), self.device, ks)


def train_seconds(*results: FitResult) -> float:
    """Training time from the per-epoch records, which survive a resume (wall time of this call does not)."""
    return float(sum(h.get("epoch_time_s", 0.0) for r in results for h in r.history))


def arm_metrics(result: FitResult, report_best: bool, train_macs: float, seconds: float) -> dict[str, float]:
    """An arm's top-1 (best or last epoch, as reported), both of them, its best epoch and its training cost."""
    last = result.last.get("test_acc", float("nan"))
    best = result.best_metrics.get("test_acc", last)
    return {
        "top1": best if report_best else last,
        "top1_last": last,
        "top1_best": best,
        "best_epoch": float(result.best_epoch if result.best_epoch is not None else -1),
        "train_macs": float(train_macs),
        "train_time_s": seconds,
    }


HISTORY_COLUMNS = ["epoch", "test_acc"]


def history_table(*results: FitResult) -> pd.DataFrame:
    """Test top-1 per epoch of one arm (its stages one after the other): the report's curves."""
    accs = [h.get("test_acc") for r in results for h in r.history]
    return pd.DataFrame({"epoch": range(len(accs)), "test_acc": accs}, columns=HISTORY_COLUMNS)
