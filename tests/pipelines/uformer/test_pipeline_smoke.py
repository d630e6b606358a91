"""`kedro run --pipelines uformer` and `uformer_ablation` (smoke env) end to end: outputs, tables, claims,
MLflow, and kill-and-resume identity."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run_in


@pytest.fixture(scope="module")
def smoke_runs(smoke_project) -> Path:
    return smoke_project("uformer", "uformer_ablation")


def test_smoke_run_writes_tables_plots_and_finite_claims(smoke_runs: Path) -> None:
    rep = smoke_runs / "data/08_reporting/uformer/smoke"
    for f in (
        "results.csv",
        "results.md",
        "per_image.csv",
        "arch.csv",
        "test_samples.png",
        "curves.png",
        "samples.png",
        "claims_metrics.json",
    ):
        assert (rep / f).is_file(), f
    table = pd.read_csv(rep / "results.csv")
    assert list(table["model"]) == [
        "degraded input",
        "UNet-4 (same width)",
        "UNet-4 (matched MACs)",
        "Uformer (C=4)",
    ]
    assert table.select_dtypes("number").columns[0] == "psnr"
    claims = json.loads((rep / "claims_metrics.json").read_text())
    assert math.isfinite(claims["claim/psnr_gain_vs_unet_db"])
    assert math.isfinite(claims["compare/psnr_gain_vs_unet_matched_db"])
    assert claims["claim/holds"] == 0.0, "four iterations learn nothing: the claim cannot hold"
    per_image = pd.read_csv(rep / "per_image.csv")
    assert len(per_image) == 4 * 3 * 4  # models (with the input) × σ × images


def test_ablation_variant_trains_the_listed_ablations_and_compares_them(smoke_runs: Path) -> None:
    rep = smoke_runs / "data/08_reporting/uformer_ablation/smoke"
    claims = json.loads((rep / "claims_metrics.json").read_text())
    assert {k for k in claims if k.startswith("compare/abl/")} == {
        "compare/abl/no_modulator/psnr_gain_db",
        "compare/abl/ffn_mlp/psnr_gain_db",
    }
    assert json.loads((rep / "abl_skip_cross_metrics.json").read_text()) == {"skipped": 1.0}


def test_mlflow_has_a_child_per_node_and_the_curves(smoke_runs: Path) -> None:
    from mlflow.tracking import MlflowClient

    from cvpapers.pipelines.uformer.pipeline import create_pipeline

    client = MlflowClient(tracking_uri=f"sqlite:///{smoke_runs / 'mlflow.db'}")
    exp = client.get_experiment_by_name("uformer")
    runs = client.search_runs([exp.experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    children = {
        r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    }
    assert set(children) == {n.name for n in create_pipeline().nodes}
    assert parent.data.tags["paper_arxiv"] == "2106.03106"
    metrics = parent.data.metrics
    for key in (
        "claim/psnr_gain_vs_unet_db",
        "claim/holds",
        "evaluate/test/uformer/psnr",
        "evaluate/test/unet/gmacs_at_input",
        "train_uformer/best_val_psnr",
        "arch_check/Uformer-T/params",
    ):
        assert math.isfinite(metrics[key]), key
    assert metrics["arch_check/Uformer-T/params"] == 5_291_853
    history = client.get_metric_history(children["train_uformer"].info.run_id, "train_uformer/val_psnr")
    assert [m.step for m in history] == [2, 4]


def test_killed_run_resumes_to_the_same_result(
    smoke_runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kill the first training node in its second chunk, re-run with resume: true: the same test numbers."""
    from cvpapers.pipelines.uformer.training import MixupFrom
    from tests.conftest import make_project

    project = make_project(tmp_path / "project")
    original = MixupFrom.on_iteration_start

    def killed(self, epoch, iteration, iters_per_epoch, model):
        if epoch == 1:
            raise KeyboardInterrupt("killed during training")
        return original(self, epoch, iteration, iters_per_epoch, model)

    monkeypatch.setattr(MixupFrom, "on_iteration_start", killed)
    with pytest.raises(KeyboardInterrupt):
        run_in(project, "uformer")
    assert list((project / "data/06_models/uformer/smoke/train_state").glob("*.pt"))
    assert not (project / "data/08_reporting/uformer/smoke/claims_metrics.json").exists()
    monkeypatch.setattr(MixupFrom, "on_iteration_start", original)
    run_in(project, "uformer", params={"uformer.resume": "true"})

    def quality(root: Path) -> pd.DataFrame:
        return pd.read_csv(root / "data/08_reporting/uformer/smoke/per_image.csv")

    pd.testing.assert_frame_equal(quality(project), quality(smoke_runs))
    a = json.loads((project / "data/08_reporting/uformer/smoke/claims_metrics.json").read_text())
    b = json.loads((smoke_runs / "data/08_reporting/uformer/smoke/claims_metrics.json").read_text())
    assert a == b
