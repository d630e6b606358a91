"""Parameters and MACs of a ReCU network through the project's one counter (``conv_linear`` mode), split into
binary MACs (the binarised convs) and full-precision MACs (stem, FC, FP downsample convs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cvpapers.engine.flops import count_macs_params
from cvpapers.pipelines.recu.binary import BinaryConv2d
from cvpapers.pipelines.recu.models import build_recu_net


def architecture_plan(
    arch: str,
    num_classes: int,
    input_size: Sequence[int],
    widths: Sequence[int] = (16, 32, 64),
    blocks_per_stage: int = 1,
    stem_stride: int = 2,
) -> dict[str, Any]:
    """What the network costs: params (incl. α and BN affine), binarised weights, MACs total / binary / FP,
    ``paper``-mode MACs beside them, and the full-precision reference's params (no α)."""
    shape = {"widths": list(widths), "blocks_per_stage": blocks_per_stage, "stem_stride": stem_stride}
    model = build_recu_net(arch, num_classes, "recu", **shape)
    per_module: dict[str, int] = {}
    macs, params = count_macs_params(model, tuple(input_size), mode="conv_linear", per_module=per_module)
    binary_names = {name for name, m in model.named_modules() if isinstance(m, BinaryConv2d)}
    binary_macs = sum(v for k, v in per_module.items() if k in binary_names)
    paper_macs, _ = count_macs_params(model, tuple(input_size), mode="paper")
    _, fp_params = count_macs_params(build_recu_net(arch, num_classes, "fp", **shape), tuple(input_size))
    return {
        "arch": arch,
        "num_classes": int(num_classes),
        "input_size": list(input_size),
        **({"tiny": shape} if arch == "resnet_bireal_tiny" else {}),
        "params": int(params),
        "binary_weights": int(sum(m.weight.numel() for m in model.modules() if isinstance(m, BinaryConv2d))),
        "macs": int(macs),
        "binary_macs": int(binary_macs),
        "fp_macs": int(macs - binary_macs),
        "paper_macs": int(paper_macs),
        "fp_reference_params": int(fp_params),
    }


def plan_metrics(plan: dict[str, Any]) -> dict[str, float]:
    """``arch/…`` numbers of the plan (bare keys; the hook adds the node's name)."""
    keys = ("params", "binary_weights", "macs", "binary_macs", "fp_macs", "paper_macs")
    return {f"arch/{k}": float(plan[k]) for k in keys}
