"""MSCL's claims as numbers (spec §7–§8), each method − baseline in mIoU points (positive: the claim holds), and
the one rule that says whether the run supports the paper.

``scores`` maps an arm to its node's metrics (bare keys): ``mscl``, ``source_only`` and ``collab_only`` hold
``<source>/val_miou``, ``ensemble/val_miou`` and ``mean_member/val_miou`` (MSCL also ``stage_a/…``);
``combined`` and ``combined_no_lab`` hold ``val_miou``. A skipped arm holds ``{"enabled": 0.0}``. "MSCL" is the
ensemble of the N adapted models (spec §3.4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Scores = Mapping[str, Mapping[str, float]]


def claims(scores: Scores, sources: Sequence[str], n_classes: int) -> dict[str, float]:
    """``claim/…`` (the paper's claims), ``compare/…`` (other comparisons), ``claim/holds`` and the MSCL mIoU."""
    mscl = scores["mscl"]["ensemble/val_miou"]
    out = {
        "mscl_ensemble_miou": mscl,
        # The primary claim: collaboration + online ensemble pseudo labels beat the same N models trained alone.
        "claim/miou_gain_vs_source_only_ensemble": mscl - scores["source_only"]["ensemble/val_miou"],
        # The secondary one: it also beats one model trained on all sources together (expected small).
        "claim/miou_gain_vs_source_combined": mscl - scores["combined"]["val_miou"],
        "compare/mean_member_miou_gain_vs_source_only": (
            scores["mscl"]["mean_member/val_miou"] - scores["source_only"]["mean_member/val_miou"]
        ),
    }
    out.update(
        {
            f"compare/member_miou_gain_vs_source_only/{s}": scores["mscl"][f"{s}/val_miou"]
            - scores["source_only"][f"{s}/val_miou"]
            for s in sources
        }
    )
    if "stage_a/ensemble/val_miou" in scores["mscl"]:
        out["compare/target_stage_gain"] = mscl - scores["mscl"]["stage_a/ensemble/val_miou"]
    if "ensemble/val_miou" in scores.get("collab_only", {}):
        out["compare/miou_gain_vs_collab_only"] = mscl - scores["collab_only"]["ensemble/val_miou"]
    if "val_miou" in scores.get("combined_no_lab", {}):
        out["compare/lab_gain_combined"] = (
            scores["combined"]["val_miou"] - scores["combined_no_lab"]["val_miou"]
        )
    out["claim/holds"] = claim_holds(
        mscl,
        out["claim/miou_gain_vs_source_only_ensemble"],
        out["claim/miou_gain_vs_source_combined"],
        n_classes,
    )
    return out


def claim_holds(
    mscl_miou: float, gain_vs_source_only_ensemble: float, gain_vs_combined: float, n_classes: int
) -> float:
    """1.0 when the MSCL ensemble beats both the ensemble of independent source-only models and the
    source-combined model, and has learned something (its mIoU exceeds ``100 / C``, more than predicting one
    class everywhere can score); else 0.0."""
    learned = mscl_miou > 100.0 / n_classes
    return float(learned and gain_vs_source_only_ensemble > 0 and gain_vs_combined > 0)
