"""The compressed network as a real smaller module (spec §3.1, §7 ``compress``; pitfalls 1, 7, 14).

``build_classifier``'s conv factory decides only output widths, so compressed layers are put in after
the network is built: every compressed conv becomes a :class:`CompressedConv2d` (gather of the kept input
channels → k×k conv ``a`` → optional 1×1 conv ``b``). With ``slim`` the unused producer filters are then
removed with the project's channel-group machinery (:func:`cvpapers.models.pruning.channel_groups`): for a
group with a **single writer** all of whose readers are compressed layers, the writer keeps only the
channels some reader still reads (its filters — the rows of its 1×1 conv when it was itself decomposed —,
bias and BN channels) and the readers' gathers are re-indexed (dropped when they read everything).
Residual streams (several writers) keep the gather. A checkpoint's config ``{arch, num_classes, plan,
slim}`` rebuilds the same module with :func:`build_compressed_classifier`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from cvpapers.pipelines.collab_compression.units import LayerGeometry, factorise, rank_units


class CompressedConv2d(nn.Module):
    """``x[:, keep]`` → ``a`` (k×k, the original stride/padding) → ``b`` (1×1, carries the bias) if decomposed.

    It exposes no conv attributes, so the project's counter counts its convs ``a`` and ``b`` (the gather
    costs nothing)."""

    def __init__(self, keep: torch.Tensor | None, a: nn.Conv2d, b: nn.Conv2d | None) -> None:
        super().__init__()
        if keep is not None:
            self.register_buffer("keep", keep.to(torch.long))
        else:
            self.keep = None
        self.a = a
        self.b = b

    @property
    def out_conv(self) -> nn.Conv2d:
        """The conv whose filters are this layer's output channels."""
        return self.b if self.b is not None else self.a

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.keep is not None:
            x = x.index_select(1, self.keep)
        x = self.a(x)
        return self.b(x) if self.b is not None else x


def compressible_layers(model: nn.Module) -> list[str]:
    """The layers CC compresses (official ``layer_flops[1:-1]``; spec §3.0): every conv but the first one,
    ResNet-50's downsample convs included; the classifier never."""
    arch = getattr(model, "arch", None)
    if arch in ("vgg_small", "vgg16", "vgg16_imagenet"):
        return list(model.prunable_convs[1:])
    if arch in ("resnet56", "resnet110"):
        return list(model.prunable_convs[1:])
    if arch == "resnet50":
        names = []
        for name in model.prunable_convs[1:]:
            names.append(name)
            if name.endswith(".0.conv3"):
                names.append(name.replace("conv3", "downsample.0"))
        return names
    raise ValueError(f"collab_compression cannot compress arch {arch!r}")


def layer_geometries(
    model: nn.Module, input_size: tuple[int, ...], rank_compat: bool = False
) -> tuple[dict[str, LayerGeometry], int]:
    """Every compressible layer's geometry (output positions from the project's counter's per-module
    breakdown) and the whole network's MACs ``F_net`` (``conv_linear_bias``: CC's counting rule, §4)."""
    from cvpapers.engine.flops import count_macs_params

    per_module: dict[str, int] = {}
    total, _ = count_macs_params(model, input_size, mode="conv_linear_bias", per_module=per_module)
    out = {}
    for name in compressible_layers(model):
        conv = model.get_submodule(name)
        n, c, k, _ = conv.weight.shape
        bias = conv.bias is not None
        hw = per_module[name] // (n * (c * k * k + int(bias)))
        out[name] = LayerGeometry(n, c, k, hw, rank_units(n, c, k, rank_compat), n * hw if bias else 0)
    return out, total


def _conv_like(
    conv: nn.Conv2d,
    in_ch: int,
    out_ch: int,
    kernel: int | None = None,
    bias: bool | None = None,
    unit: bool = False,
) -> nn.Conv2d:
    if unit:
        return nn.Conv2d(in_ch, out_ch, 1, bias=bool(bias))
    return nn.Conv2d(
        in_ch,
        out_ch,
        kernel or conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        bias=bool(conv.bias is not None if bias is None else bias),
    )


