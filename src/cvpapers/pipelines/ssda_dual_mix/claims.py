"""DDM's claims as numbers (spec §6: "key claims to reproduce in direction"), each method − baseline in mIoU
points, so positive means the claim holds, and the one rule that says whether the run supports the paper.

``scores`` maps a model to its validation scores (bare keys, ``val_miou`` …): ``target_only``, ``source_only``
and, per round r, ``rl_r<r>``, ``sl_r<r>``, ``ens_r<r>`` (the teachers' ensemble) and ``s_r<r>`` (the student).
The final student ``s_r<R>`` is DDM's result.
"""

from __future__ import annotations

from collections.abc import Mapping

Scores = Mapping[str, Mapping[str, float]]


def _miou(scores: Scores, model: str) -> float:
    return scores[model]["val_miou"]


def claims(scores: Scores, rounds: int, n_reported_classes: int) -> dict[str, float]:
    """``claim/…`` (the paper's claims), ``compare/…`` (other comparisons) and ``claim/holds``."""
    final = _miou(scores, f"s_r{rounds}")
    every = range(1, rounds + 1)
    out = {
        # (d) DDM beats naive SSDA — joint training on source + labelled target, i.e. round 1's M_SL — ...
        "claim/miou_gain_vs_sl_r1": final - _miou(scores, "sl_r1"),
        "claim/miou_gain_vs_rl_r1": final - _miou(scores, "rl_r1"),
        # ... and by far supervised training on the labelled target images alone.
        "claim/miou_gain_vs_target_only": final - _miou(scores, "target_only"),
        # (b) the student beats both of its teachers in every round (the smallest margin over rounds).
        "claim/miou_gain_vs_best_teacher": min(
            _miou(scores, f"s_r{r}") - max(_miou(scores, f"rl_r{r}"), _miou(scores, f"sl_r{r}")) for r in every),
        # (a) the teachers' ensemble beats either teacher (the smallest margin over rounds).
        "claim/ensemble_gain_vs_best_teacher": min(
            _miou(scores, f"ens_r{r}") - max(_miou(scores, f"rl_r{r}"), _miou(scores, f"sl_r{r}")) for r in every),
        "compare/best_round_student_miou": max(_miou(scores, f"s_r{r}") for r in every),
    }
    if rounds > 1:  # (c) rounds improve the student
        out["claim/miou_gain_vs_round_1"] = final - _miou(scores, "s_r1")
    if "val_miou" in scores.get("source_only", {}):
        out["compare/miou_gain_vs_source_only"] = final - _miou(scores, "source_only")
    out["claim/holds"] = claim_holds(final, out["claim/miou_gain_vs_sl_r1"], out["claim/miou_gain_vs_target_only"],
                                     n_reported_classes)
    return out


def claim_holds(student_miou: float, gain_vs_joint_training: float, gain_vs_target_only: float,
                n_reported_classes: int) -> float:
    """1.0 when DDM's final student beats naive joint training (M_SL¹) and target-only training, and has
    learned something: its mIoU exceeds ``100 / C``, more than predicting any one class everywhere can score;
    else 0.0. (The other claims are reported beside it; the README reads them.)"""
    learned = student_miou > 100.0 / n_reported_classes
    return float(learned and gain_vs_joint_training > 0 and gain_vs_target_only > 0)
