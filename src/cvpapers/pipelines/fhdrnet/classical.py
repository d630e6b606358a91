"""Two classical HDR references for the ``eval_classical`` node (``fhdrnet.md`` §7 node 3).

They bracket what a learned fusion must do. ``reference_only`` never ghosts (it uses the reference
frame, plus the short frame only where the reference is clipped) but keeps the reference's noise and
its clipped regions' motion; ``naive_merge`` uses every frame's well-exposed information but has no
motion handling, so moving objects appear several times (ghosts) — §8 requires every learned model to
beat it by a wide margin inside the motion mask.

Both work on the HDR-domain frames of §3.3, ``H_i = L_i^γ / t_i`` (linearise the LDR value, divide by
the relative exposure time ``t_i`` with ``t_1 = 1``), which brings all frames to the scale of the
ground truth. Frame order is short, reference (medium), long; indices 0, 1, 2 below. Inputs:
``ldr`` N×3×C×H×W in [0, 1], ``times`` N×3 (or 3, shared by all scenes). Outputs: N×C×H×W clipped to
[0, 1], the range of the (max-normalised) ground truth.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["hdr_domain", "naive_merge", "reference_only", "triangle_weight"]

REF = 1  # index of the reference (medium) exposure


def hdr_domain(ldr: Tensor, times: Tensor, gamma: float) -> Tensor:
    """``H_i = L_i^γ / t_i`` for all frames at once: N×3×C×H×W from N×3×C×H×W LDR and N×3 times."""
    if ldr.ndim != 5 or ldr.shape[1] != 3:
        raise ValueError(f"ldr must be N×3×C×H×W (three exposures), got {tuple(ldr.shape)}")
    times = torch.as_tensor(times, dtype=ldr.dtype, device=ldr.device)
    if times.shape not in {(3,), (ldr.shape[0], 3)}:
        raise ValueError(f"times must be N×3 or (3,), got {tuple(times.shape)} for ldr {tuple(ldr.shape)}")
    return ldr.pow(gamma) / times.reshape(-1, 3, 1, 1, 1)


def triangle_weight(ldr: Tensor) -> Tensor:
    """Hat weight ``w(L) = 1 − |2L − 1|``: 1 at mid-grey, 0 at black (noise) and white (clipping)."""
    return 1.0 - (2.0 * ldr - 1.0).abs()


def reference_only(ldr: Tensor, times: Tensor, gamma: float, saturation: float = 0.99) -> Tensor:
    """The reference's HDR frame ``H_2``, with pixels saturated in the reference replaced by ``H_1``.

    A pixel is saturated when *any* channel of the reference LDR is ≥ ``saturation`` (a clipped channel
    also corrupts the pixel's colour), and then all its channels come from the short frame, which in
    Kalantari-style data never saturates. No other frame is used, hence no ghosts outside highlights.
    """
    h = hdr_domain(ldr, times, gamma)
    saturated = (ldr[:, REF] >= saturation).any(dim=1, keepdim=True)  # N×1×H×W
    return torch.where(saturated, h[:, 0], h[:, REF]).clamp(0.0, 1.0)


def naive_merge(ldr: Tensor, times: Tensor, gamma: float) -> Tensor:
    """Per-pixel, per-channel triangle-weighted average of the three HDR frames, no motion handling.

    ``Σ_i w(L_i)·H_i / Σ_i w(L_i)`` with the hat weight of :func:`triangle_weight`, the textbook
    Debevec-style merge for a static scene. Where all three weights are zero (every frame black or
    white in that channel) the average is undefined and the reference ``H_2`` is used instead.
    """
    h = hdr_domain(ldr, times, gamma)
    w = triangle_weight(ldr)
    total = w.sum(dim=1)
    merged = (w * h).sum(dim=1) / torch.where(total > 0, total, torch.ones_like(total))
    return torch.where(total > 0, merged, h[:, REF]).clamp(0.0, 1.0)
