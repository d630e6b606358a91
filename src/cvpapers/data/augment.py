"""Dihedral augmentation shared by restoration pipelines: the 8 elements of the square's symmetry group.

Code ``c`` ∈ {0..7}: ``rot90`` by ``c % 4`` after a horizontal flip when ``c >= 4`` — the 8 distinct
elements (official Uformer: one of 8 transforms, uniform). Applied per sample to several aligned tensors
alike, grouped by code (at most 8 groups; never a loop over samples or pixels). FHDRNet keeps its own draw
(flip with p = 0.5 then rot90: 12 codes, not uniform over the group), so its batches are unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["DIHEDRAL_CODES", "dihedral8", "draw_dihedral8"]

DIHEDRAL_CODES = 8


def _apply(x: Tensor, code: int) -> Tensor:
    if code >= 4:
        x = x.flip(-1)
    return torch.rot90(x, code % 4, (-2, -1))


def dihedral8(code: Tensor, *tensors: Tensor) -> tuple[Tensor, ...]:
    """Each sample ``i`` of every tensor (N, …, H, W; square when a code rotates by 90°) transformed by
    ``code[i]``; the tensors get the same transform per sample."""
    outs = [t.clone() for t in tensors]
    for c in code.unique().tolist():
        sel = code == c
        for out, t in zip(outs, tensors, strict=True):
            out[sel] = _apply(t[sel], int(c))
    return tuple(outs)


def draw_dihedral8(n: int, generator: torch.Generator) -> Tensor:
    """``n`` codes uniform over the 8 group elements."""
    return torch.randint(0, DIHEDRAL_CODES, (n,), generator=generator)
