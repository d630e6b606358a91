"""The space plan (targets, FLOPs range, map counts, the model's config) and the objects rebuilt from it."""

from __future__ import annotations

from typing import Any

import numpy as np

from cvpapers.pipelines.pss_net import space as sp


def model_config(p: Any, n_classes: int) -> dict[str, Any]:
    """Keyword arguments of :func:`cvpapers.pipelines.pss_net.slimmable.build_supernet` (stored in checkpoints)."""
    tiny = p.model.arch == "mbv1_tiny"
    return {
        "arch": p.model.arch,
        "n_classes": n_classes,
        "divisor": p.space.channel_divisor,
        "width_range": list(p.space.width_mult_range),
        "resolutions": list(p.space.resolutions),
        "base_channels": list(p.model.base_channels) if tiny and p.model.base_channels else None,
        "strides": list(p.model.strides) if tiny and p.model.strides else None,
    }


def space_of(plan: dict[str, Any]) -> sp.Space:
    c = plan["model_config"]
    return sp.build_space(
        c["arch"],
        c["n_classes"],
        c["divisor"],
        c["width_range"],
        c["resolutions"],
        c["base_channels"],
        c["strides"],
    )


def counter_max_abs_diff(space: sp.Space, config: dict[str, Any], n: int, rng: np.random.Generator) -> float:
    """max |analytic − counter| MACs over ``n`` random subnets (the counter on the activated supernet)."""
    from cvpapers.engine.flops import count_macs_params
    from cvpapers.pipelines.pss_net.slimmable import build_supernet

    model = build_supernet(**config)
    res, mults = sp.sample_uniform(space, n, rng)
    analytic = sp.flops(space, res, mults)
    diffs = []
    for r, m, f in zip(res, mults, analytic, strict=True):
        model.activate(r, m)
        diffs.append(abs(count_macs_params(model, (1, 3, int(r), int(r)), "conv_linear_pool")[0] - int(f)))
    return float(max(diffs))


def space_plan(
    p: Any, n_classes: int, rng: np.random.Generator
) -> tuple[dict[str, Any], sp.SubnetMap, dict[str, float]]:
    """Targets present in the map, the map itself, and the node's metrics."""
    config = model_config(p, n_classes)
    space = sp.build_space(
        config["arch"],
        n_classes,
        config["divisor"],
        config["width_range"],
        config["resolutions"],
        config["base_channels"],
        config["strides"],
    )
    step = p.space.flops_step
    start, stop = sp.flops_range(space, step, p.space.flops_range)
    offset = sp.target_offset(start, step)
    subnet_map = sp.build_map(
        space, p.space.gen_map_num, sp.candidate_targets(start, stop, step), step, offset, rng
    )
    targets, counts = np.unique(subnet_map.target, return_counts=True)
    max_f, min_f = (
        float(sp.mflops(space, r, m[None, :])[0]) for r, m in (sp.max_cfg(space), sp.min_cfg(space))
    )
    plan = {
        "arch": p.model.arch,
        "model_config": config,
        "input_size": [1, 3, space.max_resolution, space.max_resolution],
        "flops_step": step,
        "flops_range": [start, stop],
        "offset": offset,
        "targets": [float(t) for t in targets],
        "counts": {f"{t:g}": int(c) for t, c in zip(targets, counts, strict=True)},
        "max_net_mflops": max_f,
        "min_net_mflops": min_f,
        "sampler": p.space.sampler,
    }
    metrics = {
        "flops_max": max_f,
        "flops_min": min_f,
        "n_pools": float(len(targets)),
        "map_count_min": float(counts.min()),
        "map_count_max": float(counts.max()),
        "map_count_mean": float(counts.mean()),
        "flops_counter_max_abs_diff": counter_max_abs_diff(space, config, 20, rng),
    }
    return plan, subnet_map, metrics


def pss_sampler(plan: dict[str, Any], arrays: dict[str, np.ndarray], p: Any, seed: int) -> Any:
    """PSS's middle-subnet sampler over the plan's targets, with empty pools."""
    from cvpapers.pipelines.pss_net.pools import SubnetPools
    from cvpapers.pipelines.pss_net.training import PSSSampler, target_name

    space, step = space_of(plan), plan["flops_step"]
    conditional = sp.ConditionalSampler(
        space, sp.SubnetMap.from_arrays(arrays), step, plan["offset"], p.space.sampler
    )
    pools = SubnetPools([target_name(t) for t in plan["targets"]], p.pss.pool_size, p.pss.metric_lambda)
    return PSSSampler(conditional, plan["targets"], pools, p.pss.p_range, p.pss.t_range, p.train.epochs, seed)
