"""ReCU's figures: per-epoch curves of every arm (accuracy and the weight diagnostics the paper argues from)
and accuracy against MACs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

PANELS = {
    "test_acc": "test top-1 (%)",
    "train_loss": "train loss",
    "flip_rate": "flip rate (share of signs flipped per epoch)",
    "clamp_fraction": "clamped share |Ŵ| > Q",
    "quant_error_rel": "relative quantisation error",
    "weight_sign_entropy": "entropy of sign(W) (bits)",
}


def curves(logs: Mapping[str, pd.DataFrame]) -> Any:
    """One panel per quantity of :data:`PANELS`, one line per arm that ran (its ``<arm>_log`` table)."""
    from cvpapers.engine import plots

    panels = {
        label: {arm: log[col].dropna().tolist() for arm, log in logs.items() if len(log) and col in log}
        for col, label in PANELS.items()
    }
    return plots.curve_panels(panels, title="ReCU vs BNN per epoch (same initial weights, same batches)")


def accuracy_vs_macs(table: pd.DataFrame) -> Any:
    """Each arm at its binary + FP MACs and last-epoch top-1."""
    from cvpapers.engine import plots

    points = [
        {"method": r["method"], "MMACs": r["MMACs_binary"] + r["MMACs_fp"], "top1": r["top1_last_epoch"]}
        for r in table.to_dict("records")
    ]
    return plots.accuracy_vs_cost(
        points,
        "MMACs",
        "top1",
        "method",
        "MMACs per image (binary + FP, conv_linear)",
        "last-epoch test top-1 (%)",
    )
