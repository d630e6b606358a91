"""L1-norm structured filter pruning: the "prune a trained full model, then fine-tune" baseline.

Given a full model and a compact model of the same architecture (both from
:func:`cvpapers.models.classification.build_classifier`; the compact one built with the target rates),
:func:`l1_prune_into` keeps, for every prunable conv, the ``m`` filters with the largest L1 norm
(``m`` = the compact model's width; indices sorted ascending so channel order is preserved), and slices
everything that touches those channels: the conv's filters and bias, the following BatchNorm (affine
parameters and running statistics) and the input channels of every consumer (next conv, downsample
conv, or the Linear classifier). The result is a state dict that loads into the compact model strictly.

Channels are handled as *channel groups*: a set of writers (conv + its BN) that produce one channel
space and the readers that consume it. A VGG is a chain (one writer per group), so the pruned model is
exactly the full model with the other filters removed. Residual networks couple channels through the
addition:

* CIFAR ResNets: conv1 of a block is free (its only reader is the block's conv2). The stage's residual
  stream is written by the stem (stage 1) and by conv2 of every block, so one index set is chosen for
  the whole stream by the L1 norm *summed over all those writers*. The option-A shortcut zero-pads by
  position (``(c_out - c_in) // 2`` zeros first), so in the compact model the kept stage-``s`` channels
  are padded into different positions of stage ``s+1`` than in the full model: the pruned model is not
  the full model restricted to the kept channels there. This is only the baseline's initialisation;
  fine-tuning recovers from it (and with unpruned stage rates, as in DCFF's ResNet-56 config, the
  residual streams are untouched and the pruning is exact).
* ResNet-50: conv1 and conv2 of a block are free; a stage's stream is written by conv3 of every block
  and by the downsample conv of its first block (summed L1 norm over all of them); the stem is its own
  group (read by layer1's first conv1 and downsample conv).

All selections are vectorised (one norm per layer tensor, one ``topk`` per group).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from cvpapers.models.classification import stage_blocks

__all__ = ["ChannelGroup", "channel_groups", "l1_keep_indices", "l1_prune_into"]

_PER_CHANNEL_KEYS = ("weight", "bias", "running_mean", "running_var")  # conv and BN tensors, dim 0


@dataclass(frozen=True)
class ChannelGroup:
    """One channel space: ``writers`` are (conv, bn) module-name pairs whose outputs share the channels
    (added together in residual nets), ``readers`` the modules whose ``weight`` dim 1 consumes them.
    A writer without BN (``vgg16_imagenet``) has ``None`` as its bn name."""

    writers: list[tuple[str, str | None]]
    readers: list[str] = field(default_factory=list)


def _vgg_groups(model: nn.Module) -> list[ChannelGroup]:
    convs: list[str] = list(model.prunable_convs)
    names = {name for name, _ in model.named_modules()}
    # vgg16_imagenet has no BN and a Sequential head whose first Linear reads channels x 7 x 7 positions.
    head = "classifier.0" if isinstance(model.classifier, nn.Sequential) else "classifier"
    groups = []
    for i, name in enumerate(convs):
        bn: str | None = name.rsplit(".", 1)[0] + ".bn" + name.rsplit(".conv", 1)[1]
        bn = bn if bn in names else None
        reader = convs[i + 1] if i + 1 < len(convs) else head
        groups.append(ChannelGroup([(name, bn)], [reader]))
    return groups


def _cifar_resnet_groups(arch: str) -> list[ChannelGroup]:
    blocks = stage_blocks(arch)
    groups = []
    for s, n in enumerate(blocks, start=1):
        writers = [("conv1", "bn1")] if s == 1 else []
        writers += [(f"layer{s}.{b}.conv2", f"layer{s}.{b}.bn2") for b in range(n)]
        readers = [f"layer{s}.{b}.conv1" for b in range(0 if s == 1 else 1, n)]
        readers += [f"layer{s + 1}.0.conv1"] if s < len(blocks) else ["fc"]
        groups.append(ChannelGroup(writers, readers))
        for b in range(n):
            groups.append(
                ChannelGroup([(f"layer{s}.{b}.conv1", f"layer{s}.{b}.bn1")], [f"layer{s}.{b}.conv2"])
            )
    return groups


def _resnet50_groups(arch: str) -> list[ChannelGroup]:
    blocks = stage_blocks(arch)
    groups = [ChannelGroup([("conv1", "bn1")], ["layer1.0.conv1", "layer1.0.downsample.0"])]
    for s, n in enumerate(blocks, start=1):
        writers = [(f"layer{s}.{b}.conv3", f"layer{s}.{b}.bn3") for b in range(n)]
        writers.append((f"layer{s}.0.downsample.0", f"layer{s}.0.downsample.1"))
        readers = [f"layer{s}.{b}.conv1" for b in range(1, n)]
        readers += [f"layer{s + 1}.0.conv1", f"layer{s + 1}.0.downsample.0"] if s < len(blocks) else ["fc"]
        groups.append(ChannelGroup(writers, readers))
        for b in range(n):
            p = f"layer{s}.{b}"
            groups.append(ChannelGroup([(f"{p}.conv1", f"{p}.bn1")], [f"{p}.conv2"]))
            groups.append(ChannelGroup([(f"{p}.conv2", f"{p}.bn2")], [f"{p}.conv3"]))
    return groups


def channel_groups(model: nn.Module) -> list[ChannelGroup]:
    """The channel groups of a ``build_classifier`` model (see module docstring)."""
    arch = getattr(model, "arch", None)
    if arch in ("vgg16", "vgg_small", "vgg16_imagenet"):
        return _vgg_groups(model)
    if arch in ("resnet56", "resnet110"):
        return _cifar_resnet_groups(arch)
    if arch == "resnet50":
        return _resnet50_groups(arch)
    raise ValueError(f"model has no known arch attribute (got {arch!r}); build it with build_classifier")


def _group_width(model: nn.Module, group: ChannelGroup, role: str) -> int:
    widths = {model.get_submodule(bn).num_features if bn else model.get_submodule(conv).weight.shape[0]
              for conv, bn in group.writers}
    if len(widths) != 1:
        raise ValueError(f"{role} model: coupled layers {group.writers} have different widths {widths}")
    return widths.pop()


def _check_pair(full: nn.Module, compact: nn.Module) -> None:
    if getattr(full, "arch", None) != getattr(compact, "arch", None):
        raise ValueError(
            f"full ({getattr(full, 'arch', None)}) and compact "
            f"({getattr(compact, 'arch', None)}) models differ in arch"
        )


def l1_keep_indices(full: nn.Module, compact: nn.Module) -> dict[str, torch.Tensor]:
    """Kept output-filter indices (sorted ascending, int64) of every writer conv of ``full``.

    Keys are conv module names (prunable convs and ResNet-50 downsample convs); coupled convs of one
    residual stream get the same indices, chosen by the L1 norm summed over the stream's writers.
    """
    _check_pair(full, compact)
    keep: dict[str, torch.Tensor] = {}
    for group in channel_groups(full):
        c = _group_width(full, group, "full")
        m = _group_width(compact, group, "compact")
        if m > c:
            raise ValueError(f"compact width {m} exceeds full width {c} for {group.writers[0][0]}")
        score = torch.zeros(c, dtype=torch.float64)
        for conv_name, _ in group.writers:
            weight = full.get_submodule(conv_name).weight.detach()
            if weight.shape[0] != c:
                raise ValueError(f"{conv_name}: weight has {weight.shape[0]} filters, its BN {c} channels")
            score += weight.abs().flatten(1).sum(dim=1).to(device="cpu", dtype=torch.float64)
        idx = torch.topk(score, m).indices.sort().values
        for conv_name, _ in group.writers:
            keep[conv_name] = idx
    return keep


def l1_prune_into(full: nn.Module, compact: nn.Module) -> dict[str, torch.Tensor]:
    """Slice ``full``'s weights down to ``compact``'s widths by filter L1 norm; the returned state dict
    loads into ``compact`` with ``strict=True`` (shapes are checked here, ValueError otherwise)."""
    keep = l1_keep_indices(full, compact)
    out_idx: dict[str, torch.Tensor] = {}  # module name -> indices along dim 0 of its tensors
    in_idx: dict[str, torch.Tensor] = {}  # module name -> indices along dim 1 of its weight
    for group in channel_groups(full):
        idx = keep[group.writers[0][0]]
        for conv_name, bn_name in group.writers:
            out_idx[conv_name] = idx
            out_idx[bn_name] = idx
        for reader in group.readers:
            in_idx[reader] = idx

    state: dict[str, torch.Tensor] = {}
    for key, tensor in full.state_dict().items():
        module_name, _, leaf = key.rpartition(".")
        value = tensor.detach()
        if module_name in out_idx and (leaf in _PER_CHANNEL_KEYS):
            value = value.index_select(0, out_idx[module_name].to(value.device))
        if module_name in in_idx and leaf == "weight":
            value = value.index_select(1, in_idx[module_name].to(value.device))
        state[key] = value.clone()

    target = compact.state_dict()
    if set(target) != set(state):
        missing, extra = sorted(set(target) - set(state)), sorted(set(state) - set(target))
        raise ValueError(f"state dict keys differ: missing {missing[:5]}, unexpected {extra[:5]}")
    bad = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in target.items() if state[k].shape != v.shape]
    if bad:
        raise ValueError(f"pruned shapes do not match the compact model (key, got, expected): {bad[:5]}")
    return state
