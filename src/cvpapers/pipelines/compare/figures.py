"""The two charts. One panel per benchmark (test set): points from different test sets never share axes.
An empty chart says why it is empty, in the figure itself."""

from __future__ import annotations

import math
import textwrap
from typing import Any

import numpy as np
import pandas as pd

from cvpapers.engine.plots import _plt
from cvpapers.pipelines.compare.config import FrontierParams

_MARKERS = "osD^vP*Xh<>p"


def _panels(n: int, width: float, height: float) -> tuple[Any, list[Any]]:
    plt = _plt()
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.axis("off")
    return fig, flat[:n]


def _legend_below(ax: Any) -> None:
    """Under the panel, so it never hides a point."""
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)


def _empty(title: str, why: str) -> Any:
    fig, (ax,) = _panels(1, 7, 3)
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.5, textwrap.fill(why, 70), ha="center", va="center", fontsize=9, transform=ax.transAxes)
    return fig


def _why_empty(table: pd.DataFrame, snapshot: dict[str, Any]) -> str:
    if not snapshot["runs"]:
        return (
            f"No finished run of {', '.join(snapshot['pipelines'])} in {', '.join(snapshot['stores'])}. "
            "Run the papers first (e.g. `kedro run --pipelines dcff`), then `kedro run --pipelines compare`."
        )
    reasons = table.loc[table["status"] != "drawn", "status"].dropna().unique()
    return "Nothing to draw: " + "; ".join(reasons[:4])


def _series_name(row: Any) -> str:
    setting = f" [{row.setting_label}]" if row.setting_label else ""
    return f"{row.pipeline}: {row.arm}{setting}"


def frontier_figure(table: pd.DataFrame, fp: FrontierParams, snapshot: dict[str, Any]) -> Any:
    """Top-1 vs MACs (binary ops as MACs-equivalent), a marker per model, the Pareto front dashed."""
    points = table[table["status"] == "drawn"]
    title = "Compression papers: accuracy vs MACs"
    if points.empty:
        return _empty(title, _why_empty(table, snapshot))
    benchmarks = list(dict.fromkeys(points["benchmark"]))
    fig, axes = _panels(len(benchmarks), 7.5, 5)
    colours = {name: f"C{i % 10}" for i, name in enumerate(dict.fromkeys(points["pipeline"]))}
    for ax, bench in zip(axes, benchmarks, strict=True):
        sub = points[points["benchmark"] == bench].sort_values("macs_equiv")
        for i, (name, series) in enumerate(sub.groupby(sub.apply(_series_name, axis=1), sort=False)):
            first = series.iloc[0]
            x, y = series["macs_equiv"].to_numpy(float), series["accuracy"].to_numpy(float)
            std = series["accuracy_std"].to_numpy(float)
            ax.errorbar(
                x,
                y,
                yerr=None if np.isnan(std).all() else np.nan_to_num(std),
                ls="-" if len(x) > 1 else "",
                lw=0.8,
                marker=_MARKERS[i % len(_MARKERS)],
                ms=7,
                color=colours[first["pipeline"]],
                capsize=3,
                label=name,
            )
            for xi, yi, text in zip(x, y, series["label"].fillna(""), strict=True):
                if text:  # which subnet (pss_net's target)
                    ax.annotate(text, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7)
        front = sub[sub["on_frontier"].astype(bool)]
        ax.step(
            front["macs_equiv"],
            front["accuracy"],
            where="post",
            ls="--",
            color="0.5",
            lw=1,
            label="Pareto front",
        )
        if fp.log_x:
            ax.set_xscale("log")
        ax.set_xlabel(f"MACs per image (binary ops as BOPs / {fp.bops_per_mac:g})")
        ax.set_ylabel("test top-1 (%)")
        ax.set_title(textwrap.fill(sub["benchmark_description"].iloc[0], 60), fontsize=9)
        ax.grid(alpha=0.3, which="both")
        _legend_below(ax)
    fig.suptitle(title + ("" if snapshot["mode"] == "latest" else " (mean ± std over seeds)"))
    fig.tight_layout()
    return fig


def da_figure(table: pd.DataFrame, snapshot: dict[str, Any]) -> Any:
    """mIoU per target style: one group of bars per style, one bar per paper's model."""
    bars = table[table["status"] == "drawn"]
    title = "DA papers: mIoU per target style"
    if bars.empty:
        return _empty(title, _why_empty(table, snapshot))
    benchmarks = list(dict.fromkeys(bars["benchmark"]))
    fig, axes = _panels(len(benchmarks), 7.5, 4.5)
    for ax, bench in zip(axes, benchmarks, strict=True):
        sub = bars[bars["benchmark"] == bench]
        styles = list(dict.fromkeys(sub["target_style"]))
        names = sub.apply(_series_name, axis=1)
        colours = {name: f"C{i % 10}" for i, name in enumerate(dict.fromkeys(names))}
        for g, style in enumerate(styles):  # the bars of one style side by side, centred on its tick
            here = sub[sub["target_style"] == style]
            width = 0.8 / len(here)
            for i, (name, row) in enumerate(zip(names[here.index], here.itertuples(), strict=True)):
                std = row.miou_std if row.miou_std == row.miou_std else None  # NaN for one run
                ax.bar(
                    g - 0.4 + width * (i + 0.5),
                    row.miou,
                    width,
                    yerr=std,
                    capsize=3,
                    color=colours[name],
                    label=name if name not in ax.get_legend_handles_labels()[1] else None,
                )
        ax.set_xticks(range(len(styles)), styles)
        ax.set_xlabel("target style")
        ax.set_ylabel("validation mIoU (%)")
        ax.set_title(textwrap.fill(sub["benchmark_description"].iloc[0], 60), fontsize=9)
        ax.grid(alpha=0.3, axis="y")
        _legend_below(ax)
    fig.suptitle(title + ("" if snapshot["mode"] == "latest" else " (mean ± std over seeds)"))
    fig.tight_layout()
    return fig
