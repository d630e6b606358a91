"""The project's one FLOPs/params counter (hook-based, one forward pass on a zero tensor in eval mode).

Why our own counter: compression papers report "FLOPs" with a specific tool's conventions, and the
tools disagree (thop 0.1.x, fvcore, ptflops and ``torch.utils.flop_counter`` all give different numbers
for the same network). DCFF's numbers follow ``thop==0.0.31``; ``mode="paper"`` reproduces those rules:

=========================  ==================================================================
module                     ops counted (``out_numel`` = elements of the module's output)
=========================  ==================================================================
convolution (any ``_ConvNd``
or conv-like module, below) ``out_numel * (in_channels / groups * prod(kernel_size) + [bias])``
``nn.BatchNorm1d/2d/3d``   ``2 * numel`` (eval mode: scale and shift)
``nn.Linear``              ``in_features * out_numel`` (no op for the bias)
``nn.AvgPool1d/2d/3d``     ``out_numel`` (one op per output element, whatever the kernel)
``nn.AdaptiveAvgPool*d``   ``(kernel_area + 1) * out_numel``, ``kernel_area = prod(in_size // out_size)``
everything else            0 (ReLU, MaxPool, zero-pad shortcut, residual add, flatten, dropout, ...)
=========================  ==================================================================

So "FLOPs" here are multiply-accumulates (one multiply-add = 1 op, never doubled) plus BN and pooling.
``mode="conv_linear"`` counts only conv and linear MACs (no bias op): the classic "MACs" numbers
(e.g. 125.49M for ResNet-56). ``mode="conv_linear_bias"`` adds one op per output element of every
conv and linear bias (Collaborative Compression's counter: ImageNet VGG-16 15.484G).
``mode="conv_linear_pool"`` is ``conv_linear`` plus one op per *input* element of every adaptive average pool
(PSS-Net's counter: MobileNetV1 568.790528M = 568 740 352 + 50 176). ``mode="restoration"`` is
``conv_linear`` plus one op per LayerNorm input element plus the products a module declares through a
``matmul_macs(input, output)`` method (window attention's q·kᵀ and A·v; the module's Linear children are still
counted): Uformer's repo convention (Uformer-B 89.456 GMACs at 256²). Params = every
parameter of the model (BN gamma/beta included, buffers such as running statistics excluded); a DCFF fused model therefore reports its wide ``c``-filter tensors.

Convs are recognised by attributes, not by class: a module that is an ``nn.modules.conv._ConvNd`` or
exposes ``in_channels``, ``groups`` and ``kernel_size`` is counted from those attributes, its ``bias``
attribute (a tensor, or ``True``, counts one op per output element) and the shape of its *output*. A
DCFF fused conv, whose parameter holds ``c`` filters but which outputs ``m`` channels, thus counts
exactly like the compact ``nn.Conv2d`` it exports to. Counted modules are not descended into, so a
conv-like wrapper is never counted twice. Modules not in the table count 0 — extend the table here (one
counter for the whole project) when a paper needs another rule.

``count_with_torch`` cross-checks with ``torch.utils.flop_counter.FlopCounterMode`` (FLOPs / 2 = MACs of
conv and matmul ops, comparable to ``mode="conv_linear"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["MODES", "count_macs_params", "count_params", "count_with_torch"]

MODES: tuple[str, ...] = ("paper", "conv_linear", "conv_linear_bias", "conv_linear_pool", "restoration")

_Rule = Callable[[nn.Module, torch.Tensor, torch.Tensor], int]


def _as_tuple(value: int | Sequence[int]) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, Sequence) else (int(value),)


def _is_conv(module: nn.Module) -> bool:
    if isinstance(module, nn.modules.conv._ConvNd):
        return True
    return all(hasattr(module, a) for a in ("in_channels", "groups", "kernel_size"))


def _has_bias(module: nn.Module) -> bool:
    bias = getattr(module, "bias", None)
    if isinstance(bias, torch.Tensor):
        return True
    return bias is True


def _conv_rule(with_bias: bool) -> _Rule:
    def rule(module: nn.Module, _x: torch.Tensor, y: torch.Tensor) -> int:
        per_output = module.in_channels // module.groups * math.prod(_as_tuple(module.kernel_size))
        if with_bias and _has_bias(module):
            per_output += 1
        return y.numel() * per_output

    return rule


def _bn_rule(_module: nn.Module, x: torch.Tensor, _y: torch.Tensor) -> int:
    return 2 * x.numel()


def _linear_rule(module: nn.Module, _x: torch.Tensor, y: torch.Tensor) -> int:
    return module.in_features * y.numel()


def _linear_bias_rule(module: nn.Module, _x: torch.Tensor, y: torch.Tensor) -> int:
    """``conv_linear_bias``: the weights' MACs plus one op per output element for the bias (Collaborative
    Compression's counter: ``(#weights + #bias)`` per output position)."""
    return (module.in_features + int(module.bias is not None)) * y.numel()


