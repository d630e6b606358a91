"""MLflow logging helpers: batched metrics, artifacts, all no-ops when no run is active.

One ``log_metric`` call costs ~35 ms on the sqlite store, so everything here goes through
``MlflowClient.log_batch``. Code that trains never needs to know whether tracking is on: without an
active run (plain library use, unit tests) every function returns quietly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

_MAX_BATCH = 1000  # MLflow's limit of metrics per log_batch call
# Run-level keys keep their own prefix; every other metric is filed under the node that produced it.
RUN_LEVEL_PREFIXES = ("claim/", "compare/")
_current_node: str | None = None


def enter_node(name: str | None) -> None:
    """Called by the project hook around each node: metric keys logged meanwhile get ``<name>/``."""
    global _current_node
    _current_node = name


def metric_key(key: str, node: str | None = None) -> str:
    """``key`` under the node's name (``train_dcff/top1``; by default the running node, none outside a
    Kedro run); ``claim/…``, ``compare/…`` and keys already under the node are kept as given."""
    node = node if node is not None else _current_node
    if node is None or key.startswith(RUN_LEVEL_PREFIXES) or key.startswith(f"{node}/"):
        return key
    return f"{node}/{key}"


def check_metrics(metrics: Mapping[str, Any], where: str) -> dict[str, float]:
    """A node's metrics dict holds numbers only (NaN allowed, it is skipped when logged): anything else is
    a bug in the node, named here rather than dropped silently."""
    bad = {k: type(v).__name__ for k, v in metrics.items()
           if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, int | float)}
    if bad:
        raise TypeError(f"{where}: a metrics dict holds floats only; not floats: {bad}")
    return {k: float(v) for k, v in metrics.items()}


def active_run_id() -> str | None:
    import mlflow

    run = mlflow.active_run()
    return run.info.run_id if run is not None else None


def parent_run_id() -> str | None:
    """The run of the whole ``kedro run`` when called inside a node's child run (else the active run)."""
    import mlflow

    run = mlflow.active_run()
    if run is None:
        return None
    return run.data.tags.get("mlflow.parentRunId") or run.info.run_id


def _finite_items(metrics: Mapping[str, Any]) -> Iterable[tuple[str, float]]:
    for key, value in metrics.items():
        if isinstance(value, bool):
            value = float(value)
        if isinstance(value, int | float) and math.isfinite(float(value)):
            yield key, float(value)


def log_metrics(metrics: Mapping[str, Any], step: int = 0, run_id: str | None = None) -> None:
    """Log a dict of scalars in one call (non-numeric and non-finite values are skipped)."""
    log_metric_rows([(k, v, step) for k, v in _finite_items(metrics)], run_id=run_id)


def log_metric_rows(rows: list[tuple[str, float, int]], run_id: str | None = None) -> None:
    run_id = run_id or active_run_id()
    if run_id is None or not rows:
        return
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    now = int(time.time() * 1000)
    client = MlflowClient()
    entities = [Metric(key=k, value=float(v), timestamp=now, step=int(s)) for k, v, s in rows]
    for start in range(0, len(entities), _MAX_BATCH):
        client.log_batch(run_id, metrics=entities[start : start + _MAX_BATCH], synchronous=True)


class MetricLogger:
    """Buffers per-step metrics of a loop and writes them in one batch per ``flush``.

    Curves are logged with ``step=epoch`` (or iteration) so the MLflow UI draws them against it.
    """

    def __init__(self, prefix: str = "", run_id: str | None = None) -> None:
        # "dcff" -> "dcff/train_loss"; a prefix ending in "/" or "_" is used as given ("l1/pretrain_").
        self.prefix = f"{prefix}/" if prefix and prefix[-1] not in "/_" else prefix
        self.run_id = run_id
        self._rows: list[tuple[str, float, int]] = []

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        self._rows.extend((metric_key(self.prefix + k), v, step) for k, v in _finite_items(metrics))

    def flush(self) -> None:
        rows, self._rows = self._rows, []
        log_metric_rows(rows, run_id=self.run_id)


def log_artifact(path: str | Path, artifact_path: str | None = None, run_id: str | None = None) -> None:
    """Attach a local file to the active (or given) run."""
    run_id = run_id or active_run_id()
    if run_id is None:
        return
    from mlflow.tracking import MlflowClient

    MlflowClient().log_artifact(run_id, str(path), artifact_path)


def set_tags(tags: Mapping[str, Any], run_id: str | None = None) -> None:
    run_id = run_id or active_run_id()
    if run_id is None:
        return
    from mlflow.entities import RunTag
    from mlflow.tracking import MlflowClient

    MlflowClient().log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()], synchronous=True)
