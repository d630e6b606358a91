"""Per task family: a smoke-trained pipeline (the session's shared smoke run) applied by ``<pipeline>_predict`` to
a folder written here in the task's natural layout; then the outputs on disk and in MLflow. Bad inputs fail
naming the file. The predict runs happen inside the shared smoke projects (their stores already exist); they
write only under ``<pipeline>_predict`` names, which no other test reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from xml.etree import ElementTree as ET

import cv2
import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_in

# The cheapest smoke-trained pipeline of each family, with the names its own smoke test trains it under.
TRAINED = {
    "classification": ("dcff",),
    "segmentation": ("ssda_dual_mix",),
    "hdr": ("fhdrnet", "fhdrnet_raw"),
    "detection": ("mi_aod",),
    "restoration": ("uformer", "uformer_ablation"),
}


def _predict(project: Path, model: str, input_dir: Path, **params: str) -> Path:
    run_in(project, f"{model}_predict", params={"predict.input_dir": str(input_dir), **params})
    return project / "data/07_model_output" / f"{model}_predict" / "smoke"


def _write(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))


def _random_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _sheet_and_mlflow(project: Path, out: Path, model: str, kinds: tuple[str, ...]) -> None:
    """The contact sheet is written, and the run's MLflow artifacts hold it and each output folder."""
    from mlflow.tracking import MlflowClient

    assert cv2.imread(str(out / "contact_sheet.png")) is not None
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    exp = client.get_experiment_by_name(f"{model}_predict")
    runs = client.search_runs([exp.experiment_id], "tags.mlflow.runName = 'predict'") or client.search_runs(
        [exp.experiment_id]
    )
    logged = {a.path for r in runs for a in client.list_artifacts(r.info.run_id, "predictions")}
    assert "predictions/contact_sheet.png" in logged
    for kind in kinds:
        assert f"predictions/{kind}" in logged, (kind, logged)


@pytest.fixture(scope="module")
def dcff_project(smoke_project) -> Path:
    return smoke_project(*TRAINED["classification"])


def test_classification_labels_reproduce_the_pipelines_own_test_accuracy(
    dcff_project: Path, tmp_path: Path
) -> None:
    """Predicting the smoke test images (class folders) gives the compact model's reported top-1 exactly, with
    its last and its best-epoch weights: the preprocessing is the training pipeline's."""
    shutil.copytree(dcff_project / "data/01_raw/dcff/smoke/test", tmp_path / "images")
    out = _predict(dcff_project, "dcff", tmp_path / "images")
    table = pd.read_csv(out / "predictions.csv")
    assert len(table) == len(list((tmp_path / "images").rglob("*.png")))
    assert table["score"].between(0, 1).all() and {"file", "label", "class", "score", "top3"} <= set(
        table.columns
    )
    reported = json.loads((dcff_project / "data/08_reporting/dcff/smoke/compact_metrics.json").read_text())
    truth = table["file"].str.split("/").str[0]
    assert 100 * (table["class"] == truth).mean() == pytest.approx(reported["top1_last"])
    _sheet_and_mlflow(dcff_project, out, "dcff", ())
    best = pd.read_csv(
        _predict(dcff_project, "dcff", tmp_path / "images", **{"predict.weights": "best"}) / "predictions.csv"
    )
    assert 100 * (best["class"] == truth).mean() == pytest.approx(reported["top1_best"])


def test_a_checkpoint_named_by_mlflow_run_id_and_plain_predict_give_the_same_labels(
    dcff_project: Path, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(16, 16), (40, 23), (9, 30)]):  # any size: resized to the model's input
        _write(tmp_path / "images" / f"{i}.jpg", _random_image(rng, h, w))
    by_default = pd.read_csv(_predict(dcff_project, "dcff", tmp_path / "images") / "predictions.csv")
    client = MlflowClient(tracking_uri=f"sqlite:///{dcff_project / 'mlflow.db'}")
    exp = client.get_experiment_by_name("dcff")
    parent = next(
        r for r in client.search_runs([exp.experiment_id]) if "mlflow.parentRunId" not in r.data.tags
    )
    by_run = pd.read_csv(
        _predict(dcff_project, "dcff", tmp_path / "images", **{"predict.checkpoint": parent.info.run_id})
        / "predictions.csv"
    )
    pd.testing.assert_frame_equal(by_default, by_run)
    # The plain `predict` pipeline with `predict.model` is the variant.
    run_in(
        dcff_project,
        "predict",
        params={"predict.input_dir": str(tmp_path / "images"), "predict.model": "dcff"},
    )
    plain = pd.read_csv(dcff_project / "data/07_model_output/predict/smoke/predictions.csv")
    pd.testing.assert_frame_equal(by_default, plain)
    assert list((dcff_project / "data/06_models/dcff_predict/smoke/from_mlflow").rglob("compact.pt"))


