"""`kedro run --pipelines mtda_collab --env smoke` end to end: outputs, MLflow run, claims; kill-and-resume."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from tests.conftest import run_in

OUT = "data/08_reporting/mtda_collab/smoke"


@pytest.fixture(scope="module")
def smoke_run(smoke_project) -> Path:
    return smoke_project("mtda_collab")


def test_every_output_is_written(smoke_run: Path) -> None:
    d = smoke_run / "data"
    for name in ("source_only", "experts_s1", "experts_indep", "experts_ccl", "student", "mixed_single"):
        assert (d / f"06_models/mtda_collab/smoke/{name}.pt").is_file(), name
    for name in (
        "results.csv",
        "per_target.csv",
        "miou_bar.png",
        "predictions.png",
        "translation.png",
        "report_metrics.json",
        "ccl_metrics.json",
    ):
        assert (smoke_run / OUT / name).is_file(), name
    sets = d / "05_model_input/mtda_collab/smoke"
    import numpy as np

    train, val = np.load(sets / "targets_train.npz"), np.load(sets / "targets_val.npz")
    assert "labels" not in train.files and "hidden_labels" in train.files, (
        "target training images are unlabelled"
    )
    assert train["domains"].tolist() == ["city", "fog"] and sorted(set(val["domain"].tolist())) == [0, 1]


def test_checkpoints_rebuild_alone_and_the_expert_set_holds_one_expert_per_target(smoke_run: Path) -> None:
    from cvpapers.engine.checkpoint import rebuild_model, safe_load

    experts = rebuild_model(safe_load(smoke_run / "data/06_models/mtda_collab/smoke/experts_ccl.pt")).eval()
    assert list(experts.keys()) == ["city", "fog"]
    student = rebuild_model(safe_load(smoke_run / "data/06_models/mtda_collab/smoke/student.pt")).eval()
    assert student(torch.zeros(1, 3, 32, 64)).shape == (1, 8, 32, 64)


def test_report_has_every_model_per_target_and_finite_claims(smoke_run: Path) -> None:
    table = pd.read_csv(smoke_run / OUT / "results.csv")
    assert table.columns[:4].tolist() == ["model", "mIoU avg", "city", "fog"]
    assert len(table) == 6 and set(table["routing"]) == {"single model", "oracle routing"}
    assert ((table["mIoU avg"] >= 0) & (table["mIoU avg"] <= 100)).all()
    report = json.loads((smoke_run / OUT / "report_metrics.json").read_text())
    for key in (
        "claim/miou_avg_gain_vs_mixed_single",
        "claim/miou_avg_gain_vs_source_only",
        "compare/experts_ccl_minus_indep_avg",
        "compare/miou_gain_vs_mixed_single/fog",
    ):
        assert math.isfinite(report[key]), key
    assert report["claim/holds"] in (0.0, 1.0)
    row = table.set_index("model")
    assert report["claim/miou_avg_gain_vs_mixed_single"] == pytest.approx(
        row.loc["CCL student (the method)", "mIoU avg"]
        - row.loc["mixed single (merged targets)", "mIoU avg"],
        abs=0.01,
    )


def test_mlflow_run_has_a_child_per_node_and_the_curves(smoke_run: Path) -> None:
    from mlflow.tracking import MlflowClient

    from cvpapers.pipelines.mtda_collab.pipeline import create_pipeline

    client = MlflowClient(tracking_uri=f"sqlite:///{smoke_run / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("mtda_collab").experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    children = {r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert children == {n.name for n in create_pipeline().nodes}
    assert parent.data.tags["paper_arxiv"] == "2106.03418"
    assert "claim/holds" in parent.data.metrics
    ccl_run = next(r for r in runs if r.info.run_name == "train_ccl")
    for key in (
        "train_ccl/train_con/city",
        "train_ccl/train_kd/fog",
        "train_ccl/train_wreg/city",
        "train_ccl/val_miou_by_iter/fog",
        "train_ccl/train_bridge_agreement/city_fog",
    ):
        assert [m.step for m in client.get_metric_history(ccl_run.info.run_id, key)] == [2, 4], key


def test_killed_ccl_stage_resumes_to_the_same_result(
    smoke_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """train_ccl (2 chunks of 2 iterations in the smoke env): killed in its second chunk, re-run with resume:
    the same metrics as the uninterrupted smoke run."""
    from cvpapers.pipelines.mtda_collab import ccl

    project = tmp_path / "project"
    shutil.copytree(smoke_run, project, ignore=shutil.ignore_patterns("mlflow.db", "mlruns"))
    text = (project / "conf/base/mlflow.yml").read_text()
    (project / "conf/base/mlflow.yml").write_text(text.replace(str(smoke_run), str(project)))
    uninterrupted = json.loads((smoke_run / OUT / "ccl_metrics.json").read_text())
    (project / OUT / "ccl_metrics.json").unlink()
    original, calls = ccl.ccl_step, {"n": 0}

    def killed(*args, **kwargs):
        step = original(*args, **kwargs)

        def run(model, batch):
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt("killed during training")
            return step(model, batch)

        return run

    monkeypatch.setattr(ccl, "ccl_step", killed)
    with pytest.raises(KeyboardInterrupt):
        run_in(project, "mtda_collab", node_names=["train_ccl"])
    assert (project / "data/06_models/mtda_collab/smoke/train_state/ccl.pt").is_file()
    monkeypatch.setattr(ccl, "ccl_step", original)
    run_in(project, "mtda_collab", params={"mtda_collab.resume": "true"}, node_names=["train_ccl"])
    resumed = json.loads((project / OUT / "ccl_metrics.json").read_text())
    resumed.pop("train_time_s"), uninterrupted.pop("train_time_s")
    assert resumed == pytest.approx(uninterrupted, rel=0, abs=0)
