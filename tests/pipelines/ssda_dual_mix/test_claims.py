"""DDM's claims (method − baseline), the one claim/holds rule, and the result tables."""

from __future__ import annotations

import math

import pytest

from cvpapers.pipelines.ssda_dual_mix.claims import claim_holds, claims
from cvpapers.pipelines.ssda_dual_mix.tables import results_table, rounds_grid

NAMES = ["road", "pole"]


def _scores(student: float = 48.0, **over: float) -> dict:
    miou = {"target_only": 47.0, "source_only": 31.0, "rl_r1": 47.2, "sl_r1": 45.6, "ens_r1": 47.9, "s_r1": 46.9,
            "rl_r2": 48.1, "sl_r2": 47.9, "ens_r2": 48.7, "s_r2": student, **over}
    return {k: {"val_miou": v, "iou_road": 2 * v, "iou_pole": 0.0} for k, v in miou.items()}


def test_every_claim_is_method_minus_baseline() -> None:
    out = claims(_scores(), 2, 8)
    assert out["claim/miou_gain_vs_sl_r1"] == pytest.approx(48.0 - 45.6)
    assert out["claim/miou_gain_vs_rl_r1"] == pytest.approx(48.0 - 47.2)
    assert out["claim/miou_gain_vs_target_only"] == pytest.approx(1.0)
    assert out["claim/miou_gain_vs_best_teacher"] == pytest.approx(min(46.9 - 47.2, 48.0 - 48.1))
    assert out["claim/ensemble_gain_vs_best_teacher"] == pytest.approx(min(47.9 - 47.2, 48.7 - 48.1))
    assert out["claim/miou_gain_vs_round_1"] == pytest.approx(48.0 - 46.9)
    assert out["compare/miou_gain_vs_source_only"] == pytest.approx(17.0)
    assert out["compare/best_round_student_miou"] == 48.0
    assert out["claim/holds"] == 1.0
    assert all(k.startswith(("claim/", "compare/")) and isinstance(v, float) for k, v in out.items())


def test_the_claim_fails_when_the_student_loses_to_either_baseline() -> None:
    assert claims(_scores(student=45.0), 2, 8)["claim/holds"] == 0.0  # below joint training (M_SL¹)
    assert claims(_scores(student=46.5, target_only=46.8), 2, 8)["claim/holds"] == 0.0


def test_a_run_that_learned_nothing_never_holds() -> None:
    # Everything near a constant prediction (≤ 100/C): beating other failures is no evidence.
    assert claim_holds(12.0, 1.0, 1.0, 8) == 0.0
    assert claim_holds(13.0, 1.0, 1.0, 8) == 1.0
    assert claims(_scores(student=9.0, target_only=5.0, sl_r1=4.0, rl_r1=3.0), 2, 8)["claim/holds"] == 0.0


def test_a_skipped_source_only_baseline_leaves_its_row_and_comparison_out() -> None:
    scores = _scores()
    scores["source_only"] = {"enabled": 0.0}
    assert "compare/miou_gain_vs_source_only" not in claims(scores, 2, 8)
    table = results_table(scores, 2, NAMES)
    assert not table["model"].str.startswith("source-only").any()
    assert len(table) == 1 + 2 * 4 and list(table.columns) == ["model", "mIoU", *NAMES]


def test_rounds_grid_is_model_by_round() -> None:
    grid = rounds_grid(_scores(), 2).set_index("model")
    assert list(grid.index) == ["M_RL", "M_SL", "E(RL,SL)", "M_S"]
    assert grid.loc["M_S", "round 2"] == 48.0 and grid.loc["M_RL", "round 1"] == 47.2
    assert math.isnan(rounds_grid(_scores(), 3).set_index("model").loc["M_S", "round 3"])
