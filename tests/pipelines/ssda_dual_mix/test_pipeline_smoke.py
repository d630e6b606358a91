"""`kedro run --pipelines ssda_dual_mix --env smoke` end to end: outputs, rounds, MLflow run and claims."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch


@pytest.fixture(scope="module")
def smoke_run(smoke_project) -> Path:
    return smoke_project("ssda_dual_mix")


def test_every_round_writes_its_models_pseudo_labels_and_plots(smoke_run: Path) -> None:
    d = smoke_run / "data"
    for r in (1, 2):
        for name in (f"teacher_rl_r{r}", f"teacher_sl_r{r}", f"student_r{r}"):
            assert (d / f"06_models/ssda_dual_mix/smoke/{name}.pt").is_file(), name
        assert (d / f"08_reporting/ssda_dual_mix/smoke/s_r{r}_predictions.png").is_file()
        assert (d / f"08_reporting/ssda_dual_mix/smoke/rl_r{r}_mixed_batch.png").is_file()
    assert (d / "05_model_input/ssda_dual_mix/smoke/pseudo_r1.npz").is_file()
    assert not (d / "05_model_input/ssda_dual_mix/smoke/pseudo_r2.npz").exists(), "no pseudo labels after the last round"
    for name in ("results.csv", "results.md", "rounds.md", "miou_by_round.png", "lab_before_after.png",
                 "pl_r1_overlay.png", "pl_r1_thresholds.csv"):
        assert (d / "08_reporting/ssda_dual_mix/smoke" / name).is_file(), name
    assert (d / "08_reporting/da_benchmark/smoke/samples.png").is_file()


def test_checkpoints_rebuild_their_model_alone(smoke_run: Path) -> None:
    from cvpapers.engine.checkpoint import rebuild_model, safe_load

    ckpt = safe_load(smoke_run / "data/06_models/ssda_dual_mix/smoke/student_r2.pt")
    assert ckpt["builder"] == "cvpapers.da.segmenter:build_da_segmenter"
    model = rebuild_model(ckpt).eval()
    assert model(torch.zeros(1, 3, 32, 64)).shape[1] == 8


def test_round_two_trains_on_true_and_pseudo_labels(smoke_run: Path) -> None:
    d = smoke_run / "data/05_model_input/ssda_dual_mix/smoke"
    labelled, unlabelled = np.load(d / "target_labelled.npz"), np.load(d / "target_unlabelled.npz")
    r2, pseudo = np.load(d / "target_set_r2.npz"), np.load(d / "pseudo_r1.npz")
    n_lab, n_unl = len(labelled["ids"]), len(unlabelled["ids"])
    assert len(r2["images"]) == n_lab + n_unl and r2["is_pseudo"].sum() == n_unl
    np.testing.assert_array_equal(r2["labels"][~r2["is_pseudo"]], labelled["labels"])
    np.testing.assert_array_equal(r2["labels"][r2["is_pseudo"]], pseudo["labels"])
    assert "labels" not in unlabelled.files, "unlabelled images carry only hidden labels for measurement"


def test_report_has_baselines_every_round_and_finite_claims(smoke_run: Path) -> None:
    table = pd.read_csv(smoke_run / "data/08_reporting/ssda_dual_mix/smoke/results.csv")
    models = " ".join(table["model"])
    for needle in ("target-only", "source-only", "round 1: M_RL", "round 2: M_S", "E(RL, SL)"):
        assert needle in models
    report = json.loads((smoke_run / "data/08_reporting/ssda_dual_mix/smoke/report_metrics.json").read_text())
    for key in ("claim/miou_gain_vs_sl_r1", "claim/miou_gain_vs_rl_r1", "claim/miou_gain_vs_target_only",
                "claim/miou_gain_vs_best_teacher", "claim/ensemble_gain_vs_best_teacher", "claim/miou_gain_vs_round_1"):
        assert math.isfinite(report[key]), key
    assert report["claim/holds"] in (0.0, 1.0)
    assert report["claim/miou_gain_vs_sl_r1"] == pytest.approx(
        report["student_miou"] - table.set_index("model").loc[
            "round 1: M_SL (sample-level teacher = joint training)", "mIoU"], abs=0.01)


def test_mlflow_run_has_a_child_per_node_and_the_claims(smoke_run: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{smoke_run / 'mlflow.db'}")
    exp = client.get_experiment_by_name("ssda_dual_mix")
    runs = client.search_runs([exp.experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    children = {r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert {"da_benchmark.prepare_data", "prepare_data", "lab_translate", "round_1.train_region_teacher",
            "round_2.distill_student", "report"} <= children
    from cvpapers.pipelines.ssda_dual_mix.pipeline import create_pipeline

    assert children == {n.name for n in create_pipeline(rounds=2).nodes}
    assert parent.data.tags["paper_arxiv"] == "2103.04705"
    metrics = parent.data.metrics
    assert math.isfinite(metrics["claim/miou_gain_vs_target_only"]) and "claim/holds" in metrics
    assert metrics["report/student_miou"] == metrics["round_2.distill_student/val_miou"]
    student = next(r for r in runs if r.info.run_name == "round_1.distill_student")
    history = client.get_metric_history(student.info.run_id, "round_1.distill_student/val_miou_by_iter")
    assert [m.step for m in history] == [5], "curves are logged against iterations"
    assert [m.step for m in client.get_metric_history(student.info.run_id, "round_1.distill_student/train_kl_loss")] == [5]
    assert parent.data.params["ssda_dual_mix.student.lambda_kl"] == "0.5"
