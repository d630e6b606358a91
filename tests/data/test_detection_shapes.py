"""Invariants of the ShapesDet-AL detection generator (cvpapers.data.detection_shapes, mi_aod §8.1 / §9.9)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from cvpapers.data.detection_shapes import (
    CLASS_NAMES,
    REGIMES,
    RegimeSpec,
    ShapesDetConfig,
    generate_shapes_det,
)

POOL = {"easy": 0.60, "hard": 0.25, "clutter": 0.15}
TEST = {"easy": 0.30, "hard": 0.50, "clutter": 0.20}
UNIFORM = {r: 1 / 3 for r in REGIMES}


@pytest.fixture(scope="module")
def mixed() -> dict[str, np.ndarray]:
    return generate_shapes_det(300, seed=11, regime_probs=UNIFORM, image_size=64)


def test_output_keys_dtypes_and_shapes(mixed: dict[str, np.ndarray]) -> None:
    d = mixed
    n, g = 300, d["labels"].shape[1]
    assert d["images"].dtype == np.uint8 and d["images"].shape == (n, 64, 64, 3)
    assert d["boxes"].dtype == np.float32 and d["boxes"].shape == (n, g, 4)
    assert d["labels"].dtype == np.int64 and d["labels"].shape == (n, g)
    assert d["difficult"].dtype == bool and d["difficult"].shape == (n, g) and not d["difficult"].any()
    assert d["regime"].dtype == np.int8 and d["regime"].shape == (n,)
    assert d["image_id"].dtype.kind == "U" and list(d["image_id"][:3]) == ["000000", "000001", "000002"]
    assert g == 4  # hard images draw up to 4 objects; G is the most in the set


def test_same_seed_gives_byte_identical_output_and_other_seed_differs() -> None:
    a = generate_shapes_det(60, seed=5, regime_probs=POOL, image_size=48)
    b = generate_shapes_det(60, seed=5, regime_probs=POOL, image_size=48)
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].tobytes() == b[key].tobytes(), key
    c = generate_shapes_det(60, seed=6, regime_probs=POOL, image_size=48)
    assert not np.array_equal(a["images"], c["images"])
    assert not np.array_equal(a["boxes"][:, 0], c["boxes"][:, 0])


def test_first_images_do_not_depend_on_set_size() -> None:
    small = generate_shapes_det(20, seed=2, regime_probs=TEST, image_size=48)
    large = generate_shapes_det(50, seed=2, regime_probs=TEST, image_size=48)
    g = small["labels"].shape[1]
    assert np.array_equal(small["images"], large["images"][:20])
    assert np.array_equal(small["boxes"], large["boxes"][:20, :g])
    assert np.array_equal(small["labels"], large["labels"][:20, :g])
    assert (large["labels"][:20, g:] == -1).all()


def test_boxes_inside_image_integer_with_positive_area(mixed: dict[str, np.ndarray]) -> None:
    valid = mixed["labels"] >= 0
    b = mixed["boxes"][valid]
    assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all()
    assert (b[:, 2] <= 64).all() and (b[:, 3] <= 64).all()
    assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
    assert np.array_equal(b, np.round(b))  # tight extents of a pixel mask


def test_labels_in_range_and_padding_consistent(mixed: dict[str, np.ndarray]) -> None:
    labels, boxes = mixed["labels"], mixed["boxes"]
    assert ((labels >= -1) & (labels < len(CLASS_NAMES))).all()
    pad = labels == -1
    assert (boxes[pad] == 0).all()
    # Padding only at the end of each row: valid entries come first.
    n_valid = (~pad).sum(1)
    assert np.array_equal(~pad, np.arange(labels.shape[1])[None, :] < n_valid[:, None])


def test_every_image_has_at_least_one_object_and_counts_follow_regime(mixed: dict[str, np.ndarray]) -> None:
    counts = (mixed["labels"] >= 0).sum(1)
    reg = mixed["regime"]
    assert counts.min() >= 1
    assert (counts[reg == 0] == 1).all()
    assert counts[reg == 1].max() <= 4 and counts[reg == 2].max() <= 3
    assert counts[reg == 1].mean() > 2.0  # placement rarely drops objects


def test_placed_boxes_overlap_at_most_max_iou(mixed: dict[str, np.ndarray]) -> None:
    worst = 0.0
    for boxes, labels in zip(mixed["boxes"], mixed["labels"]):  # a test: loops over images are fine
        b = boxes[labels >= 0].astype(np.float64)
        for i in range(len(b)):
            for j in range(i):
                iw = max(0.0, min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0]))
                ih = max(0.0, min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1]))
                area = lambda x: (x[2] - x[0]) * (x[3] - x[1])  # noqa: E731
                worst = max(worst, iw * ih / (area(b[i]) + area(b[j]) - iw * ih))
    assert worst <= 0.2


@pytest.mark.parametrize("regime", REGIMES)
def test_class_frequencies_per_regime_within_5_percent(regime: str) -> None:
    cfg = ShapesDetConfig()
    d = generate_shapes_det(2000, seed=3, regime_probs={regime: 1.0}, image_size=48, config=cfg)
    assert (d["regime"] == REGIMES.index(regime)).all()
    labels = d["labels"][d["labels"] >= 0]
    freq = np.bincount(labels, minlength=len(CLASS_NAMES)) / labels.size
    expected = np.asarray(cfg.regime(REGIMES.index(regime)).class_probs)
    np.testing.assert_allclose(freq, expected, atol=0.05)


def test_regime_frequencies_follow_configured_probabilities() -> None:
    d = generate_shapes_det(2000, seed=4, regime_probs=POOL, image_size=32)
    freq = np.bincount(d["regime"], minlength=3) / 2000
    np.testing.assert_allclose(freq, [POOL[r] for r in REGIMES], atol=0.03)


def test_zero_probability_regime_never_drawn() -> None:
    d = generate_shapes_det(300, seed=0, regime_probs={"easy": 0.5, "hard": 0.5}, image_size=32)
    assert set(np.unique(d["regime"]).tolist()) == {0, 1}


def test_easy_objects_stand_out_from_the_border_and_hard_ones_less() -> None:
    d = generate_shapes_det(400, seed=8, regime_probs=UNIFORM, image_size=64)
    img = d["images"].astype(np.float64) / 255
    border = np.concatenate([img[:, :2].reshape(400, -1, 3), img[:, -2:].reshape(400, -1, 3)], 1).mean(1)
    dist = np.empty(400)
    for i in range(400):  # first (largest) object of each image
        x1, y1, x2, y2 = d["boxes"][i, 0].astype(int)
        inner = img[i, y1:y2, x1:x2].reshape(-1, 3).mean(0)
        dist[i] = np.linalg.norm(inner - border[i])
    easy, hard = d["regime"] == 0, d["regime"] == 1
    assert dist[easy].min() > 0.1
    assert np.median(dist[hard]) < np.median(dist[easy])


def test_object_sizes_follow_regime_ranges_and_scale_with_image_size() -> None:
    for size in (96, 48):
        d = generate_shapes_det(200, seed=9, regime_probs={"easy": 1.0}, image_size=size)
        b = d["boxes"][:, 0]
        side = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) * (96 / size)
        # Nominal side 26–40 px at 96; the 0.5-coverage extent is within ±1 px (×2 at 48 px) of it.
        tol = 96 / size
        assert side.min() >= 26 - tol and side.max() <= 40 + tol


def test_clutter_images_contain_unlabelled_distractors() -> None:
    """With a flat, noise-free background, clutter images have foreground pixels outside every labelled box."""
    quiet = ShapesDetConfig(clutter=RegimeSpec(0.0, 0.0, (1, 3), (0.25,) * 4, (14, 30), "random", (2, 4)))
    d = generate_shapes_det(50, seed=1, regime_probs={"clutter": 1.0}, image_size=64, config=quiet)
    img = d["images"].astype(np.int64)
    outside = np.ones(img.shape[:3], dtype=bool)
    for i in range(50):
        for x1, y1, x2, y2 in d["boxes"][i][d["labels"][i] >= 0].astype(int):
            outside[i, y1:y2, x1:x2] = False
    # Flat background (no texture, no noise): pixels outside boxes that deviate from the base colour are
    # distractors, which must be present in every image.
    deviates = np.abs(img - np.median(img.reshape(50, -1, 3), axis=1)[:, None, None]).sum(-1) > 30
    assert (deviates & outside).reshape(50, -1).sum(1).min() > 5


def test_invalid_regime_probabilities_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown regime.*'medium'"):
        generate_shapes_det(2, seed=0, regime_probs={"medium": 1.0})
    with pytest.raises(ValueError, match="sum to 1"):
        generate_shapes_det(2, seed=0, regime_probs={"easy": 0.5, "hard": 0.2})
    with pytest.raises(ValueError, match="class_probs"):
        RegimeSpec(0.1, 0.1, (1, 1), (0.5, 0.5, 0.5, 0.0), (10, 20), "far")


def test_generation_time_of_pool_and_test_sets_is_small() -> None:
    start = time.perf_counter()
    generate_shapes_det(1000, seed=666, regime_probs=POOL, image_size=96)
    generate_shapes_det(300, seed=667, regime_probs=TEST, image_size=96)
    assert time.perf_counter() - start < 15.0


def test_shapes_cls_draws_one_object_of_eight_classes_in_the_detection_family_deterministically() -> None:
    from cvpapers.data.detection_shapes import EXTRA_CLASS_NAMES, generate_shapes_cls

    data = generate_shapes_cls(32, 5, {"easy": 0.5, "hard": 0.5}, image_size=48, object_scale=2.0)
    assert data["images"].shape == (32, 48, 48, 3) and data["images"].dtype == np.uint8
    assert data["labels"].min() >= 0 and data["labels"].max() < len(CLASS_NAMES) + len(EXTRA_CLASS_NAMES)
    assert set(data["regime"]) <= {0, 1}
    again = generate_shapes_cls(32, 5, {"easy": 0.5, "hard": 0.5}, image_size=48, object_scale=2.0)
    assert all(np.array_equal(data[k], again[k]) for k in data)
    other = generate_shapes_cls(32, 6, {"easy": 0.5, "hard": 0.5}, image_size=48, object_scale=2.0)
    assert not (data["images"][:, None] == other["images"][None]).all(axis=(2, 3, 4)).any()
