"""§9: SVD factorisation, the layer FLOPs formula and the single-unit losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cvpapers.pipelines.collab_compression.units import (
    LayerGeometry,
    channel_losses,
    factorise,
    information_loss,
    rank_losses,
    rank_units,
    svd,
    unfold,
)


def _conv(x, w):
    return F.conv2d(x, w.to(x.dtype), padding=1)


def test_full_rank_factorisation_reproduces_the_conv() -> None:
    torch.manual_seed(0)
    w, x = torch.randn(8, 4, 3, 3), torch.randn(2, 4, 6, 6)
    keep = torch.arange(4)
    a, b = factorise(w, keep, rank=rank_units(8, 4, 3))
    y = F.conv2d(_conv(x, a), b.to(x.dtype))
    assert (y - _conv(x, w)).abs().max() < 1e-4


def test_truncated_factorisation_equals_the_conv_with_the_rank_r_kernel() -> None:
    torch.manual_seed(1)
    w, x = torch.randn(8, 4, 3, 3, dtype=torch.float64), torch.randn(2, 4, 6, 6, dtype=torch.float64)
    keep = torch.tensor([0, 2, 3])
    a, b = factorise(w, keep, rank=3)
    u, s, vh = svd(w[:, keep].reshape(8, -1), keep=3)
    truncated = (u * s @ vh).reshape(8, 3, 3, 3)
    y = F.conv2d(F.conv2d(x[:, keep], a, padding=1), b)
    assert (y - F.conv2d(x[:, keep], truncated, padding=1)).abs().max() < 1e-10


def test_layer_flops_formula_and_negative_ratio_of_the_first_rank_removal() -> None:
    geom = LayerGeometry(n=64, c=64, k=3, hw=64, rank=rank_units(64, 64, 3))
    assert geom.flops_at(0, 0) == 2_359_296
    assert geom.flops_at(0, 1) == 63 * (576 + 64) * 64 == 2_580_480
    assert (geom.flops - geom.flops_at(0, 1)) / geom.flops < 0  # dropped from the fit
    assert geom.flops_at(3, 0) == 64 * 61 * 9 * 64
    assert geom.max_unit_flops() == (576 + 64) * 64


def test_rank_count_and_its_compatibility_flag() -> None:
    assert rank_units(64, 16, 3) == 64 and rank_units(64, 16, 3, compat=True) == 48
    assert rank_units(16, 16, 3) == rank_units(16, 16, 3, compat=True) == 16


def test_single_unit_losses_equal_the_loss_of_removing_that_unit() -> None:
    torch.manual_seed(2)
    w, g = torch.randn(6, 5, 3, 3, dtype=torch.float64), torch.randn(6, 5, 3, 3, dtype=torch.float64)
    m, gm = unfold(w), unfold(g)
    for j, loss in enumerate(channel_losses(m, gm, 9).tolist()):
        zeroed = w.clone()
        zeroed[:, j] = 0
        assert loss == pytest.approx(information_loss(zeroed, w, g), rel=1e-12)
    u, s, vh = svd(m)
    for t, loss in enumerate(rank_losses(u, s, vh, gm).tolist()):
        without = (m - s[t] * torch.outer(u[:, t], vh[t])).reshape_as(w)
        assert loss == pytest.approx(information_loss(without, w, g), rel=1e-10)
