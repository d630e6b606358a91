"""The DAG (spec §7): node order, the ablation variant's extra CCL runs, the real variant without the generator;
and the report's handling of ablation rows."""

from __future__ import annotations

import pytest

from cvpapers.pipelines.mtda_collab.pipeline import create_pipeline


def test_base_dag_has_the_generator_then_prepare_data_and_every_arm() -> None:
    names = {n.name for n in create_pipeline().nodes}
    assert names == {
        "da_benchmark.prepare_data",
        "prepare_data",
        "lab_stats",
        "train_source_only",
        "train_experts_stage1",
        "train_experts_indep",
        "train_ccl",
        "train_mixed_single",
        "report",
    }
    ccl = next(n for n in create_pipeline().nodes if n.name == "train_ccl")
    assert {"mtda_collab.experts_s1_checkpoint", "mtda_collab.source_only_checkpoint"} <= set(ccl.inputs)


def test_variants_name_their_datasets_and_the_real_one_reads_no_generator() -> None:
    real = create_pipeline("mtda_collab_paper", real=True)
    assert "da_benchmark.prepare_data" not in {n.name for n in real.nodes}
    assert all(d.startswith(("mtda_collab_paper.", "params:")) for d in real.datasets())
    abl = create_pipeline("mtda_collab_ablation", ablation=True)
    extra = {n.name for n in abl.nodes} - {n.name for n in create_pipeline().nodes}
    assert extra == {"train_ccl_no_bridge", "train_ccl_no_wreg"}
    report = next(n for n in abl.nodes if n.name == "report")
    assert "mtda_collab_ablation.ccl_no_bridge_metrics" in report.inputs


def test_ablation_students_become_rows_of_the_report() -> None:
    from cvpapers.pipelines.mtda_collab import tables

    s = {"val_miou_avg": 30.0, "city/val_miou": 31.0, "fog/val_miou": 29.0}
    stage = {k: dict(s) for k in ("source_only", "mixed_single", "experts_s1", "experts_indep")}
    stage["ccl"] = {**{f"student/{k}": v for k, v in s.items()}, **{f"experts/{k}": v for k, v in s.items()}}
    stage["abl_no_bridge"] = {f"student/{k}": v + 1 for k, v in s.items()}
    models = tables.model_scores(stage, ["city", "fog"])
    table = tables.results_table(models, ["city", "fog"])
    assert table["model"].iloc[-1] == "CCL student, ablation no_bridge" and table["mIoU avg"].iloc[-1] == 31.0
    assert tables.flat_scores(models, ["city", "fog"])["abl_no_bridge/fog/val_miou"] == pytest.approx(30.0)
