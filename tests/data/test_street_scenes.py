"""Street-scene generator (da_benchmark.md §1–4): the §9 invariants, determinism, speed, PNG round trip."""

from __future__ import annotations

import time

import numpy as np
import pytest

from cvpapers.data.segmentation import load_segmentation
from cvpapers.data.street_scenes import (
    CITYSCAPES_TRAINID,
    CLASS_NAMES,
    IGNORE_INDEX,
    LABEL_COLORS,
    NUM_CLASSES,
    OPTIONAL_STYLES,
    STYLE_ID,
    STYLES,
    class_frequencies,
    colorize,
    generate_style,
    render_layout,
    sample_layout,
    scene_rng,
    write_street_split,
)

ROAD, SIDEWALK, SKY, PERSON, POLE = 0, 1, 3, 6, 7
ALL_STYLES = STYLES + OPTIONAL_STYLES


@pytest.fixture(scope="module")
def city_train() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return generate_style("city", "train", 200)


def test_public_constants_follow_the_spec_tables() -> None:
    assert CLASS_NAMES == ("road", "sidewalk", "building", "sky", "vegetation", "car", "person", "pole")
    assert NUM_CLASSES == 8 and IGNORE_INDEX == 255
    assert STYLE_ID == {"game": 0, "synthetic": 1, "city": 2, "fog": 3, "night": 4, "city_blend": 5}
    assert CITYSCAPES_TRAINID[:8].tolist() == [0, 1, 2, 10, 8, 13, 11, 5]
    assert CITYSCAPES_TRAINID[255] == 255
    assert LABEL_COLORS.shape == (8, 3) and LABEL_COLORS.dtype == np.uint8
    assert len({tuple(c) for c in LABEL_COLORS}) == 8


@pytest.mark.parametrize("style", ALL_STYLES)
def test_same_seed_style_split_index_gives_identical_bytes(style: str) -> None:
    a = generate_style(style, "train", 6, base_seed=3)
    b = generate_style(style, "train", 6, base_seed=3)
    for x, y in zip(a, b, strict=True):
        assert x.tobytes() == y.tobytes()
    other = generate_style(style, "train", 6, base_seed=4)
    assert not np.array_equal(a[1], other[1])


@pytest.mark.parametrize("size", [(64, 128), (32, 64)])
def test_smaller_set_is_a_prefix_of_a_larger_set(size: tuple[int, int]) -> None:
    small = generate_style("fog", "val", 5, *size)
    large = generate_style("fog", "val", 16, *size)
    for x, y in zip(small, large, strict=True):
        assert np.array_equal(x, y[:5])


def test_generate_style_is_layout_then_render_from_the_per_image_generator() -> None:
    images, labels, horizons = generate_style("night", "test", 3, base_seed=7)
    for i in range(3):
        rng = scene_rng(7, "night", "test", i)
        layout = sample_layout(rng, "night", 64, 128)
        assert np.array_equal(render_layout(layout, "night", rng), images[i])
        assert np.array_equal(layout.labels, labels[i]) and layout.horizon == horizons[i]


def test_styles_and_splits_never_share_layouts() -> None:
    labels = {s: generate_style(s, "train", 10)[1] for s in STYLES}
    for i, s in enumerate(STYLES):
        for t in STYLES[i + 1 :]:
            assert all(not np.array_equal(a, b) for a, b in zip(labels[s], labels[t], strict=True))
    val = generate_style("city", "val", 10)[1]
    assert all(not np.array_equal(a, b) for a, b in zip(labels["city"], val, strict=True))


@pytest.mark.parametrize("style", ALL_STYLES)
def test_labels_hold_only_ids_0_to_7_and_images_are_uint8_in_range(style: str) -> None:
    images, labels, horizons = generate_style(style, "train", 20, 32, 64)
    assert images.dtype == np.uint8 and images.shape == (20, 32, 64, 3)
    assert labels.dtype == np.uint8 and labels.shape == (20, 32, 64)
    assert horizons.shape == (20,) and np.all((horizons > 0) & (horizons < 32))
    assert labels.max() < NUM_CLASSES
    assert 0 <= images.min() and images.max() <= 255


def test_every_class_in_half_of_city_images_and_person_pole_in_30_percent(city_train) -> None:
    _, labels, _ = city_train
    present = np.stack([(labels == c).any(axis=(1, 2)) for c in range(NUM_CLASSES)], axis=1).mean(axis=0)
    assert present.min() > 0  # every class appears somewhere
    for c in range(NUM_CLASSES):
        assert present[c] >= (0.30 if c in (PERSON, POLE) else 0.50), (CLASS_NAMES[c], present[c])


def test_city_class_frequencies_are_near_the_prototype(city_train) -> None:
    freq = class_frequencies(city_train[1])
    assert freq.shape == (8,) and freq.sum() == pytest.approx(1.0)
    proto = np.array([0.23, 0.05, 0.24, 0.25, 0.11, 0.08, 0.016, 0.011])
    assert np.all(np.abs(freq - proto) < np.maximum(0.05, proto * 0.5)), freq


@pytest.mark.parametrize("style", ALL_STYLES)
def test_road_and_sidewalk_only_in_rows_at_or_below_the_horizon(style: str) -> None:
    _, labels, horizons = generate_style(style, "train", 60)
    rows = np.arange(labels.shape[1])[None, :, None]
    above = rows < horizons[:, None, None]
    assert not np.any(above & ((labels == ROAD) | (labels == SIDEWALK)))


