"""The official FHDRNet's wavelet layers, rebuilt for the step benchmark (``step_speed.py --models fhdrnet_official``).

The official code (``TianhongDai/wavelet-hdr``, layers from WaveCNet) computes the Haar DWT as products with
banded matrices, ``LL = L_h · X · L_wᵀ`` etc., rebuilding the matrices with Python loops on every call and
moving them to the device; its backward (written by hand there) is the transposed products, which autograd
derives here. This file re-implements that definition from papers/fhdrnet.md §3.2 so the project's FHDRNet
can be timed against the official model on the same input: :func:`officialise` swaps the project's
convolutional DWT/IDWT modules of a built FHDRNet for these, leaving every weight as it is (the outputs agree to
float rounding, ``tests/benchmarks/test_official_dwt.py``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn


def _banded(n: int, taps: tuple[float, float]) -> np.ndarray:
    """(n/2 × n): row i holds ``taps`` at columns 2i, 2i+1 (built row by row, as the official layer does)."""
    m = np.zeros((n // 2, n))
    for i in range(n // 2):
        m[i, 2 * i], m[i, 2 * i + 1] = taps
    return m


def _matrices(h: int, w: int, like: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    lo, hi = (1 / math.sqrt(2), 1 / math.sqrt(2)), (1 / math.sqrt(2), -1 / math.sqrt(2))
    mats = (_banded(h, lo), _banded(h, hi), _banded(w, lo), _banded(w, hi))
    return tuple(torch.tensor(m, dtype=like.dtype).to(like.device) for m in mats)  # type: ignore[return-value]


class MatrixHaarDWT(nn.Module):
    """(LL, LH, HL, HH) of every channel by banded-matrix products (LH: low along height, high along width)."""

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        lh_, hh_, lw, hw = _matrices(x.shape[-2], x.shape[-1], x)
        low, high = lh_ @ x, hh_ @ x  # along height
        return low @ lw.T, low @ hw.T, high @ lw.T, high @ hw.T


class MatrixHaarIDWT(nn.Module):
    """The inverse: ``X = L_hᵀ (LL L_w + LH H_w) + H_hᵀ (HL L_w + HH H_w)``; ``None`` highs = zero detail."""

    def forward(self, ll: Tensor, lh: Tensor | None, hl: Tensor | None, hh: Tensor | None) -> Tensor:
        lh_, hh_, lw, hw = _matrices(2 * ll.shape[-2], 2 * ll.shape[-1], ll)
        if lh is None or hl is None or hh is None:
            return lh_.T @ (ll @ lw)
        return lh_.T @ (ll @ lw + lh @ hw) + hh_.T @ (hl @ lw + hh @ hw)


def officialise(model: nn.Module) -> nn.Module:
    """``model`` with every project DWT/IDWT module replaced by the official matrix form (in place)."""
    from cvpapers.models.wavelet import HaarDWT, HaarIDWT

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, HaarDWT):
                setattr(parent, name, MatrixHaarDWT())
            elif isinstance(child, HaarIDWT):
                setattr(parent, name, MatrixHaarIDWT())
    return model