def test_segmentation_writes_colour_masks_overlays_and_label_maps(smoke_project, tmp_path: Path) -> None:
    project = smoke_project(*TRAINED["segmentation"])
    street = sorted((project / "data/01_raw/da_benchmark/smoke").rglob("*_image.png"))[:3]
    for p in street:
        shutil.copy(p, tmp_path / p.name)
    _write(tmp_path / "odd" / "big.png", _random_image(np.random.default_rng(1), 37, 51))  # another size
    out = _predict(project, "ssda_dual_mix", tmp_path)
    table = pd.read_csv(out / "predictions.csv")
    assert len(table) == 4
    fractions = table[[c for c in table.columns if c.startswith("frac_")]]
    assert np.allclose(fractions.sum(axis=1), 1.0)
    for name in table["file"]:
        src = cv2.imread(str(tmp_path / name))
        labels = cv2.imread(str(out / "labels" / Path(name).with_suffix(".png")), cv2.IMREAD_UNCHANGED)
        for kind in ("masks", "overlays"):
            assert cv2.imread(str(out / kind / Path(name).with_suffix(".png"))).shape == src.shape, (
                kind,
                name,
            )
        assert labels.shape == src.shape[:2] and labels.max() < 8
    _sheet_and_mlflow(project, out, "ssda_dual_mix", ("labels", "masks", "overlays"))


def _write_scene(folder: Path, rng: np.random.Generator, h: int, w: int) -> None:
    """Three 16-bit exposures of one smooth radiance map, 2 stops apart, and exposure.txt (Kalantari style)."""
    radiance = cv2.resize(rng.random((4, 4, 3)).astype(np.float32), (w, h)) * 4
    for k, stops in enumerate((-2.0, 0.0, 2.0)):
        ldr = np.clip(radiance * 2.0**stops, 0, 1) ** (1 / 2.2)
        _write(folder / f"exp_{k}.tif", np.round(ldr * 65535).astype(np.uint16))
    (folder / "exposure.txt").write_text("-2\n0\n2\n")


def test_hdr_merges_are_written_as_radiance_and_tone_mapped_png(smoke_project, tmp_path: Path) -> None:
    project = smoke_project(*TRAINED["hdr"])
    rng = np.random.default_rng(2)
    _write_scene(tmp_path / "scenes" / "a", rng, 20, 28)  # not a multiple of 8: padded and cropped back
    _write_scene(tmp_path / "scenes" / "b", rng, 24, 16)
    out = _predict(project, "fhdrnet", tmp_path / "scenes")
    table = pd.read_csv(out / "predictions.csv")
    assert list(table["scene"]) == ["a", "b"]
    for scene, hw in (("a", (20, 28)), ("b", (24, 16))):
        hdr = cv2.imread(str(out / "hdr" / f"{scene}.hdr"), cv2.IMREAD_UNCHANGED)
        assert hdr.dtype == np.float32 and hdr.shape == (*hw, 3) and np.isfinite(hdr).all() and hdr.min() >= 0
        assert cv2.imread(str(out / "tonemapped" / f"{scene}.png")).shape == (*hw, 3)
    _sheet_and_mlflow(project, out, "fhdrnet", ("hdr", "tonemapped"))