@pytest.mark.parametrize("style", ALL_STYLES)
def test_sky_is_the_majority_of_the_top_row_in_90_percent_of_images(style: str) -> None:
    _, labels, _ = generate_style(style, "train", 100)
    top = labels[:, 0, :]
    sky_majority = [np.bincount(row, minlength=NUM_CLASSES).argmax() == SKY for row in top]
    assert np.mean(sky_majority) >= 0.9


def test_horizon_ranges_are_style_dependent() -> None:
    for style, (lo, hi) in {"game": (0.30, 0.45), "synthetic": (0.34, 0.48), "city": (0.38, 0.52)}.items():
        y_h = generate_style(style, "train", 100)[2] / 64
        assert lo <= y_h.min() and y_h.max() <= hi, style
    assert generate_style("game", "train", 100)[2].mean() < generate_style("city", "train", 100)[2].mean()


def test_game_images_have_at_most_instances_plus_classes_plus_lane_colours() -> None:
    images = generate_style("game", "train", 30)[0]
    for i in range(30):
        layout = sample_layout(scene_rng(0, "game", "train", i), "game", 64, 128)
        n_colours = len(np.unique(images[i].reshape(-1, 3), axis=0))
        assert n_colours <= layout.num_instances + NUM_CLASSES + 1


def test_night_mean_brightness_is_below_a_quarter() -> None:
    images = generate_style("night", "val", 50)[0]
    assert images.mean() / 255 < 0.25
    assert all(img.mean() / 255 < 0.25 for img in images)


def test_fog_has_less_contrast_than_city_on_the_same_layout() -> None:
    city_std, fog_std = [], []
    for i in range(100):
        rng = scene_rng(0, "city", "val", i)
        layout = sample_layout(rng, "city", 64, 128)
        state = rng.bit_generator.state  # same rendering draws for both styles
        city_std.append(render_layout(layout, "city", rng).std())
        rng.bit_generator.state = state
        fog_std.append(render_layout(layout, "fog", rng).std())
    city_std, fog_std = np.array(city_std), np.array(fog_std)
    assert fog_std.mean() < 0.85 * city_std.mean()
    assert np.mean(fog_std < city_std) >= 0.95
    # and at dataset level, with each style's own layouts
    assert generate_style("fog", "val", 100)[0].std() < generate_style("city", "val", 100)[0].std()


def test_night_lights_change_colours_only_and_leave_other_styles_alone() -> None:
    plain = generate_style("night", "train", 10)
    lit = generate_style("night", "train", 10, night_lights=True)
    assert np.array_equal(plain[1], lit[1]) and np.array_equal(plain[2], lit[2])
    assert not np.array_equal(plain[0], lit[0])
    assert lit[0].mean() > plain[0].mean()
    city = generate_style("city", "train", 4)
    assert np.array_equal(city[0], generate_style("city", "train", 4, night_lights=True)[0])


def test_unknown_style_or_split_is_rejected_with_the_allowed_values() -> None:
    with pytest.raises(ValueError, match="allowed"):
        generate_style("rainy", "train", 1)
    with pytest.raises(ValueError, match="allowed"):
        generate_style("city", "holdout", 1)


def test_colorize_uses_label_colours_and_paints_ignore_black() -> None:
    labels = np.array([[0, 3, 7, 255]], dtype=np.uint8)
    rgb = colorize(labels)
    assert rgb.shape == (1, 4, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb[0, :3], LABEL_COLORS[[0, 3, 7]])
    assert rgb[0, 3].tolist() == [0, 0, 0]


def test_class_frequencies_ignore_255() -> None:
    labels = np.array([[0, 0, 5, 255]], dtype=np.uint8)
    assert class_frequencies(labels).tolist() == pytest.approx([2 / 3, 0, 0, 0, 0, 1 / 3, 0, 0])


def test_base_benchmark_generates_within_the_time_bound() -> None:
    sizes = [("game", "train", 600), ("synthetic", "train", 600)]
    sizes += [(s, p, n) for s in ("city", "fog", "night") for p, n in (("train", 400), ("val", 100))]
    start = time.perf_counter()
    total = sum(len(generate_style(s, p, n)[0]) for s, p, n in sizes)
    elapsed = time.perf_counter() - start
    assert total == 2700
    assert elapsed < 30.0, f"base benchmark took {elapsed:.1f} s"


def test_written_split_reads_back_to_the_generated_arrays(tmp_path) -> None:
    df = write_street_split(tmp_path, "synthetic", "val", 5, 32, 64, base_seed=2)
    assert list(df.columns) == ["path", "label_path", "split", "domain", "index", "horizon"]
    assert df["index"].tolist() == list(range(5)) and set(df["split"]) == {"val"}
    assert set(df["domain"]) == {"synthetic"}
    assert df["path"].iloc[3].endswith("synthetic/val/00003_image.png")
    assert df["label_path"].iloc[3].endswith("synthetic/val/00003_label.png")
    images, labels, horizons = generate_style("synthetic", "val", 5, 32, 64, base_seed=2)
    x, y = load_segmentation(df)
    assert x.shape == (5, 3, 32, 64) and y.shape == (5, 32, 64)
    assert np.array_equal(x.permute(0, 2, 3, 1).numpy(), images)
    assert np.array_equal(y.numpy(), labels)
    assert np.array_equal(df["horizon"].to_numpy(), horizons)
