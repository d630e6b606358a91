"""The degraded-image module (papers/uformer.md §8, §9 check 14, §10): seeded per image, prefixes, fixed
val/test noise, the measured input PSNR per σ, motion blur, and the SIDD / GoPro readers on fixtures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cvpapers.data.degraded import (
    clean_images,
    draw_degradation,
    fixed_degraded,
    gopro_manifest,
    motion_blur,
    motion_kernels,
    read_pair,
    sidd_manifest,
    write_gopro_fixture,
    write_sidd_fixture,
    write_sidd_mat_fixture,
)


def test_images_are_seeded_per_image_and_smaller_sets_are_prefixes() -> None:
    a = clean_images(3, "train", 6, 32)
    assert a.shape == (6, 32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(clean_images(3, "train", 6, 32), a), "same (seed, split, i) → same bytes"
    assert np.array_equal(clean_images(3, "train", 2, 32), a[:2])
    assert not np.array_equal(clean_images(3, "test", 2, 32), a[:2]), "splits never share an image"
    assert a.std() > 20, "textured images, not flat"


def test_fixed_val_test_noise_is_identical_across_calls_and_has_the_nominal_psnr() -> None:
    clean = clean_images(0, "test", 24, 32)
    a = fixed_degraded(clean, 0, "test", (15, 25, 50))
    b = fixed_degraded(clean[:4], 0, "test", (15, 25, 50))
    assert np.array_equal(a["noisy"][a["image"] < 4], b["noisy"]), "per-(image, σ) generators: prefixes agree"
    target = torch.from_numpy(a["clean"]).double() / 255
    mse = ((torch.from_numpy(a["noisy"]).double() - target) ** 2).flatten(1).mean(1).numpy()
    for s in (15, 25, 50):
        measured = 10 * np.log10(1 / mse[a["sigma"] == s].mean())
        assert abs(measured - 20 * math.log10(255 / s)) < 0.2, s


def test_training_noise_is_fresh_per_generator_and_within_the_sigma_range() -> None:
    x = torch.rand(64, 3, 16, 16)
    y1 = draw_degradation(x, "denoise", "gaussian", (10, 50), torch.Generator().manual_seed(1))
    y2 = draw_degradation(x, "denoise", "gaussian", (10, 50), torch.Generator().manual_seed(1))
    assert torch.equal(y1, y2)
    sigma = (y1 - x).flatten(1).std(1) * 255
    assert sigma.min() > 8 and sigma.max() < 53
    pg = draw_degradation(x, "denoise", "poisson_gaussian", (10, 50), torch.Generator().manual_seed(1))
    assert torch.isfinite(pg).all() and not torch.equal(pg, x)


def test_motion_kernels_are_normalised_lines_and_blur_each_image_with_its_own() -> None:
    k = motion_kernels(torch.tensor([3.0, 9.0]), torch.tensor([0.0, math.pi / 2]))
    assert torch.allclose(k.sum((1, 2)), torch.ones(2))

    def support(v: torch.Tensor) -> int:
        return int((v > 1e-6).sum())

    assert support(k[0].sum(0)) > 1 and support(k[0].sum(1)) == 1, "horizontal line"
    assert support(k[1].sum(1)) > 1 and support(k[1].sum(0)) == 1, "vertical line"
    x = torch.zeros(2, 3, 17, 17)
    x[:, :, 8, 8] = 1
    y = motion_blur(x, k)
    assert torch.allclose(y[0, 0, 4:13, 4:13], k[0].flip(0, 1), atol=1e-6)
    blurred = draw_degradation(
        torch.rand(4, 3, 16, 16), "deblur", "gaussian", (10, 50), torch.Generator().manual_seed(0)
    )
    assert blurred.shape == (4, 3, 16, 16)


def test_sidd_png_and_mat_layouts_are_read_as_pairs(tmp_path) -> None:
    root = write_sidd_fixture(tmp_path / "SIDD", n=3, size=64)
    m = sidd_manifest(root)
    assert (m["split"] == "train").sum() == 3 and (m["split"] == "test").sum() == 3
    pair = read_pair(m.iloc[0].to_dict())
    assert pair["input"].shape == (64, 64, 3) and pair["target"].dtype == np.uint8
    write_sidd_mat_fixture(root, images=2, blocks=2, size=32)
    m = sidd_manifest(root)
    test = m[m["split"] == "test"]
    assert len(test) == 4 and list(test["block"]) == [0, 1, 2, 3]
    block = read_pair(test.iloc[3].to_dict())
    assert block["input"].shape == (32, 32, 3) and not np.array_equal(block["input"], block["target"])


@pytest.mark.parametrize("original", [False, True])
def test_gopro_prepared_and_original_layouts(tmp_path, original: bool) -> None:
    root = write_gopro_fixture(tmp_path / "GoPro", n=3, size=64, original=original)
    m = gopro_manifest(root)
    assert sorted(m["split"].unique()) == ["test", "train"] and len(m) == 6
    assert ("blur" in m.iloc[0]["path"]) == original


def test_missing_pairs_name_the_expected_layout(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="paired PNGs"):
        sidd_manifest(tmp_path)
    with pytest.raises(FileNotFoundError, match="GOPRO_Large"):
        gopro_manifest(tmp_path)
