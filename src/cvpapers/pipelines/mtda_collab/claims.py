"""MTDA-CCL's claims as numbers (spec §8.3), each method − baseline in mIoU points averaged over the targets
(positive = the claim holds), the comparisons, and the one rule that says whether a run supports the paper.

``models`` maps a model to its per-target scores (``<t>/val_miou`` …, ``val_miou_avg``): ``source_only``,
``mixed_single``, ``experts_s1``, ``experts_indep``, ``experts_ccl``, ``student_ccl`` (the method);
``stage_scores`` are the nodes' own metrics (bridge agreement and weight distances).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Scores = Mapping[str, Mapping[str, float]]


def _avg(models: Scores, name: str) -> float:
    return models[name]["val_miou_avg"]


def claims(models: Scores, stage_scores: Scores, targets: Sequence[str], n_classes: int) -> dict[str, float]:
    """``claim/…`` (the paper's claim and the benchmark's), ``compare/…`` and ``claim/holds``."""
    student = _avg(models, "student_ccl")
    out = {
        "claim/miou_avg_gain_vs_mixed_single": student
        - _avg(models, "mixed_single"),  # the paper's claim [A]
        "claim/miou_avg_gain_vs_source_only": student - _avg(models, "source_only"),  # da_benchmark §8
        "compare/experts_ccl_minus_indep_avg": _avg(models, "experts_ccl") - _avg(models, "experts_indep"),
        "compare/student_minus_experts_ccl_avg": student - _avg(models, "experts_ccl"),
        # The premise of §8.1: do specialised experts beat one model adapted to the merged targets at all?
        "compare/experts_indep_minus_mixed_single_avg": _avg(models, "experts_indep")
        - _avg(models, "mixed_single"),
    }
    for t in targets:
        out[f"compare/miou_gain_vs_mixed_single/{t}"] = (
            models["student_ccl"][f"{t}/val_miou"] - models["mixed_single"][f"{t}/val_miou"]
        )
    ccl, indep = stage_scores.get("ccl", {}), stage_scores.get("experts_indep", {})
    if "bridge_agreement_last_chunk" in ccl:
        out["compare/bridge_agreement_gain"] = (
            ccl["bridge_agreement_last_chunk"] - ccl["bridge_agreement_first_chunk"]
        )
    if indep.get("wdist/experts_pairwise_mean"):
        out["compare/wdist_ratio_ccl_vs_indep"] = (
            ccl["wdist/experts_pairwise_mean"] / indep["wdist/experts_pairwise_mean"]
        )
    out["claim/holds"] = claim_holds(
        student,
        out["claim/miou_avg_gain_vs_mixed_single"],
        out["claim/miou_avg_gain_vs_source_only"],
        n_classes,
    )
    return out


def claim_holds(
    student_miou_avg: float, gain_vs_mixed_single: float, gain_vs_source_only: float, n_classes: int
) -> float:
    """1.0 when the CCL student — one model, no domain label — beats the model adapted to the merged targets and
    the source-only model on the mIoU averaged over targets, and has learned something (its mean mIoU exceeds
    ``100 / C``, more than predicting one class everywhere can score); else 0.0."""
    learned = student_miou_avg > 100.0 / n_classes
    return float(learned and gain_vs_mixed_single > 0 and gain_vs_source_only > 0)
