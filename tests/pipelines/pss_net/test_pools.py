"""Spec §9.6–§9.9: schedules, pool invariants, priority sampling and routing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cvpapers.pipelines.pss_net.pools import SubnetPools, exp_schedule, priority_probs, route_to_pool


def test_exp_schedule_runs_from_start_to_end_and_decreases() -> None:
    assert exp_schedule(1.0, 0.01, 0, 250) == 1.0
    assert exp_schedule(1.0, 0.01, 250, 250) == pytest.approx(0.01)
    values = [exp_schedule(1.0, 0.01, e, 250) for e in range(251)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    assert exp_schedule(1.0, 0.01, 249, 250) == pytest.approx(0.010186, abs=1e-6)


def test_pool_stays_bounded_and_evicts_the_minimum() -> None:
    pools = SubnetPools(["1"], capacity=4)
    for s in range(1, 6):  # K + 1 distinct configs with scores 1..K+1
        pools.update("1", f"c{s}", float(s))
    assert sorted(pools.pools["1"].values()) == [2.0, 3.0, 4.0, 5.0]
    rng = np.random.default_rng(0)
    for _ in range(300):
        before = dict(pools.pools["1"])
        key, score = f"r{rng.integers(8)}", float(rng.normal())
        evicted = pools.update("1", key, score)
        assert len(pools.pools["1"]) <= 4
        if evicted is not None:  # the evicted entry was the minimum after insertion (maybe the new one)
            after_insert = {**before, key: 0.9 * before[key] + 0.1 * score if key in before else score}
            assert after_insert[evicted] == min(after_insert.values())


def test_reinserting_a_config_updates_its_score_by_ema() -> None:
    pools = SubnetPools(["1"], capacity=3, metric_lambda=0.9)
    pools.update("1", "a", -2.0)
    pools.update("1", "a", -1.0)
    assert pools.pools["1"]["a"] == pytest.approx(0.9 * -2.0 + 0.1 * -1.0)


def test_a_new_subnet_worse_than_a_full_pool_is_dropped_at_once() -> None:
    pools = SubnetPools(["1"], capacity=2)
    pools.update("1", "a", -1.0), pools.update("1", "b", -1.5)
    assert pools.update("1", "c", -3.0) == "c"
    assert set(pools.pools["1"]) == {"a", "b"}


def test_priority_probabilities_are_a_softmax_that_sharpens_with_temperature() -> None:
    scores = np.array([-1.0, -0.5, -0.49, -2.0])
    p = priority_probs(scores, 1.0)
    assert p.sum() == pytest.approx(1.0)
    assert np.array_equal(np.argsort(p), np.argsort(scores))
    assert priority_probs(scores, 1e-3)[2] >= 0.99
    assert np.allclose(priority_probs(scores, 1e9), 0.25)
    assert np.isfinite(priority_probs(np.array([-1e3, 5e2]), 0.01)).all()  # no overflow at small t


def test_pool_sampling_follows_the_priorities() -> None:
    pools = SubnetPools(["1"], capacity=3)
    for k, s in (("a", -1.0), ("b", -2.0), ("c", -3.0)):
        pools.update("1", k, s)
    rng = np.random.default_rng(0)
    draws = [pools.sample("1", 1.0, rng) for _ in range(4000)]
    expected = priority_probs(np.array([-1.0, -2.0, -3.0]), 1.0)
    observed = np.array([draws.count(k) for k in "abc"]) / len(draws)
    assert np.allclose(observed, expected, atol=0.03)


@pytest.mark.parametrize(
    ("u", "p", "fill", "from_pool"),
    [
        (0.99, 1.0, 5, False),  # p = 1: always the structure space
        (0.0, 0.0, 5, True),  # p = 0 and a full pool: always the pool
        (0.5, 0.0, 4, False),  # p = 0 but |pool| < K: the space
        (0.3, 0.5, 5, False),
        (0.7, 0.5, 5, True),
    ],
)
def test_routing_between_space_and_pool(u: float, p: float, fill: int, from_pool: bool) -> None:
    assert route_to_pool(u, p, fill, 5) is from_pool


def test_pools_state_is_plain_python_for_weights_only_checkpoints(tmp_path) -> None:
    import torch

    pools = SubnetPools(["1.5", "2"], capacity=2)
    pools.update("1.5", "r24:0.500", -1.25)
    torch.save(pools.state_dict(), tmp_path / "s.pt")
    restored = SubnetPools(["1.5", "2"], capacity=2)
    restored.load_state_dict(torch.load(tmp_path / "s.pt", weights_only=True))
    assert restored.pools == pools.pools and math.isclose(restored.pools["1.5"]["r24:0.500"], -1.25)
