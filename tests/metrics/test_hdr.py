"""HDR metrics (papers/fhdrnet.md §3.7, §9.6, §11 SSIM data_range)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view

from cvpapers.metrics.hdr import hdr_metrics, mu_law, psnr, ssim, ssim_dr2


def _images(b: int = 2, c: int = 3, h: int = 16, w: int = 20, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _noisy(x: torch.Tensor, sigma: float, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g, dtype=x.dtype)).clamp(0, 1)


def _ssim_reference(x: np.ndarray, y: np.ndarray, data_range: float, win: int = 7) -> float:
    """skimage's SSIM for one H×W×C image, written from the formula without filters or loops: every
    valid 7×7 window as an explicit sample, per-window means and ddof=1 (co)variances, then the mean
    over windows of each channel and over channels."""
    wx = sliding_window_view(x, (win, win), axis=(0, 1)).reshape(-1, x.shape[-1], win * win)
    wy = sliding_window_view(y, (win, win), axis=(0, 1)).reshape(-1, y.shape[-1], win * win)
    mx, my = wx.mean(axis=-1), wy.mean(axis=-1)
    vx, vy = wx.var(axis=-1, ddof=1), wy.var(axis=-1, ddof=1)
    cxy = ((wx - mx[..., None]) * (wy - my[..., None])).sum(axis=-1) / (win * win - 1)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(s.mean(axis=0).mean())


# --- μ-law -------------------------------------------------------------------------------------------


def test_mu_law_maps_0_to_0_and_1_to_1() -> None:
    out = mu_law(torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert out[0].item() == 0.0
    assert out[1].item() == pytest.approx(1.0, abs=1e-12)


def test_mu_law_is_strictly_increasing_and_matches_formula() -> None:
    x = torch.linspace(0, 1, 1001, dtype=torch.float64)
    t = mu_law(x, mu=5000.0)
    assert torch.all(t[1:] > t[:-1])
    assert torch.allclose(t, torch.log(1 + 5000 * x) / math.log(1 + 5000), atol=1e-12)


# --- PSNR --------------------------------------------------------------------------------------------


def test_psnr_of_identical_images_is_inf() -> None:
    x = _images()
    out = psnr(x, x.clone())
    assert out.shape == (2,)
    assert torch.isinf(out).all() and (out > 0).all()


def test_psnr_of_known_mse_equals_hand_value() -> None:
    target = torch.full((2, 3, 8, 8), 0.5, dtype=torch.float64)
    pred = target + torch.tensor([0.1, 0.01], dtype=torch.float64).view(2, 1, 1, 1)  # MSE 1e-2, 1e-4
    assert torch.allclose(psnr(pred, target), torch.tensor([20.0, 40.0], dtype=torch.float64))
    assert psnr(pred, target, peak=2.0)[0].item() == pytest.approx(10 * math.log10(4 / 1e-2))


def test_masked_psnr_uses_only_masked_pixels_all_channels() -> None:
    target = torch.zeros(1, 3, 6, 6, dtype=torch.float64)
    mask = torch.zeros(1, 6, 6, dtype=torch.bool)
    mask[0, 1:3, 2:5] = True
    pred = torch.full_like(target, 0.9)  # large error outside the mask
    pred[:, 0][mask] = 0.1  # inside: errors 0.1, 0.2, 0.3 in the three channels
    pred[:, 1][mask] = 0.2
    pred[:, 2][mask] = 0.3
    expected = 10 * math.log10(1 / ((0.01 + 0.04 + 0.09) / 3))
    assert psnr(pred, target, mask=mask).item() == pytest.approx(expected)
    assert psnr(pred, target, mask=mask.float()).item() == pytest.approx(expected)  # 0/1 float mask


def test_masked_psnr_is_nan_for_an_empty_mask_only() -> None:
    x = _images(b=2)
    mask = torch.zeros(2, 16, 20, dtype=torch.bool)
    mask[1, :4, :4] = True
    out = psnr(_noisy(x, 0.05), x, mask=mask)
    assert math.isnan(out[0].item()) and math.isfinite(out[1].item())


# --- SSIM --------------------------------------------------------------------------------------------


def test_ssim_of_identical_images_is_one() -> None:
    x = _images()
    assert torch.allclose(ssim(x, x.clone()), torch.ones(2, dtype=torch.float64), atol=1e-12)


def test_ssim_decreases_with_noise() -> None:
    x = _images()
    values = [ssim(_noisy(x, s), x) for s in (0.01, 0.05, 0.2)]
    assert torch.all(values[0] > values[1]) and torch.all(values[1] > values[2])
    assert torch.all(values[0] < 1)


def test_ssim_of_constant_7x7_images_equals_luminance_formula() -> None:
    # One window, zero variances: SSIM = (2ab + C1) / (a² + b² + C1), C1 = (0.01·R)².
    a, b = 0.2, 0.4
    x = torch.full((1, 1, 7, 7), a, dtype=torch.float64)
    y = torch.full((1, 1, 7, 7), b, dtype=torch.float64)
    for r in (1.0, 2.0):
        c1 = (0.01 * r) ** 2
        assert ssim(x, y, data_range=r).item() == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1))


@pytest.mark.parametrize("data_range", [1.0, 2.0])
def test_ssim_equals_straightforward_skimage_formula(data_range: float) -> None:
    x = _images(b=2, c=3, h=9, w=11, seed=3)
    y = _noisy(x, 0.1, seed=4)
    ours = ssim(x, y, data_range=data_range)
    for i in range(2):
        ref = _ssim_reference(
            x[i].permute(1, 2, 0).numpy(), y[i].permute(1, 2, 0).numpy(), data_range=data_range
        )
        assert ours[i].item() == pytest.approx(ref, abs=1e-12)


def test_ssim_accepts_float32_and_rejects_images_smaller_than_the_window() -> None:
    x = _images().float()
    assert ssim(_noisy(x, 0.05), x).dtype == torch.float64
    with pytest.raises(ValueError, match="≥ 7"):
        ssim(torch.zeros(1, 3, 6, 10), torch.zeros(1, 3, 6, 10))


def test_ssim_dr2_is_at_least_ssim_on_noisy_images() -> None:
    x = _images()
    y = _noisy(x, 0.1)
    assert torch.all(ssim_dr2(y, x) >= ssim(y, x))
    assert torch.allclose(ssim_dr2(y, x), ssim(y, x, data_range=2.0))


# --- hdr_metrics -------------------------------------------------------------------------------------


KEYS = {"psnr_mu", "psnr_l", "ssim_mu", "ssim_l", "ssim_mu_dr2", "ghost_psnr_mu"}


def test_hdr_metrics_keys_shapes_and_definitions() -> None:
    target = _images(b=3) ** 3  # HDR-like: mostly dark values
    pred = _noisy(target, 0.02)
    mask = torch.zeros(3, 16, 20, dtype=torch.bool)
    mask[:, 4:10, 5:12] = True
    out = hdr_metrics(pred, target, mask=mask)
    assert set(out) == KEYS
    assert all(v.shape == (3,) for v in out.values())
    tp, tt = mu_law(pred), mu_law(target)
    assert torch.allclose(out["psnr_mu"], psnr(tp, tt))
    assert torch.allclose(out["psnr_l"], psnr(pred, target))
    assert torch.allclose(out["ssim_mu"], ssim(tp, tt))
    assert torch.allclose(out["ssim_l"], ssim(pred, target))
    assert torch.allclose(out["ssim_mu_dr2"], ssim_dr2(tp, tt))
    assert torch.allclose(out["ghost_psnr_mu"], psnr(tp, tt, mask=mask))


def test_hdr_metrics_ghost_psnr_is_nan_for_empty_or_missing_mask() -> None:
    target = _images(b=2) ** 3
    pred = _noisy(target, 0.02)
    mask = torch.zeros(2, 16, 20, dtype=torch.bool)
    mask[0, 2:6, 2:6] = True
    out = hdr_metrics(pred, target, mask=mask)
    assert math.isfinite(out["ghost_psnr_mu"][0].item()) and math.isnan(out["ghost_psnr_mu"][1].item())
    out_none = hdr_metrics(pred, target)
    assert set(out_none) == KEYS and torch.isnan(out_none["ghost_psnr_mu"]).all()
    assert all(torch.isfinite(v).all() for k, v in out_none.items() if k != "ghost_psnr_mu")
