"""The claim rule (stated in the README) and the result table."""

from __future__ import annotations

import pytest

from cvpapers.pipelines.recu.claims import claim_holds, claim_metrics, results_table

PLAN = {
    "num_classes": 10,
    "macs": 3_060_352,
    "binary_macs": 2_949_120,
    "params": 75_642,
    "fp_reference_params": 75_418,
}


def _arm(top1_last: float, mean: float, best: float | None = None, enabled: float = 1.0) -> dict[str, float]:
    best = top1_last if best is None else best
    return {
        "top1": best,
        "top1_last": top1_last,
        "top1_best": best,
        "best_epoch": 3.0,
        "mean_top1": mean,
        "train_time_s": 10.0,
        "flip_rate_first_half": 0.01,
        "enabled": enabled,
    }


def test_claim_needs_both_a_last_epoch_gain_and_a_mean_gain_of_two_learned_models() -> None:
    assert claim_holds(1.0, 0.5, 80.0, 79.0, 10)
    assert not claim_holds(1.0, -0.1, 80.0, 79.0, 10)  # ends ahead but trained slower
    assert not claim_holds(-0.1, 2.0, 80.0, 80.1, 10)  # faster but ends behind
    assert not claim_holds(3.0, 3.0, 19.0, 16.0, 10)  # neither learned (≤ twice chance)


def test_claims_are_method_minus_baseline_on_the_last_epoch_and_mean() -> None:
    arms = {
        "recu": _arm(85.0, 70.0, best=86.0),
        "bnn": _arm(84.0, 68.0, best=87.0),
        "ws_only": {"enabled": 0.0},
        "fp": _arm(90.0, 80.0),
    }
    m = claim_metrics(10, arms)
    assert m["claim/top1_gain_vs_bnn_last"] == pytest.approx(1.0)
    assert m["claim/mean_top1_gain_vs_bnn"] == pytest.approx(2.0)
    assert m["claim/top1_gain_vs_bnn"] == pytest.approx(-1.0)  # best epoch: reported, not the rule
    assert m["claim/holds"] == 1.0
    assert m["compare/top1_gap_vs_fp_last"] == pytest.approx(-5.0)
    assert "compare/top1_gain_vs_ws_only_last" not in m
    assert sum(k == "claim/holds" for k in m) == 1


def test_results_table_lists_the_arms_that_ran_with_binary_and_fp_macs() -> None:
    arms = {
        "recu": _arm(85.0, 70.0),
        "bnn": _arm(84.0, 68.0),
        "ws_only": {"enabled": 0.0},
        "fp": _arm(90.0, 80.0),
    }
    table = results_table(PLAN, arms)
    assert list(table["method"]) == ["ReCU", "BNN (sign STE)", "full precision"]
    assert table.columns[1] == "top1"
    fp = table.iloc[2]
    assert fp["MMACs_binary"] == 0 and fp["MMACs_fp"] == pytest.approx(3.060, abs=1e-3)
    assert table.iloc[0]["MMACs_binary"] == pytest.approx(2.949, abs=1e-3)
