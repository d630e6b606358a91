"""How many epochs the comparison needs: every arm trained at several budgets, judged on a validation split.

The validation images are a stratified share of the *training* images (the test images are never read):
each arm trains on the rest, with its full schedule scaled to each budget (the step milestones move with
the budget, so a budget's result is the end of a complete run, not a point on a longer run's curve). An arm
has plateaued at budget ``B`` when its last-epoch validation top-1 at ``B`` is within ``tolerance`` points of
its best over all budgets; the study's answer is the smallest budget at which every arm has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

#: Points of validation top-1 within which an arm counts as plateaued.
PLATEAU_TOLERANCE = 1.0

ARMS: tuple[str, ...] = ("dcff", "l1", "scratch")


def carve_validation(manifest: pd.DataFrame, frac: float, seed: int) -> pd.DataFrame:
    """The training rows only: a stratified ``frac`` of each class becomes the evaluation split ``test``
    (chosen by a seeded random key), the rest stays ``train``; the real evaluation rows are dropped."""
    train = manifest[manifest["split"] == "train"].reset_index(drop=True)
    key = pd.Series(np.random.default_rng(seed).random(len(train)))
    rank = key.groupby(train["label"]).rank(method="first")  # 1..n within each class
    per_class = train.groupby("label")["label"].transform("size")
    is_val = rank <= np.maximum(1, np.round(per_class * frac))
    return train.assign(split=np.where(is_val, "test", "train"))


def train_arm(arm: str, trainer: Any, plan: dict[str, Any], p: Any, run: Any, epochs: int) -> list[float]:
    """Validation top-1 per epoch of ``arm`` trained for ``epochs`` (L1: its fine-tuning epochs; the
    pretraining epochs are the full network's)."""
    from cvpapers.pipelines.dcff import arms

    t = replace(trainer, train=trainer.train.model_copy(update={"epochs": epochs}))
    prefix = f"e{epochs}_"
    if arm == "dcff":
        _, result, _ = arms.run_dcff(t, plan, p, run, prefix=prefix)
        results = [result]
    elif arm == "l1":
        res = arms.run_l1(t, plan, p, run, prefix=prefix)
        results = [res.pretrain, res.finetune]
    else:
        results = [arms.run_plain(t, plan, p, run, arm, compact=True, prefix=prefix)]
    return [float(h["test_acc"]) for r in results for h in r.history]


def run_study(
    train: Callable[[str, int], list[float]], budgets: Sequence[int], arm_names: Sequence[str] = ARMS
) -> pd.DataFrame:
    """One row per (budget, arm): last-epoch validation top-1, mean of the last three epochs, the curve."""
    rows = []
    for budget in budgets:
        for arm in arm_names:
            curve = train(arm, budget)
            rows.append(
                {
                    "budget": int(budget),
                    "arm": arm,
                    "val_top1_last": curve[-1],
                    "val_top1_last3": float(np.mean(curve[-3:])),
                    "curve": " ".join(f"{v:.2f}" for v in curve),
                }
            )
    return pd.DataFrame(rows)


def plateau_budget(table: pd.DataFrame, tolerance: float = PLATEAU_TOLERANCE) -> tuple[int, dict[str, int]]:
    """The smallest budget at which every arm is within ``tolerance`` of its best last-epoch validation
    top-1 over all budgets, and each arm's own such budget."""
    per_arm = {}
    for arm, rows in table.groupby("arm", sort=False):
        best = rows["val_top1_last"].max()
        per_arm[str(arm)] = int(rows.loc[rows["val_top1_last"] >= best - tolerance, "budget"].min())
    return max(per_arm.values()), per_arm


def study_metrics(table: pd.DataFrame) -> dict[str, float]:
    """Bare keys for the node: each arm's validation top-1 at each budget, and the plateau budgets."""
    overall, per_arm = plateau_budget(table)
    metrics = {f"{r.arm}_val_top1_e{r.budget}": float(r.val_top1_last) for r in table.itertuples()}
    metrics.update({f"{arm}_plateau_epochs": float(b) for arm, b in per_arm.items()})
    metrics["plateau_epochs"] = float(overall)
    return metrics
