"""The paper's claim as metrics, and the result table.

Spec §8: DCFF's compact model reaches a higher top-1 than L1-norm prune-then-fine-tune at the same compact
architecture and the same total epochs, while its training costs fewer MACs. ``claim/<what>`` is always
DCFF − baseline (positive when the claim holds); costs and comparisons the paper does not claim go under
``compare/<what>`` (DCFF vs the scratch-trained compact net is expected to be about a tie: reported, not
claimed). ``claim/holds`` comes from :func:`claim_holds`, the one rule (the README states it).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

#: A model "learned" when its top-1 is above this multiple of chance (100 % / classes).
LEARNED_OVER_CHANCE = 2.0


def claim_holds(
    top1_gain_vs_l1: float, train_cost_ratio_vs_l1: float, dcff_top1: float, l1_top1: float, num_classes: int
) -> bool:
    """DCFF beats L1 prune-then-fine-tune (gain > 0) on fewer training MACs (ratio < 1), and both models
    learned (top-1 above twice chance: 20 % for 10 classes), so that a tie of two untrained nets never holds."""
    chance = 100.0 / num_classes
    learned = min(dcff_top1, l1_top1) > LEARNED_OVER_CHANCE * chance
    return bool(learned and top1_gain_vs_l1 > 0 and train_cost_ratio_vs_l1 < 1)


def claim_metrics(
    num_classes: int,
    dcff: dict[str, float],
    compact: dict[str, float],
    export: dict[str, float],
    l1: dict[str, float],
    scratch: dict[str, float],
    full: dict[str, float],
) -> dict[str, float]:
    """Run-level claims and comparisons, plus the report node's own numbers (bare keys)."""
    metrics = {
        "claim/top1_gain_vs_l1": compact["top1"] - l1["top1"],
        # The same comparison with last-epoch accuracy (no model selection on the test set).
        "claim/top1_gain_vs_l1_last": compact["top1_last"] - l1["top1_last"],
        "compare/train_cost_ratio_vs_l1": dcff["train_macs"] / l1["train_macs"],
        "dcff_top1": compact["top1"],
        "l1_top1": l1["top1"],
        "export_max_abs_diff": export["max_abs_diff"],
    }
    if scratch.get("enabled"):
        # Reported beside the claim, not claimed (spec §8: expected to be about a tie).
        metrics["compare/top1_gain_vs_scratch"] = compact["top1"] - scratch["top1"]
    if full.get("enabled"):
        metrics["compare/top1_gap_vs_full"] = compact["top1"] - full["top1"]
    metrics["claim/holds"] = float(
        claim_holds(
            metrics["claim/top1_gain_vs_l1"],
            metrics["compare/train_cost_ratio_vs_l1"],
            compact["top1"],
            l1["top1"],
            num_classes,
        )
    )
    return metrics


def _row(
    method: str, top1: float, top1_last: float, arm: dict[str, float], macs: float, params: float
) -> dict[str, Any]:
    return {
        "method": method,
        "top1": round(float(top1), 2),
        "top1_last_epoch": round(float(top1_last), 2),
        "MMACs": round(macs / 1e6, 3),
        "Mparams": round(params / 1e6, 4),
        "train_MMACs": round(arm["train_macs"] / 1e6, 1),
        "train_time_s": round(float(arm["train_time_s"]), 1),
    }


def results_table(
    plan: dict[str, Any],
    dcff: dict[str, float],
    compact: dict[str, float],
    l1: dict[str, float],
    scratch: dict[str, float],
    full: dict[str, float],
) -> pd.DataFrame:
    """One row per arm (top-1 as reported and at the last epoch, inference and training cost)."""
    small, big = (plan["compact_macs"], plan["compact_params"]), (plan["full_macs"], plan["full_params"])
    rows = [
        _row("DCFF", compact["top1"], compact["top1_last"], dcff, *small),
        _row("L1 prune + fine-tune", l1["top1"], l1["top1_last"], l1, *small),
    ]
    if scratch.get("enabled"):
        rows.append(_row("scratch (compact)", scratch["top1"], scratch["top1_last"], scratch, *small))
    if full.get("enabled"):
        rows.append(_row("full (unpruned)", full["top1"], full["top1_last"], full, *big))
    table = pd.DataFrame(rows)
    table["train_cost_vs_l1"] = table["train_MMACs"] / table.loc[1, "train_MMACs"]
    return table
