"""The report's figures: top-1 vs MFLOPs per arm, training curves, the pools' evolution, the map's FLOPs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cvpapers.engine import plots


def _line(
    table: pd.DataFrame, kinds: list[str], mean_per_target: bool = False
) -> tuple[list[float], list[float]]:
    rows = table[table["kind"].isin(kinds)]
    if mean_per_target:
        rows = rows.groupby("target", as_index=False).agg(mflops=("mflops", "mean"), top1=("top1", "mean"))
    rows = rows.sort_values("mflops")
    return rows["mflops"].tolist(), rows["top1"].tolist()


def accuracy_vs_mflops(pss: pd.DataFrame, usnet: pd.DataFrame) -> Any:
    """PSS's retained subnets, US-Net's uniform widths (both with their max and min net) and the mean of the
    random subnets of each target, top-1 against MFLOPs."""
    return plots.xy_curves(
        {
            "PSS-Net retained": _line(pss, ["retained", "max", "min"]),
            "US-Net uniform": _line(usnet, ["uniform", "max", "min"]),
            "random (PSS supernet, mean)": _line(pss, ["random"], mean_per_target=True),
        },
        "MFLOPs (MACs)",
        "test top-1 (%)",
        "subnets by FLOPs target",
    )


def training_curves(pss_log: pd.DataFrame, usnet_log: pd.DataFrame) -> Any:
    """Per-epoch losses of the max, middle and min nets of both arms."""
    series = {
        f"{arm} {k.removeprefix('train_')}": log[k].tolist()
        for arm, log in (("PSS", pss_log), ("US-Net", usnet_log))
        for k in ("train_loss_max", "train_loss_mid", "train_loss_min")
        if k in log
    }
    return plots.curves(series, "loss (CE max net, KL middle/min)")


def pools_evolution(pss_log: pd.DataFrame) -> Any:
    """The schedules and the pools per epoch: p, t, routed fraction and fill (left); pool scores (right)."""
    plt = plots._plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = np.arange(1, len(pss_log) + 1)
    for key in ("p", "t", "pool_routed_frac", "pool_fill"):
        if key in pss_log:
            left.plot(epochs, pss_log[key], marker="o", ms=3, label=key)
    left.set_xlabel("epoch"), left.set_ylim(-0.02, 1.05), left.grid(alpha=0.3), left.legend(fontsize=8)
    for key in ("pool_score_mean", "pool_score_max"):
        if key in pss_log:
            right.plot(epochs, pss_log[key], marker="o", ms=3, label=key)
    right.set_xlabel("epoch"), right.set_ylabel("score (−CE on the batch)"), right.grid(alpha=0.3)
    right.legend(fontsize=8)
    fig.suptitle("PSS pools: schedules and scores", fontsize=10)
    fig.tight_layout()
    return fig


def map_flops(mflops: np.ndarray, target: np.ndarray) -> Any:
    """The subnet map's FLOPs, one histogram per target."""
    groups = {f"target {t:g}": mflops[target == t] for t in np.unique(target)}
    return plots.histograms(groups, "MFLOPs (MACs)", bins=60, title="subnet map by target")
