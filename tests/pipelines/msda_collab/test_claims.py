"""MSCL's claims: method − baseline in mIoU points, the one claim/holds rule, and the results table's layout
(model first, mIoU the first numeric column: what benchmarks/seeds.py reads)."""

from __future__ import annotations

import pytest

from cvpapers.pipelines.msda_collab.claims import claim_holds, claims
from cvpapers.pipelines.msda_collab.tables import results_table

SOURCES = ("game", "synthetic")


def _arm(ens: float, a: float, b: float) -> dict[str, float]:
    return {
        "ensemble/val_miou": ens,
        "game/val_miou": a,
        "synthetic/val_miou": b,
        "mean_member/val_miou": (a + b) / 2,
    }


def _scores(mscl: float = 45.0, combined: float = 44.0) -> dict:
    return {
        "mscl": {**_arm(mscl, 44.0, 43.0), "stage_a/ensemble/val_miou": 42.0},
        "source_only": _arm(41.0, 37.0, 41.0),
        "combined": {"val_miou": combined},
        "combined_no_lab": {"val_miou": 30.0},
        "collab_only": {"enabled": 0.0},
    }


def test_claims_are_method_minus_baseline() -> None:
    out = claims(_scores(), SOURCES, 8)
    assert out["claim/miou_gain_vs_source_only_ensemble"] == pytest.approx(4.0)
    assert out["claim/miou_gain_vs_source_combined"] == pytest.approx(1.0)
    assert out["compare/mean_member_miou_gain_vs_source_only"] == pytest.approx(4.5)
    assert out["compare/target_stage_gain"] == pytest.approx(3.0)
    assert out["compare/lab_gain_combined"] == pytest.approx(14.0)
    assert "compare/miou_gain_vs_collab_only" not in out  # skipped arm
    assert out["claim/holds"] == 1.0
    assert claims(_scores(combined=46.0), SOURCES, 8)["claim/holds"] == 0.0


def test_a_model_that_learned_nothing_never_holds_the_claim() -> None:
    assert claim_holds(12.0, 5.0, 5.0, 8) == 0.0  # 100 / 8 = 12.5: no better than one class everywhere
    assert claim_holds(13.0, 5.0, 5.0, 8) == 1.0


def test_results_table_lists_mscl_first_and_leaves_skipped_arms_out() -> None:
    table = results_table(_scores(), SOURCES, ["road"])
    assert list(table.columns[:2]) == ["model", "mIoU"]
    assert table["model"].iloc[0].startswith("MSCL (ensemble")
    assert table["mIoU"].iloc[0] == 45.0
    assert not any("collaborative only" in m for m in table["model"])
