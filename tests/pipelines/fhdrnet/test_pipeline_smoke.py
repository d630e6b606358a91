"""`kedro run --pipelines fhdrnet` and `fhdrnet_raw` (smoke env) end to end: outputs, table, claims, MLflow."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def smoke_runs(smoke_project) -> Path:
    return smoke_project("fhdrnet", "fhdrnet_raw")


@pytest.mark.parametrize("name", ["fhdrnet", "fhdrnet_raw"])
def test_both_domains_write_table_samples_and_finite_claims(smoke_runs: Path, name: str) -> None:
    rep = smoke_runs / "data/08_reporting" / name / "smoke"
    for f in ("results.csv", "results.md", "samples.png", "scenes_montage.png", "claims_metrics.json",
              "validation_curves.png", "curves_metrics.json"):
        assert (rep / f).is_file(), f
    table = pd.read_csv(rep / "results.csv")
    assert list(table["method"]) == ["AHDRNet", "FHDRNet w/o HF", "FHDRNet", "naive merge", "reference only"]
    claims = json.loads((rep / "claims_metrics.json").read_text())
    for key in ("claim/psnr_mu_gain_vs_ahdrnet", "claim/ghost_psnr_mu_gain_vs_ahdrnet", "claim/psnr_mu_gain_vs_nohf"):
        assert math.isfinite(claims[key]), key
    # Five iterations learn nothing (far below the naive merge inside the motion mask): the claim cannot hold.
    assert claims["claim/holds"] == 0.0
    test = json.loads((rep / "test_metrics.json").read_text())
    assert set(test) == {f"{net}/{k}" for net in ("ahdrnet", "fhdrnet_nohf", "fhdrnet")
                         for k in ("psnr_mu", "psnr_l", "ssim_mu", "ssim_l", "ssim_mu_dr2", "ghost_psnr_mu",
                                   "params_count", "macs_per_image", "infer_time_ms")}


@pytest.mark.parametrize("name", ["fhdrnet", "fhdrnet_raw"])
def test_every_network_logs_a_validation_curve_and_its_plateau(smoke_runs: Path, name: str) -> None:
    curves = json.loads((smoke_runs / "data/08_reporting" / name / "smoke/curves_metrics.json").read_text())
    for net in ("ahdrnet", "fhdrnet_nohf", "fhdrnet"):
        curve = pd.read_csv(smoke_runs / "data/07_model_output" / name / f"smoke/{net}_curve_log.csv")
        assert curve["iteration"].tolist() == [2, 4, 6, 8]  # smoke: 8 iterations, evaluated every 2
        assert curve["val_psnr_mu"].max() == curves[f"{net}/best_val_psnr_mu"]
        assert math.isfinite(curves[f"{net}/plateau_gain_db"])
    assert curves["all_plateaued"] in (0.0, 1.0)


def test_raw_pipeline_trains_four_channel_models_in_its_own_folders(smoke_runs: Path) -> None:
    from cvpapers.engine.checkpoint import rebuild_model, safe_load

    ckpt = safe_load(smoke_runs / "data/06_models/fhdrnet_raw/smoke/fhdrnet.pt")
    assert ckpt["config"]["in_channels"] == 8 and ckpt["config"]["out_channels"] == 4
    assert ckpt["config"]["head"] == "softplus"
    assert ckpt["builder"] == "cvpapers.pipelines.fhdrnet.networks:build_hdr_model"
    assert rebuild_model(ckpt).high_freq
    assert (smoke_runs / "data/06_models/fhdrnet_raw/smoke/train_state/raw_fhdrnet.pt").is_file()
    assert (smoke_runs / "data/06_models/fhdrnet/smoke/train_state/rgb_fhdrnet.pt").is_file()


def test_each_domain_has_its_own_experiment_with_a_child_per_node(smoke_runs: Path) -> None:
    from mlflow.tracking import MlflowClient

    from cvpapers.pipelines.fhdrnet.pipeline import create_pipeline

    client = MlflowClient(tracking_uri=f"sqlite:///{smoke_runs / 'mlflow.db'}")
    for name in ("fhdrnet", "fhdrnet_raw"):
        exp = client.get_experiment_by_name(name)
        runs = client.search_runs([exp.experiment_id])
        parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
        children = {r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
        assert children == {n.name for n in create_pipeline().nodes}
        assert parent.data.tags["paper_arxiv"] == "2108.01434" and parent.data.tags["data_source"] == "embedded"
        metrics = parent.data.metrics
        assert math.isfinite(metrics["claim/psnr_mu_gain_vs_ahdrnet"]) and metrics["claim/holds"] == 0.0
        assert math.isfinite(metrics["evaluate_hdr/fhdrnet/psnr_mu"])
        assert math.isfinite(metrics["prepare_data/frac_motion"])
        assert math.isfinite(metrics["train_fhdrnet/best_val_psnr_mu"])
        train = next(r for r in runs if r.info.run_name == "train_fhdrnet")
        assert "train_fhdrnet/val_psnr_mu" in train.data.metrics, "curves are filed under the node"
        steps = [m.step for m in client.get_metric_history(train.info.run_id, "train_fhdrnet/val_psnr_mu")]
        assert steps == [2, 4, 6, 8], "one validation point per evaluation, by iterations done"
        assert math.isfinite(metrics["plot_curves/fhdrnet/plateau_gain_db"])
        plots = next(r for r in runs if r.info.run_name == "plot_curves")
        assert "plots/validation_curves.png" in {a.path for a in client.list_artifacts(plots.info.run_id, "plots")}
