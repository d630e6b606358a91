"""MSCL's results table: every model's mIoU (and without pole), then per-class IoU (spec §7 node 6).

The first column names the model and the first numeric column is its mIoU (what ``benchmarks/seeds.py`` reads).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from cvpapers.da.protocol import iou_key

Scores = Mapping[str, Mapping[str, float]]
NAN = float("nan")


def _row(
    label: str, s: Mapping[str, float], prefix: str, class_names: Sequence[str]
) -> dict[str, Any] | None:
    if f"{prefix}val_miou" not in s:
        return None
    row = {"model": label, "mIoU": round(s[f"{prefix}val_miou"], 2)}
    if f"{prefix}val_miou_7" in s:
        row["mIoU w/o pole"] = round(s[f"{prefix}val_miou_7"], 2)
    row.update({c: round(s.get(f"{prefix}{iou_key(c)}", NAN), 1) for c in class_names})
    return row


def results_table(scores: Scores, sources: Sequence[str], class_names: Sequence[str]) -> pd.DataFrame:
    """MSCL (the ensemble) first, then its members, the baselines and the ablations; skipped arms left out."""
    rows: list[tuple[str, str, str]] = [("MSCL (ensemble of the adapted models)", "mscl", "ensemble/")]
    rows += [(f"MSCL model {s}", "mscl", f"{s}/") for s in sources]
    rows += [("source-only ensemble (independent models)", "source_only", "ensemble/")]
    rows += [(f"source-only {s}", "source_only", f"{s}/") for s in sources]
    rows += [
        ("source-combined (LAB)", "combined", ""),
        ("source-combined without LAB", "combined_no_lab", ""),
    ]
    rows += [("collaborative only, ensemble", "collab_only", "ensemble/")]
    rows += [(f"collaborative only {s}", "collab_only", f"{s}/") for s in sources]
    out = [_row(label, scores.get(arm, {}), prefix, class_names) for label, arm, prefix in rows]
    table = [r for r in out if r is not None]
    stage_a = scores.get("mscl", {}).get("stage_a/ensemble/val_miou")
    if stage_a is not None:  # only the ensemble's mIoU is kept at the end of stage A
        table.insert(1, {"model": "MSCL at the end of stage A (ensemble)", "mIoU": round(stage_a, 2)})
    return pd.DataFrame(table)


def miou_bars(table: pd.DataFrame, title: str = "") -> Any:
    """A horizontal bar per model of the results table (its mIoU), MSCL at the top."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(table) + 1.0))
    labels, values = list(table["model"])[::-1], list(table["mIoU"])[::-1]
    colors = [
        "tab:red" if m.startswith("MSCL (") else "tab:blue" if m.startswith("MSCL") else "tab:gray"
        for m in labels
    ]
    ax.barh(labels, values, color=colors)
    for y, v in enumerate(values):
        ax.text(v + 0.3, y, f"{v:.1f}", va="center", fontsize=7)
    ax.set_xlabel("target val mIoU (%)")
    ax.tick_params(axis="y", labelsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
