"""Spec §9.1, §9.2, §9.10, §9.12: channel rounding, the analytic FLOPs formula, the conditional sampler and
the target lists."""

from __future__ import annotations

import numpy as np
import pytest

from cvpapers.pipelines.pss_net import space as sp

PAPER_RES = list(range(128, 225, 8))


def _v1() -> sp.Space:
    return sp.build_space("mobilenet_v1", 1000, 8, (0.75, 1.0), PAPER_RES)


def _v2() -> sp.Space:
    return sp.build_space("mobilenet_v2", 1000, 8, (0.75, 1.0), PAPER_RES)


def _tiny() -> sp.Space:
    return sp.build_space("mbv1_tiny", 10, 4, (0.5, 1.0), [24, 28, 32])


@pytest.mark.parametrize(
    ("v", "divisor", "minimum", "expected"),
    [
        (24.0, 8, 8, 24),
        (768.0, 8, 8, 768),
        (8.0, 8, 8, 8),
        (12.0, 8, 8, 16),
        (19.2, 8, 8, 24),
        (13.0, 4, 4, 12),
        (12.32, 4, 4, 12),
        (131.0, 8, 128, 128),
        (135.9, 8, 128, 136),
        (220.5, 8, 128, 224),
    ],
)
def test_make_divisible_rounds_as_the_code(v: float, divisor: int, minimum: int, expected: int) -> None:
    assert sp.make_divisible(v, divisor, minimum) == expected
    assert sp.make_divisible_array(np.array([v]), divisor, minimum)[0] == expected


@pytest.mark.parametrize(
    ("space", "resolution", "mult", "mflops"),
    [
        (_v1, 224, 1.0, 568.790528),
        (_v1, 128, 0.75, 106.78272),
        (_v1, 224, 0.75, 325.43808),
        (_v1, 128, 1.0, 186.417152),
        (_v2, 224, 1.0, 300.836992),
        (_v2, 128, 0.75, 69.150208),
        (_v2, 224, 0.75, 209.132512),
        (_v2, 128, 1.0, 99.094528),
        (_tiny, 32, 1.0, 4.601088),
        (_tiny, 24, 0.5, 0.77824),
        (_tiny, 32, 0.5, 1.38304),
        (_tiny, 24, 1.0, 2.588672),
    ],
)
def test_analytic_flops_equal_the_spec_reference_subnets(
    space, resolution: int, mult: float, mflops: float
) -> None:
    s = space()
    macs = sp.flops(s, [resolution], np.full((1, s.n_mults), mult))[0]
    assert macs == round(mflops * 1e6)


def test_mbv2_last_multiplier_is_sampled_but_unused() -> None:
    s = _v2()
    a, b = np.ones((1, s.n_mults)), np.ones((1, s.n_mults))
    b[0, -1] = 0.75
    assert sp.flops(s, [224], a)[0] == sp.flops(s, [224], b)[0]
    assert sp.widths(s, b)[0, -1] == 1280


def test_uniform_sampler_draws_three_decimal_multipliers_and_grid_resolutions() -> None:
    s = _v1()
    res, mults = sp.sample_uniform(s, 5000, np.random.default_rng(0))
    assert set(np.unique(res)) == set(PAPER_RES)
    assert np.allclose(mults, np.round(mults, 3)) and mults.min() >= 0.75 and mults.max() <= 1.0
    counts = np.bincount((res - 128) // 8)
    assert (
        counts[0] < 0.7 * counts[1:-1].mean() and counts[-1] < 0.7 * counts[1:-1].mean()
    )  # ends half as likely


def test_tiny_targets_derived_from_the_min_and_max_net_are_1_5_to_4_0() -> None:
    start, stop = sp.flops_range(_tiny(), 0.5, None)
    assert (start, stop) == (1.0, 4.5)
    assert sp.candidate_targets(start, stop, 0.5).tolist() == [1.5, 2.0, 2.5, 3.0, 3.5, 4.0]


def test_bucket_rounds_to_the_nearest_target() -> None:
    assert sp.bucket(np.array([114.9, 115.1, 569.0]), 10, 0).tolist() == [110, 120, 570]


@pytest.mark.parametrize("mode", ["marginal", "map"])
def test_conditional_sampler_always_hits_its_target(mode: str) -> None:
    s = _tiny()
    targets = sp.candidate_targets(1.0, 4.5, 0.5)
    smap = sp.build_map(s, 5000, targets, 0.5, 0.0, np.random.default_rng(1))
    sampler = sp.ConditionalSampler(s, smap, 0.5, 0.0, mode)
    rng = np.random.default_rng(2)
    for t in sampler.targets:
        draws = [sampler.sample(t, rng) for _ in range(100)]
        f = sp.mflops(s, np.array([r for r, _ in draws]), np.stack([m for _, m in draws]))
        assert (sp.bucket(f, 0.5, 0.0) == t).all()


def test_subnet_map_holds_only_pool_targets() -> None:
    s = _v1()
    targets = sp.candidate_targets(110, 570, 10)
    smap = sp.build_map(s, 3000, targets, 10, sp.target_offset(110, 10), np.random.default_rng(0))
    assert len(smap.target) == 3000 and np.isin(smap.target, targets).all()
    assert np.allclose(smap.mflops, sp.mflops(s, smap.resolution, smap.mults))


def test_mbv2_map_of_20000_covers_exactly_targets_80_to_290() -> None:
    targets = sp.candidate_targets(70, 300, 10)
    smap = sp.build_map(_v2(), 20000, targets, 10, sp.target_offset(70, 10), np.random.default_rng(0))
    assert np.unique(smap.target).tolist() == list(range(80, 300, 10))


def test_mbv1_map_targets_are_a_subset_of_120_to_560() -> None:
    targets = sp.candidate_targets(110, 570, 10)
    assert targets.tolist() == list(range(120, 570, 10))
    smap = sp.build_map(_v1(), 20000, targets, 10, sp.target_offset(110, 10), np.random.default_rng(0))
    assert set(np.unique(smap.target)) <= set(range(120, 570, 10))


def test_cfg_keys_are_canonical_and_parse_back() -> None:
    key = sp.cfg_key(28, [0.5, 0.75, 1.0])
    assert key == "r28:0.500,0.750,1.000"
    r, m = sp.parse_key(key)
    assert r == 28 and m.tolist() == [0.5, 0.75, 1.0]
    assert sp.cfg_key(28, np.array([0.5000000001, 0.75, 1])) == key