def compressed_layer(conv: nn.Conv2d, keep: list[int], rank: int | None, weights: bool) -> CompressedConv2d:
    """The compressed form of ``conv``; with ``weights`` its weights come from ``conv``'s own kernel (§3.5.3)."""
    n, c = conv.out_channels, conv.in_channels
    idx = torch.as_tensor(keep, dtype=torch.long)
    bias = conv.bias is not None
    if rank is None:
        a, b = _conv_like(conv, len(keep), n), None
    else:
        a, b = _conv_like(conv, len(keep), rank, bias=False), _conv_like(conv, rank, n, bias=bias, unit=True)
    if weights:
        wa, wb = factorise(conv.weight, idx, rank)
        with torch.no_grad():
            a.weight.copy_(wa)
            last = a
            if b is not None:
                b.weight.copy_(wb)
                last = b
            if bias:
                last.bias.copy_(conv.bias)
    dev = conv.weight.device
    return CompressedConv2d(None if len(keep) == c else idx, a.to(dev), None if b is None else b.to(dev))


def _slice_out(conv: nn.Conv2d, idx: torch.Tensor) -> nn.Conv2d:
    new = nn.Conv2d(
        conv.in_channels,
        len(idx),
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        bias=conv.bias is not None,
    ).to(conv.weight.device)
    with torch.no_grad():
        new.weight.copy_(conv.weight.index_select(0, idx))
        if conv.bias is not None:
            new.bias.copy_(conv.bias.index_select(0, idx))
    return new


def _slice_bn(bn: nn.BatchNorm2d, idx: torch.Tensor) -> nn.BatchNorm2d:
    new = nn.BatchNorm2d(len(idx), eps=bn.eps, momentum=bn.momentum).to(bn.weight.device)
    with torch.no_grad():
        for key in ("weight", "bias", "running_mean", "running_var"):
            getattr(new, key).copy_(getattr(bn, key).index_select(0, idx))
        new.num_batches_tracked.copy_(bn.num_batches_tracked)
    return new


def _set_keep(layer: CompressedConv2d, keep: torch.Tensor | None) -> None:
    """Replace a layer's gather indices (a buffer, so they travel with its state dict) or drop the gather."""
    layer._buffers.pop("keep", None)
    layer.__dict__.pop("keep", None)
    if keep is None:
        layer.keep = None
    else:
        layer.register_buffer("keep", keep.to(torch.long))


def remove_unused_producers(model: nn.Module) -> int:
    """Drop every producer filter no reader uses (single-writer groups whose readers are all compressed);
    returns the number of filters removed. The network's function is unchanged."""
    from cvpapers.models.pruning import channel_groups

    removed = 0
    for group in channel_groups(model):
        if len(group.writers) != 1:
            continue  # a residual stream: the shortcut still needs every channel
        readers = [model.get_submodule(r) for r in group.readers]
        if not readers or not all(isinstance(r, CompressedConv2d) for r in readers):
            continue
        writer_name, bn_name = group.writers[0]
        writer = model.get_submodule(writer_name)
        width = (writer.out_conv if isinstance(writer, CompressedConv2d) else writer).out_channels
        full = torch.arange(width, device=readers[0].a.weight.device)
        used = torch.unique(torch.cat([r.keep if r.keep is not None else full for r in readers]))
        if len(used) == width:
            continue
        if isinstance(writer, CompressedConv2d):
            if writer.b is not None:
                writer.b = _slice_out(writer.b, used)
            else:
                writer.a = _slice_out(writer.a, used)
        else:
            model.set_submodule(writer_name, _slice_out(writer, used))
        if bn_name is not None:
            model.set_submodule(bn_name, _slice_bn(model.get_submodule(bn_name), used))
        for reader in readers:
            new_keep = torch.searchsorted(used, reader.keep if reader.keep is not None else full)
            _set_keep(reader, None if len(new_keep) == len(used) else new_keep)
        removed += width - len(used)
    return removed


def apply_plan(
    model: nn.Module, plan: Mapping[str, Mapping[str, Any]], slim: bool, weights: bool = True
) -> nn.Module:
    """Replace every planned layer of ``model`` (in place) by its compressed form, then (``slim``) remove the
    unused producer filters. ``plan[name] = {"keep": [...], "rank": r or None}``."""
    for name, layer in plan.items():
        conv = model.get_submodule(name)
        model.set_submodule(name, compressed_layer(conv, list(layer["keep"]), layer.get("rank"), weights))
    if slim:
        remove_unused_producers(model)
    return model.train(model.training)  # the new modules take the network's train/eval mode


def build_compressed_classifier(arch: str, num_classes: int, plan: dict[str, Any], slim: bool) -> nn.Module:
    """The compressed network's structure from its checkpoint config (weights loaded by ``rebuild_model``)."""
    from cvpapers.models.classification import build_classifier

    model = build_classifier(arch, num_classes)
    apply_plan(model, plan, slim, weights=False)
    model.compression_plan = plan
    return model
