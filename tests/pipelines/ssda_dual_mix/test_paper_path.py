"""`kedro run --pipelines ssda_dual_mix_paper --env paper` on a tiny GTA5 → Cityscapes fixture in the real
layouts: the paper configuration with a CPU-sized model and sizes scaled down, through round 2's student (which
trains on round 1's pseudo labels; the later rounds and the report repeat these nodes and are left out to keep
the test short): every image set a manifest, pseudo labels written as PNGs and listed, evaluation against
full-resolution labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

P = "ssda_dual_mix"


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cvpapers.data.segmentation import write_street_fixture
    from tests.conftest import _end_leftover_runs, make_project, run_in

    root = tmp_path_factory.mktemp("ddm_paper")
    raw = root / "raw"
    write_street_fixture(raw, "gta5", 6, (48, 88), seed=1)
    write_street_fixture(raw / "cityscapes", "cityscapes", 6, (64, 128), split="train", seed=2)
    write_street_fixture(raw / "cityscapes", "cityscapes", 3, (64, 128), split="val", city="lindau", seed=3)
    params = {  # conf/paper, with a CPU-sized model, a few iterations and the sizes divided by 16
        f"{P}.data.roots.gta5": raw, f"{P}.data.roots.cityscapes": raw / "cityscapes", f"{P}.data.workers": 0,
        f"{P}.data.preprocess.source_size.gta5": "[45,80]", f"{P}.data.preprocess.target_size": "[32,64]",
        f"{P}.data.preprocess.crop": "[32,64]", f"{P}.eval.input_size": "[32,64]",
        f"{P}.model.name": "tiny_deeplabv2", f"{P}.model.widths": "[8,8,8,8]", f"{P}.model.input_norm": "embedded",
        f"{P}.train.iters": 2, f"{P}.train.eval_every": 2, f"{P}.train.optimizer": "adam", f"{P}.train.lr": 0.002,
        f"{P}.n_labelled": 2, f"{P}.lab.stats_images": 3,
    }
    project = make_project(root / "project")
    try:
        run_in(project, "ssda_dual_mix_paper", params=params, env="paper", to_nodes=["round_2.distill_student"])
    finally:
        _end_leftover_runs()
    return project


def _out(project: Path, layer: str) -> Path:
    return project / "data" / layer / "ssda_dual_mix_paper" / "paper"


def test_image_sets_travel_as_manifests_never_as_pixel_arrays(paper_run: Path) -> None:
    assert not list((paper_run / "data").rglob("*.npz"))
    reports, manifests = _out(paper_run, "08_reporting"), _out(paper_run, "02_intermediate")
    source = pd.read_csv(manifests / "source_translated_manifest.csv")
    assert len(source) == 6 and {"lab_ref_mean_0", "lab_ref_std_2"} <= set(source.columns)
    labelled = pd.read_csv(manifests / "target_labelled_manifest.csv")
    unlabelled = pd.read_csv(manifests / "target_unlabelled_manifest.csv")
    assert len(labelled) == 2 and len(unlabelled) == 4 and "label_path" not in unlabelled.columns
    for name in ("prepare_data", "lab", "rl_r1", "sl_r2", "s_r2", "pl_r1"):
        assert json.loads((reports / f"{name}_metrics.json").read_text())["skipped_samples"] == 0.0, name


def test_pseudo_labels_are_full_resolution_pngs_listed_for_the_next_round(paper_run: Path) -> None:
    reports = _out(paper_run, "08_reporting")
    for r in (1,):
        target_set = pd.read_csv(_out(paper_run, "02_intermediate") / f"target_set_r{r + 1}_manifest.csv")
        pseudo = target_set[target_set["is_pseudo"]]
        assert len(target_set) == 6 and len(pseudo) == 4 and set(pseudo["dataset"]) == {"trainid"}
        for path in pseudo["label_path"]:
            assert f"pseudo_labels/r{r}/" in path
            label = np.asarray(Image.open(paper_run / path))
            assert label.shape == (64, 128), "labelled at the image's full resolution"
            assert set(np.unique(label)) <= {*range(19), 255}
    metrics = json.loads((reports / "pl_r1_metrics.json").read_text())
    assert 0.0 < metrics["kept_frac"] <= 1.0 and 0.0 <= metrics["acc"] <= 1.0
    thresholds = pd.read_csv(reports / "pl_r1_thresholds.csv")
    assert len(thresholds) == 19 and (thresholds["threshold"] <= 0.9).all()


def test_round_two_trains_on_them_and_is_scored_at_full_resolution(paper_run: Path) -> None:
    reports = _out(paper_run, "08_reporting")
    student = json.loads((reports / "s_r2_metrics.json").read_text())
    assert 0.0 <= student["val_miou"] <= 100.0 and "iou_traffic_light" in student
    assert (_out(paper_run, "06_models") / "student_r2.pt").is_file()
    assert (reports / "s_r2_predictions.png").is_file() and (reports / "rl_r2_mixed_batch.png").is_file()
    assert not (reports / "report_metrics.json").exists()
