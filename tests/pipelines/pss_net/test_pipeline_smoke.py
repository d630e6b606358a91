"""`kedro run --pipelines pss_net --env smoke` end to end: outputs on disk, the MLflow run they promise, and
§9.15: a run killed after an epoch resumes to the same pools, weights and metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run_in

NODES = {
    "prepare_data",
    "build_subnet_space",
    "train_pss",
    "train_usnet",
    "evaluate_pss",
    "evaluate_usnet",
    "report",
}
OUT = "08_reporting/pss_net/smoke"


@pytest.fixture(scope="module")
def smoke_run(smoke_project) -> Path:
    return smoke_project("pss_net")


def _client(project: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def test_smoke_run_writes_every_output(smoke_run: Path) -> None:
    d = smoke_run / "data"
    for rel in [
        "02_intermediate/pss_net/smoke/manifest.csv",
        "05_model_input/pss_net/smoke/subnet_map.npz",
        "03_primary/pss_net/smoke/space_plan.json",
        "03_primary/pss_net/smoke/pss_pools_plan.json",
        "06_models/pss_net/smoke/pss.pt",
        "06_models/pss_net/smoke/usnet.pt",
        "07_model_output/pss_net/smoke/pss_log.csv",
        "07_model_output/pss_net/smoke/usnet_log.csv",
        f"{OUT}/results.csv",
        f"{OUT}/per_target.csv",
        f"{OUT}/retained.csv",
        f"{OUT}/pss_subnets.csv",
        f"{OUT}/usnet_subnets.csv",
        f"{OUT}/acc_vs_flops.png",
        f"{OUT}/curves.png",
        f"{OUT}/pools.png",
        f"{OUT}/map_flops.png",
        f"{OUT}/samples.png",
        f"{OUT}/report_metrics.json",
    ]:
        assert (d / rel).is_file(), rel
    report = json.loads((d / f"{OUT}/report_metrics.json").read_text())
    assert all(math.isfinite(v) for k, v in report.items() if k.startswith("claim/"))
    assert report["claim/holds"] in (0.0, 1.0)
    pools = json.loads((d / "03_primary/pss_net/smoke/pss_pools_plan.json").read_text())
    assert pools and all(0 < len(entries) <= 3 for entries in pools.values())  # non-empty, ≤ pool_size
    results = pd.read_csv(d / f"{OUT}/results.csv")
    assert results.columns[:2].tolist() == ["method", "mean_top1_common_targets"] and len(results) == 3
    space = json.loads((d / f"{OUT}/space_metrics.json").read_text())
    assert space["flops_counter_max_abs_diff"] == 0.0 and space["flops_max"] == pytest.approx(4.601088)
    log = pd.read_csv(d / "07_model_output/pss_net/smoke/pss_log.csv")
    assert log["train_loss_max"].map(math.isfinite).all() and "pool_routed_frac" in log
    for path in (d / OUT).glob("*_metrics.json"):
        values = json.loads(path.read_text())
        assert all(isinstance(v, float) for v in values.values()), path.name
        assert all(not k.startswith(("pss/", "usnet/", "report/")) for k in values), path.name


def test_mlflow_has_a_child_per_node_claims_and_curves(smoke_run: Path) -> None:
    client = _client(smoke_run)
    exp = client.get_experiment_by_name("pss_net")
    runs = client.search_runs([exp.experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    children = {
        r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    }
    assert set(children) == NODES
    metrics = parent.data.metrics
    for key in (
        "claim/mean_top1_gain_vs_usnet",
        "claim/top1_gain_retained_vs_random",
        "claim/holds",
        "compare/n_targets_pss_wins",
        "evaluate_pss/top1_t2",
        "evaluate_usnet/top1_t2",
        "build_subnet_space/flops_counter_max_abs_diff",
        "train_pss/train_time_s",
    ):
        assert math.isfinite(metrics[key]), key
    assert parent.data.tags["paper_arxiv"] == "2109.05432"
    train = children["train_pss"]
    for key in (
        "train_pss/pss/train_loss_max",
        "train_pss/pss/pool_fill",
        "train_pss/pss/p",
        "train_pss/pss/val_top1_max",
    ):
        assert [m.step for m in client.get_metric_history(train.info.run_id, key)] == [0, 1], key
    report = children["report"]
    assert {a.path for a in client.list_artifacts(report.info.run_id, "plots")} >= {
        "plots/acc_vs_flops.png",
        "plots/pools.png",
        "plots/curves.png",
    }
    assert {a.path for a in client.list_artifacts(report.info.run_id, "tables")} >= {"tables/retained.csv"}


def test_checkpoint_rebuilds_the_supernet_alone(smoke_run: Path) -> None:
    from cvpapers.engine.checkpoint import rebuild_model, safe_load
    from cvpapers.pipelines.pss_net.slimmable import SlimMobileNetV1

    model = rebuild_model(safe_load(smoke_run / "data/06_models/pss_net/smoke/pss.pt"))
    assert isinstance(model, SlimMobileNetV1) and sum(p.numel() for p in model.parameters()) == 37_162


def test_killed_run_resumes_to_the_same_result(
    smoke_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kill train_pss at the start of its second epoch, re-run it with resume: same pools, weights, curves."""
    import torch

    from cvpapers.pipelines.pss_net.training import PSSSampler
    from tests.conftest import make_project

    project = make_project(tmp_path / "project")
    original = PSSSampler.on_epoch_start

    def killed(self, epoch, model):
        if epoch == 1:
            raise KeyboardInterrupt("killed during training")
        return original(self, epoch, model)

    monkeypatch.setattr(PSSSampler, "on_epoch_start", killed)
    with pytest.raises(KeyboardInterrupt):
        run_in(project, "pss_net", to_nodes=["train_pss"])
    assert (project / "data/06_models/pss_net/smoke/train_state/pss.pt").is_file()
    monkeypatch.setattr(PSSSampler, "on_epoch_start", original)
    run_in(project, "pss_net", params={"pss_net.resume": "true"}, to_nodes=["train_pss"])

    a, b = (p / "data/03_primary/pss_net/smoke/pss_pools_plan.json" for p in (project, smoke_run))
    assert json.loads(a.read_text()) == json.loads(b.read_text())
    wa, wb = (
        torch.load(p / "data/06_models/pss_net/smoke/pss.pt", weights_only=True) for p in (project, smoke_run)
    )
    for k in wb["state_dict"]:
        torch.testing.assert_close(wa["state_dict"][k], wb["state_dict"][k], atol=0, rtol=0)
    log = "data/07_model_output/pss_net/smoke/pss_log.csv"
    resumed, uninterrupted = pd.read_csv(project / log), pd.read_csv(smoke_run / log)
    timing = [c for c in resumed if c.endswith("time_s")]
    pd.testing.assert_frame_equal(resumed.drop(columns=timing), uninterrupted.drop(columns=timing))
