"""Which runs the comparison reads from MLflow: finished parent runs only, the latest or all, per environment;
table artifacts from the node's child run; everything not found is reported, never raised."""

from __future__ import annotations

import json
from pathlib import Path

from cvpapers.pipelines.compare import store
from cvpapers.pipelines.compare.config import CompareParams


def _runs(snapshot: dict, pipeline: str) -> list[dict]:
    return [r for r in snapshot["runs"] if r["pipeline"] == pipeline]


def test_latest_is_the_newest_finished_parent_run(snapshot_of) -> None:
    snap = snapshot_of()
    (dcff,) = _runs(snap, "dcff")  # the newer FAILED and RUNNING runs are not read
    assert dcff["seed"] == "1" and dcff["status"] == "FINISHED"
    assert dcff["metrics"]["evaluate_compact/top1_last"] == 77.0
    assert all("mlflow.parentRunId" not in r["params"] for r in snap["runs"])
    json.dumps(snap)  # the catalog saves it as JSON


def test_all_reads_every_finished_run(snapshot_of) -> None:
    snap = snapshot_of(runs="all")
    assert sorted(r["seed"] for r in _runs(snap, "dcff")) == ["0", "1"]


def test_a_pipeline_without_experiment_is_reported_missing(snapshot_of) -> None:
    snap = snapshot_of()
    missing = {m["pipeline"]: m for m in snap["missing"]}
    assert set(missing) == {"msda_collab"} and missing["msda_collab"]["chart"] == "da"
    assert "no experiment 'msda_collab'" in missing["msda_collab"]["reason"]
    table = store.runs_table(snap, CompareParams())
    assert table.loc[table["pipeline"] == "msda_collab", "status"].str.startswith("missing:").all()
    assert any("msda_collab not drawn" in m for m in store.messages(snap))


def test_environment_filter_reports_what_it_left_out(snapshot_of) -> None:
    snap = snapshot_of(kedro_env="smoke")
    assert snap["runs"] == []
    reasons = {m["pipeline"]: m["reason"] for m in snap["missing"]}
    assert "no finished run of env 'smoke'" in reasons["dcff"]
    assert any("the charts are empty" in m for m in store.messages(snap))


def test_table_artifact_is_read_from_the_node_child_run(snapshot_of) -> None:
    (pss,) = _runs(snapshot_of(), "pss_net")
    rows = pss["tables"]["evaluate_pss:tables/pss_subnets.csv"]
    assert [r["kind"] for r in rows] == ["max", "min", "retained", "retained"]
    assert rows[0]["target"] is None  # NaN → null, JSON-safe


def test_a_missing_store_is_a_message_and_is_not_created(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'nowhere' / 'mlflow.db'}"
    snap = store.collect(CompareParams(stores=[uri]))
    assert snap["runs"] == [] and f"no MLflow store at {uri}" in store.messages(snap)
    assert not (tmp_path / "nowhere").exists()
    assert {m["pipeline"] for m in snap["missing"]} == set(store.chart_pipelines(CompareParams()))


def test_runs_table_records_each_run_benchmark_and_data(snapshot_of) -> None:
    table = store.runs_table(snapshot_of(), CompareParams()).set_index("pipeline")
    assert table.loc["dcff", "benchmark"] == table.loc["collab_compression", "benchmark"]  # same test images
    assert table.loc["recu", "benchmark"] != table.loc["dcff", "benchmark"]
    assert "n_train=3000" in table.loc["collab_compression", "data_params"]
    assert table.loc["ssda_dual_mix", "benchmark"] == table.loc["mtda_collab", "benchmark"]
    assert {"experiment", "run_id", "start", "seed", "env"} <= set(table.columns)
