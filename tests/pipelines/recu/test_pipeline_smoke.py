"""`kedro run --pipelines recu --env smoke` end to end: outputs on disk, the MLflow run they promise, and a
killed run that resumes to the same numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run_in

NODES = {"prepare_data", "plan_model", "train_recu", "train_bnn", "train_ws_only", "train_fp", "report"}
OUT = "recu/smoke"


@pytest.fixture(scope="module")
def smoke_run(smoke_project) -> Path:
    return smoke_project("recu")


def _client(project: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def test_smoke_run_writes_every_output(smoke_run: Path) -> None:
    d = smoke_run / "data"
    for rel in [
        f"02_intermediate/{OUT}/manifest.csv",
        f"03_primary/{OUT}/arch_plan.json",
        f"06_models/{OUT}/recu.pt",
        f"06_models/{OUT}/bnn.pt",
        f"07_model_output/{OUT}/recu_log.csv",
        f"07_model_output/{OUT}/bnn_log.csv",
        f"08_reporting/{OUT}/results.csv",
        f"08_reporting/{OUT}/results.md",
        f"08_reporting/{OUT}/curves.png",
        f"08_reporting/{OUT}/acc_vs_macs.png",
        f"08_reporting/{OUT}/samples.png",
        f"08_reporting/{OUT}/report_metrics.json",
    ]:
        assert (d / rel).is_file(), rel
    report = json.loads((d / f"08_reporting/{OUT}/report_metrics.json").read_text())
    assert all(math.isfinite(v) for v in report.values())
    assert report["claim/holds"] in (0.0, 1.0)
    for path in (d / f"08_reporting/{OUT}").glob("*_metrics.json"):
        values = json.loads(path.read_text())
        assert all(isinstance(v, float) for v in values.values()), path.name
    table = pd.read_csv(d / f"08_reporting/{OUT}/results.csv")
    assert list(table.columns) == [
        "method",
        "top1",
        "top1_last_epoch",
        "top1_best_epoch",
        "best_epoch",
        "mean_top1_over_epochs",
        "MMACs_binary",
        "MMACs_fp",
        "Mparams",
        "train_time_s",
    ]
    assert list(table["method"]) == ["ReCU", "BNN (sign STE)"]  # the optional arms are off in smoke


def test_arm_logs_have_one_row_per_epoch_and_the_recu_clamp_starts_near_thirty_percent(
    smoke_run: Path,
) -> None:
    """Spec §8 smoke: 2 rows per log, finite losses, recu's clamp share at τ = 0.85 in [0.15, 0.45]."""
    logs = {
        arm: pd.read_csv(smoke_run / f"data/07_model_output/{OUT}/{arm}_log.csv") for arm in ("recu", "bnn")
    }
    for log in logs.values():
        assert len(log) == 2 and log["train_loss"].map(math.isfinite).all()
    assert logs["recu"]["tau"].iloc[0] == pytest.approx(0.85)
    assert 0.15 <= logs["recu"]["clamp_fraction"].iloc[0] <= 0.45
    assert (logs["bnn"]["tau"] == 1.0).all() and (logs["bnn"]["clamp_fraction"] == 0.0).all()


def test_mlflow_has_claims_and_per_epoch_curves(smoke_run: Path) -> None:
    client = _client(smoke_run)
    exp = client.get_experiment_by_name("recu")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    children = {
        r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    }
    assert set(children) == NODES
    assert parent.data.tags["paper_arxiv"] == "2103.12369"
    for key in (
        "claim/top1_gain_vs_bnn",
        "claim/top1_gain_vs_bnn_last",
        "claim/mean_top1_gain_vs_bnn",
        "claim/holds",
        "compare/flip_rate_gain_first_half",
        "plan_model/arch/binary_macs",
        "train_recu/top1_last",
        "train_bnn/mean_top1",
        "train_ws_only/enabled",
    ):
        assert math.isfinite(parent.data.metrics[key]), key
    train = children["train_recu"]
    for key in (
        "train_recu/test_acc",
        "train_recu/tau",
        "train_recu/flip_rate",
        "train_recu/clamp_fraction",
        "train_recu/quant_error",
        "train_recu/weight_sign_entropy",
    ):
        history = client.get_metric_history(train.info.run_id, key)
        assert [m.step for m in history] == [0, 1], key
    assert {a.path for a in client.list_artifacts(children["report"].info.run_id, "plots")} >= {
        "plots/curves.png",
        "plots/acc_vs_macs.png",
    }


def test_checkpoint_rebuilds_the_model_with_its_tau(smoke_run: Path) -> None:
    from cvpapers.engine.checkpoint import rebuild_model, safe_load
    from cvpapers.pipelines.recu.binary import binary_convs
    from cvpapers.pipelines.recu.schedule import tau_at

    model = rebuild_model(safe_load(smoke_run / f"data/06_models/{OUT}/recu.pt"))
    assert {c.method for c in binary_convs(model)} == {"recu"}
    assert binary_convs(model)[0].tau.item() == pytest.approx(tau_at(1, 2))  # the last epoch's τ


def test_killed_run_resumes_to_the_same_result(
    smoke_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kill train_recu at the start of its second epoch, re-run with resume: true: the same logs and claims."""
    from cvpapers.pipelines.recu.binary import binary_convs
    from cvpapers.pipelines.recu.schedule import TauSchedule
    from tests.conftest import make_project

    project = make_project(tmp_path / "project")
    original = TauSchedule.on_epoch_start

    def killed(self, epoch, model):
        if epoch == 1 and {c.method for c in binary_convs(model)} == {"recu"}:
            raise KeyboardInterrupt("killed during training")
        return original(self, epoch, model)

    monkeypatch.setattr(TauSchedule, "on_epoch_start", killed)
    with pytest.raises(KeyboardInterrupt):
        run_in(project, "recu")
    assert (project / f"data/06_models/{OUT}/train_state/recu.pt").is_file()
    assert not (project / f"data/08_reporting/{OUT}/report_metrics.json").exists()
    monkeypatch.setattr(TauSchedule, "on_epoch_start", original)
    run_in(project, "recu", params={"recu.resume": "true"})

    for arm in ("recu", "bnn"):
        resumed = pd.read_csv(project / f"data/07_model_output/{OUT}/{arm}_log.csv").drop(
            columns="epoch_time_s"
        )
        uninterrupted = pd.read_csv(smoke_run / f"data/07_model_output/{OUT}/{arm}_log.csv").drop(
            columns="epoch_time_s"
        )
        pd.testing.assert_frame_equal(resumed, uninterrupted)
    a = json.loads((project / f"data/08_reporting/{OUT}/report_metrics.json").read_text())
    b = json.loads((smoke_run / f"data/08_reporting/{OUT}/report_metrics.json").read_text())
    assert a == pytest.approx(b)
