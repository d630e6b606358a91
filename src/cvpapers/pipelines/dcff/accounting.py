"""What each arm costs, counted by the project's one MACs counter (paper counting rules, spec §9.1).

The *architecture plan* gives every prunable layer's widths (c filters, rate r, m kept), the full and compact
networks' MACs and parameters, and the MACs of DCFF's per-iteration fusion ``Q·W``. The training cost of an
arm is the forward multiply-accumulates spent on its training samples (backward costs the same multiple for
every arm), plus DCFF's fusion once per iteration.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def architecture_plan(
    arch: str, cprate: str, num_classes: int, input_size: tuple[int, int, int, int]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The plan (JSON-able) and its per-layer rows ``layer, c, rate, m``."""
    from cvpapers.engine.flops import count_macs_params
    from cvpapers.models.classification import build_classifier
    from cvpapers.pipelines.dcff.rates import expand_layer_rates

    rates = expand_layer_rates(arch, cprate)
    full = build_classifier(arch, num_classes)
    compact = build_classifier(arch, num_classes, rates)
    full_macs, full_params = count_macs_params(full, input_size)
    compact_macs, compact_params = count_macs_params(compact, input_size)
    full_cl, _ = count_macs_params(full, input_size, mode="conv_linear")
    compact_cl, _ = count_macs_params(compact, input_size, mode="conv_linear")
    layers = [
        {"layer": name, "c": int(c), "rate": float(r), "m": int(m)}
        for name, c, r, m in zip(
            compact.prunable_convs, full.kept_widths, rates, compact.kept_widths, strict=True
        )
    ]
    plan = {
        "arch": arch,
        "cprate": cprate,
        "num_classes": num_classes,
        "input_size": list(input_size),
        "layer_rates": rates,
        "layers": layers,
        "full_macs": full_macs,
        "full_params": full_params,
        "compact_macs": compact_macs,
        "compact_params": compact_params,
        "full_macs_conv_linear": full_cl,
        "compact_macs_conv_linear": compact_cl,
        # Q·W per iteration: m·c multiply-adds per weight column of each fused layer.
        "fusion_macs_per_iter": int(
            sum(
                layer["m"] * layer["c"] * int(np.prod(w.shape[1:]))
                for layer, w in zip(
                    layers,
                    [dict(compact.named_modules())[n].weight for n in compact.prunable_convs],
                    strict=True,
                )
            )
        ),
    }
    return plan, layers


def plan_metrics(plan: dict[str, Any]) -> dict[str, float]:
    full_macs, compact_macs = plan["full_macs"], plan["compact_macs"]
    full_params, compact_params = plan["full_params"], plan["compact_params"]
    return {
        "full_flops": float(full_macs),
        "compact_flops": float(compact_macs),
        "full_params": float(full_params),
        "compact_params": float(compact_params),
        "flops_reduction": 1.0 - compact_macs / full_macs,
        "params_reduction": 1.0 - compact_params / full_params,
    }


def model_config(plan: dict[str, Any], compact: bool = True) -> dict[str, Any]:
    """What rebuilds the full or compact network with ``build_classifier(**config)`` (stored in every
    checkpoint; ``build_fused_classifier(**config)`` gives the fused one)."""
    return {
        "arch": plan["arch"],
        "num_classes": plan["num_classes"],
        "layer_rates": plan["layer_rates"] if compact else None,
    }


def train_macs(epochs: int, n_train: int, macs_per_sample: float) -> float:
    """Forward multiply-accumulates spent on training samples (backward costs the same multiple for every arm)."""
    return float(epochs) * n_train * macs_per_sample


def dcff_train_macs(plan: dict[str, Any], epochs: int, n_train: int, iters_per_epoch: int) -> float:
    """The fused forward computes compact activations; ``Q·W`` adds its MACs once per iteration, not per sample."""
    return (
        train_macs(epochs, n_train, plan["compact_macs"])
        + iters_per_epoch * epochs * plan["fusion_macs_per_iter"]
    )


def l1_train_macs(plan: dict[str, Any], pretrain_epochs: int, finetune_epochs: int, n_train: int) -> float:
    """The full network for the pretraining epochs, the compact one for the fine-tuning epochs."""
    return train_macs(pretrain_epochs, n_train, plan["full_macs"]) + train_macs(
        finetune_epochs, n_train, plan["compact_macs"]
    )


def plain_train_macs(plan: dict[str, Any], epochs: int, n_train: int, compact: bool) -> float:
    return train_macs(epochs, n_train, plan["compact_macs"] if compact else plan["full_macs"])
