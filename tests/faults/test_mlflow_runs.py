"""A killed run in MLflow: its parent run and the running node's child run used to stay RUNNING forever, and
the resumed run had no link to them. Now the next run of the experiment closes both as KILLED (when the
process that tracked them is gone from this machine) and a resumed run carries ``resumed_from`` (the killed
run ``resumed_by``), so the UI shows one history. A run whose process lives, or that another machine
tracks, is never touched: two runs at once share mlflow.db safely."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from cvpapers.engine import tracking
from tests.conftest import make_project, run_in


def _running_child(db: Path) -> str | None:
    """A node's child run that is RUNNING in the store, read the way `mlflow ui` would (no mlflow import)."""
    if not db.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            row = con.execute(
                "SELECT r.run_uuid FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                "WHERE t.key = 'mlflow.parentRunId' AND r.status = 'RUNNING'"
            ).fetchone()
    except sqlite3.Error:  # the tables are still being created
        return None
    return row[0] if row else None


def _kill_during_a_node(project: Path) -> None:
    """`kedro run --pipelines dcff --env smoke`, killed with SIGKILL while a node's child run is open."""
    kedro = Path(sys.executable).parent / "kedro"
    proc = subprocess.Popen([str(kedro), "run", "--pipelines", "dcff", "--env", "smoke"], cwd=project,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while _running_child(project / "mlflow.db") is None:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no node started in time"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_run_is_closed_as_killed_and_linked_by_its_resume(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    project = make_project(tmp_path / "project")
    _kill_during_a_node(project)
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("dcff")
    assert experiment.tags.get("mlflow.experimentKind") == "custom_model_development"
    (killed,) = client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'",
                                   order_by=["attributes.start_time ASC"])[:1]
    assert "mlflow.parentRunId" not in killed.data.tags  # the parent, and one child, left RUNNING (the bug)
    children = [r.info.run_id for r in client.search_runs(
        [experiment.experiment_id], f"tags.mlflow.parentRunId = '{killed.info.run_id}' and attributes.status = 'RUNNING'")]
    assert len(children) == 1
    # Two runs that must stay RUNNING: one tracked by a live process (this one), one by another machine.
    live = client.create_run(experiment.experiment_id, tags={**tracking.process_tags(), "kedro_env": "smoke"})
    remote = client.create_run(experiment.experiment_id, tags={
        tracking.HOST_TAG: f"not-{socket.gethostname()}", tracking.PID_TAG: "1", "kedro_env": "smoke"})

    run_in(project, "dcff", params={"dcff.resume": "true"})

    resumed = client.search_runs([experiment.experiment_id], "attributes.status = 'FINISHED'")
    resumed = [r for r in resumed if "mlflow.parentRunId" not in r.data.tags]
    assert len(resumed) == 1
    killed = client.get_run(killed.info.run_id)
    assert killed.info.status == "KILLED"
    assert [client.get_run(c).info.status for c in children] == ["KILLED"]
    assert resumed[0].data.tags[tracking.RESUMED_FROM_TAG] == killed.info.run_id
    assert killed.data.tags[tracking.RESUMED_BY_TAG] == resumed[0].info.run_id
    assert client.get_run(live.info.run_id).info.status == "RUNNING"
    assert client.get_run(remote.info.run_id).info.status == "RUNNING"


def test_whether_a_runs_process_lives() -> None:
    here = tracking.process_tags()
    assert tracking.process_alive(here) is True
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert tracking.process_alive({**here, tracking.PID_TAG: str(gone.pid), tracking.PID_START_TAG: ""}) is False
    # The same pid started at another time is another process (a pid recycled after the kill).
    assert tracking.process_alive({**here, tracking.PID_START_TAG: "1"}) is False
    assert tracking.process_alive({**here, tracking.HOST_TAG: "elsewhere"}) is None
    assert tracking.process_alive({}) is None


def test_the_ui_urls_open_the_runs() -> None:
    assert tracking.ui_url("127.0.0.1", 5000) == "http://127.0.0.1:5000/#/experiments"
    assert tracking.ui_url("127.0.0.1", 5000, "3") == \
        "http://127.0.0.1:5000/#/experiments/3/runs?workflowType=machine_learning"
    assert tracking.ui_url("h", "5001", "3", "abc") == "http://h:5001/#/experiments/3/runs/abc"
