"""Collaborative Compression of a whole network (spec §3.7): per-layer sensitivity curves, the global
rate allocation, the per-layer heuristic, and the FLOPs accounting of the exported model. Plain PyTorch;
the JSON-able plans between the steps are what the Kedro nodes store.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from cvpapers.pipelines.collab_compression.units import LayerGeometry


def geometry_plan(geoms: Mapping[str, LayerGeometry], net_flops: int) -> dict[str, Any]:
    return {"net_flops": int(net_flops), "layers": {n: vars(g) for n, g in geoms.items()}}


def geometries(plan: Mapping[str, Any]) -> dict[str, LayerGeometry]:
    return {n: LayerGeometry(**g) for n, g in plan["layers"].items()}


def sensitivity_curves(
    model: nn.Module,
    grads: Mapping[str, torch.Tensor],
    geoms: Mapping[str, LayerGeometry],
    ops: Sequence[str],
) -> dict[str, Any]:
    """Every compressible layer's sensitivity curve and fit (§3.3), JSON-able."""
    from cvpapers.pipelines.collab_compression.sensitivity import sensitivity_curve

    out = {}
    for name, geom in geoms.items():
        curve = sensitivity_curve(model.get_submodule(name).weight, grads[name], geom, ops)
        out[name] = {
            "cr": curve.cr.tolist(),
            "loss": curve.loss.tolist(),
            "p1": curve.p1,
            "p2": curve.p2,
            "r2": curve.r2,
        }
    return out


def allocate(
    curves: Mapping[str, Any], geoms: Mapping[str, LayerGeometry], net_flops: int, cfg: Any
) -> dict[str, Any]:
    """GCRO (§3.4): the removed FLOPs ``f_i`` of every layer for the target ``C = α·F_net``."""
    from cvpapers.pipelines.collab_compression import gcro

    names = list(geoms)
    p1 = np.array([curves[n]["p1"] for n in names], dtype=np.float64)
    p2 = np.array([curves[n]["p2"] for n in names], dtype=np.float64)
    flops = np.array([geoms[n].flops for n in names], dtype=np.float64)
    solve = gcro.solve_bisection if cfg.gcro_solver == "bisection" else gcro.solve_gradient_descent
    alloc = solve(
        p1,
        p2,
        flops,
        cfg.com_ratio * net_flops,
        layer_cap=cfg.layer_cap,
        solver_cap=cfg.solver_cap,
        slope=cfg.gcro_slope,
    )
    return {
        "lambda": alloc.lam,
        "target": alloc.target,
        "net_flops": int(net_flops),
        "layers": {
            n: {"cr": float(alloc.cr[i]), "removed": float(alloc.removed[i])} for i, n in enumerate(names)
        },
    }


def compress_layers(
    model: nn.Module,
    grads: Mapping[str, torch.Tensor],
    geoms: Mapping[str, LayerGeometry],
    allocation: Mapping[str, Any],
    ops: Sequence[str],
    gamma: float,
    step_frac: float,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The heuristic (§3.5) on every layer with a share: the export plan and one table row per layer."""
    from cvpapers.pipelines.collab_compression.heuristic import compress_layer

    plan, rows = {}, []
    for name, geom in geoms.items():
        target = allocation["layers"][name]["removed"]
        res = compress_layer(
            model.get_submodule(name).weight, grads[name], geom, target, ops, gamma, step_frac
        )
        rank = res.rank(geom)
        if len(res.keep) < geom.c or rank is not None:
            plan[name] = {"keep": res.keep, "rank": rank}
        rows.append(
            {
                "layer": name,
                "n": geom.n,
                "c": geom.c,
                "kept_c": len(res.keep),
                "R": geom.rank,
                "rank": rank if rank is not None else -1,
                "decomposed": rank is not None,
                "target_removed": target,
                "removed": res.removed_flops,
                "flops": geom.flops,
                "flops_after": geom.flops - res.removed_flops,
                "steps": res.steps,
                "fallback": res.fallback,
            }
        )
    return plan, rows


def export(model: nn.Module, plan: Mapping[str, Any], slim: bool) -> nn.Module:
    """A compressed copy of ``model`` (weights from the original kernels, §3.5 step 3)."""
    from cvpapers.pipelines.collab_compression.export import apply_plan

    out = apply_plan(copy.deepcopy(model), plan, slim)
    out.compression_plan = dict(plan)
    return out


def layerwise_flops(compressed: nn.Module, input_size: tuple[int, ...]) -> int:
    """The official per-layer accounting (§7): the exported model with its producers kept, except that conv1
    of a CIFAR ResNet block is counted at conv2's kept input width (official ``BasicBlock_Compress``)."""
    from cvpapers.engine.flops import count_macs_params

    per_module: dict[str, int] = {}
    total, _ = count_macs_params(compressed, input_size, mode="conv_linear_bias", per_module=per_module)
    if getattr(compressed, "arch", None) not in ("resnet56", "resnet110"):
        return total
    plan = compressed.compression_plan
    for name, layer in plan.items():
        if name.endswith(".conv2") and name.startswith("layer"):
            conv1 = name[: -len("conv2")] + "conv1"
            width = compressed.get_submodule(conv1)
            n = (width.out_conv if hasattr(width, "out_conv") else width).out_channels
            conv1_macs = sum(v for k, v in per_module.items() if k == conv1 or k.startswith(conv1 + "."))
            total -= round(conv1_macs * (1 - len(layer["keep"]) / n))
    return total


def reduction_metrics(
    original: nn.Module, gathered: nn.Module, exported: nn.Module, input_size: tuple[int, ...]
) -> dict[str, float]:
    """FLOPs and params of the exported model against the original, all counted by the one counter in CC's
    mode: ``flops_reduction_layerwise`` (official accounting, producers kept: ``gathered``) and
    ``flops_reduction_real`` (the exported model, unused producer filters removed when ``slim``)."""
    from cvpapers.engine.flops import count_macs_params

    full, full_params = count_macs_params(original, input_size, mode="conv_linear_bias")
    macs, n_params = count_macs_params(exported, input_size, mode="conv_linear_bias")
    return {
        "flops_reduction_layerwise": 1.0 - layerwise_flops(gathered, input_size) / full,
        "flops_reduction_real": 1.0 - macs / full,
        "params_reduction": 1.0 - n_params / full_params,
        "flops": float(macs),
        "params": float(n_params),
    }
