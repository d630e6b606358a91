"""MI-AOD on images read from disk (``loading.py``): the code's preprocessing, training batches streamed from a
VOC devkit (the real layout, written by the project's writer), bad files, and streaming predictions in original
pixel coordinates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cvpapers.data.streaming import SkipLog
from cvpapers.pipelines.mi_aod.loading import (
    PAD_COLOUR,
    EvalTransform,
    TrainPrepare,
    TrainTransform,
    _pick,
    pad_images,
    predict_files,
    rescale_to_fit,
    training_source,
)


def _devkit(root: Path, n: int = 6) -> Path:
    """VOC07 trainval in landscape 48×32 (w×h) and VOC12 trainval in portrait 32×48, JPEGs, one difficult box."""
    import cv2

    from cvpapers.data.detection_shapes import generate_shapes_det
    from cvpapers.data.voc import VOC_CLASSES, write_voc

    for year, (w, h), seed, fmt in (("VOC2007", (48, 32), 0, "{:06d}"), ("VOC2012", (32, 48), 1, "2008_{:06d}")):
        data = generate_shapes_det(n // 2, seed, {"easy": 1.0}, image_size=48)
        data["images"] = np.stack([cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA) for im in data["images"]])
        data["boxes"] = np.floor(data["boxes"] * np.float32([w / 48, h / 48, w / 48, h / 48]))
        data["boxes"][..., 2:] = np.maximum(data["boxes"][..., 2:], data["boxes"][..., :2] + 1)
        data["labels"] = np.where(data["labels"] >= 0, VOC_CLASSES.index("dog"), -1)
        data["difficult"] = np.zeros_like(data["labels"], dtype=bool)
        data["difficult"][0, 0] = True
        data["image_id"] = np.asarray([fmt.format(i) for i in range(n // 2)])
        write_voc(root, data, VOC_CLASSES, year, "trainval", image_ext="jpg")
    return root


def _params(root: Path, **data):
    from cvpapers.pipelines.mi_aod import DECLARATION

    return DECLARATION.validate({
        "device": "cpu", "data": {"source": "voc", "root": str(root), "img_scale": [96, 64], **data},
        "model": {"anchor_sizes": None}, "train": {"batch_size": 2, "flip_prob": 0.5},
        "eval": {"batch_size": 4}, "miaod": {"k_top": 50},
    })


@pytest.fixture
def pool(tmp_path: Path) -> tuple[dict, object]:
    from cvpapers.pipelines.mi_aod.data import load_detection_sets, split_data

    root = _devkit(tmp_path / "VOCdevkit")
    p = _params(root, voc_test_sets=[["VOC2007", "trainval"]])
    manifest, arrays, _, _ = load_detection_sets(p.data, p.seed, root)
    return split_data(manifest, arrays, "pool"), p


@pytest.mark.parametrize("wh, new_wh", [((500, 375), (800, 600)), ((375, 500), (600, 800)),
                                        ((1200, 300), (1000, 250)), ((50, 40), (750, 600))])
def test_resize_to_fit_is_mmcv_keep_ratio_rule(wh: tuple[int, int], new_wh: tuple[int, int]) -> None:
    """scale = min(1000 / long edge, 600 / short edge), whatever the orientation (mmdet img_scale=(1000, 600))."""
    image = np.zeros((wh[1], wh[0], 3), np.uint8)
    out, (ws, hs) = rescale_to_fit(image, (1000, 600))
    assert out.shape[:2] == (new_wh[1], new_wh[0])
    assert (ws, hs) == (new_wh[0] / wh[0], new_wh[1] / wh[1])


def test_train_transform_flips_boxes_as_mmdetection_and_replays_its_seed() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    sample = {"image": image, "bboxes": np.float32([[2, 3, 12, 20], [30, 0, 40, 30]]), "labels": np.int64([4, 7])}
    t = TrainTransform((80, 60), flip_prob=0.5)
    resized, _ = rescale_to_fit(image, (80, 60))
    seen = set()
    for seed in range(16):
        out = t(dict(sample), seed)
        flipped = not np.array_equal(out["image"], resized)
        seen.add(flipped)
        boxes = np.float32([[4, 6, 24, 40], [60, 0, 80, 60]])  # ×2, the realised scale
        if flipped:
            np.testing.assert_array_equal(out["image"], resized[:, ::-1])
            boxes = np.stack([80 - boxes[:, 2], boxes[:, 1], 80 - boxes[:, 0], boxes[:, 3]], 1)
        np.testing.assert_allclose(out["bboxes"], boxes, atol=1e-4)
        assert out["labels"].tolist() == [4, 7]
        np.testing.assert_array_equal(t(dict(sample), seed)["image"], out["image"])  # same seed, same flip
    assert seen == {True, False}
    assert set(t({"image": image}, 0)) == {"image"}  # unlabelled: the image alone


def test_batches_are_padded_to_32_with_the_mean_so_the_normalised_padding_is_zero() -> None:
    a, b = np.full((600, 800, 3), 255, np.uint8), np.zeros((800, 600, 3), np.uint8)
    x = pad_images([a, b], 32)
    assert x.shape == (2, 3, 800, 800)
    mean, std = torch.tensor(PAD_COLOUR).view(3, 1, 1), torch.tensor((0.229, 0.224, 0.225)).view(3, 1, 1)
    normalised = (x - mean) / std  # RetinaDetector's normalisation = the code's (123.675, …) / (58.395, …)
    assert normalised[0, :, 600:].abs().max() < 1e-6 and normalised[1, :, :, 600:].abs().max() < 1e-6
    assert (x[0, :, :600] == 1).all() and (x[1, :, :, :600] == 0).all()
    assert pad_images([np.zeros((33, 40, 3), np.uint8)], 32).shape[-2:] == (64, 64)


def test_training_batches_stream_from_the_files_with_the_in_memory_draws_choice(pool) -> None:
    from cvpapers.pipelines.mi_aod.training import batch_draw

    data, p = pool
    labelled, unlabelled = np.array([0, 1, 3, 4]), np.array([2, 5])
    source = training_source(data, labelled, unlabelled, p, SkipLog())(True, 4, 7)
    batches = list(source.batches(0))
    assert [b["unlabelled"] for b in batches] == [False, True, False, True]
    for b in batches:
        assert b["images"].shape[0] == 2 and b["images"].shape[-2] % 32 == 0 and b["images"].shape[-1] % 32 == 0
    workers = _params(Path(data["manifest"].loc[0, "image_path"]).parents[2], workers=2)
    again = list(training_source(data, labelled, unlabelled, workers, SkipLog())(True, 4, 7).batches(0))
    assert all(torch.equal(a["images"], b["images"]) for a, b in zip(batches, again, strict=True))  # same flips
    lab = batches[0]
    valid = lab["labels"] >= 0
    assert valid.any() and (lab["boxes"][valid][:, 2:] <= 96).all() and "boxes" not in batches[1]
    # the images of a batch are the ones the in-memory draw picks from the same generator
    g = torch.Generator().manual_seed(5)
    memory = {"images": np.stack([np.full((2, 2, 3), i, np.uint8) for i in range(6)]), "boxes": data["boxes"],
              "labels": data["labels"], "difficult": data["difficult"]}
    drawn = batch_draw(memory, labelled, 2, 0.0, unlabelled=True)(g)["images"][:, 0, 0, 0] * 255
    assert drawn.round().long().tolist() == _pick(labelled, 2)(torch.Generator().manual_seed(5)).tolist()


def test_difficult_boxes_are_not_training_targets(pool) -> None:
    data, p = pool
    prep = TrainPrepare(False, 32)
    from cvpapers.pipelines.mi_aod.loading import VocReader

    row = data["manifest"].iloc[0].to_dict()
    sample = VocReader(True)(row)
    assert len(sample["labels"]) == (data["labels"][0] >= 0).sum() - 1  # the first box is difficult
    batch = prep({"index": torch.tensor([0]), "image": [sample["image"]], "bboxes": [sample["bboxes"]],
                  "labels": [sample["labels"]]})
    assert (batch["labels"] >= 0).sum() == len(sample["labels"])


def test_a_truncated_jpeg_stops_training_naming_it_or_is_skipped_and_counted(pool) -> None:
    from cvpapers.data.decode import BadSampleError
    from cvpapers.pipelines.mi_aod import DECLARATION

    data, p = pool
    path = Path(data["manifest"].loc[1, "image_path"])
    path.write_bytes(path.read_bytes()[:-200])  # half-written
    labelled = np.array([1, 1, 1])  # every batch meets it
    with pytest.raises(BadSampleError, match=f"{path}: truncated"):
        list(training_source(data, labelled[:2], None, p, SkipLog())(False, 2, 0).batches(0))
    skip = DECLARATION.validate({**p.model_dump(), "data": {**p.data.model_dump(), "on_bad_sample": "skip"}})
    skips = SkipLog()
    batches = list(training_source(data, np.array([0, 1]), None, skip, skips)(False, 3, 0).batches(0))
    assert skips.metrics() == {"skipped_samples": 1.0} and all(b["images"].shape[0] >= 1 for b in batches)
    with pytest.raises(RuntimeError, match="every image of a training batch was skipped"):
        list(training_source(data, labelled, None, skip, skips)(False, 1, 0).batches(0))


class _FixedBoxes(torch.nn.Module):
    """A detector whose every image gets one box covering exactly its (resized, unpadded) size."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model, self.anchor_grid, self.sizes = model, model.anchor_grid, []

    def forward(self, x: torch.Tensor):
        return self.model(x)

    def detect_from(self, out, hw, clip_hw, **kwargs):
        self.sizes.append((tuple(hw), list(clip_hw)))
        return [{"boxes": torch.tensor([[0.0, 0.0, w, h]]), "scores": torch.tensor([0.9]),
                 "labels": torch.tensor([0])} for h, w in clip_hw]


