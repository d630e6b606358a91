"""FHDRNet loss: μ-law L1 + 0.25·Sobel L1 (papers/fhdrnet.md §3.5, §9.6)."""

from __future__ import annotations

import math

import pytest
import torch

from cvpapers.metrics.hdr import mu_law
from cvpapers.pipelines.fhdrnet.loss import mu_sobel_loss, sobel_xy

MU = 5000.0


def _inverse_mu_law(t: torch.Tensor) -> torch.Tensor:
    return torch.expm1(t * math.log1p(MU)) / MU


def _hdr(shape: tuple[int, ...] = (2, 3, 16, 16), seed: int = 0) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) ** 3


def test_loss_is_zero_when_prediction_equals_target() -> None:
    h = _hdr()
    loss, parts = mu_sobel_loss(h, h.clone())
    assert loss.item() == 0.0
    assert {k: float(v) for k, v in parts.items()} == {"l1_mu": 0.0, "sobel": 0.0}


def test_loss_is_non_negative_and_combines_its_parts() -> None:
    h = _hdr()
    for seed in range(3):
        pred = _hdr(seed=seed + 10)
        loss, parts = mu_sobel_loss(pred, h, sobel_weight=0.25)
        assert loss.item() >= 0 and parts["l1_mu"] > 0 and parts["sobel"] > 0
        assert loss.item() == pytest.approx(float(parts["l1_mu"] + 0.25 * parts["sobel"]))
        assert float(parts["l1_mu"]) == pytest.approx((mu_law(pred) - mu_law(h)).abs().mean().item())


def test_sobel_kernels_are_the_spec_kernels_depthwise() -> None:
    x = torch.zeros(1, 2, 5, 5, dtype=torch.float64)
    x[0, 1, 2, 2] = 1.0  # an impulse in channel 1 only
    gx, gy = sobel_xy(x)
    assert torch.all(gx[0, 0] == 0) and torch.all(gy[0, 0] == 0)  # depthwise: no channel mixing
    sx = torch.tensor([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]], dtype=torch.float64)
    # Cross-correlation of an impulse gives the kernel flipped about its centre.
    assert torch.equal(gx[0, 1, 1:4, 1:4], sx.flip(0, 1))
    assert torch.equal(gy[0, 1, 1:4, 1:4], sx.t().flip(0, 1))


def test_sobel_term_of_a_constant_offset_is_only_the_zero_padding_border() -> None:
    # T(pred) = T(target) + c everywhere: the interior gradient is unchanged; with zero padding 1 only
    # the border responds: |Sx| = 4c along top/bottom rows (3c at corners) → Σ|Sx| = c(8W − 4), Σ|Sy| = c(8H − 4).
    b, ch, h, w, c = 2, 3, 16, 20, 0.05
    target = _hdr((b, ch, h, w))
    pred = _inverse_mu_law(mu_law(target) + c)
    _, parts = mu_sobel_loss(pred, target)
    assert float(parts["l1_mu"]) == pytest.approx(c)
    assert float(parts["sobel"]) == pytest.approx(c * ((8 * w - 4) + (8 * h - 4)) / (h * w))
    gp, gt = sobel_xy(mu_law(pred)), sobel_xy(mu_law(target))
    for a, b_ in zip(gp, gt):
        assert torch.allclose(a[..., 1:-1, 1:-1], b_[..., 1:-1, 1:-1], atol=1e-10)


def test_sobel_term_responds_to_an_edge_shift() -> None:
    # A vertical step edge moved by one pixel: small L1 (one column differs), large gradient error.
    h, w = 16, 20
    target_t = torch.zeros(1, 1, h, w, dtype=torch.float64)
    target_t[..., 10:] = 0.8
    shifted_t = torch.zeros_like(target_t)
    shifted_t[..., 11:] = 0.8
    offset_t = target_t + 0.8 / w  # same L1 as the shift, but a constant offset
    _, shift = mu_sobel_loss(_inverse_mu_law(shifted_t), _inverse_mu_law(target_t))
    _, offset = mu_sobel_loss(_inverse_mu_law(offset_t), _inverse_mu_law(target_t))
    assert shift["l1_mu"] == pytest.approx(offset["l1_mu"])
    # Interior rows: |Sy| = 4·0.8 in the two columns beside the moved column → 8·0.8/W from Sy alone.
    assert shift["sobel"] >= 8 * 0.8 / w * (h - 2) / h
    assert shift["sobel"] > 5 * offset["sobel"]


def test_loss_gradients_are_finite() -> None:
    target = _hdr().float()
    pred = torch.rand_like(target).requires_grad_(True)
    with torch.no_grad():
        pred[0, 0, 0, 0] = 0.0  # μ-law's steepest point
    loss, _ = mu_sobel_loss(pred, target)
    loss.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_loss_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        mu_sobel_loss(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
