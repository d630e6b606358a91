"""The claim rule and the report's comparisons (spec §8.3)."""

from __future__ import annotations

import pytest

from cvpapers.pipelines.mtda_collab.claims import claim_holds, claims

T = ["city", "fog"]


def _m(avg: float, city: float, fog: float) -> dict[str, float]:
    return {"val_miou_avg": avg, "city/val_miou": city, "fog/val_miou": fog}


def _models(student: float, mixed: float, source: float) -> dict:
    return {
        "student_ccl": _m(student, student + 1, student - 1),
        "mixed_single": _m(mixed, mixed, mixed),
        "source_only": _m(source, source, source),
        "experts_ccl": _m(40, 40, 40),
        "experts_indep": _m(39, 39, 39),
        "experts_s1": _m(38, 38, 38),
    }


def test_claims_are_method_minus_baseline_averaged_over_targets() -> None:
    stage = {
        "ccl": {
            "bridge_agreement_first_chunk": 0.6,
            "bridge_agreement_last_chunk": 0.8,
            "wdist/experts_pairwise_mean": 2.0,
        },
        "experts_indep": {"wdist/experts_pairwise_mean": 4.0},
    }
    out = claims(_models(42.0, 40.0, 30.0), stage, T, 8)
    assert out["claim/miou_avg_gain_vs_mixed_single"] == pytest.approx(2.0)
    assert out["claim/miou_avg_gain_vs_source_only"] == pytest.approx(12.0)
    assert out["compare/miou_gain_vs_mixed_single/city"] == pytest.approx(3.0)
    assert out["compare/experts_ccl_minus_indep_avg"] == pytest.approx(1.0)
    assert out["compare/bridge_agreement_gain"] == pytest.approx(0.2)
    assert out["compare/wdist_ratio_ccl_vs_indep"] == pytest.approx(0.5)
    assert out["claim/holds"] == 1.0 and sum(k == "claim/holds" for k in out) == 1


@pytest.mark.parametrize(
    ("student", "mixed", "source", "holds"),
    [
        (42.0, 40.0, 30.0, 1.0),
        (39.0, 40.0, 30.0, 0.0),  # loses to the merged-targets model
        (42.0, 40.0, 43.0, 0.0),  # loses to source-only
        (12.0, 11.0, 10.0, 0.0),  # learned nothing: below 100 / 8
    ],
)
def test_the_claim_holds_only_when_the_student_beats_both_and_learned(student, mixed, source, holds) -> None:
    assert claim_holds(student, student - mixed, student - source, 8) == holds