def test_streaming_predictions_come_back_in_original_coordinates_with_one_score_per_image(pool) -> None:
    from cvpapers.pipelines.mi_aod.heads import build_miaod_detector

    data, p = pool
    torch.manual_seed(0)
    model = _FixedBoxes(build_miaod_detector(num_classes=20))
    out = predict_files(model, data, torch.device("cpu"), p, k_top=p.miaod.k_top, detect={})
    for det, h, w in zip(out["detections"], data["height"], data["width"], strict=True):
        np.testing.assert_allclose(det["boxes"], [[0, 0, w, h]], rtol=1e-5)
    assert out["kept"] == list(range(6)) and np.isfinite(out["uncertainty"]).all()
    # a batch of 4 mixes landscape (96×64) and portrait (64×96) images: padded to 96×96, clipped per image
    assert model.sizes[0] == ((96, 96), [(64, 96), (64, 96), (64, 96), (96, 64)])
    # in a batch of images of one size, U is what a batch of one gives (the code scores one image at a time)
    one = predict_files(model.model, data, torch.device("cpu"), _with_eval_batch(p, 1), k_top=p.miaod.k_top)
    np.testing.assert_allclose(one["uncertainty"][4:], out["uncertainty"][4:], rtol=1e-4)


def _with_eval_batch(p, batch_size: int):
    from cvpapers.pipelines.mi_aod import DECLARATION

    return DECLARATION.validate({**p.model_dump(), "eval": {**p.eval.model_dump(), "batch_size": batch_size}})


