"""Invariants of the shared LAB colour transfer (ssda_dual_mix.md §3.1, §9.7)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cvpapers.da import lab as lab_mod
from cvpapers.da.lab import (
    LabStatsTally,
    lab_stats,
    lab_to_rgb,
    lab_transfer,
    lab_transfer_float,
    match_lab_stats,
    reference_indices,
    reference_stats,
    rgb_to_lab,
    translate_image,
    translate_to_target,
)


def _shifted_set(n: int, tint: tuple[float, float, float], gain: float, seed: int) -> np.ndarray:
    """N×32×48×3 uint8 images: smooth random scenes, then a global colour cast and brightness gain."""
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(0, 1, 32), np.linspace(0, 1, 48), indexing="ij")
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1, 3))
    freq = rng.uniform(1, 4, size=(n, 1, 1, 3))
    base = 0.5 + 0.3 * np.sin(freq * (xx[None, :, :, None] + yy[None, :, :, None]) * 3 + phase)
    noise = rng.normal(0, 0.05, size=base.shape)
    img = np.clip((base + noise) * gain * np.asarray(tint), 0, 1)
    return np.round(img * 255).astype(np.uint8)


def test_rgb_lab_round_trip_error_below_1e4_on_random_colours() -> None:
    rgb = torch.rand(200_000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rgb = torch.cat([rgb, torch.eye(3, dtype=torch.float64), torch.zeros(1, 3, dtype=torch.float64)])
    assert (lab_to_rgb(rgb_to_lab(rgb)) - rgb).abs().max() < 1e-4
    rgb32 = rgb.float()
    back32 = lab_to_rgb(rgb_to_lab(rgb32))
    assert back32.dtype == torch.float32 and (back32 - rgb32).abs().max() < 1e-4


def test_rgb_to_lab_matches_standard_reference_values() -> None:
    rgb = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    expected = torch.tensor(
        [
            [100.0, 0.0, 0.0],
            [0.0, 0.0, 0.0],
            [53.2408, 80.0925, 67.2032],
            [87.7347, -86.1827, 83.1793],
            [32.2970, 79.1875, -107.8602],
        ]
    )
    assert torch.allclose(rgb_to_lab(rgb), expected, atol=0.02)


def test_rgb_to_lab_rejects_uint8_and_channel_first() -> None:
    with pytest.raises(TypeError):
        rgb_to_lab(torch.zeros(2, 3, dtype=torch.uint8))
    with pytest.raises(ValueError):
        rgb_to_lab(torch.zeros(3, 4, 4))


def test_transfer_to_own_stats_is_identity_before_quantisation() -> None:
    rgb = torch.from_numpy(_shifted_set(4, (1.0, 0.9, 0.7), 1.0, seed=1)).double() / 255
    mean, std = lab_stats((rgb * 255).round().to(torch.uint8))
    own_mean = rgb_to_lab(rgb).reshape(4, -1, 3).mean(1)
    own_std = rgb_to_lab(rgb).reshape(4, -1, 3).std(1, correction=0)
    out = lab_transfer_float(rgb, own_mean, own_std, eps=1e-6)
    assert (out - rgb).abs().max() < 1e-4
    # lab_stats of the uint8 images are the same statistics (they are the same images).
    assert torch.allclose(mean, own_mean, atol=1e-9) and torch.allclose(std, own_std, atol=1e-9)


def test_transferred_lab_mean_and_std_equal_reference_within_1_percent_before_clipping() -> None:
    rgb = torch.from_numpy(_shifted_set(5, (1.0, 0.8, 0.6), 0.9, seed=2)).double() / 255
    ref_mean = torch.tensor(
        [[55.0, 10.0, -20.0], [40.0, -5.0, 8.0], [70.0, 3.0, 3.0], [30.0, 1.0, -1.0], [60.0, -12.0, 25.0]],
        dtype=torch.float64,
    )
    ref_std = torch.tensor(
        [[15.0, 8.0, 12.0], [20.0, 4.0, 6.0], [5.0, 2.0, 2.0], [10.0, 1.0, 1.0], [12.0, 9.0, 7.0]],
        dtype=torch.float64,
    )
    out = lab_transfer_float(rgb, ref_mean, ref_std, clip=False)
    lab = rgb_to_lab(out).reshape(5, -1, 3)
    assert torch.allclose(lab.mean(1), ref_mean, rtol=0.01, atol=1e-6)
    assert torch.allclose(lab.std(1, correction=0), ref_std, rtol=0.01, atol=1e-6)
    # And the LAB-space step alone is exact.
    matched = match_lab_stats(rgb_to_lab(rgb), ref_mean, ref_std).reshape(5, -1, 3)
    assert torch.allclose(matched.mean(1), ref_mean, atol=1e-9)
    assert torch.allclose(matched.std(1, correction=0), ref_std, rtol=1e-6)


def test_flat_channel_maps_to_reference_mean_without_nan() -> None:
    grey = torch.full((1, 4, 4, 3), 0.5, dtype=torch.float64)
    lab = match_lab_stats(rgb_to_lab(grey), torch.tensor([60.0, 5.0, -5.0]), torch.tensor([10.0, 3.0, 3.0]))
    assert torch.isfinite(lab).all()
    assert torch.allclose(lab, torch.tensor([60.0, 5.0, -5.0], dtype=torch.float64).expand_as(lab), atol=1e-6)


def test_uint8_transfer_equals_rounded_clipped_float_transfer_and_keeps_container_type() -> None:
    images = _shifted_set(3, (0.7, 0.9, 1.0), 1.1, seed=3)
    ref_mean, ref_std = torch.tensor([45.0, -3.0, 10.0]), torch.tensor([18.0, 6.0, 9.0])
    out = lab_transfer(images, ref_mean, ref_std)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == images.shape
    expected = torch.round(
        lab_transfer_float(torch.from_numpy(images).double() / 255, ref_mean, ref_std) * 255
    )
    assert np.array_equal(out, expected.to(torch.uint8).numpy())
    out_t = lab_transfer(torch.from_numpy(images), ref_mean, ref_std)
    assert isinstance(out_t, torch.Tensor) and np.array_equal(out_t.numpy(), out)


def test_chunked_processing_gives_the_same_bytes_as_one_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    src = _shifted_set(7, (1.0, 0.8, 0.6), 0.8, seed=4)
    tgt = _shifted_set(5, (0.6, 0.8, 1.0), 1.0, seed=5)
    one_chunk, info_one = translate_to_target(src, tgt, "random_image", seed=0)
    monkeypatch.setattr(lab_mod, "_CHUNK_PIXELS", 32 * 48 * 2)  # two images per chunk, odd remainder
    chunked, info_chunked = translate_to_target(src, tgt, "random_image", seed=0)
    assert np.array_equal(one_chunk, chunked)
    assert info_one == pytest.approx(info_chunked)
    mean_small, std_small = lab_stats(src)
    monkeypatch.setattr(lab_mod, "_CHUNK_PIXELS", 1 << 24)  # everything in one chunk
    mean_big, std_big = lab_stats(src)
    assert torch.equal(mean_small, mean_big) and torch.equal(std_small, std_big)


@pytest.mark.parametrize("reference", ["random_image", "domain_mean"])
def test_both_references_reduce_mean_lab_distance_between_colour_shifted_sets(reference: str) -> None:
    source = _shifted_set(24, (1.0, 0.75, 0.5), 0.8, seed=6)  # dark, warm
    target = _shifted_set(16, (0.6, 0.85, 1.0), 1.1, seed=7)  # bright, cool
    out, info = translate_to_target(source, target, reference, seed=0)  # type: ignore[arg-type]
    assert out.shape == source.shape and out.dtype == np.uint8
    assert set(info) >= {"lab_mean_dist_before", "lab_mean_dist_after"}
    assert all(isinstance(v, float) for v in info.values())
    assert info["lab_mean_dist_before"] > 10.0
    assert info["lab_mean_dist_after"] < 0.25 * info["lab_mean_dist_before"]  # measured ≈ 0.17 (clipping)
    assert info["lab_std_dist_after"] < info["lab_std_dist_before"]


def test_translation_is_deterministic_given_the_seed() -> None:
    source = _shifted_set(10, (1.0, 0.75, 0.5), 0.8, seed=8)
    target = _shifted_set(6, (0.6, 0.85, 1.0), 1.1, seed=9)
    a, info_a = translate_to_target(source, target, "random_image", seed=3)
    b, info_b = translate_to_target(source, target, "random_image", seed=3)
    c, _ = translate_to_target(source, target, "random_image", seed=4)
    assert np.array_equal(a, b) and info_a == info_b
    assert not np.array_equal(a, c)
    assert np.array_equal(reference_indices(10, 6, 3), reference_indices(10, 6, 3))


def test_random_image_reference_uses_the_drawn_target_images_statistics() -> None:
    source = _shifted_set(6, (1.0, 0.75, 0.5), 0.8, seed=10)
    target = _shifted_set(4, (0.6, 0.85, 1.0), 1.1, seed=11)
    out, _ = translate_to_target(source, target, "random_image", seed=5)
    idx = reference_indices(6, 4, 5)
    t_mean, t_std = lab_stats(target)
    assert np.array_equal(out, lab_transfer(source, t_mean[idx], t_std[idx]))
    dm, _ = translate_to_target(source, target, "domain_mean", seed=5)
    assert np.array_equal(dm, lab_transfer(source, t_mean.mean(0), t_std.mean(0)))


def test_invalid_inputs_are_rejected() -> None:
    images = _shifted_set(2, (1.0, 1.0, 1.0), 1.0, seed=12)
    with pytest.raises(ValueError):
        translate_to_target(images, images, "nearest", seed=0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        lab_stats(images.astype(np.float32))
    with pytest.raises(ValueError):
        lab_stats(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    with pytest.raises(ValueError):
        lab_transfer(images, torch.zeros(3, 3), torch.ones(3))


def test_uint8_lookup_path_is_bit_identical_to_the_float_conversion() -> None:
    gen = torch.Generator().manual_seed(0)
    values = torch.arange(256, dtype=torch.uint8)
    every_level = torch.stack([values, values.flip(0), values[torch.randperm(256, generator=gen)]], dim=-1)
    random_colours = torch.randint(0, 256, (64, 64, 3), generator=gen, dtype=torch.uint8)
    grid = torch.cat([every_level[None].expand(64, 256, 3), random_colours], dim=1)
    assert torch.equal(lab_mod._uint8_to_lab(grid), rgb_to_lab(grid.double() / 255.0))


@pytest.mark.parametrize("reference", ["random_image", "domain_mean"])
def test_streamed_statistics_and_per_image_translation_equal_the_offline_translation(reference: str) -> None:
    source = _shifted_set(5, (1.2, 0.9, 0.7), 1.1, seed=11)
    target = _shifted_set(7, (0.8, 1.0, 1.2), 0.8, seed=12)
    tally = LabStatsTally()
    for k in range(0, 7, 3):  # the target pool, batch by batch
        tally.add(torch.from_numpy(target[k:k + 3]))
    mean, std = lab_stats(target)
    assert len(tally) == 7 and torch.equal(tally.means(), mean) and torch.equal(tally.stds(), std)
    ref_mean, ref_std = reference_stats(tally.means(), tally.stds(), 5, reference, seed=3)
    offline, _ = translate_to_target(source, target, reference, seed=3)
    on_the_fly = np.stack([translate_image(img, ref_mean[i].numpy(), ref_std[i].numpy()) for i, img in enumerate(source)])
    np.testing.assert_array_equal(on_the_fly, offline)
