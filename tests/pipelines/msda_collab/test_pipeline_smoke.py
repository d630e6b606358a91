"""`kedro run --pipelines msda_collab --env smoke` end to end: outputs, member checkpoints, MLflow run and claims,
and a run killed in stage B that resumes to the same result."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import make_project, run_in

OUT = "data/08_reporting/msda_collab/smoke"


@pytest.fixture(scope="module")
def smoke_run(smoke_project) -> Path:
    return smoke_project("msda_collab")


def test_every_arm_writes_its_model_and_the_report_its_tables_and_plots(smoke_run: Path) -> None:
    models = smoke_run / "data/06_models/msda_collab/smoke"
    for arm in ("source_only", "combined", "collab_only", "mscl"):
        assert (models / f"{arm}.pt").is_file(), arm
    for name in (
        "results.csv",
        "results.md",
        "miou_bar.png",
        "predictions.png",
        "pseudo_labels.png",
        "lab_before_after.png",
        "report_metrics.json",
    ):
        assert (smoke_run / OUT / name).is_file(), name
    sources = dict(np.load(smoke_run / "data/05_model_input/msda_collab/smoke/sources.npz"))
    assert sources["domains"].tolist() == ["game", "synthetic"] and set(sources["domain"].tolist()) == {0, 1}
    pool = np.load(smoke_run / "data/05_model_input/msda_collab/smoke/target_pool.npz")
    assert "labels" not in pool.files, "the target pool carries only hidden labels"


def test_member_checkpoint_rebuilds_one_model_per_source(smoke_run: Path) -> None:
    from cvpapers.engine.checkpoint import rebuild_model, safe_load

    ckpt = safe_load(smoke_run / "data/06_models/msda_collab/smoke/mscl.pt")
    assert set(ckpt["config"]["members"]) == {"game", "synthetic"}
    models = rebuild_model(ckpt).eval()
    assert models["game"](torch.zeros(1, 3, 32, 64)).shape == (1, 8, 32, 64)


def test_report_has_every_arm_and_finite_claims(smoke_run: Path) -> None:
    table = pd.read_csv(smoke_run / OUT / "results.csv")
    models = " ".join(table["model"])
    for needle in (
        "MSCL (ensemble",
        "MSCL model game",
        "source-only ensemble",
        "source-combined (LAB)",
        "collaborative only",
        "end of stage A",
    ):
        assert needle in models, needle
    report = json.loads((smoke_run / OUT / "report_metrics.json").read_text())
    for key in (
        "claim/miou_gain_vs_source_only_ensemble",
        "claim/miou_gain_vs_source_combined",
        "compare/mean_member_miou_gain_vs_source_only",
        "compare/target_stage_gain",
    ):
        assert math.isfinite(report[key]), key
    assert report["claim/holds"] in (0.0, 1.0)
    mscl = json.loads((smoke_run / OUT / "mscl_metrics.json").read_text())
    assert report["mscl_ensemble_miou"] == mscl["ensemble/val_miou"]
    assert table["mIoU"].iloc[0] == pytest.approx(round(mscl["ensemble/val_miou"], 2))


def test_mlflow_run_has_a_child_per_node_the_curves_and_the_claims(smoke_run: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{smoke_run / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("msda_collab").experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    children = {r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    from cvpapers.pipelines.msda_collab.pipeline import create_pipeline

    assert children == {n.name for n in create_pipeline().nodes}
    assert parent.data.tags["paper_arxiv"] == "2103.04717"
    metrics = parent.data.metrics
    assert metrics["claim/holds"] in (0.0, 1.0) and math.isfinite(
        metrics["claim/miou_gain_vs_source_combined"]
    )
    assert metrics["report/mscl_ensemble_miou"] == metrics["train_mscl/ensemble/val_miou"]
    mscl = next(r for r in runs if r.info.run_name == "train_mscl")
    steps = [m.step for m in client.get_metric_history(mscl.info.run_id, "train_mscl/val_miou/ensemble")]
    assert steps == [3, 6], "curves per evaluation chunk, against iterations; the end of stage A is one"
    assert [m.step for m in client.get_metric_history(mscl.info.run_id, "train_mscl/train_pl_kept_frac")] == [
        6
    ]
    assert "train_mscl/stage_a/ensemble/val_miou" in metrics


def test_a_run_killed_in_stage_b_resumes_to_the_same_result(
    smoke_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kill train_mscl at its second chunk (stage B), re-run from it with resume: true: the same numbers."""
    from cvpapers.pipelines.msda_collab.collab import IterationClock

    project = make_project(tmp_path / "project")
    shutil.copytree(smoke_run / "data", project / "data")
    shutil.rmtree(project / "data/06_models/msda_collab/smoke/train_state")
    (project / OUT / "mscl_metrics.json").unlink()
    original = IterationClock.on_epoch_start

    def killed(self, epoch, model):
        if epoch == 1:
            raise KeyboardInterrupt("killed during stage B")
        return original(self, epoch, model)

    monkeypatch.setattr(IterationClock, "on_epoch_start", killed)
    with pytest.raises(KeyboardInterrupt):
        run_in(project, "msda_collab", from_nodes=["train_mscl"])
    assert (project / "data/06_models/msda_collab/smoke/train_state/mscl.pt").is_file()
    assert not (project / OUT / "mscl_metrics.json").exists()
    monkeypatch.setattr(IterationClock, "on_epoch_start", original)
    run_in(project, "msda_collab", params={"msda_collab.resume": "true"}, from_nodes=["train_mscl"])
    resumed = json.loads((project / OUT / "mscl_metrics.json").read_text())
    uninterrupted = json.loads((smoke_run / OUT / "mscl_metrics.json").read_text())
    timing = ("train_time_s",)
    assert {k: v for k, v in resumed.items() if k not in timing} == pytest.approx(
        {k: v for k, v in uninterrupted.items() if k not in timing}
    )
