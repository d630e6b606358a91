"""`kedro run --pipelines compare` end to end: on a fake store (its outputs and its own MLflow run), and on the
smoke runs of real pipelines (every configured key is one the pipelines really log)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import make_project, run_in

REAL = ("dcff", "recu", "pss_net", "mtda_collab")  # metric points, BOPs, a table artifact, several targets
NODES = {"prepare_data", "draw_frontier", "draw_da_targets"}


def _stores(*uris: str) -> str:
    return "[" + ",".join(f'"{u}"' for u in uris) + "]"


def _reports(project: Path) -> Path:
    return project / "data" / "08_reporting" / "compare" / "smoke"


@pytest.fixture(scope="module")
def fake_run(fake_store: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_project(tmp_path_factory.mktemp("compare_fake") / "project")
    return run_in(
        project, "compare", params={"compare.stores": _stores(fake_store), "compare.kedro_env": "null"}
    )


def test_outputs_on_disk(fake_run: Path) -> None:
    out = _reports(fake_run)
    for name in (
        "frontier.png",
        "frontier.csv",
        "frontier.md",
        "da_targets.png",
        "da_targets.csv",
        "runs.csv",
    ):
        assert (out / name).is_file(), name
    runs = pd.read_csv(out / "runs.csv")
    assert set(runs["pipeline"]) == {
        "dcff",
        "collab_compression",
        "recu",
        "pss_net",
        "ssda_dual_mix",
        "msda_collab",
        "mtda_collab",
    }
    frontier = pd.read_csv(out / "frontier.csv")
    assert (frontier["status"] == "drawn").sum() == 13
    assert json.loads((out / "frontier_metrics.json").read_text())["n_benchmarks"] == 3.0


def test_own_mlflow_run_holds_metrics_tables_and_plots(fake_run: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{fake_run / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("compare")
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    metrics = parent.data.metrics
    assert metrics["prepare_data/n_runs"] == 6.0 and metrics["prepare_data/n_pipelines_missing"] == 1.0
    assert metrics["draw_frontier/n_points"] == 13.0 and metrics["draw_da_targets/n_bars"] == 6.0
    children = {r.data.tags["kedro_node"]: r.info.run_id for r in runs if "kedro_node" in r.data.tags}
    assert set(children) == NODES
    assert {a.path for a in client.list_artifacts(children["draw_frontier"], "plots")} == {
        "plots/frontier.png"
    }
    tables = {a.path for a in client.list_artifacts(children["draw_frontier"], "tables")}
    assert "tables/frontier.csv" in tables


def _finished_copy(db: Path, dest: Path) -> str:
    """A copy of a smoke project's store whose parent runs are FINISHED, as `kedro run` leaves them: the
    in-process test sessions leave the run active and tests/conftest.py ends it as KILLED afterwards."""
    import shutil
    import sqlite3

    dest.mkdir(parents=True)
    shutil.copy(db, dest / "mlflow.db")  # artifact locations are absolute: they stay readable
    with sqlite3.connect(dest / "mlflow.db") as con:
        con.execute(
            "UPDATE runs SET status = 'FINISHED' WHERE run_uuid NOT IN "
            "(SELECT run_uuid FROM tags WHERE key = 'mlflow.parentRunId')"
        )
    return f"sqlite:///{dest / 'mlflow.db'}"


def test_compare_on_smoke_runs_of_real_pipelines(smoke_project, tmp_path: Path) -> None:
    stores = [_finished_copy(smoke_project(name) / "mlflow.db", tmp_path / name) for name in REAL]
    project = run_in(
        make_project(tmp_path / "project"), "compare", params={"compare.stores": _stores(*stores)}
    )
    out = _reports(project)
    frontier, da = pd.read_csv(out / "frontier.csv"), pd.read_csv(out / "da_targets.csv")
    ok = ("drawn", "arm switched off", "missing: ")
    for table in (frontier, da):  # no configured key is missing from a real run
        assert table["status"].map(lambda s: s.startswith(ok)).all(), table["status"].tolist()
    drawn = frontier[frontier["status"] == "drawn"]
    assert {"dcff", "recu", "pss_net"} <= set(drawn["pipeline"])
    recu = drawn[drawn["arm"] == "ReCU"].iloc[0]
    assert recu["bops"] > 0 and recu["macs_equiv"] == pytest.approx(recu["macs"] + recu["bops"] / 64)
    assert (drawn["arm"] == "PSS retained subnet").sum() >= 1
    bars = da[da["status"] == "drawn"]
    assert set(bars.loc[bars["arm"] == "CCL student", "target_style"]) == {"city", "fog"}
    missing = set(frontier.loc[frontier["status"].str.startswith("missing"), "pipeline"])
    assert missing == {"collab_compression"}
