"""Initial weights of every arm: DCFF's fused network, L1's full network, the scratch compact network.

Why a scheme per architecture: DCFF trains a fused filter ``Q·W`` whose ``c`` source filters become, once
``Q`` is one-hot (a few iterations in), the compact network's filters. Under BatchNorm a filter's scale sets
its effective learning rate (∝ lr/‖w‖²), so the fused filters must start at a *compact* filter's scale.
The official CIFAR models do that by initialising on the fan-in (``c'_in·k·k``, the same for the fused and
the compact conv): VGG-16 with ``nn.Conv2d``'s default (uniform ±1/√fan_in), ResNet-56 Kaiming-normal fan_in.
Only the official ImageNet ResNet-50 uses fan_out (its fused filters start √(c/m) smaller). The embedded
``vgg_small`` used fan_out over the ``c``-filter tensor (its builder's rule, ``builder`` here), which left
every fused filter √2 smaller than a compact one at r = 0.5.

Why paired draws: with ``paired`` seeds each weight tensor is a slice of one draw of the *full* network's
tensor of that layer, from a generator seeded by (run seed, "init", layer name) — so the arms start from
the same numbers wherever their shapes overlap (DCFF's first conv equals L1's full first conv; the scratch
net's filters are the first ``m`` of them), independent of how many numbers another layer consumed. Each
tensor is then scaled by its *own* fans, exactly as ``nn.init`` would scale it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from cvpapers.engine.seeding import derive_seed

#: The official CIFAR/ImageNet rule of each architecture (vgg_small has no official code: the CIFAR ResNets' rule).
OFFICIAL_SCHEME: dict[str, str] = {
    "vgg_small": "fan_in",
    "vgg16": "conv_default",
    "resnet56": "fan_in",
    "resnet110": "fan_in",
    "resnet50": "fan_out",
}


def resolve_scheme(arch: str, scheme: str) -> str:
    """``auto`` → the architecture's official rule; any other scheme as given."""
    return OFFICIAL_SCHEME[arch] if scheme == "auto" else scheme


def _weighted_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Convs (plain or fused: any module with a 4-D ``weight``) and Linears, by module name."""
    return {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear)
        or (isinstance(getattr(m, "weight", None), nn.Parameter) and m.weight.dim() == 4)
    }


def full_shapes(arch: str, num_classes: int) -> dict[str, tuple[torch.Size, torch.Size | None]]:
    """(weight shape, bias shape) of every conv and Linear of the unpruned network (built on the meta device)."""
    from cvpapers.models.classification import build_classifier

    with torch.device("meta"):
        full = build_classifier(arch, num_classes)
    return {
        name: (m.weight.shape, m.bias.shape if getattr(m, "bias", None) is not None else None)
        for name, m in _weighted_modules(full).items()
    }


def _slice_of_draw(
    seed: int, name: str, part: str, full: torch.Size, shape: torch.Size, normal: bool
) -> Tensor:
    """The leading ``shape`` block of one standard draw (normal, or uniform in [-1, 1)) of ``full``."""
    if any(s > f for s, f in zip(shape, full, strict=True)):
        raise ValueError(f"{name}.{part}: shape {tuple(shape)} exceeds the full network's {tuple(full)}")
    g = torch.Generator().manual_seed(derive_seed(seed, "init", name, part))
    z = torch.randn(full, generator=g) if normal else torch.rand(full, generator=g) * 2 - 1
    return z[tuple(slice(0, s) for s in shape)]


def _fans(weight: Tensor) -> tuple[int, int]:
    receptive = math.prod(weight.shape[2:]) if weight.dim() > 2 else 1
    return weight.shape[1] * receptive, weight.shape[0] * receptive


@torch.no_grad()
def paired_init(model: nn.Module, arch: str, num_classes: int, scheme: str, seed: int) -> None:
    """Re-draw every conv and Linear of ``model`` (full, compact or fused) as slices of the full network's
    per-layer draws, scaled by the tensor's own fans.

    Convs: ``fan_in`` / ``fan_out`` Kaiming-normal (ReLU gain), ``conv_default`` uniform ±1/√fan_in (what
    ``nn.Conv2d`` does). Linear: Kaiming-normal fan_in for the CIFAR ResNets under ``fan_in`` (their official
    ``_weights_init``), else PyTorch's default; biases PyTorch's default (uniform ±1/√fan_in). BatchNorm keeps
    γ = 1, β = 0.
    """
    if scheme not in ("fan_in", "fan_out", "conv_default"):
        raise ValueError(f"paired_init draws fan_in, fan_out or conv_default weights, not {scheme!r}")
    shapes = full_shapes(arch, num_classes)
    for name, module in _weighted_modules(model).items():
        if name not in shapes:
            raise KeyError(f"{name} is not a layer of the full {arch}")
        full_w, full_b = shapes[name]
        rule = scheme
        if isinstance(module, nn.Linear):
            rule = "fan_in" if scheme == "fan_in" and arch in ("resnet56", "resnet110") else "conv_default"
        fan_in, fan_out = _fans(module.weight)
        normal = rule != "conv_default"
        z = _slice_of_draw(seed, name, "weight", full_w, module.weight.shape, normal)
        scale = (
            math.sqrt(2.0 / (fan_in if rule == "fan_in" else fan_out)) if normal else 1.0 / math.sqrt(fan_in)
        )
        module.weight.copy_(z * scale)
        if getattr(module, "bias", None) is not None and full_b is not None:
            zb = _slice_of_draw(seed, name, "bias", full_b, module.bias.shape, normal=False)
            module.bias.copy_(zb / math.sqrt(fan_in))
