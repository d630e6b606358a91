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

    points = [
        {"method": r["method"], "MMACs": r["MMACs"], "top1": r["top1"]} for r in table.to_dict("records")
    ]
    return plots.accuracy_vs_cost(
        points, "MMACs", "top1", "method", "inference MMACs (paper rules)", "top-1 (%)"
    )


def accuracy_curves(histories: Mapping[str, pd.DataFrame]) -> Any:
    """Test top-1 per epoch of every arm that ran (its ``<arm>_history_log`` table)."""
    from cvpapers.engine import plots

    series = {arm: h["test_acc"].tolist() for arm, h in histories.items() if len(h)}
    return plots.curves(
        series, "test top-1 (%)", title="test accuracy per epoch (L1: pretrain, then fine-tune)"
    )


def plateau_curves(table: pd.DataFrame, plateau: int) -> Any:
    """Left: each arm's last-epoch validation top-1 against the budget (the plateau curves); right: the
    validation curve per epoch of every (arm, budget) run. ``table`` is :func:`~cvpapers.pipelines.dcff.budget.run_study`'s."""
    from cvpapers.engine.plots import _plt

    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    colours = dict(
        zip(table["arm"].unique(), plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False)
    )
    for arm, rows in table.groupby("arm", sort=False):
        left.plot(rows["budget"], rows["val_top1_last"], marker="o", color=colours[arm], label=str(arm))
        for alpha, row in zip(np.linspace(0.35, 1.0, len(rows)), rows.itertuples(), strict=True):
            curve = [float(v) for v in str(row.curve).split()]
            right.plot(range(1, len(curve) + 1), curve, color=colours[arm], alpha=float(alpha), lw=1)
    left.axvline(plateau, color="grey", ls="--", lw=1, label=f"plateau: {plateau} epochs")
    left.set(
        xlabel="budget (epochs)", ylabel="validation top-1 (%), last epoch", title="plateau curves per arm"
    )
    right.set(
        xlabel="epoch", ylabel="validation top-1 (%)", title="per-epoch curves (lighter = shorter budget)"
    )
    for ax in (left, right):
        ax.grid(alpha=0.3)
    left.legend()
    fig.tight_layout()
    return fig
