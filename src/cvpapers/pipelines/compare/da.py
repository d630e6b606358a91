"""The DA papers' mIoU per target style on the shared street-scene benchmark.

ssda_dual_mix and msda_collab adapt to one target style, mtda_collab to several; each run's target style(s)
come from its own parameters (``DaBars.targets``), so a run adapted to ``fog`` lands in the ``fog`` group.
Runs are compared only inside one ``da_benchmark`` setting (``benchmarks.da_benchmark``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from cvpapers.pipelines.compare.config import CompareParams, DaBars
from cvpapers.pipelines.compare.runs import aggregate, chart_table, parse_value
from cvpapers.pipelines.compare.store import run_columns, run_setting_labels

KEYS = [
    "benchmark",
    "benchmark_description",
    "target_style",
    "pipeline",
    "setting",
    "setting_label",
    "data_params",
    "arm",
]
COLUMNS = [  # the long data_params last, for people reading the Markdown table
    *(k for k in KEYS if k != "data_params"),
    *("status", "miou", "miou_std", "n_runs", "experiment", "run_id", "start", "seed", "env", "data_params"),
]


def target_styles(params: dict[str, str], key: str) -> list[str]:
    """The style(s) a run adapted to: its parameter ``key`` holds one name or a list."""
    value = parse_value(params.get(key))
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def _bars(run: dict[str, Any], src: DaBars) -> list[dict[str, Any]]:
    m = run["metrics"]
    styles = target_styles(run["params"], src.targets)
    if not styles:
        return [{"status": f"parameter {src.targets} not logged by the run"}]
    if src.enabled and m.get(src.enabled) == 0.0:
        return [
            {"target_style": s, "status": f"arm switched off in this run ({src.enabled} = 0)"} for s in styles
        ]
    out = []
    for style in styles:
        key = src.miou.format(style=style)
        value = m.get(key)
        out.append(
            {"target_style": style, "miou": value, "status": "drawn"}
            if value is not None
            else {"target_style": style, "status": f"metric {key} not logged by the run"}
        )
    return out


def da_rows(snapshot: dict[str, Any], p: CompareParams) -> pd.DataFrame:
    """One row per (run, arm, target style), drawn or not (with the reason)."""
    labels = run_setting_labels(snapshot, p)
    rows = []
    for run in snapshot["runs"]:
        sources = [s for s in p.da.bars if s.pipeline == run["pipeline"]]
        if not sources:
            continue
        base = run_columns(run, "da", p, labels)
        for src in sources:
            rows += [{**base, "arm": src.arm, **bar} for bar in _bars(run, src)]
    return pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("miou_std", "n_runs")])


def da_table(snapshot: dict[str, Any], p: CompareParams) -> pd.DataFrame:
    """The drawn bars (mean ± std over the runs of a setting), then every bar not drawn and every DA
    pipeline not found, each with its reason in ``status``."""
    rows = da_rows(snapshot, p)
    drawn = rows[rows["status"] == "drawn"].astype({"miou": float})
    bars = aggregate(drawn, KEYS, ["miou"])
    bars["status"] = "drawn"
    return chart_table(bars, rows, snapshot["missing"], "da", COLUMNS)


def da_metrics(table: pd.DataFrame) -> dict[str, float]:
    drawn = table[table["status"] == "drawn"]
    return {
        "n_bars": float(len(drawn)),
        "n_target_styles": float(drawn["target_style"].nunique()),
        "n_papers": float(drawn["pipeline"].nunique()),
        "n_benchmarks": float(drawn["benchmark"].nunique()),
        "n_not_drawn": float(len(table) - len(drawn)),
    }
