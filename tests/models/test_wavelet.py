"""Invariants of the conv-based Haar DWT/IDWT (papers/fhdrnet.md §3.2, §9.1–9.2)."""

from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch

from cvpapers.models.wavelet import HaarDWT, HaarIDWT, haar_dwt, haar_idwt


def _rand(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_dwt_bands_equal_pywavelets_ca_cv_ch_cd() -> None:
    x = _rand(2, 3, 8, 12)
    ll, lh, hl, hh = haar_dwt(x)
    ca, (ch, cv, cd) = pywt.dwt2(x.numpy().astype(np.float64), "haar")  # axes (-2, -1)
    for ours, ref in ((ll, ca), (lh, cv), (hl, ch), (hh, cd)):
        assert ours.shape == (2, 3, 4, 6)
        np.testing.assert_allclose(ours.numpy(), ref, atol=1e-5, rtol=0)


def test_dwt_matches_the_closed_form_on_one_block() -> None:
    a, b, c, d = 1.0, 2.0, 3.0, 5.0
    x = torch.tensor([[[[a, b], [c, d]]]])
    bands = [t.item() for t in haar_dwt(x)]
    assert bands == [(a + b + c + d) / 2, (a - b + c - d) / 2, (a + b - c - d) / 2, (a - b - c + d) / 2]


def test_idwt_of_dwt_reconstructs_the_input_exactly() -> None:
    x = _rand(3, 5, 16, 10, seed=1)
    torch.testing.assert_close(haar_idwt(*haar_dwt(x)), x, atol=1e-5, rtol=0)
    # and the other way round: the transform is a bijection on band tuples too
    bands = tuple(_rand(1, 2, 4, 4, seed=s) for s in range(4))
    for got, want in zip(haar_dwt(haar_idwt(*bands)), bands, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_dwt_preserves_energy_orthonormal() -> None:
    x = _rand(2, 4, 12, 8, seed=2, dtype=torch.float64)
    energy_bands = sum(float((band**2).sum()) for band in haar_dwt(x))
    assert energy_bands == pytest.approx(float((x**2).sum()), rel=1e-12)


def test_constant_image_has_zero_high_bands_and_ll_twice_the_constant() -> None:
    x = torch.full((1, 3, 6, 6), 0.7)
    ll, lh, hl, hh = haar_dwt(x)
    torch.testing.assert_close(ll, torch.full_like(ll, 1.4))
    for band in (lh, hl, hh):
        assert torch.count_nonzero(band) == 0


def test_idwt_with_no_high_bands_is_nearest_upsampling_times_half() -> None:
    ll = _rand(2, 3, 4, 5, seed=3)
    zeros = torch.zeros_like(ll)
    fast = haar_idwt(ll, None, None, None)
    torch.testing.assert_close(fast, haar_idwt(ll, zeros, zeros, zeros), atol=0, rtol=0)
    torch.testing.assert_close(fast, 0.5 * ll.repeat_interleave(2, -2).repeat_interleave(2, -1))
    with pytest.raises(ValueError, match="all three high bands or none"):
        haar_idwt(ll, zeros, None, None)


def test_dwt_and_idwt_pass_autograd_gradcheck_in_float64() -> None:
    x = _rand(1, 2, 4, 6, seed=4, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(haar_dwt, (x,))
    bands = tuple(_rand(1, 2, 2, 3, seed=5 + s, dtype=torch.float64).requires_grad_() for s in range(4))
    assert torch.autograd.gradcheck(haar_idwt, bands)


@pytest.mark.parametrize("shape", [(1, 1, 5, 4), (1, 1, 4, 7), (2, 3, 9, 9)])
def test_odd_height_or_width_raises_a_clear_value_error(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="even height and width"):
        haar_dwt(torch.zeros(shape))


def test_idwt_rejects_mismatched_band_shapes() -> None:
    ll = torch.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match="one shape"):
        haar_idwt(ll, ll, ll, torch.zeros(1, 2, 4, 5))


def test_dwt_keeps_dtype_and_works_on_meta_device() -> None:
    x64 = _rand(1, 2, 4, 4, dtype=torch.float64)
    assert all(band.dtype == torch.float64 for band in haar_dwt(x64))
    meta = torch.empty(2, 3, 8, 8, device="meta")
    bands = haar_dwt(meta)
    assert all(band.device.type == "meta" and band.shape == (2, 3, 4, 4) for band in bands)
    assert haar_idwt(*bands).shape == (2, 3, 8, 8)


def test_modules_wrap_the_functions_without_parameters() -> None:
    x = _rand(2, 3, 8, 8, seed=6)
    dwt, idwt = HaarDWT(), HaarIDWT()
    assert not list(dwt.parameters()) and not list(idwt.parameters())
    for got, want in zip(dwt(x), haar_dwt(x), strict=True):
        torch.testing.assert_close(got, want, atol=0, rtol=0)
    torch.testing.assert_close(idwt(*dwt(x)), x, atol=1e-5, rtol=0)
