"""Classical HDR references of eval_classical (papers/fhdrnet.md §7 node 3, §3.3)."""

from __future__ import annotations

import pytest
import torch

from cvpapers.pipelines.fhdrnet.classical import hdr_domain, naive_merge, reference_only, triangle_weight

GAMMA = 2.2


def _capture(hdr: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    """Noise-free, unquantised LDR frames L_i = clip(H·t_i)^(1/γ) of a static scene: N×3×C×H×W."""
    return (hdr[:, None] * times[:, :, None, None, None]).clamp(0, 1).pow(1 / GAMMA)


def test_both_merges_return_the_true_hdr_for_well_exposed_static_frames() -> None:
    g = torch.Generator().manual_seed(0)
    times = torch.tensor([[1.0, 4.0, 16.0], [1.0, 8.0, 64.0]], dtype=torch.float64)
    # Radiance low enough that even the long frame stays below 0.99 and above 0 in every channel.
    hdr = (0.05 + 0.9 * torch.rand(2, 3, 8, 10, generator=g, dtype=torch.float64)) * 0.97**GAMMA
    hdr = hdr / times[:, -1].view(2, 1, 1, 1)
    ldr = _capture(hdr, times)
    assert ldr.max() < 0.99 and ldr.min() > 0
    assert torch.allclose(hdr_domain(ldr, times, GAMMA), hdr[:, None].expand(-1, 3, -1, -1, -1), rtol=1e-10)
    for merge in (reference_only, naive_merge):
        out = merge(ldr, times, GAMMA)
        assert out.shape == hdr.shape
        assert torch.allclose(out, hdr, rtol=1e-10, atol=0)


def test_reference_only_takes_the_short_frame_where_the_reference_saturates() -> None:
    times = torch.tensor([1.0, 4.0, 16.0])  # shared by all scenes
    ldr = torch.full((1, 3, 3, 4, 4), 0.5)
    ldr[0, 0] = 0.6  # short frame, distinguishable from the reference
    ldr[0, 1, 1, 2, 3] = 0.995  # one channel of the reference clips at (2, 3): the whole pixel is replaced
    out = reference_only(ldr, times, GAMMA)
    h1, h2 = 0.6**GAMMA / 1.0, 0.5**GAMMA / 4.0
    expected = torch.full((1, 3, 4, 4), h2)
    expected[0, :, 2, 3] = h1
    assert torch.allclose(out, expected)
    # A lower threshold marks every pixel as saturated.
    assert torch.allclose(reference_only(ldr, times, GAMMA, saturation=0.4), torch.full_like(out, h1))


def test_naive_merge_is_the_hat_weighted_average_on_a_hand_checked_pixel() -> None:
    times = torch.tensor([[1.0, 4.0, 16.0]])
    ldr = torch.full((1, 3, 1, 2, 2), 0.5, dtype=torch.float64)
    ldr[0, :, 0, 0, 0] = torch.tensor([0.25, 0.5, 0.9], dtype=torch.float64)
    out = naive_merge(ldr, times, GAMMA)
    w = [0.5, 1.0, 0.2]  # 1 − |2L − 1|
    h = [0.25**GAMMA / 1, 0.5**GAMMA / 4, 0.9**GAMMA / 16]
    expected = sum(wi * hi for wi, hi in zip(w, h)) / sum(w)
    assert out[0, 0, 0, 0].item() == pytest.approx(expected, rel=1e-12)
    assert torch.allclose(triangle_weight(ldr[0, :, 0, 0, 0]), torch.tensor(w, dtype=torch.float64))


def test_naive_merge_shows_ghosts_and_falls_back_to_reference_at_zero_weight() -> None:
    times = torch.tensor([1.0, 4.0, 16.0])
    ldr = torch.full((1, 3, 1, 1, 3), 0.5)
    ldr[0, 2, 0, 0, 1] = 0.2  # an object present only in the long frame leaks into the merge (ghost)
    ldr[0, :, 0, 0, 2] = 1.0  # clipped in every frame: all weights 0 → H_2
    out = naive_merge(ldr, times, GAMMA)
    ref = reference_only(ldr, times, GAMMA, saturation=1.1)  # pure H_2
    assert not torch.isclose(out[0, 0, 0, 1], ref[0, 0, 0, 1])
    assert out[0, 0, 0, 2].item() == pytest.approx(1.0 / 4.0)
    assert torch.isfinite(out).all()


def test_outputs_are_clipped_to_unit_range() -> None:
    times = torch.tensor([0.1, 0.2, 0.4])  # t < 1 pushes H above 1
    ldr = torch.full((2, 3, 3, 4, 4), 0.8)
    for merge in (reference_only, naive_merge):
        out = merge(ldr, times, GAMMA)
        assert out.shape == (2, 3, 4, 4) and out.max() <= 1.0 and out.min() >= 0.0


def test_bad_shapes_raise() -> None:
    with pytest.raises(ValueError, match="three exposures"):
        naive_merge(torch.zeros(1, 2, 3, 4, 4), torch.ones(1, 2), GAMMA)
    with pytest.raises(ValueError, match="times"):
        reference_only(torch.zeros(2, 3, 3, 4, 4), torch.ones(3, 3), GAMMA)
