"""DCFF's figures: which filters the fusion selects over training, accuracy against MACs, accuracy curves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def selection_heatmap(log_df: pd.DataFrame, plan: dict[str, Any], max_layers: int = 9) -> Any:
    """For each layer: which original filters are selected (columns) at each recompute (rows)."""
    from cvpapers.engine import plots

    widths = {layer["layer"]: layer["c"] for layer in plan["layers"]}
    mats: dict[str, np.ndarray] = {}
    for name, rows in list(log_df.groupby("layer", sort=False))[:max_layers]:
        m = np.zeros((len(rows), widths[name]), dtype=np.float32)
        for i, sel in enumerate(rows["selected"].astype(str)):
            ids = np.array(sel.split(), dtype=np.int64)
            m[i, ids] = 1.0
        frozen = int(rows["frozen"].astype(bool).sum())
        mats[f"{name} (frozen at {frozen}/{len(rows)} recomputes)"] = m
    return plots.binary_heatmaps(mats, "original filter id", "recompute", "DCFF selected filters")


def accuracy_vs_macs(table: pd.DataFrame) -> Any:
    """Each arm of the result table at its inference MACs and top-1."""
    from cvpapers.engine import plots

    points = [{"method": r["method"], "MMACs": r["MMACs"], "top1": r["top1"]} for r in table.to_dict("records")]
    return plots.accuracy_vs_cost(points, "MMACs", "top1", "method", "inference MMACs (paper rules)", "top-1 (%)")


def accuracy_curves(histories: Mapping[str, pd.DataFrame]) -> Any:
    """Test top-1 per epoch of every arm that ran (its ``<arm>_history_log`` table)."""
    from cvpapers.engine import plots

    series = {arm: h["test_acc"].tolist() for arm, h in histories.items() if len(h)}
    return plots.curves(series, "test top-1 (%)", title="test accuracy per epoch (L1: pretrain, then fine-tune)")
