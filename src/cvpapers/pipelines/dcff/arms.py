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
from cvpapers.pipelines.dcff.config import DataConfig, DcffParams, TrainConfig


@dataclass(frozen=True)
class ArmTrainer:
    data: Any  # cvpapers.data.sources.ClassificationData: train and test batch sources
    train: TrainConfig
    data_config: DataConfig
    device: torch.device
    checkpoint_dir: Path  # where each stage keeps its train state for ``resume``
    resume: bool
    ks: tuple[int, ...] = (1,)

    def fit(
        self,
        model: torch.nn.Module,
        *,
        stage: str,
        epochs: int,
        lr: float,
        fingerprint: dict[str, Any],
        log_prefix: str = "",
        callbacks: Sequence[Any] = (),
        epoch_offset: int = 0,
    ) -> FitResult:
        """Train ``model`` for ``epochs`` at ``lr`` with the run's schedule; curves logged as ``<log_prefix><key>``
        under the running node. ``epoch_offset``: the stage's epoch ``e`` draws the batches (order and
        augmentation) of the run's epoch ``e + epoch_offset`` (L1's fine-tuning continues the data stream)."""
        from cvpapers.engine.classification import train_classifier

        tcfg = self.train
        train = self.data.train if epoch_offset == 0 else EpochOffset(self.data.train, epoch_offset)
        return train_classifier(
            model,
            train,
            self.data.test,
            stage=stage,
            log_prefix=log_prefix,
            epochs=epochs,
            lr=lr,
            device=self.device,
            optimizer=tcfg.optimizer,
            momentum=tcfg.momentum,
            weight_decay=tcfg.weight_decay,
            schedule=tcfg.schedule,
            milestones_frac=tcfg.lr_milestones_frac,
            gamma=tcfg.gamma,
            warmup_epochs=tcfg.warmup_epochs,
            checkpoint_path=self.checkpoint_dir / f"{stage}.pt",
            resume=self.resume,
            fingerprint={
                **fingerprint,
                "stage": stage,
                "epochs": epochs,
                "lr": lr,
                "train": tcfg.model_dump(),
                "data": self.data_config.model_dump(),
            },
            callbacks=tuple(callbacks),
            ks=self.ks,
        )

    def evaluate(self, model: torch.nn.Module, ks: tuple[int, ...] = (1,)) -> dict[str, float]:
        from cvpapers.metrics.classification import evaluate_classifier

        return evaluate_classifier(model, self.data.test.batches(0), self.device, ks)


@dataclass(frozen=True)
class EpochOffset:
    """A batch source whose epoch ``e`` is ``source``'s epoch ``e + offset``."""

    source: Any
    offset: int

    def batches(self, epoch: int) -> Any:
        return self.source.batches(epoch + self.offset)

    def __len__(self) -> int:
        return len(self.source)


def build_arm_model(kind: str, plan: dict[str, Any], p: DcffParams, run: Any, arm: str) -> torch.nn.Module:
    """The ``fused`` (DCFF), ``compact`` (scratch) or ``full`` (L1 pretraining, reference) network of ``arm``.

    Paired seeds (``p.arm_seeds``): every arm seeds the purpose ``"init"``, so its weights are slices of the
    same per-layer draws (:func:`~cvpapers.pipelines.dcff.init.paired_init`); per-arm seeds use the arm's name.
    ``model.init: builder`` keeps the builder's own init, drawn from the global stream seeded alike.
    """
    from cvpapers.models.classification import build_classifier
    from cvpapers.pipelines.dcff.accounting import model_config
    from cvpapers.pipelines.dcff.fusion import build_fused_classifier
    from cvpapers.pipelines.dcff.init import paired_init, resolve_scheme

    purpose = "init" if p.arm_seeds == "paired" else arm
    run.seed_everything(purpose)
    config = model_config(plan, compact=kind != "full")
    model = build_fused_classifier(**config) if kind == "fused" else build_classifier(**config)
    scheme = resolve_scheme(plan["arch"], p.model.init)
    if scheme != "builder":
        paired_init(model, plan["arch"], plan["num_classes"], scheme, run.seed(purpose))
    return model.to(run.device)


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


def fingerprint(p: DcffParams, plan: dict[str, Any], compact: bool = True) -> dict[str, Any]:
    """What a resumed stage must share with the stage that wrote its train state."""
    rates = plan["layer_rates"] if compact else None
    return {
        "seed": p.seed,
        "arch": plan["arch"],
        "layer_rates": rates,
        "init": p.model.init,
        "arm_seeds": p.arm_seeds,
    }


def run_dcff(
    trainer: ArmTrainer, plan: dict[str, Any], p: DcffParams, run: Any, prefix: str = ""
) -> tuple[torch.nn.Module, FitResult, Any]:
    """Train the fused network with dynamic-coded filter fusion for ``trainer.train.epochs`` (§3.8); returns
    the model, its fit result and the fusion schedule (its selection log)."""
    from cvpapers.pipelines.dcff.fusion import FusionController
    from cvpapers.pipelines.dcff.training import FusionSchedule

    f, epochs = p.fusion, trainer.train.epochs
    model = build_arm_model("fused", plan, p, run, "dcff")
    controller = FusionController(model, kl_mode=f.kl_mode, kl_eps=f.kl_eps)
    schedule = FusionSchedule(
        controller, epochs, f.T_start, f.T_end, f.slope, f.schedule_unit, f.recompute_every_iters
    )
    result = trainer.fit(
        model,
        stage=f"{prefix}dcff",
        log_prefix=f"{prefix}dcff_" if prefix else "",
        epochs=epochs,
        lr=trainer.train.scaled_lr(),
        callbacks=(schedule,),
        fingerprint={**fingerprint(p, plan), **f.model_dump()},
    )
    return model, result, schedule


def run_l1(trainer: ArmTrainer, plan: dict[str, Any], p: DcffParams, run: Any, prefix: str = "") -> Any:
    """L1-norm prune-then-fine-tune at the compact architecture and ``trainer.train.epochs`` in all (an
    :class:`~cvpapers.pipelines.dcff.baselines.L1Result`)."""
    from cvpapers.models.classification import build_classifier
    from cvpapers.pipelines.dcff.accounting import model_config
    from cvpapers.pipelines.dcff.baselines import l1_prune_then_finetune

    l1 = p.baselines.l1
    full = build_arm_model("full", plan, p, run, "l1")
    return l1_prune_then_finetune(
        trainer,
        full,
        lambda: build_classifier(**model_config(plan)),
        pretrain_frac=l1.pretrain_frac,
        finetune_lr=trainer.train.scaled_lr(l1.finetune_lr),
        fingerprint=fingerprint(p, plan),
        continue_data=p.arm_seeds == "paired",
        prefix=prefix,
    )


def run_plain(
    trainer: ArmTrainer,
    plan: dict[str, Any],
    p: DcffParams,
    run: Any,
    arm: str,
    compact: bool,
    prefix: str = "",
) -> FitResult:
    """The compact (scratch) or full network trained from random initialisation with DCFF's budget."""
    model = build_arm_model("compact" if compact else "full", plan, p, run, arm)
    return trainer.fit(
        model,
        stage=f"{prefix}{arm}",
        log_prefix=f"{prefix}{arm}_" if prefix else "",
        epochs=trainer.train.epochs,
        lr=trainer.train.scaled_lr(),
        fingerprint=fingerprint(p, plan, compact),
    )
