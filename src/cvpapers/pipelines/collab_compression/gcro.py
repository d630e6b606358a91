"""Global Compression Rate Optimisation (spec §3.4, second half of the official ``cal_compress_ratio``).

Every layer's fitted curve ``ℓ_i(cr) = p1_i·exp(p2_i·cr)`` gets the rate where its slope equals a common
``λ``: ``cr_i(λ) = ln(λ / (p1_i p2_i)) / p2_i``; removed FLOPs ``f_i = F_i · clip(cr_i, 0, cap)``; ``λ`` is
chosen so that ``Σ f_i = C = α·F_net``. The official solver is gradient descent on ``(Σ f_i − C)²`` in λ
(lr 1e-6 from λ = 0.1, FLOPs in units of 1e7); the default here is bisection on ``log λ`` (Σ f_i is
monotone in λ when every ``p2 > 0``): the same root, deterministic and instant. Quirk kept behind
``solver_cap``: while solving, a layer past 0.95 contributes ``solver_cap·F_i`` (0.9), the final
allocation clips at ``layer_cap`` (0.95). Layers with ``p2 ≤ 0`` (or a failed fit) get 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GD_UNIT = 1e7


@dataclass(frozen=True)
class Allocation:
    lam: float
    cr: np.ndarray  # per-layer FLOPs reduction ratio (after the final clip)
    removed: np.ndarray  # f_i, removed FLOPs per layer
    target: float  # C


def _slope_params(
    p1: np.ndarray, p2: np.ndarray, flops: np.ndarray, slope: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(a_i, valid_i)`` with ``cr_i(λ) = (ln λ − ln a_i) / p2_i``. ``equal`` (the code): ``a = p1·p2``;
    ``flops_weighted`` (the exact Lagrangian, equal ``ℓ_i'/F_i``): ``a = p1·p2 / F_i`` (scaled by the mean F)."""
    valid = np.isfinite(p1) & np.isfinite(p2) & (p2 > 0) & (p1 > 0)
    a = np.where(valid, p1 * p2, 1.0)
    if slope == "flops_weighted":
        a = a * flops.mean() / flops
    elif slope != "equal":
        raise ValueError(f"unknown gcro_slope {slope!r}")
    return a, valid


def _rates(log_lam: float, a: np.ndarray, p2: np.ndarray, valid: np.ndarray) -> np.ndarray:
    cr = (log_lam - np.log(a)) / np.where(valid, p2, 1.0)
    return np.where(valid, cr, 0.0)


def _solver_contrib(
    cr: np.ndarray, flops: np.ndarray, layer_cap: float, solver_cap: float | None
) -> np.ndarray:
    if solver_cap is None:
        return flops * np.clip(cr, 0.0, layer_cap)
    return flops * np.where(cr > layer_cap, solver_cap, np.clip(cr, 0.0, None))


def _final(log_lam: float, a, p2, valid, flops, target, layer_cap) -> Allocation:
    cr = np.clip(_rates(log_lam, a, p2, valid), 0.0, layer_cap)
    return Allocation(float(np.exp(log_lam)), cr, flops * cr, float(target))


def solve_bisection(
    p1: np.ndarray,
    p2: np.ndarray,
    flops: np.ndarray,
    target: float,
    *,
    layer_cap: float = 0.95,
    solver_cap: float | None = 0.9,
    slope: str = "equal",
    iters: int = 200,
) -> Allocation:
    """λ with ``Σ f_i(λ) = target`` by bisection on ``log λ``; every layer capped when the target is out of reach."""
    p1, p2, flops = (np.asarray(v, dtype=np.float64) for v in (p1, p2, flops))
    a, valid = _slope_params(p1, p2, flops, slope)
    if not valid.any():
        return Allocation(float("nan"), np.zeros_like(flops), np.zeros_like(flops), float(target))
    la, pv = np.log(a[valid]), p2[valid]
    lo, hi = float(la.min()) - 1.0, float((la + pv * max(layer_cap, 1.0)).max()) + 1.0

    def excess(log_lam: float) -> float:
        return float(
            _solver_contrib(_rates(log_lam, a, p2, valid), flops, layer_cap, solver_cap).sum() - target
        )

    if excess(hi) < 0:
        return _final(hi, a, p2, valid, flops, target, layer_cap)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if excess(mid) < 0 else (lo, mid)
    return _final(hi, a, p2, valid, flops, target, layer_cap)


def solve_gradient_descent(
    p1: np.ndarray,
    p2: np.ndarray,
    flops: np.ndarray,
    target: float,
    *,
    layer_cap: float = 0.95,
    solver_cap: float | None = 0.9,
    slope: str = "equal",
    lr: float = 1e-6,
    lam0: float = 0.1,
    max_iters: int = 1_000_000,
    tol: float = 1e-10,
) -> Allocation:
    """The official solver: gradient descent on ``(Σ f_i − C)²`` w.r.t. λ, FLOPs in units of 1e7."""
    p1, p2, flops = (np.asarray(v, dtype=np.float64) for v in (p1, p2, flops))
    a, valid = _slope_params(p1, p2, flops, slope)
    f_u, c_u, lam = flops / GD_UNIT, target / GD_UNIT, lam0
    p2_safe = np.where(valid, p2, 1.0)
    for _ in range(max_iters):
        cr = _rates(np.log(lam), a, p2, valid)
        err = float(_solver_contrib(cr, f_u, layer_cap, solver_cap).sum() - c_u)
        if err * err < tol:
            break
        live = valid & (cr > 0) & (cr < layer_cap)  # d cr_i / dλ = 1 / (p2_i λ) inside the clip
        grad = 2.0 * err * float((f_u[live] / (p2_safe[live] * lam)).sum())
        lam = max(lam - lr * grad, 1e-300)
    return _final(float(np.log(lam)), a, p2, valid, flops, target, layer_cap)
