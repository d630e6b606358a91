"""The §3.7 iteration, the samplers and the §3.8 parameter groups."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from cvpapers.pipelines.pss_net import space as sp
from cvpapers.pipelines.pss_net.accounting import pss_sampler
from cvpapers.pipelines.pss_net.config import PssNetParams
from cvpapers.pipelines.pss_net.slimmable import SlimConv2d, build_supernet
from cvpapers.pipelines.pss_net.training import (
    PSSSampler,
    USNetSampler,
    kl_batchmean,
    param_groups,
    sandwich_step,
)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_supernet("mbv1_tiny", 10, 4, (0.5, 1.0), [24, 28, 32])


def _plan_and_map(p: PssNetParams):
    from cvpapers.pipelines.pss_net.accounting import space_plan

    plan, smap, _ = space_plan(p, 10, np.random.default_rng(0))
    return plan, smap.arrays()


def test_one_backward_of_the_summed_loss_equals_the_three_backward_passes() -> None:
    """§11.17: the teacher is detached, so CE(max) + KL(mid) + KL(min) in one backward equals the code's
    three backward passes."""
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    sampler = USNetSampler(_model().space, seed=0)
    sampler.on_iteration_start(0, 0, 1, None)
    one = _model()
    loss, stats = sandwich_step(sampler)(one, (x, y))
    loss.backward()

    three = _model()
    three.activate_max()
    z = three(x)
    F.cross_entropy(z, y).backward()
    q = F.softmax(z.detach(), 1)
    three.activate(*sampler.current)
    kl_batchmean(q, three(x)).backward()
    three.activate_min()
    kl_batchmean(q, three(x)).backward()
    for a, b in zip(one.parameters(), three.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=1e-5)
    assert float(stats["n"]) == 8 and 0 <= float(stats["acc_max"]) <= 800


def test_kl_batchmean_is_zero_for_identical_distributions_and_sums_over_classes() -> None:
    z = torch.randn(4, 10)
    assert float(kl_batchmean(F.softmax(z, 1), z)) < 1e-6
    q = F.softmax(torch.randn(4, 10), 1)
    expected = (q * (q.log() - F.log_softmax(z, 1))).sum(1).mean()
    torch.testing.assert_close(kl_batchmean(q, z), expected)


def test_weight_decay_only_on_non_depthwise_conv_and_fc_weights() -> None:
    model = _model()
    decay, no_decay = param_groups(model, 1e-4)
    assert decay["weight_decay"] == 1e-4 and no_decay["weight_decay"] == 0.0
    decayed = {id(p) for p in decay["params"]}
    for m in model.modules():
        if isinstance(m, SlimConv2d):
            assert (id(m.weight) in decayed) is (not m.depthwise)
        if isinstance(m, torch.nn.BatchNorm2d):
            assert id(m.weight) not in decayed and id(m.bias) not in decayed
    assert id(model.classifier.weight) in decayed and id(model.classifier.bias) not in decayed
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_pss_sampler_redraws_exactly_per_iteration_and_scores_fill_the_pools() -> None:
    p = PssNetParams.model_validate(
        {"space": {"gen_map_num": 2000}, "pss": {"pool_size": 2}, "train": {"epochs": 4}}
    )
    plan, arrays = _plan_and_map(p)
    a, b = pss_sampler(plan, arrays, p, 7), pss_sampler(plan, arrays, p, 7)
    space = sp.build_space("mbv1_tiny", 10, 4, (0.5, 1.0), [24, 28, 32])
    for epoch in range(3):
        for s in (a, b):
            s.on_epoch_start(epoch, None)
        for it in range(20):
            for s in (a, b):
                s.on_iteration_start(epoch, it, 20, None)
                s.record(-float(it % 5))
            assert a.current[0] == b.current[0] and np.array_equal(a.current[1], b.current[1])
            f = sp.mflops(space, [a.current[0]], a.current[1][None, :])
            assert sp.bucket(f, plan["flops_step"], plan["offset"])[0] == float(a._slot[0])
    metrics = a.epoch_metrics(2)
    assert metrics["pool_fill"] == 1.0 and metrics["p"] < 1.0 and 0 <= metrics["pool_routed_frac"] <= 1
    assert all(len(pool) <= 2 for pool in a.pools.pools.values())
    assert a.state_dict() == b.state_dict()


def test_pss_sampler_with_p_zero_and_full_pools_draws_only_from_pools() -> None:
    p = PssNetParams.model_validate(
        {"space": {"gen_map_num": 2000}, "pss": {"pool_size": 1, "p_range": [1e-9, 1e-9]}}
    )
    plan, arrays = _plan_and_map(p)
    s: PSSSampler = pss_sampler(plan, arrays, p, 0)
    s.on_epoch_start(0, None)
    for it in range(200):  # fill every pool
        s.on_iteration_start(0, it, 1, None)
        s.record(0.0)
    s.on_epoch_start(1, None)
    for it in range(50):
        s.on_iteration_start(1, it, 1, None)
        name, key = s._slot
        assert key in s.pools.pools[name]
    assert s.epoch_metrics(1)["pool_routed_frac"] == 1.0


def test_usnet_sampler_uses_one_width_at_the_largest_resolution() -> None:
    s = USNetSampler(_model().space, seed=3)
    widths = set()
    for it in range(30):
        s.on_iteration_start(0, it, 30, None)
        r, m = s.current
        assert r == 32 and len(set(m.tolist())) == 1 and 0.5 <= m[0] <= 1.0
        widths.add(m[0])
    assert len(widths) > 20
