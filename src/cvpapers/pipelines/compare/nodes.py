"""Kedro glue for the comparison: ``params:compare`` in, the store's runs, charts, tables and metrics out.

The work is in the room's plain modules: ``store.py`` (reads MLflow: which runs, their params, metrics and
table artifacts), ``benchmarks.py`` (what test set a run measured on), ``frontier.py`` (accuracy vs MACs),
``da.py`` (mIoU per target style), ``figures.py``. Nothing here trains or touches the store after
``prepare_data``: the drawing nodes read the snapshot, so they are tested without MLflow.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from cvpapers.pipelines.compare.config import CompareParams

log = logging.getLogger(__name__)


def prepare_data(params: dict[str, Any]) -> tuple[dict[str, Any], pd.DataFrame, dict[str, float]]:
    """Read the selected runs of every pipeline the charts name (and what is missing) from the store(s)."""
    from cvpapers.pipelines.compare import store

    p = CompareParams.model_validate(params)
    snapshot = store.collect(p)
    for message in store.messages(snapshot):
        log.warning(message)
    return snapshot, store.runs_table(snapshot, p), store.snapshot_metrics(snapshot)


def draw_frontier(
    snapshot: dict[str, Any], params: dict[str, Any]
) -> tuple[pd.DataFrame, Any, dict[str, float]]:
    """Accuracy vs MACs (binary ops as MACs-equivalent) of the compression papers, one panel per test set."""
    from cvpapers.pipelines.compare import figures, frontier

    p = CompareParams.model_validate(params)
    table = frontier.frontier_table(snapshot, p)
    for row in table[table["status"] != "drawn"].itertuples():
        log.info("frontier: %s %s (%s) not drawn: %s", row.pipeline, row.arm, row.run_id or "-", row.status)
    return table, figures.frontier_figure(table, p.frontier, snapshot), frontier.frontier_metrics(table)


def draw_da_targets(
    snapshot: dict[str, Any], params: dict[str, Any]
) -> tuple[pd.DataFrame, Any, dict[str, float]]:
    """The DA papers' mIoU per target style on the street-scene benchmark, grouped bars per style."""
    from cvpapers.pipelines.compare import da, figures

    p = CompareParams.model_validate(params)
    table = da.da_table(snapshot, p)
    for row in table[table["status"] != "drawn"].itertuples():
        log.info("DA chart: %s %s (%s) not drawn: %s", row.pipeline, row.arm, row.run_id or "-", row.status)
    return table, figures.da_figure(table, snapshot), da.da_metrics(table)