def test_a_truncated_test_image_is_left_out_of_the_evaluation_when_skipping(pool) -> None:
    from cvpapers.pipelines.mi_aod.heads import build_miaod_detector
    from cvpapers.pipelines.mi_aod.training import evaluate, score_pool

    data, p = pool
    path = Path(data["manifest"].loc[4, "image_path"])
    path.write_bytes(path.read_bytes()[:-200])
    from cvpapers.pipelines.mi_aod import DECLARATION

    skip = DECLARATION.validate({**p.model_dump(), "data": {**p.data.model_dump(), "on_bad_sample": "skip"}})
    model, skips = build_miaod_detector(num_classes=20), SkipLog()
    dets, result = evaluate(model, data, skip, torch.device("cpu"), skips)
    assert len(dets) == 5 and 0 <= result["mAP"] <= 1 and skips.metrics() == {"skipped_samples": 1.0}
    scores = score_pool(model, data, skip, torch.device("cpu"), skips)
    assert np.isnan(scores[4]) and np.isfinite(np.delete(scores, 4)).all()
    from cvpapers.pipelines.mi_aod.selection import select_top

    assert 4 not in select_top(scores, [0], 4).tolist()  # an unreadable image is never selected first
    assert EvalTransform((96, 64))({"image": np.zeros((32, 48, 3), np.uint8)}, 0)["scale"].tolist() == [2, 2, 2, 2]


def test_the_paper_pipeline_runs_end_to_end_on_a_voc_devkit_read_from_disk(tmp_path: Path) -> None:
    """`kedro run --pipelines mi_aod_paper --env paper` on a miniature devkit: the paper configuration (7 cycles,
    the code's preprocessing at a CPU-sized scale, SGD, 11-point AP) with TinyRetina and a few iterations; the
    data travel between nodes as the manifest."""
    import json

    import pandas as pd

    from tests.conftest import make_project, run_in

    project = make_project(tmp_path / "project")
    devkit = _devkit(project / "data/01_raw/VOCdevkit", n=24)
    main = devkit / "VOC2007/ImageSets/Main"
    (main / "test.txt").write_text((main / "trainval.txt").read_text())
    params = {"mi_aod.device": "cpu", "mi_aod.model.backbone": "tiny", "mi_aod.model.fpn_channels": 16,
              "mi_aod.model.backbone_weights": "null", "mi_aod.data.img_scale": "[96,64]", "mi_aod.data.workers": 0,
              "mi_aod.al.initial_fraction": 0.1, "mi_aod.al.select_fraction": 0.1,
              "mi_aod.train.budget_unit": "iterations", "mi_aod.train.iters_label_first": 1,
              "mi_aod.train.iters_minmax": 1, "mi_aod.train.iters_label": 1, "mi_aod.train.outer_loops": 1}
    run_in(project, "mi_aod_paper", env="paper", params=params)
    rep = project / "data/08_reporting/mi_aod_paper/paper"
    table = pd.read_csv(rep / "comparison.csv")
    assert table["labelled"].tolist() == [2, 4, 6, 8, 10, 12, 14]
    assert json.loads((rep / "miaod_select_c5_metrics.json").read_text())["skipped_samples"] == 0.0
    manifest = pd.read_csv(project / "data/02_intermediate/mi_aod_paper/paper/manifest.csv")
    assert manifest.groupby("split").size().to_dict() == {"pool": 24, "test": 12}
    import numpy as np

    with np.load(project / "data/05_model_input/mi_aod_paper/paper/pool.npz") as pool:
        assert pool.files == ["class_names"]  # no pixels between nodes
