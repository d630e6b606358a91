"""One-level orthonormal 2-D Haar wavelet transform as convolutions (papers/fhdrnet.md §3.2).

FHDRNet down-samples with a Haar DWT and up-samples with its inverse. The official code builds banded
matrices on every call and multiplies ``L·X·Lᵀ`` with a hand-written backward; here the same transform is
a depthwise stride-2 2×2 convolution (and ``conv_transpose2d`` with the same kernels for the inverse):
exact, device/dtype agnostic, differentiable by autograd and much faster on CPU.

For every non-overlapping 2×2 block ``[[a, b], [c, d]]`` of each channel::

    LL = (a + b + c + d) / 2     (PyWavelets cA)
    LH = (a - b + c - d) / 2     (low-pass along height, high-pass along width = PyWavelets cV)
    HL = (a + b - c - d) / 2     (high-pass along height = PyWavelets cH)
    HH = (a - b - c + d) / 2     (PyWavelets cD)

The four kernels form an orthonormal basis of the 2×2 block, so the transform preserves energy and its
transpose (the ``conv_transpose2d`` with the same kernels) is its exact inverse.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvpapers.engine.device import device_constant

__all__ = ["HaarDWT", "HaarIDWT", "haar_dwt", "haar_idwt"]

# Rows index height, columns width; order (LL, LH, HL, HH) is the layer's output order.
_HAAR_KERNELS: tuple[tuple[tuple[float, float], tuple[float, float]], ...] = (
    ((0.5, 0.5), (0.5, 0.5)),  # LL
    ((0.5, -0.5), (0.5, -0.5)),  # LH (cV)
    ((0.5, 0.5), (-0.5, -0.5)),  # HL (cH)
    ((0.5, -0.5), (-0.5, 0.5)),  # HH (cD)
)


def _filters(channels: int, like: Tensor) -> Tensor:
    """Depthwise filter bank ``(4·C, 1, 2, 2)``: the four Haar kernels repeated once per channel, on the
    input's device and dtype (CPU, CUDA, meta, float64 for gradcheck), with no module state."""
    return _filter_bank(channels, like.dtype, like.device)


@device_constant
def _filter_bank(channels: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    base = torch.tensor(_HAAR_KERNELS, dtype=dtype, device=device).unsqueeze(1)  # 4×1×2×2
    return base.repeat(channels, 1, 1, 1)


def haar_dwt(x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One level of the orthonormal Haar DWT of every channel of ``x`` (B×C×H×W).

    Returns ``(LL, LH, HL, HH)``, each B×C×H/2×W/2. H and W must be even: an odd size has no
    non-overlapping 2×2 tiling, and silently cropping would make the inverse lose a row/column.
    """
    if x.dim() != 4:
        raise ValueError(f"haar_dwt expects a B×C×H×W tensor, got shape {tuple(x.shape)}")
    b, c, h, w = x.shape
    if h % 2 or w % 2:
        raise ValueError(f"haar_dwt needs even height and width, got H={h}, W={w}")
    y = F.conv2d(x, _filters(c, x), stride=2, groups=c)  # B×4C×H/2×W/2, grouped per input channel
    ll, lh, hl, hh = y.view(b, c, 4, h // 2, w // 2).unbind(dim=2)
    return ll, lh, hl, hh


def haar_idwt(ll: Tensor, lh: Tensor | None, hl: Tensor | None, hh: Tensor | None) -> Tensor:
    """Inverse of :func:`haar_dwt`: rebuild the B×C×2h×2w signal from the four B×C×h×w sub-bands.

    ``None`` for *all three* high bands means "zero detail": the inverse then reduces exactly to
    nearest-neighbour up-sampling × ½, which is what the FHDRNet no-high-frequency ablation needs
    without allocating zero tensors.
    """
    if ll.dim() != 4:
        raise ValueError(f"haar_idwt expects B×C×h×w sub-bands, got LL of shape {tuple(ll.shape)}")
    highs = (lh, hl, hh)
    if all(band is None for band in highs):
        return 0.5 * F.interpolate(ll, scale_factor=2.0, mode="nearest")
    if any(band is None for band in highs):
        raise ValueError("haar_idwt: give all three high bands or none of them")
    bands: list[Tensor] = [ll, *highs]  # type: ignore[list-item]  # all present, checked above
    shapes = [tuple(band.shape) for band in bands]
    if any(s != shapes[0] for s in shapes[1:]):  # no set(): symbolic sizes of an export trace do not hash
        raise ValueError(f"haar_idwt: all sub-bands must have one shape, got {shapes}")
    b, c, h, w = ll.shape
    stacked = torch.stack(bands, dim=2).reshape(b, 4 * c, h, w)  # interleave (LL, LH, HL, HH) per channel
    return F.conv_transpose2d(stacked, _filters(c, ll), stride=2, groups=c)


class HaarDWT(nn.Module):
    """Module form of :func:`haar_dwt` (no parameters), so it shows in model summaries and hooks."""

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return haar_dwt(x)


class HaarIDWT(nn.Module):
    """Module form of :func:`haar_idwt` (no parameters); hooks on it can replace the detail bands."""

    def forward(self, ll: Tensor, lh: Tensor | None, hl: Tensor | None, hh: Tensor | None) -> Tensor:
        return haar_idwt(ll, lh, hl, hh)
