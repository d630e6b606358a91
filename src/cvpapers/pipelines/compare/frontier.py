"""Accuracy vs MACs of the compression papers on the shared classification benchmark.

Every point is one model of one run (or the mean over the runs of one setting): its test top-1 and the
multiply-accumulates of one forward pass. A binary network's cost is its full-precision MACs plus its binary
operations converted at ``bops_per_mac`` BOPs per MAC (64 by default: one 64-bit XNOR + popcount does 64
binary MACs, the rule of XNOR-Net / Bi-Real Net that ReCU's OPs column uses), so
``macs_equiv = macs + bops / bops_per_mac``; ``macs`` and ``bops`` stay in the table. Points are compared only
inside one benchmark (``benchmarks.classification_benchmark``): other test sets get their own panel or are
left out (``frontier.other_benchmarks``), and every point not drawn is a row of the table with the reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cvpapers.pipelines.compare.config import CompareParams, MetricPoint, TablePoints
from cvpapers.pipelines.compare.runs import aggregate, chart_table
from cvpapers.pipelines.compare.store import run_columns, run_setting_labels

KEYS = [
    "benchmark",
    "benchmark_description",
    "pipeline",
    "setting",
    "setting_label",
    "data_params",
    "arm",
    "label",
    "macs_rule",
]
VALUES = ["accuracy", "macs", "bops", "macs_equiv"]
COLUMNS = [  # the long data_params last, for people reading the Markdown table
    *(k for k in KEYS if k != "data_params"),
    "status",
    "on_frontier",
    *VALUES,
    *(f"{v}_std" for v in VALUES),
    "n_runs",
    "experiment",
    "run_id",
    "start",
    "seed",
    "env",
    "data_params",
]


def macs_equivalent(macs: float, bops: float, bops_per_mac: float) -> float:
    """Full-precision MACs plus binary operations at ``bops_per_mac`` per MAC."""
    return float(macs) + float(bops) / float(bops_per_mac)


def _metric_points(run: dict[str, Any], src: MetricPoint, bops_per_mac: float) -> list[dict[str, Any]]:
    m = run["metrics"]
    if src.enabled and m.get(src.enabled) == 0.0:
        return [{"status": f"arm switched off in this run ({src.enabled} = 0)"}]
    needed = [k for k in (src.accuracy, src.macs, src.bops) if k]
    absent = [k for k in needed if m.get(k) is None]
    if absent:
        return [{"status": f"metric {', '.join(absent)} not logged by the run"}]
    bops = float(m[src.bops]) if src.bops else 0.0
    return [
        {
            "accuracy": float(m[src.accuracy]),
            "macs": float(m[src.macs]),
            "bops": bops,
            "macs_equiv": macs_equivalent(m[src.macs], bops, bops_per_mac),
            "status": "drawn",
        }
    ]


def _number_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _table_points(run: dict[str, Any], src: TablePoints) -> list[dict[str, Any]]:
    records = run.get("tables", {}).get(f"{src.node}:{src.artifact}")
    if records is None or isinstance(records, dict):
        return [{"status": (records or {}).get("error", f"table {src.artifact} not read")}]
    rows = [r for r in records if all(str(r.get(k)) == v for k, v in src.where.items())]
    if not rows:
        return [{"status": f"no row of {src.artifact} with {src.where}"}]
    out = []
    for r in rows:
        if r.get(src.accuracy) is None or r.get(src.macs) is None:
            out.append({"status": f"row without {src.accuracy}/{src.macs} in {src.artifact}"})
            continue
        macs = float(r[src.macs]) * src.macs_scale
        label = f"{src.label} {_number_text(r.get(src.label))}" if src.label else ""
        out.append(
            {
                "accuracy": float(r[src.accuracy]),
                "macs": macs,
                "bops": 0.0,
                "macs_equiv": macs,
                "label": label,
                "status": "drawn",
            }
        )
    return out


def frontier_rows(snapshot: dict[str, Any], p: CompareParams) -> pd.DataFrame:
    """One row per (run, point) of every frontier source, drawn or not (with the reason)."""
    labels = run_setting_labels(snapshot, p)
    rows = []
    for run in snapshot["runs"]:
        sources = [
            s for s in [*p.frontier.metric_points, *p.frontier.table_points] if s.pipeline == run["pipeline"]
        ]
        if not sources:
            continue
        base = {**run_columns(run, "frontier", p, labels), "label": ""}
        for src in sources:
            points = (
                _metric_points(run, src, p.frontier.bops_per_mac)
                if isinstance(src, MetricPoint)
                else _table_points(run, src)
            )
            rows += [{**base, "arm": src.arm, "macs_rule": src.macs_rule, **pt} for pt in points]
    return pd.DataFrame(
        rows, columns=[c for c in COLUMNS if not c.endswith("_std") and c not in ("n_runs", "on_frontier")]
    )


def pareto_mask(cost: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """True where no other point is at most as costly and at least as accurate, and better in one of them."""
    cost, accuracy = np.asarray(cost, float)[:, None], np.asarray(accuracy, float)[:, None]
    dominated = (cost.T <= cost) & (accuracy.T >= accuracy) & ((cost.T < cost) | (accuracy.T > accuracy))
    return ~dominated.any(axis=1)


def reference_benchmark(points: pd.DataFrame) -> str | None:
    """The benchmark most papers share (then most points, then first seen): the one kept in ``skip`` mode."""
    if points.empty:
        return None
    stats = points.groupby("benchmark", sort=False).agg(
        papers=("pipeline", "nunique"), points=("arm", "size")
    )
    return str(stats.sort_values(["papers", "points"], ascending=False, kind="stable").index[0])


def frontier_table(snapshot: dict[str, Any], p: CompareParams) -> pd.DataFrame:
    """The drawn points (aggregated over the runs of a setting), with ``on_frontier`` per benchmark, then
    every point not drawn and every pipeline not found, each with its reason in ``status``."""
    rows = frontier_rows(snapshot, p)
    drawn = rows[rows["status"] == "drawn"]
    points = aggregate(drawn, KEYS, VALUES)
    points["status"] = "drawn"
    reference = reference_benchmark(points)
    if p.frontier.other_benchmarks == "skip" and reference is not None:
        other = points["benchmark"] != reference
        ref_text = points.loc[~other, "benchmark_description"].iloc[0]
        points.loc[other, "status"] = f"skipped: another test set than the reference ({ref_text})"
    points["on_frontier"] = False
    for _, idx in points[points["status"] == "drawn"].groupby("benchmark").groups.items():
        sub = points.loc[idx]
        points.loc[idx, "on_frontier"] = pareto_mask(sub["macs_equiv"].to_numpy(), sub["accuracy"].to_numpy())
    return chart_table(points, rows, snapshot["missing"], "frontier", COLUMNS)


def frontier_metrics(table: pd.DataFrame) -> dict[str, float]:
    drawn = table[table["status"] == "drawn"]
    return {
        "n_points": float(len(drawn)),
        "n_benchmarks": float(drawn["benchmark"].nunique()),
        "n_papers": float(drawn["pipeline"].nunique()),
        "n_not_drawn": float(len(table) - len(drawn)),
    }