def test_detection_boxes_agree_between_json_voc_xml_and_the_table(smoke_project, tmp_path: Path) -> None:
    project = smoke_project(*TRAINED["detection"])
    images = sorted((project / "data/01_raw/mi_aod/smoke").rglob("JPEGImages/*"))[:3]
    for p in images:
        shutil.copy(p, tmp_path / p.name)
    # Another size: rescaled to fit the detector's input, boxes mapped back to the image's pixels.
    _write(tmp_path / "wide.png", _random_image(np.random.default_rng(3), 60, 150))
    out = _predict(project, "mi_aod", tmp_path, **{"predict.draw_score_thr": "0.0"})
    table = pd.read_csv(out / "predictions.csv")
    assert table["file"].nunique() == 4
    for name in table["file"].unique():
        src = cv2.imread(str(tmp_path / name))
        stem = Path(name).with_suffix("")
        dets = json.loads((out / "json" / f"{stem}.json").read_text())["detections"]
        boxes = np.array([d["box"] for d in dets]).reshape(-1, 4)
        h, w = src.shape[:2]
        assert (boxes >= 0).all() and (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
        assert (boxes[:, 2] >= boxes[:, 0]).all() and (boxes[:, 3] >= boxes[:, 1]).all()
        voc = ET.parse(out / "voc" / f"{stem}.xml").getroot()
        assert int(voc.find("size/width").text) == w and len(voc.findall("object")) == len(dets)
        assert len(table[(table["file"] == name) & table["score"].notna()]) == len(dets)
        assert cv2.imread(str(out / "boxes" / f"{stem}.png")).shape == src.shape
    _sheet_and_mlflow(project, out, "mi_aod", ("boxes", "json", "voc"))


def test_restoration_keeps_each_images_size(smoke_project, tmp_path: Path) -> None:
    project = smoke_project(*TRAINED["restoration"])
    rng = np.random.default_rng(4)
    sizes = {"a.png": (32, 32), "b.png": (24, 40), "c.jpg": (33, 17)}  # any size: padded and cropped back
    for name, (h, w) in sizes.items():
        _write(tmp_path / name, _random_image(rng, h, w))
    out = _predict(project, "uformer", tmp_path)
    table = pd.read_csv(out / "predictions.csv")
    assert sorted(table["file"]) == sorted(sizes)
    for name, hw in sizes.items():
        assert cv2.imread(str(out / "restored" / Path(name).with_suffix(".png"))).shape == (*hw, 3)
    _sheet_and_mlflow(project, out, "uformer", ("restored",))


# -- bad inputs fail naming the file ----------------------------------------------------------------------------


def test_an_image_that_does_not_decode_fails_naming_it(dcff_project: Path, tmp_path: Path) -> None:
    _write(tmp_path / "good.png", _random_image(np.random.default_rng(5), 16, 16))
    bad = tmp_path / "bad.png"
    # It ends like a PNG, so listing passes it; decoding finds it out.
    bad.write_bytes(b"not a png at all" + b"\x00\x00\x00\x00IEND\xaeB`\x82")
    with pytest.raises(Exception, match=r"bad\.png: does not decode as an image"):
        _predict(dcff_project, "dcff", tmp_path)
    out = _predict(dcff_project, "dcff", tmp_path, **{"predict.on_bad_sample": "skip"})
    assert list(pd.read_csv(out / "predictions.csv")["file"]) == ["good.png"]


def test_a_checkpoint_of_another_task_fails_before_reading_images(
    smoke_project, dcff_project: Path, tmp_path: Path
) -> None:
    detector = sorted(
        (smoke_project(*TRAINED["detection"]) / "data/06_models/mi_aod/smoke").glob("miaod_c*.pt")
    )[-1]
    with pytest.raises(
        Exception,
        match=rf"{detector.name} holds a detection model .*; dcff_predict expects "
        "classification",
    ):
        _predict(dcff_project, "dcff", tmp_path / "never_listed", **{"predict.checkpoint": str(detector)})


def test_images_where_hdr_scene_folders_belong_fail_naming_the_file(smoke_project, tmp_path: Path) -> None:
    _write(tmp_path / "loose.png", _random_image(np.random.default_rng(6), 8, 8))
    with pytest.raises(Exception, match=r"loose\.png: is a file where a scene folder belongs"):
        _predict(smoke_project(*TRAINED["hdr"]), "fhdrnet", tmp_path)
