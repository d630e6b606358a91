"""Compression sensitivity of one layer and its exponential fit (spec §3.3, official ``cal_compress_ratio``).

Every allowed unit's single-unit loss is computed; the units are removed **cumulatively** in ascending
order of that loss, recording after each removal the loss so far ``ℓ_t`` and the layer's FLOPs reduction
``cr_t``. Points with ``cr ≤ 0`` (an early rank removal can add FLOPs) are dropped, ``ℓ`` is normalised by
its maximum, and ``ℓ ≈ p1·exp(p2·cr)`` is fitted by weighted least squares of ``log(ℓ + 1e-10)`` on ``cr``
with weights ``√ℓ``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from cvpapers.pipelines.collab_compression.units import (
    LayerGeometry,
    channel_losses,
    rank_losses,
    svd,
    unfold,
)

LOG_EPS = 1e-10


@dataclass(frozen=True)
class SensitivityCurve:
    cr: np.ndarray  # FLOPs reduction ratio after each removal (sorted, cr > 0 only)
    loss: np.ndarray  # information loss, normalised by its maximum
    p1: float
    p2: float
    r2: float  # weighted R² of the fit in log space (NaN with fewer than 3 points)


def removal_path(
    weight: torch.Tensor, grad: torch.Tensor, geom: LayerGeometry, ops: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """``(cr_t, ℓ_t)`` along the cumulative removal of every allowed unit in single-unit-loss order."""
    m0, g = unfold(weight), unfold(grad)
    a = g**2
    k2 = geom.k * geom.k
    u, s, vh = svd(m0, keep=geom.rank)
    kinds, losses = [], []
    if "pruning" in ops:
        kinds += [("c", j) for j in range(geom.c)]
        losses.append(channel_losses(m0, g, k2))
    if "td" in ops:
        kinds += [("r", t) for t in range(geom.rank)]
        losses.append(rank_losses(u, s, vh, g))
    order = torch.argsort(torch.cat(losses), stable=True).tolist()
    cur = m0.clone()
    rank_alive = list(range(geom.rank))  # original component ids not yet removed, ascending
    stale = False  # a channel was zeroed since the last SVD of `cur`
    pruned = removed = 0
    cr, loss = [], []
    for idx in order:
        kind, unit = kinds[idx]
        if kind == "c":
            cur[:, unit * k2 : (unit + 1) * k2] = 0.0
            pruned, stale = pruned + 1, True
        else:
            if stale:
                u, s, vh = svd(cur, keep=geom.rank - removed)
                stale = False
            pos = rank_alive.index(unit)  # its position among the not-yet-removed components
            cur = cur - s[pos] * torch.outer(u[:, pos], vh[pos])
            keep = [i for i in range(s.shape[0]) if i != pos]
            u, s, vh = u[:, keep], s[keep], vh[keep]
            rank_alive.pop(pos)
            removed += 1
        loss.append(float((a * (cur - m0) ** 2).sum()))
        cr.append((geom.flops - geom.flops_at(pruned, removed)) / geom.flops)
    return np.asarray(cr), np.asarray(loss)


def fit_exponential(cr: np.ndarray, loss: np.ndarray) -> tuple[float, float, float]:
    """``(p1, p2, r2)`` of ``loss ≈ p1·exp(p2·cr)``: weighted LS of ``log(loss + 1e-10)`` on ``cr``, weights
    ``√loss`` (sklearn's ``LinearRegression.fit(x, y, sample_weight)`` in closed form)."""
    cr, loss = np.asarray(cr, dtype=np.float64), np.asarray(loss, dtype=np.float64)
    if cr.size < 2 or np.ptp(cr) == 0:
        return float("nan"), float("nan"), float("nan")
    y, w = np.log(loss + LOG_EPS), np.sqrt(np.clip(loss, 0.0, None))
    xm, ym = np.average(cr, weights=w), np.average(y, weights=w)
    slope = float(np.sum(w * (cr - xm) * (y - ym)) / np.sum(w * (cr - xm) ** 2))
    intercept = float(ym - slope * xm)
    resid = y - (intercept + slope * cr)
    total = np.sum(w * (y - ym) ** 2)
    r2 = float(1.0 - np.sum(w * resid**2) / total) if cr.size > 2 and total > 0 else float("nan")
    return float(np.exp(intercept)), slope, r2


def sensitivity_curve(
    weight: torch.Tensor, grad: torch.Tensor, geom: LayerGeometry, ops: Sequence[str]
) -> SensitivityCurve:
    cr, loss = removal_path(weight, grad, geom, ops)
    order = np.argsort(cr, kind="stable")
    cr, loss = cr[order], loss[order]
    positive = cr > 0
    cr, loss = cr[positive], loss[positive]
    peak = loss.max() if loss.size else 0.0
    loss = loss / peak if peak > 0 else loss
    p1, p2, r2 = fit_exponential(cr, loss)
    return SensitivityCurve(cr, loss, p1, p2, r2)