def _global_pool_input_rule(_module: nn.Module, x: torch.Tensor, _y: torch.Tensor) -> int:
    """``conv_linear_pool``: an adaptive average pool costs one op per element it reads (H·W·C)."""
    return x.numel()


def _layernorm_rule(_module: nn.Module, x: torch.Tensor, _y: torch.Tensor) -> int:
    """``restoration``: a LayerNorm costs one op per element it normalises (B·L·d)."""
    return x.numel()


def _avgpool_rule(_module: nn.Module, _x: torch.Tensor, y: torch.Tensor) -> int:
    return y.numel()


def _adaptive_avgpool_rule(_module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    n_spatial = y.dim() - 2
    in_size, out_size = x.shape[-n_spatial:], y.shape[-n_spatial:]
    kernel_area = math.prod(i // o for i, o in zip(in_size, out_size, strict=True))
    return (kernel_area + 1) * y.numel()


def _rule_for(module: nn.Module, mode: str) -> _Rule | None:
    """The counting rule of a module, or None to descend into its children (leaves then count 0)."""
    if isinstance(module, nn.Linear):
        return _linear_bias_rule if mode == "conv_linear_bias" else _linear_rule
    if _is_conv(module):
        return _conv_rule(with_bias=mode in ("paper", "conv_linear_bias"))
    if mode == "conv_linear_pool":
        # PSS-Net's counter (pss_net §3.2): conv + linear MACs and one op per *input* element of a global pool.
        return _global_pool_input_rule if isinstance(module, nn.modules.pooling._AdaptiveAvgPoolNd) else None
    if mode == "restoration":
        # Uformer's repo convention (uformer §4): conv_linear plus one op per LayerNorm input element; the
        # attention products are declared by the attention modules (``matmul_macs``, added in ``attach``).
        return _layernorm_rule if isinstance(module, nn.LayerNorm) else None
    if mode in ("conv_linear", "conv_linear_bias"):
        return None
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return _bn_rule
    if isinstance(module, nn.modules.pooling._AvgPoolNd):
        return _avgpool_rule
    if isinstance(module, nn.modules.pooling._AdaptiveAvgPoolNd):
        return _adaptive_avgpool_rule
    return None


def count_params(model: nn.Module) -> int:
    """All parameters (buffers excluded), shared parameters once."""
    return sum(p.numel() for p in model.parameters())


def _zero_input(model: nn.Module, input_size: Sequence[int]) -> torch.Tensor:
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    return torch.zeros(tuple(input_size), device=device, dtype=dtype)


def count_macs_params(
    model: nn.Module,
    input_size: Sequence[int] = (1, 3, 32, 32),
    mode: str = "paper",
    per_module: dict[str, int] | None = None,
) -> tuple[int, int]:
    """Return ``(macs, params)`` of ``model`` for one forward pass of a zero tensor of ``input_size``.

    ``mode="paper"`` follows the thop-0.0.31 rules of the module docstring (DCFF's numbers);
    ``mode="conv_linear"`` counts conv + linear multiply-accumulates only. The model is run in eval mode
    (BN counts 2 ops/element as thop does in eval) and its training flag is restored afterwards.
    ``per_module``, when given, is filled with the MACs of every counted module under its qualified name
    (``model.named_modules()``), summing to the total: the per-layer breakdown (e.g. binary vs FP convs).
    """
    if mode not in MODES:
        raise ValueError(f"unknown counting mode {mode!r}; allowed: {', '.join(MODES)}")
    total = [0]
    handles: list[torch.utils.hooks.RemovableHandle] = []

    def attach(module: nn.Module, name: str = "") -> None:
        if mode == "restoration" and callable(getattr(module, "matmul_macs", None)):
            # Products that are not modules (attention q·kᵀ, A·v): the module declares them; its Linear
            # children are still counted below.
            def matmul_hook(mod: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
                macs = int(mod.matmul_macs(inputs[0], output))
                total[0] += macs
                if per_module is not None:
                    key = f"{name}.matmul" if name else "matmul"
                    per_module[key] = per_module.get(key, 0) + macs

            handles.append(module.register_forward_hook(matmul_hook))
        rule = _rule_for(module, mode)
        if rule is None:
            for child_name, child in module.named_children():
                attach(child, f"{name}.{child_name}" if name else child_name)
            return

        def hook(mod: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            macs = int(rule(mod, inputs[0], output))
            total[0] += macs
            if per_module is not None:
                per_module[name] = per_module.get(name, 0) + macs

        handles.append(module.register_forward_hook(hook))

    was_training = model.training
    attach(model)
    try:
        model.eval()
        with torch.no_grad():
            model(_zero_input(model, input_size))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return total[0], count_params(model)


def count_with_torch(model: nn.Module, input_size: Sequence[int] = (1, 3, 32, 32)) -> int:
    """MACs according to ``torch.utils.flop_counter`` (its FLOPs / 2): conv and matmul ops only, no
    bias, BN or pooling — a cross-check of ``count_macs_params(..., mode="conv_linear")``."""
    was_training = model.training
    try:
        model.eval()
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(_zero_input(model, input_size))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
