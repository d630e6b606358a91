"""`kedro run --pipelines dcff_export --env smoke` on the checkpoint of a dcff smoke run: the exported files,
the report table and the MLflow metrics it promises; a checkpoint of another task fails naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run_in


@pytest.fixture(scope="module")
def exported(smoke_project, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shared dcff smoke project (its checkpoint and test set), then dcff_export run in it."""
    project = tmp_path_factory.mktemp("export") / "project"
    shutil.copytree(smoke_project("dcff"), project)
    mlflow_yml = project / "conf" / "base" / "mlflow.yml"  # the copy gets its own store
    text = mlflow_yml.read_text()
    mlflow_yml.write_text(text.replace(str(smoke_project("dcff") / "mlflow.db"), str(project / "mlflow.db")))
    return run_in(project, "dcff_export")


def test_every_exporter_writes_a_file_that_agrees_with_pytorch(exported: Path) -> None:
    table = pd.read_csv(exported / "data/08_reporting/dcff_export/smoke/exports.csv")
    assert list(table["runtime"]) == ["pytorch", "onnx", "torch_export"]
    assert table["ok"].all(), table[["runtime", "error"]]
    assert table["dynamic_batch"].all()
    assert (table["agreement"] == 1.0).all() and (table["max_abs_err"] < 1e-4).all()
    assert (table["latency_ms"] > 0).all() and (table["size_mb"] > 0).all()
    assert (exported / "data/08_reporting/dcff_export/smoke/exports.md").is_file()
    for name in ("dcff.onnx", "dcff.pt2"):
        assert (exported / "data/06_models/dcff_export/smoke" / name).stat().st_size > 0


def test_the_mlflow_run_holds_the_round_trip_and_the_files(exported: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{exported / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("dcff_export")
    runs = client.search_runs([experiment.experiment_id])
    metrics = {k: v for r in runs for k, v in r.data.metrics.items()}
    assert metrics["export_models/dcff/onnx/ok"] == 1.0
    assert metrics["export_models/dcff/onnx/top1_agreement"] == 1.0
    assert metrics["export_models/dcff/torch_export/latency_ms"] > 0
    child = next(r for r in runs if r.data.tags.get("mlflow.runName", "").endswith("export_models"))
    files = {a.path for a in client.list_artifacts(child.info.run_id, "exports")}
    assert files == {"exports/dcff.onnx", "exports/dcff.pt2"}


def test_a_checkpoint_of_another_task_fails_naming_the_file(exported: Path) -> None:
    ckpt = exported / "data/06_models/dcff/smoke/compact.pt"
    with pytest.raises(
        Exception, match=r"compact\.pt holds a classification model .* fhdrnet_export expects hdr"
    ):
        run_in(exported, "fhdrnet_export", params={"export.checkpoint": str(ckpt)})
