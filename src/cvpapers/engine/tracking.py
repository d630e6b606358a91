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


# ------------------------------------------------------------------------------------------------
# Killed runs: a `kedro run` killed (kill -9, OOM, a closed terminal) leaves its MLflow run and the running
# node's child run RUNNING forever. Every run records the process that tracks it (host, pid and the pid's
# start time, so a recycled pid is not mistaken for it); the next run of the same experiment closes a RUNNING
# run whose process is gone on this machine as KILLED, and a resumed run (`resume=true`) is linked to the run
# it continues. A run on another machine, or one without these tags, is never touched: two runs at once
# sharing mlflow.db never close each other.
# ------------------------------------------------------------------------------------------------

HOST_TAG, PID_TAG, PID_START_TAG = "cvpapers.host", "cvpapers.pid", "cvpapers.pid_start"
RESUMED_FROM_TAG, RESUMED_BY_TAG, CLOSED_BY_TAG = "resumed_from", "resumed_by", "cvpapers.closed_by"
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}  # the UI's model-training view


def _pid_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux /proc), or None without /proc or process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # the command name in (...) may hold spaces
    return fields[19] if len(fields) > 19 else None


def process_tags() -> dict[str, str]:
    """Tags naming the process that tracks this run."""
    import os
    import socket

    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()), PID_START_TAG: _pid_start(os.getpid()) or ""}


def process_alive(tags: Mapping[str, str]) -> bool | None:
    """Whether the process that tracked a run (``process_tags``) still runs: True/False where this machine
    can tell, None for a run of another host or without the tags (then it is left alone)."""
    import os
    import socket

    host, pid = tags.get(HOST_TAG), tags.get(PID_TAG, "")
    if not host or not pid.isdigit() or host != socket.gethostname():
        return None
    start = _pid_start(int(pid))
    if start is not None:
        return not tags.get(PID_START_TAG) or start == tags[PID_START_TAG]
    if Path("/proc/self/stat").exists():
        return False  # /proc is there and has no such process
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def close_killed_runs(run_id: str, link: bool = False, env: str | None = None) -> tuple[list[str], str | None]:
    """Close the runs of ``run_id``'s experiment left RUNNING by a process that is gone (parents and their
    children, as KILLED). With ``link`` (a resumed run) tag ``run_id`` ``resumed_from`` = the latest earlier
    run of the same ``kedro_env`` that did not finish (killed or failed), and that run ``resumed_by``.
    Returns (the closed parent runs, the run linked to or None)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    experiment = client.get_run(run_id).info.experiment_id
    running = client.search_runs([experiment], "attributes.status = 'RUNNING'", max_results=1000)
    parents = [r for r in running if "mlflow.parentRunId" not in r.data.tags and r.info.run_id != run_id]
    closed: list[str] = []
    for run in parents:
        if process_alive(run.data.tags) is not False:
            continue
        for child in running:
            if child.data.tags.get("mlflow.parentRunId") == run.info.run_id:
                client.set_terminated(child.info.run_id, "KILLED")
        client.set_tag(run.info.run_id, CLOSED_BY_TAG, run_id, synchronous=True)
        client.set_terminated(run.info.run_id, "KILLED")
        closed.append(run.info.run_id)
    if not link:
        return closed, None
    query = "attributes.status != 'RUNNING'" + (f" and tags.kedro_env = '{env}'" if env else "")
    earlier = [r for r in client.search_runs([experiment], query, max_results=50, order_by=["attributes.start_time DESC"])
               if "mlflow.parentRunId" not in r.data.tags and r.info.run_id != run_id]
    if not earlier or earlier[0].info.status == "FINISHED":
        return closed, None
    previous = earlier[0].info.run_id
    set_tags({RESUMED_FROM_TAG: previous}, run_id=run_id)
    set_tags({RESUMED_BY_TAG: run_id}, run_id=previous)
    return closed, previous


def mark_experiment_kind(experiment_id: str) -> None:
    """Open the experiment in the MLflow UI's model-training view (runs, charts), not the GenAI one (traces)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    tags = client.get_experiment(experiment_id).tags
    for key, value in EXPERIMENT_KIND.items():
        if tags.get(key) != value:
            client.set_experiment_tag(experiment_id, key, value)


def ui_url(host: str, port: int | str, experiment_id: str | None = None, run_id: str | None = None) -> str:
    """The MLflow UI's page of a run, of an experiment's runs table, or of the experiments list. On the runs
    table the ``workflowType`` query opens MLflow 3's machine-learning view (runs and charts) rather than
    the GenAI one (traces) it shows by default; the UI remembers the choice."""
    base = f"http://{host}:{port}/#/experiments"
    if experiment_id is None:
        return base
    if run_id is not None:
        return f"{base}/{experiment_id}/runs/{run_id}"
    return f"{base}/{experiment_id}/runs?workflowType=machine_learning"


def experiment_id_in_store(db: str | Path, name: str) -> str | None:
    """The id of experiment ``name`` in a sqlite MLflow store, read without importing mlflow (for `make`)."""
    import sqlite3

    if not Path(db).is_file():
        return None
    try:
        with sqlite3.connect(f"file:{Path(db).resolve()}?mode=ro", uri=True) as con:
            row = con.execute("SELECT experiment_id FROM experiments WHERE name = ? AND lifecycle_stage = 'active'",
                              (name,)).fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def _main(argv: list[str] | None = None) -> int:
    """``python -m cvpapers.engine.tracking ui-url --pipeline dcff``: the URL `make mlflow-ui` prints."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m cvpapers.engine.tracking")
    sub = parser.add_subparsers(dest="command", required=True)
    url = sub.add_parser("ui-url", help="the MLflow UI's runs table of a pipeline's experiment")
    url.add_argument("--store", default="mlflow.db")
    url.add_argument("--pipeline", required=True)
    url.add_argument("--host", default="127.0.0.1")
    url.add_argument("--port", default="5000")
    args = parser.parse_args(argv)
    experiment = experiment_id_in_store(args.store, args.pipeline)
    if experiment is None:
        print(f"MLflow UI: {ui_url(args.host, args.port)}  (no runs of '{args.pipeline}' in {args.store} yet)")
    else:
        print(f"MLflow UI, runs of '{args.pipeline}': {ui_url(args.host, args.port, experiment)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
