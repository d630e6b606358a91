"""§9: GCRO — the allocation sums to the target, respects the caps, grows with α, treats equal layers
equally, and bisection finds the official gradient-descent solver's λ."""

from __future__ import annotations

import numpy as np
import pytest

from cvpapers.pipelines.collab_compression.gcro import solve_bisection, solve_gradient_descent

P1 = np.array([0.02, 0.005, 0.05, 0.01])
P2 = np.array([4.0, 6.0, 3.0, 5.0])
FLOPS = np.array([3.0e8, 6.0e8, 2.0e8, 4.5e8])


def test_allocation_sums_to_the_target_within_the_caps() -> None:
    target = 0.4 * FLOPS.sum()
    alloc = solve_bisection(P1, P2, FLOPS, target)
    assert alloc.removed.sum() == pytest.approx(target, rel=1e-6)
    assert np.all(alloc.removed <= 0.95 * FLOPS + 1e-6) and np.all(alloc.removed >= 0)


def test_every_layer_capped_when_the_target_is_out_of_reach() -> None:
    alloc = solve_bisection(P1, P2, FLOPS, 0.99 * FLOPS.sum())
    np.testing.assert_allclose(alloc.removed, 0.95 * FLOPS)


def test_allocation_is_non_decreasing_in_alpha() -> None:
    rates = [solve_bisection(P1, P2, FLOPS, a * FLOPS.sum()).removed for a in (0.1, 0.2, 0.3, 0.5, 0.7)]
    assert all(np.all(b >= a - 1e-6) for a, b in zip(rates, rates[1:], strict=False))


def test_identical_layers_get_identical_shares() -> None:
    alloc = solve_bisection(
        np.array([0.01, 0.01, 0.03]), np.array([5.0, 5.0, 3.0]), np.array([1e8, 1e8, 2e8]), 1.5e8
    )
    assert alloc.removed[0] == alloc.removed[1]


def test_layers_with_a_non_positive_slope_get_nothing() -> None:
    alloc = solve_bisection(np.array([0.01, 0.02]), np.array([-1.0, 4.0]), np.array([1e8, 1e8]), 5e7)
    assert alloc.removed[0] == 0 and alloc.removed[1] == pytest.approx(5e7, rel=1e-6)


@pytest.mark.parametrize("slope", ["equal", "flops_weighted"])
def test_bisection_equals_the_official_gradient_descent_solver(slope: str) -> None:
    target = 0.35 * FLOPS.sum()
    ours = solve_bisection(P1, P2, FLOPS, target, slope=slope)
    official = solve_gradient_descent(P1, P2, FLOPS, target, slope=slope)
    # The official loop stops at (Σf − C)² < 1e-10 in units of 1e7 FLOPs: |Σf − C| < 1e-5 · 1e7 = 100 FLOPs.
    assert abs(official.removed.sum() - target) < 100
    np.testing.assert_allclose(ours.removed, official.removed, rtol=1e-5, atol=100)
    assert ours.lam == pytest.approx(official.lam, rel=1e-5)


def test_the_solver_cap_quirk_is_a_flag() -> None:
    # One layer far past 0.95: it counts 0.9·F while solving, so the final clip at 0.95 overshoots C.
    p1, p2, flops = np.array([1e-6, 0.05]), np.array([8.0, 3.0]), np.array([1e8, 1e8])
    quirk = solve_bisection(p1, p2, flops, 1.2e8)
    plain = solve_bisection(p1, p2, flops, 1.2e8, solver_cap=None)
    assert plain.removed.sum() == pytest.approx(1.2e8, rel=1e-6)
    assert quirk.removed.sum() > 1.2e8
