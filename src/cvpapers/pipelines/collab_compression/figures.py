"""Figures: per-layer sensitivity curves with their fits, the chosen per-layer rates, accuracy vs MACs of
the three variants, and the fine-tuning curves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def sensitivity_plot(curves: Mapping[str, Any], variant: str) -> Any:
    """Measured normalised loss against the layer's FLOPs reduction (markers) and the fit (lines)."""
    from cvpapers.engine import plots

    plt = plots._plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, c in curves.items():
        line = ax.plot(c["cr"], c["loss"], ".", ms=3, label=f"{name} (p2={c['p2']:.2f})")[0]
        if np.isfinite(c["p1"]) and len(c["cr"]):
            xs = np.linspace(0, max(c["cr"]), 50)
            ax.plot(xs, c["p1"] * np.exp(c["p2"] * xs), "-", color=line.get_color(), lw=1)
    ax.set(
        xlabel="layer FLOPs reduction cr",
        ylabel="information loss / max",
        yscale="log",
        title=f"{variant}: compression sensitivity",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def rates_plot(allocations: Mapping[str, Mapping[str, Any]], layers: Mapping[str, pd.DataFrame]) -> Any:
    """Per layer: GCRO's rate (bars) and the achieved rate of the exported layer (markers), every variant."""
    from cvpapers.engine import plots

    plt = plots._plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    variants = list(allocations)
    names = list(next(iter(allocations.values()))["layers"])
    x, width = np.arange(len(names)), 0.8 / max(len(variants), 1)
    for i, v in enumerate(variants):
        rates = [allocations[v]["layers"][n]["cr"] for n in names]
        bars = ax.bar(x + i * width, rates, width, label=f"{v} (GCRO)", alpha=0.6)
        table = layers[v].set_index("layer")
        achieved = [table.loc[n, "removed"] / table.loc[n, "flops"] for n in names]
        ax.plot(x + i * width, achieved, "o", color=bars.patches[0].get_facecolor(), ms=4)
    ax.set_xticks(x + 0.4 - width / 2, names, rotation=45, ha="right", fontsize=7)
    ax.set(ylabel="layer FLOPs reduction", title="chosen per-layer rates (bars) and achieved (dots)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def accuracy_vs_macs(table: pd.DataFrame) -> Any:
    from cvpapers.engine import plots

    points = []
    for r in table.to_dict("records"):
        points.append({"label": f"{r['variant']} (after FT)", "MMACs": r["MMACs"], "top1": r["top1"]})
        if r["variant"] != "pretrained":
            points.append(
                {"label": f"{r['variant']} (before FT)", "MMACs": r["MMACs"], "top1": r["top1_before_ft"]}
            )
    return plots.accuracy_vs_cost(
        points, "MMACs", "top1", "label", "MMACs (exported model)", "test top-1 (%)"
    )


def finetune_curves(histories: Mapping[str, pd.DataFrame]) -> Any:
    from cvpapers.engine import plots

    series = {v: h["test_acc"].tolist() for v, h in histories.items() if len(h)}
    return plots.curves(series, "test top-1 (%)", title="fine-tuning of the three variants")
