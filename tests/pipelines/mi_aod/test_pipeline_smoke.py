"""`kedro run --pipelines mi_aod` (smoke env) end to end: cycles, selections, tables, plots, MLflow."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

CYCLES = 5


@pytest.fixture(scope="module")
def smoke_run(smoke_project) -> Path:
    return smoke_project("mi_aod")


def _plan(root: Path, arm: str, cycle: int) -> dict:
    name = "labelled_c0" if cycle == 0 else f"{arm}_labelled_c{cycle}"
    return json.loads((root / "data/03_primary/mi_aod/smoke" / f"{name}_plan.json").read_text())


def test_every_cycle_of_both_arms_has_a_map_in_range_and_the_claims_are_finite(smoke_run: Path) -> None:
    rep = smoke_run / "data/08_reporting/mi_aod/smoke"
    for f in ("comparison.csv", "comparison.md", "per_class_ap.csv", "map_curve.png", "pool_samples.png",
              "claims_metrics.json", "miaod_c0_uncertainty.png", "miaod_c0_selected.png", "random_c4_detections.png"):
        assert (rep / f).is_file(), f
    table = pd.read_csv(rep / "comparison.csv")
    assert table["cycle"].tolist() == list(range(CYCLES))
    assert table["labelled"].tolist() == [12, 18, 24, 30, 36]
    for col in ("MI-AOD mAP50", "Random mAP50"):
        assert table[col].between(0, 100).all()
    claims = json.loads((rep / "claims_metrics.json").read_text())
    for key in ("claim/map_gap_last3", "compare/hard_selection_ratio", "compare/hard_selection_ratio_random"):
        assert math.isfinite(claims[key]), key
    assert claims["claim/holds"] in (0.0, 1.0)
    from cvpapers.pipelines.mi_aod.claims import MIN_LEARNED_MAP

    if (table[["MI-AOD mAP50", "Random mAP50"]] < MIN_LEARNED_MAP).all().all():  # smoke detectors learn ~nothing
        assert claims["claim/holds"] == 0.0


@pytest.mark.parametrize("arm", ["miaod", "random"])
def test_each_selection_adds_select_size_new_images_and_x_u_stays_outside_x_l(smoke_run: Path, arm: str) -> None:
    for c in range(CYCLES - 1):
        before, after = _plan(smoke_run, arm, c), _plan(smoke_run, arm, c + 1)
        selected = after["selected"]
        assert len(selected) == len(set(selected)) == before["select_size"] == 6
        assert not set(selected) & set(before["labelled"])
        assert after["labelled"] == before["labelled"] + selected
        assert len(after["unlabelled"]) == len(after["labelled"])
        outside = set(range(48)) - set(after["labelled"])
        if len(outside) >= len(after["labelled"]):
            assert set(after["unlabelled"]) <= outside
        else:  # the pool ran short: every unlabelled image is in X_U, padded with labelled ones
            assert outside <= set(after["unlabelled"])


def test_both_arms_start_from_the_same_initial_set(smoke_run: Path) -> None:
    for arm in ("miaod", "random"):
        assert _plan(smoke_run, arm, 1)["labelled"][:12] == _plan(smoke_run, "miaod", 0)["labelled"]


def test_the_embedded_data_went_through_the_voc_layout(smoke_run: Path) -> None:
    voc = smoke_run / "data/01_raw/mi_aod/smoke/VOCdevkit/VOC2007"
    ids = (voc / "ImageSets/Main/trainval.txt").read_text().split()
    assert len(ids) == 48 and (voc / "Annotations" / f"{ids[0]}.xml").is_file()
    manifest = pd.read_csv(smoke_run / "data/02_intermediate/mi_aod/smoke/manifest.csv", dtype={"image_id": str})
    assert manifest.groupby("split").size().to_dict() == {"pool": 48, "test": 16}


def test_the_run_has_a_child_per_node_finite_stage_losses_and_curves_per_cycle(smoke_run: Path) -> None:
    from mlflow.tracking import MlflowClient

    from cvpapers.pipelines.mi_aod.pipeline import create_pipeline

    client = MlflowClient(tracking_uri=f"sqlite:///{smoke_run / 'mlflow.db'}")
    exp = client.get_experiment_by_name("mi_aod")
    runs = client.search_runs([exp.experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert set(children) == {n.name for n in create_pipeline().nodes}
    assert parent.data.tags["paper_arxiv"] == "2104.02324"
    train = children["cycle_1.train_miaod"].data.metrics
    for key in ("B1_min/train_l_dis", "C1_max/train_l_dis_minus", "A_label/train_l_det_cls",
                "B1_min/train_discrepancy_u", "B1_min/train_l_dis_last", "map", "ap/circle"):
        assert math.isfinite(train[f"cycle_1.train_miaod/{key}"]), key
    assert math.isfinite(children["cycle_0.select_miaod"].data.metrics["cycle_0.select_miaod/mean_u_selected"])
    history = client.get_metric_history(parent.info.run_id, "compare_arms/map/miaod")
    assert sorted(m.step for m in history) == list(range(CYCLES))
    assert math.isfinite(parent.data.metrics["claim/map_gap_last3"])
    assert parent.data.metrics["claim/holds"] in (0.0, 1.0)
    assert parent.data.metrics["prepare_data/pool/images"] == 48.0
    # the ImageNet stand-in was pretrained once, on images disjoint from the pool and the test set
    pretrain = children["pretrain_backbone"].data.metrics
    assert pretrain["pretrain_backbone/enabled"] == 1.0
    assert pretrain["pretrain_backbone/overlap_with_detection_sets"] == 0.0
    assert math.isfinite(pretrain["pretrain_backbone/val_accuracy"])
