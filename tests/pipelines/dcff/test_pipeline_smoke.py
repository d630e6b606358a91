"""`kedro run --pipelines dcff --env smoke` end to end: outputs on disk and the MLflow run they promise."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.conftest import run_in

NODES = {
    "prepare_data",
    "plan_architecture",
    "train_dcff",
    "export_compact",
    "evaluate_compact",
    "train_baseline_l1",
    "train_baseline_scratch",
    "train_full_reference",
    "report",
}


_OBSERVED: dict[str, bool] = {}


def _repo_state() -> dict[str, float]:
    """Every file under the repository's data/ plus mlflow.db, with modification times."""
    from tests.conftest import REPO

    files = [p for p in (REPO / "data").rglob("*") if p.is_file()] + [REPO / "mlflow.db", REPO / "mlruns"]
    return {str(p): p.stat().st_mtime for p in files if p.exists()}


@pytest.fixture(scope="module")
def smoke_run(smoke_project) -> Path:
    before = _repo_state()
    project = smoke_project("dcff")
    _OBSERVED["repo_unchanged"] = before == _repo_state()
    return project


def _client(project: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def test_smoke_run_writes_every_output(smoke_run: Path) -> None:
    d = smoke_run / "data"
    for rel in [
        "02_intermediate/dcff/smoke/manifest.csv",
        "03_primary/dcff/smoke/arch_plan.json",
        "06_models/dcff/smoke/fused.pt",
        "06_models/dcff/smoke/compact.pt",
        "06_models/dcff/smoke/l1.pt",
        "07_model_output/dcff/smoke/selection_log.csv",
        "08_reporting/dcff/smoke/results.csv",
        "08_reporting/dcff/smoke/results.md",
        "08_reporting/dcff/smoke/acc_vs_flops.png",
        "08_reporting/dcff/smoke/curves.png",
        "08_reporting/dcff/smoke/selection_heatmap.png",
        "08_reporting/dcff/smoke/samples.png",
        "08_reporting/dcff/smoke/widths.csv",
        "08_reporting/dcff/smoke/report_metrics.json",
        "07_model_output/dcff/smoke/dcff_history_log.csv",
        "07_model_output/dcff/smoke/l1_history_log.csv",
    ]:
        assert (d / rel).is_file(), rel
    report = json.loads((d / "08_reporting/dcff/smoke/report_metrics.json").read_text())
    assert all(math.isfinite(v) for v in report.values())
    # The exported compact network computes the fused network's function.
    assert report["export_max_abs_diff"] < 1e-4
    assert report["claim/holds"] in (0.0, 1.0)
    # Metric files hold floats under bare keys (the hook adds the node name); curves live in *_history_log.
    for path in (d / "08_reporting/dcff/smoke").glob("*_metrics.json"):
        values = json.loads(path.read_text())
        assert all(isinstance(v, float) for v in values.values()), path.name
        assert all(not k.startswith(("dcff/", "l1/", "report/")) for k in values), path.name


def test_smoke_run_never_touches_the_repository(smoke_run: Path) -> None:
    assert _OBSERVED["repo_unchanged"], "the run wrote into the repository's data/ or mlflow.db"
    assert (smoke_run / "mlflow.db").is_file()


def test_mlflow_has_one_parent_run_with_a_child_per_node(smoke_run: Path) -> None:
    client = _client(smoke_run)
    exp = client.get_experiment_by_name("dcff")
    assert exp is not None, "the experiment is named after the pipeline"
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    children = {
        r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    }
    assert set(children) == NODES
    for name, child in children.items():
        assert child.info.status == "FINISHED", name
        assert child.data.metrics["node/wall_time_s"] > 0
        assert child.data.metrics["node/peak_rss_mb"] > 0

    tags = parent.data.tags
    assert tags["pipeline"] == "dcff" and tags["paper_arxiv"] == "2107.06916"
    assert tags["data_source"] == "embedded" and tags["device"] in {"cpu", "cuda"}
    assert "git_commit" in tags
    for key in (
        "claim/top1_gain_vs_l1",
        "claim/holds",
        "compare/train_cost_ratio_vs_l1",
        "plan_architecture/compact_flops",
        "export_compact/compact_params",
        "evaluate_compact/top1",
        "train_dcff/top1",
        "train_baseline_l1/top1",
        "report/dcff_top1",
    ):
        assert math.isfinite(parent.data.metrics[key]), key
    assert parent.data.metrics["compare/train_cost_ratio_vs_l1"] < 1
    assert parent.data.params["dcff.train.lr"] == "0.1"
    assert client.get_metric_history(children["train_dcff"].info.run_id, "train_dcff/lr")[0].value == 0.0125


def test_training_curves_are_logged_per_epoch(smoke_run: Path) -> None:
    client = _client(smoke_run)
    exp = client.get_experiment_by_name("dcff")
    train = client.search_runs([exp.experiment_id], "attributes.run_name = 'train_dcff'")[0]
    for key in (
        "train_dcff/train_loss",
        "train_dcff/test_acc",
        "train_dcff/temperature",
        "train_dcff/mean_diag_Q",
        "train_dcff/lr",
    ):
        history = client.get_metric_history(train.info.run_id, key)
        assert [m.step for m in history] == [0, 1], key
        assert all(math.isfinite(m.value) for m in history), key
    l1 = client.search_runs([exp.experiment_id], "attributes.run_name = 'train_baseline_l1'")[0]
    assert [
        m.step for m in client.get_metric_history(l1.info.run_id, "train_baseline_l1/finetune_test_acc")
    ] == [0]
    artifacts = {a.path for a in client.list_artifacts(train.info.run_id, "checkpoints")}
    assert "checkpoints/fused.pt" in artifacts
    report = client.search_runs([exp.experiment_id], "attributes.run_name = 'report'")[0]
    assert {a.path for a in client.list_artifacts(report.info.run_id, "tables")} >= {
        "tables/results.csv",
        "tables/results.md",
    }
    assert {a.path for a in client.list_artifacts(report.info.run_id, "plots")} >= {"plots/acc_vs_flops.png"}


def test_compact_checkpoint_rebuilds_the_model_alone(smoke_run: Path) -> None:
    from cvpapers.engine.checkpoint import rebuild_model, safe_load
    from cvpapers.engine.flops import count_macs_params
    from cvpapers.pipelines.dcff.fusion import FusedConv2d

    model = rebuild_model(safe_load(smoke_run / "data/06_models/dcff/smoke/compact.pt"), weights="best")
    fused = rebuild_model(safe_load(smoke_run / "data/06_models/dcff/smoke/fused.pt"))
    assert any(isinstance(m, FusedConv2d) for m in fused.modules())
    assert not any(isinstance(m, FusedConv2d) for m in model.modules())
    plan = json.loads((smoke_run / "data/03_primary/dcff/smoke/arch_plan.json").read_text())
    assert count_macs_params(model, tuple(plan["input_size"])) == (
        plan["compact_macs"],
        plan["compact_params"],
    )


def test_killed_run_resumes_to_the_same_result(
    smoke_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kill train_dcff after its first epoch, re-run with resume: true: same selections, same numbers."""
    import pandas as pd

    from cvpapers.pipelines.dcff.training import FusionSchedule
    from tests.conftest import make_project

    project = make_project(tmp_path / "project")
    original = FusionSchedule.on_epoch_start

    def killed(self, epoch, model):
        if epoch == 1:
            raise KeyboardInterrupt("killed during training")
        return original(self, epoch, model)

    monkeypatch.setattr(FusionSchedule, "on_epoch_start", killed)
    with pytest.raises(KeyboardInterrupt):
        run_in(project, "dcff")
    assert (project / "data/06_models/dcff/smoke/train_state/dcff.pt").is_file()
    assert not (project / "data/08_reporting/dcff/smoke/report_metrics.json").exists()
    monkeypatch.setattr(FusionSchedule, "on_epoch_start", original)
    run_in(project, "dcff", params={"dcff.resume": "true"})

    resumed = pd.read_csv(project / "data/07_model_output/dcff/smoke/selection_log.csv")
    uninterrupted = pd.read_csv(smoke_run / "data/07_model_output/dcff/smoke/selection_log.csv")
    pd.testing.assert_frame_equal(resumed, uninterrupted)
    a = json.loads((project / "data/08_reporting/dcff/smoke/report_metrics.json").read_text())
    b = json.loads((smoke_run / "data/08_reporting/dcff/smoke/report_metrics.json").read_text())
    assert a == pytest.approx(b)
