"""DDM's result tables: every model's mIoU and per-class IoU, and the paper's Table-4 grid (model × round).

``scores`` maps a model to its validation scores (bare keys), as in :mod:`.claims`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from cvpapers.da.protocol import iou_key

Scores = Mapping[str, Mapping[str, float]]
NAN = float("nan")
# The per-round models: label in the grid and plot, key prefix in ``scores``.
ROUND_MODELS: tuple[tuple[str, str], ...] = (("M_RL", "rl"), ("M_SL", "sl"), ("E(RL,SL)", "ens"), ("M_S", "s"))


def _row(scores: Scores, label: str, model: str, class_names: Sequence[str]) -> dict[str, Any] | None:
    s = scores.get(model, {})
    if "val_miou" not in s:
        return None
    row = {"model": label, "mIoU": round(s["val_miou"], 2)}
    if "val_miou_7" in s:
        row["mIoU w/o pole"] = round(s["val_miou_7"], 2)
    row.update({c: round(s.get(iou_key(c), NAN), 1) for c in class_names})
    return row


def results_table(scores: Scores, rounds: int, class_names: Sequence[str]) -> pd.DataFrame:
    """One row per model (baselines, then each round's teachers, ensemble and student); skipped models left out."""
    labels = [("target-only (labelled target images)", "target_only"),
              ("source-only (LAB-translated source)", "source_only")]
    for r in range(1, rounds + 1):
        labels += [(f"round {r}: M_RL (region-level teacher)", f"rl_r{r}"),
                   (f"round {r}: M_SL (sample-level teacher{' = joint training' if r == 1 else ''})", f"sl_r{r}"),
                   (f"round {r}: E(RL, SL) (teachers' ensemble)", f"ens_r{r}"),
                   (f"round {r}: M_S (student)", f"s_r{r}")]
    rows = [_row(scores, label, model, class_names) for label, model in labels]
    return pd.DataFrame([r for r in rows if r is not None])


def miou_by_round(scores: Scores, rounds: int) -> dict[str, list[float]]:
    """Each per-round model's val mIoU over the rounds."""
    return {label: [scores.get(f"{k}_r{r}", {}).get("val_miou", NAN) for r in range(1, rounds + 1)]
            for label, k in ROUND_MODELS}


def rounds_grid(scores: Scores, rounds: int) -> pd.DataFrame:
    """The paper's Table 4 layout: a row per model, a column per round."""
    return pd.DataFrame([{"model": label, **{f"round {r}": round(v, 2) for r, v in enumerate(series, 1)}}
                         for label, series in miou_by_round(scores, rounds).items()])
