"""MI-AOD's claim (spec §8.4) and the one rule that says whether a run shows it.

The paper claims that at equal labelled budget MI-AOD's mAP is above Random's. Measured here:

* ``claim/map_gap_last3``: mean MI-AOD − Random mAP@0.5 (points) over the last three cycles;
* ``claim/map_gap_min_after_first_selection``: the smallest MI-AOD − Random gap after the first selection;
* diagnostics the paper does not claim, under ``compare/``: the per-cycle gaps, each arm's hard-image
  selection ratio (share of hard + clutter images among everything the arm selected, over their pool base
  rate) and, with the ablation arm, the selection and training gains.

``claim/holds`` = :func:`claim_holds`: both arms learned (last-cycle mAP ≥ 1 point), the last-three-cycle gap
is ≥ +3 mAP and, where the data carries regime tags, MI-AOD's hard-image ratio is ≥ 1.5 (the spec's expected
margins; the README states the same rule).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cvpapers.pipelines.mi_aod.report import Results, arm_map

MIN_GAP_LAST3 = 3.0      # mAP points: mean MI-AOD − Random gap over the last three cycles (spec §8.4)
MIN_HARD_RATIO = 1.5     # MI-AOD's hard + clutter selections over their pool base rate (spec §8.4)
MIN_LEARNED_MAP = 1.0    # mAP points at the last cycle: below this an arm's detector learned nothing


def claim_holds(gap_last3: float, hard_ratio: float | None, final_maps: Sequence[float]) -> bool:
    """The one rule: every arm learned something, the gap is ≥ +3 mAP and the selection prefers hard images
    (``hard_ratio`` None: no regime tags, as on real data; the claim then rests on the gap). NaN fails."""
    learned = all(m >= MIN_LEARNED_MAP for m in final_maps)
    selective = hard_ratio is None or hard_ratio >= MIN_HARD_RATIO
    return bool(learned and gap_last3 >= MIN_GAP_LAST3 and selective)


def hard_selection_ratio(results: Results, arm: str, cycles: int) -> float | None:
    """Share of hard + clutter images among everything the arm selected, over their pool base rate."""
    selections = [results.get(f"{arm}_select_c{c}", {}) for c in range(cycles - 1)]
    hard = [s.get("hard_selected") for s in selections]
    if not hard or any(h is None for h in hard):
        return None
    total = sum(s["selected"] for s in selections)
    base = selections[0]["hard_base_rate"]
    return float(sum(hard) / total / base) if base > 0 else None


def arm_claims(results: Results, arms: Sequence[str], cycles: int) -> dict[str, float]:
    """The ``claim/…`` and ``compare/…`` metrics of a run, ``claim/holds`` included."""
    maps = {arm: arm_map(results, arm, cycles) for arm in arms}
    gaps = [a - b for a, b in zip(maps["miaod"], maps["random"], strict=True)]
    out = {"claim/map_gap_last3": float(np.mean(gaps[-3:])),
           "claim/map_gap_min_after_first_selection": float(min(gaps[1:])) if cycles > 1 else math.nan}
    out.update({f"compare/map_gap_cycle_{c}": g for c, g in enumerate(gaps)})
    ratios = {arm: hard_selection_ratio(results, arm, cycles) for arm in arms}
    out.update({f"compare/hard_selection_ratio{'' if arm == 'miaod' else '_' + arm}": r
                for arm, r in ratios.items() if r is not None})
    if "miaod_trainonly" in arms:
        out["compare/selection_gain_last3"] = float(np.mean(
            [a - b for a, b in zip(maps["miaod"], maps["miaod_trainonly"], strict=True)][-3:]))
        out["compare/training_gain_last3"] = float(np.mean(
            [a - b for a, b in zip(maps["miaod_trainonly"], maps["random"], strict=True)][-3:]))
    final = [m[-1] for m in maps.values()]
    out["claim/holds"] = float(claim_holds(out["claim/map_gap_last3"], ratios["miaod"], final))
    return out
