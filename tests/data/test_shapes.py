"""Invariants of the shared embedded classification generator (cvpapers.data.shapes)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from cvpapers.data.shapes import (
    CLASS_NAMES,
    FAMILIES,
    ShapesConfig,
    class_names,
    generate_shapes,
    write_shapes_split,
)


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_gives_identical_bytes_and_other_seed_differs(family: str) -> None:
    cfg = ShapesConfig.preset(family, image_size=16, seed=3)
    x1, y1 = generate_shapes(120, cfg)
    x2, y2 = generate_shapes(120, cfg)
    assert x1.tobytes() == x2.tobytes() and np.array_equal(y1, y2)
    x3, y3 = generate_shapes(120, ShapesConfig.preset(family, image_size=16, seed=4))
    assert not np.array_equal(x1, x3)
    assert not np.array_equal(y1, y3)


@pytest.mark.parametrize("family", FAMILIES)
def test_output_types_shapes_and_value_range(family: str) -> None:
    cfg = ShapesConfig.preset(family, image_size=24, n_classes=7)
    x, y = generate_shapes(70, cfg)
    assert x.dtype == np.uint8 and x.shape == (70, 24, 24, 3)
    assert y.dtype == np.int64 and y.shape == (70,)
    assert y.min() >= 0 and y.max() < 7
    # Noisy images use the full range (clipping works, no wrap-around of uint8).
    assert x.min() == 0 or x.max() == 255
    assert len(class_names(cfg)) == 7


def test_balanced_labels_are_exactly_uniform_over_classes() -> None:
    _, y = generate_shapes(2000, ShapesConfig(seed=1))
    assert np.array_equal(np.bincount(y, minlength=10), np.full(10, 200))
    _, y = generate_shapes(1003, ShapesConfig(seed=1, n_classes=4))
    counts = np.bincount(y)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 1003


def test_foreground_background_l1_distance_at_least_min() -> None:
    """Noise-free, distractor-free images have exactly two colours, at L1 distance >= 0.9 (up to rounding)."""
    cfg = ShapesConfig(image_size=32, noise=0.0, distractors=0, seed=5)
    x, _ = generate_shapes(300, cfg)
    for img in x:  # per-image colour sets; a test, not the generator
        colors = np.unique(img.reshape(-1, 3), axis=0).astype(np.float64) / 255.0
        assert len(colors) == 2
        assert np.abs(colors[0] - colors[1]).sum() >= 0.9 - 3 / 255


def test_distractor_adds_a_third_colour_and_noise_knob_keeps_shapes() -> None:
    base = ShapesConfig(image_size=32, noise=0.0, distractors=0, seed=2)
    x0, y0 = generate_shapes(50, base)
    x1, y1 = generate_shapes(50, ShapesConfig(image_size=32, noise=0.0, distractors=1, seed=2))
    assert np.array_equal(y0, y1)
    n_colors = [len(np.unique(img.reshape(-1, 3), axis=0)) for img in x1]
    # Painted last with radius >= 0.8 > sqrt(2)/2, a blob always covers a pixel centre: always 3 colours.
    assert set(n_colors) == {3}
    # Independent random streams: pixels differ only where a distractor was painted (a few pixels).
    changed = (x0 != x1).any(-1).sum((1, 2))
    assert changed.max() <= np.pi * 1.8**2 + 8
    # Noise only perturbs: mean abs difference to the noise-free image is about 0.8 σ.
    xn, _ = generate_shapes(50, ShapesConfig(image_size=32, noise=0.08, distractors=0, seed=2))
    mad = np.abs(xn.astype(float) - x0.astype(float)).mean() / 255
    assert 0.03 < mad < 0.08


def _mask_features(x: np.ndarray) -> np.ndarray:
    """Rotation-, translation- and scale-invariant descriptors of the foreground mask of noise-free images:
    a radial histogram (distance / sqrt(area)) and angular Fourier magnitudes k = 1..4 about the centroid."""
    x = x.astype(np.int16)
    n, h, w, _ = x.shape
    corners = np.stack([x[:, 0, 0], x[:, 0, -1], x[:, -1, 0], x[:, -1, -1]], 1)
    votes = (corners[:, :, None, :] == corners[:, None, :, :]).all(-1).sum(2)
    bg = corners[np.arange(n), votes.argmax(1)]
    m = (np.abs(x - bg[:, None, None, :]).sum(-1) > 0).astype(np.float64)
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    area = m.sum((1, 2))
    dy = yy - ((m * yy).sum((1, 2)) / area)[:, None, None]
    dx = xx - ((m * xx).sum((1, 2)) / area)[:, None, None]
    d = np.sqrt(dy**2 + dx**2) / np.sqrt(area / np.pi)[:, None, None]
    edges = np.linspace(0, 2.0, 11)
    radial = np.stack([((d >= a) & (d < b) & (m > 0)).sum((1, 2)) for a, b in zip(edges[:-1], edges[1:])], 1)
    ang = np.arctan2(dy, dx)
    k = np.arange(1, 5)[None, :, None, None]
    fourier = np.abs((m[:, None] * np.exp(1j * k * ang[:, None])).sum((2, 3)))
    return np.concatenate([radial, fourier], 1) / area[:, None]


def test_classes_are_distinguishable_by_nearest_class_mean_on_shape_features() -> None:
    cfg = dict(image_size=32, noise=0.0, distractors=0)
    xtr, ytr = generate_shapes(1000, ShapesConfig(seed=0, **cfg))
    xte, yte = generate_shapes(500, ShapesConfig(seed=1, **cfg))
    ftr, fte = _mask_features(xtr), _mask_features(xte)
    mu, sd = ftr.mean(0), ftr.std(0) + 1e-9
    ftr, fte = (ftr - mu) / sd, (fte - mu) / sd
    means = np.stack([ftr[ytr == c].mean(0) for c in range(10)])
    pred = ((fte[:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
    acc = (pred == yte).mean()
    assert acc > 0.5, f"nearest-class-mean accuracy {acc:.3f}"
    per_class = [(pred[yte == c] == c).mean() for c in range(10)]
    assert min(per_class) > 0.5, dict(zip(CLASS_NAMES, per_class))


@pytest.mark.parametrize("size", [16, 32])
def test_generating_2000_images_is_fast(size: int) -> None:
    cfg = ShapesConfig(image_size=size, seed=1)
    generate_shapes(10, cfg)  # warm-up (imports, allocator)
    t0 = time.perf_counter()
    generate_shapes(2000, cfg)
    assert time.perf_counter() - t0 < 10.0  # generous: a loaded 2-core CI machine must not make this flaky (idle: ~0.2 s)


def test_config_rejects_unknown_keys_and_bad_values_by_name() -> None:
    with pytest.raises(ValueError, match="noize"):
        ShapesConfig.from_dict({"noize": 0.1})
    with pytest.raises(ValueError, match="family"):
        ShapesConfig(family="blobs")
    with pytest.raises(ValueError, match="n_classes"):
        ShapesConfig(n_classes=11)
    assert ShapesConfig.from_dict({"radius_range": [0.2, 0.3]}).radius_range == (0.2, 0.3)


def test_write_shapes_split_layout_and_manifest_rows(tmp_path) -> None:
    cfg = ShapesConfig(image_size=16, seed=1)
    df = write_shapes_split(tmp_path, "train", 30, cfg)
    _, labels = generate_shapes(30, cfg)
    assert list(df.columns) == ["path", "index", "split", "label", "class_name"]
    assert np.array_equal(df["label"].to_numpy(), labels)
    assert (df["index"] == -1).all() and (df["split"] == "train").all()
    for i, row in df.iterrows():
        assert row["path"] == (tmp_path / "train" / CLASS_NAMES[row["label"]] / f"{i:05d}.png").as_posix()
    assert len(list((tmp_path / "train").glob("*/*.png"))) == 30
