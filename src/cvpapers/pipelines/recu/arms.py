"""One trainer for every arm (spec §7): ``recu``, ``bnn``, ``ws_only`` and ``fp`` differ only in the binarised
convs' weight path. Every arm starts from the same initial weights (the model is built after seeding with the
run's ``model`` sub-seed; the binary arms draw the same modules in the same order) and sees the same batches
in the same order (one batch-source seed), through the engine's one classification loop. Plain PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from cvpapers.engine.loop import FitResult
from cvpapers.pipelines.recu.config import RecuParams

#: Per-epoch columns of an arm's log (the diagnostics are absent for ``fp``, which has no binarised conv).
LOG_COLUMNS = [
    "epoch",
    "train_loss",
    "train_acc",
    "test_acc",
    "test_loss",
    "lr",
    "tau",
    "clamp_fraction",
    "flip_rate",
    "weight_sign_entropy",
    "quant_error",
    "quant_error_rel",
    "epoch_time_s",
]
DIAGNOSTICS = ("tau", "clamp_fraction", "flip_rate", "weight_sign_entropy", "quant_error", "quant_error_rel")


def model_config(plan: dict[str, Any], p: RecuParams, method: str) -> dict[str, Any]:
    """The keyword arguments of :func:`build_recu_net` for ``method`` (stored in the model checkpoint)."""
    return {
        "arch": plan["arch"],
        "num_classes": plan["num_classes"],
        "method": method,
        "widths": list(p.model.tiny.widths),
        "blocks_per_stage": p.model.tiny.blocks_per_stage,
        "stem_stride": p.model.tiny.stem_stride,
        "tau": p.recu.tau_min,
        "target_std": p.recu.ws_target_std,
        "eps": p.recu.eps,
    }


@dataclass(frozen=True)
class ArmRun:
    """What one arm's training needs besides its method: data, parameters, device and train-state folder."""

    data: Any  # cvpapers.data.sources.ClassificationData
    params: RecuParams
    device: torch.device
    checkpoint_dir: Path
    ks: tuple[int, ...] = (1,)

    def fit(self, model: torch.nn.Module, method: str, fingerprint: dict[str, Any]) -> FitResult:
        from cvpapers.engine.classification import train_classifier
        from cvpapers.pipelines.recu.models import decay_groups
        from cvpapers.pipelines.recu.schedule import TauSchedule

        p, t = self.params, self.params.train
        groups = decay_groups(model, t.weight_decay) if t.weight_decay_on == "conv_fc" else None
        return train_classifier(
            model,
            self.data.train,
            self.data.test,
            stage=method,
            log_prefix="",
            epochs=t.epochs,
            lr=t.lr,
            device=self.device,
            optimizer=t.optimizer,
            momentum=t.momentum,
            weight_decay=t.weight_decay,
            schedule=t.schedule,
            warmup_epochs=t.warmup_epochs,
            param_groups=groups,
            checkpoint_path=self.checkpoint_dir / f"{method}.pt",
            resume=p.resume,
            fingerprint={
                **fingerprint,
                "method": method,
                "seed": p.seed,
                "train": t.model_dump(),
                "data": p.data.model_dump(mode="json"),
                "recu": p.recu.model_dump(),
            },
            callbacks=(TauSchedule(t.epochs, p.recu.tau_min, p.recu.tau_max),),
            ks=self.ks,
        )


def arm_metrics(result: FitResult, report_best: bool) -> dict[str, float]:
    """Top-1 as reported (best or last epoch), both of them, the best epoch, the mean over epochs (how fast it
    learns), the training time, and the last epoch's weight diagnostics."""
    accs = [h.get("test_acc", float("nan")) for h in result.history]
    last = accs[-1] if accs else float("nan")
    best = result.best_metrics.get("test_acc", last)
    half = result.history[: max(1, len(result.history) // 2)]
    out = {
        "top1": best if report_best else last,
        "top1_last": last,
        "top1_best": best,
        "best_epoch": float(result.best_epoch if result.best_epoch is not None else -1),
        "mean_top1": float(sum(accs) / len(accs)) if accs else float("nan"),
        "train_time_s": float(sum(h.get("epoch_time_s", 0.0) for h in result.history)),
    }
    for key in DIAGNOSTICS:
        if key in result.last:
            out[f"{key}_last"] = float(result.last[key])
    if "flip_rate" in result.last:
        out["flip_rate_first_half"] = float(sum(h["flip_rate"] for h in half) / len(half))
    return out


def history_table(result: FitResult) -> pd.DataFrame:
    """One row per epoch: losses, accuracies, lr and the weight diagnostics."""
    rows = [
        {"epoch": e, **{k: h.get(k, float("nan")) for k in LOG_COLUMNS[1:]}}
        for e, h in enumerate(result.history)
    ]
    return pd.DataFrame(rows, columns=LOG_COLUMNS)
