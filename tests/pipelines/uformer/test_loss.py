"""Charbonnier (§3.5, §9 check 10)."""

from __future__ import annotations

import torch

from cvpapers.pipelines.uformer.loss import charbonnier


def test_charbonnier_is_at_least_eps_and_equals_eps_at_the_target() -> None:
    y = torch.rand(2, 3, 8, 8)
    assert charbonnier(y, y, 1e-3).item() == torch.tensor(1e-3).item()
    assert charbonnier(y + 0.1 * torch.randn_like(y), y, 1e-3) >= 1e-3


def test_charbonnier_gradient_is_the_normalised_difference() -> None:
    x, y = torch.randn(4, 5, dtype=torch.float64, requires_grad=True), torch.randn(4, 5, dtype=torch.float64)
    charbonnier(x, y, 1e-3).backward()
    d = x.detach() - y
    assert torch.allclose(x.grad, d / torch.sqrt(d * d + 1e-6) / d.numel())
