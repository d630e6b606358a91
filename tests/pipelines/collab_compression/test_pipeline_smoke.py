"""`kedro run --pipelines collab_compression --env smoke` end to end: outputs on disk, the MLflow run they
promise, the exported models, and kill-and-resume identity."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run_in

VARIANTS = ("cc", "prune_only", "td_only")
NODES = {"prepare_data", "pretrain", "mean_gradients", "report"} | {
    f"{v}.{n}" for v in VARIANTS for n in ("sensitivity", "gcro", "compress", "finetune")
}
OUT = "collab_compression/smoke"


@pytest.fixture(scope="module")
def smoke_run(smoke_project) -> Path:
    return smoke_project("collab_compression")


def test_smoke_run_writes_every_output(smoke_run: Path) -> None:
    d = smoke_run / "data"
    files = [
        f"02_intermediate/{OUT}/manifest.csv",
        f"06_models/{OUT}/pretrained.pt",
        f"06_models/{OUT}/mean_grads.pt",
        f"03_primary/{OUT}/geometry_plan.json",
        f"08_reporting/{OUT}/results.csv",
        f"08_reporting/{OUT}/results.md",
        f"08_reporting/{OUT}/acc_vs_flops.png",
        f"08_reporting/{OUT}/rates.png",
        f"08_reporting/{OUT}/curves.png",
        f"08_reporting/{OUT}/samples.png",
        f"08_reporting/{OUT}/report_metrics.json",
    ]
    for v in VARIANTS:
        files += [
            f"03_primary/{OUT}/{v}_curves_plan.json",
            f"03_primary/{OUT}/{v}_allocation_plan.json",
            f"06_models/{OUT}/{v}_compressed.pt",
            f"06_models/{OUT}/{v}_finetuned.pt",
            f"08_reporting/{OUT}/{v}_layers.csv",
            f"08_reporting/{OUT}/{v}_sensitivity.png",
            f"07_model_output/{OUT}/{v}_history_log.csv",
        ]
    for rel in files:
        assert (d / rel).is_file(), rel
    report = json.loads((d / f"08_reporting/{OUT}/report_metrics.json").read_text())
    assert all(math.isfinite(v) for v in report.values())
    assert report["claim/holds"] in (0.0, 1.0)
    table = pd.read_csv(d / f"08_reporting/{OUT}/results.csv")
    assert list(table.columns[:4]) == ["variant", "top1", "top1_last_epoch", "top1_before_ft"]
    assert len(table) == 4
    for path in (d / f"08_reporting/{OUT}").glob("*_metrics.json"):
        values = json.loads(path.read_text())
        assert all(isinstance(v, float) for v in values.values()), path.name


def test_achieved_reduction_within_the_bound_and_exported_models_run(smoke_run: Path) -> None:
    import torch

    from cvpapers.engine.checkpoint import rebuild_model, safe_load
    from cvpapers.engine.flops import count_macs_params
    from cvpapers.pipelines.collab_compression.method import geometries

    d = smoke_run / "data"
    geometry = json.loads((d / f"03_primary/{OUT}/geometry_plan.json").read_text())
    delta = sum(g.max_unit_flops() for g in geometries(geometry).values()) / geometry["net_flops"]
    for v in VARIANTS:
        metrics = json.loads((d / f"08_reporting/{OUT}/{v}_compress_metrics.json").read_text())
        assert 0.3 <= metrics["flops_reduction_layerwise"] <= 0.3 + delta, v
        assert 0.3 <= metrics["flops_reduction_planned"] <= 0.3 + delta, v
        for kind in ("compressed", "finetuned"):
            model = rebuild_model(safe_load(d / f"06_models/{OUT}/{v}_{kind}.pt")).eval()
            with torch.no_grad():
                assert torch.isfinite(model(torch.randn(2, 3, 16, 16))).all()
            assert count_macs_params(model, (1, 3, 16, 16), "conv_linear_bias")[0] == metrics["flops"]


def test_mlflow_has_one_parent_run_with_a_child_per_node(smoke_run: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{smoke_run / 'mlflow.db'}")
    exp = client.get_experiment_by_name("collab_compression")
    runs = client.search_runs([exp.experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    children = {r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert children == NODES
    metrics = parent.data.metrics
    assert parent.data.tags["paper_arxiv"] == "2105.11228"
    for key in (
        "claim/holds",
        "claim/top1_before_ft_gain_vs_prune_only",
        "claim/top1_gain_vs_prune_only",
        "compare/top1_gain_vs_td_only",
        "compare/flops_reduction_gap_vs_prune_only",
        "pretrain/top1",
        "cc.compress/top1_before_ft",
        "prune_only.finetune/top1",
        "td_only.gcro/gcro_lambda",
        "cc.sensitivity/p2_features.conv1",
    ):
        assert math.isfinite(metrics[key]), key


def test_killed_run_resumes_to_the_same_result(
    smoke_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kill cc's fine-tuning after its first epoch, re-run with resume: true: the same numbers everywhere."""
    import cvpapers.engine.classification as engine_classification
    from tests.conftest import make_project

    project = make_project(tmp_path / "project")
    original, calls = engine_classification.evaluate_classifier, []

    def killed(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:  # pretrain epochs 0, 1; cc fine-tuning epoch 0; killed in its epoch 1
            raise KeyboardInterrupt("killed during fine-tuning")
        return original(*args, **kwargs)

    monkeypatch.setattr(engine_classification, "evaluate_classifier", killed)
    with pytest.raises(KeyboardInterrupt):
        run_in(project, "collab_compression")
    assert (project / f"data/06_models/{OUT}/train_state/finetune_cc.pt").is_file()
    assert not (project / f"data/08_reporting/{OUT}/report_metrics.json").exists()
    monkeypatch.setattr(engine_classification, "evaluate_classifier", original)
    run_in(project, "collab_compression", params={"collab_compression.resume": "true"})

    def numbers(root: Path) -> pd.DataFrame:
        table = pd.read_csv(root / f"data/08_reporting/{OUT}/results.csv")
        return table.drop(columns=["compress_time_s", "ft_time_s"])

    pd.testing.assert_frame_equal(numbers(project), numbers(smoke_run))
    a = json.loads((project / f"data/08_reporting/{OUT}/report_metrics.json").read_text())
    b = json.loads((smoke_run / f"data/08_reporting/{OUT}/report_metrics.json").read_text())
    assert a == pytest.approx(b)
