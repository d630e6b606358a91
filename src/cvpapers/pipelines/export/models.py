"""What a trained network needs before it exports, per pipeline; plain PyTorch, each with equal outputs.

* ReCU: a :class:`~cvpapers.pipelines.recu.binary.BinaryConv2d` computes its binary weights from the latent
  ones on every call, through custom autograd Functions (straight-through gradients). The inference form
  :class:`SignConv2d` holds B_w = sign(W_c) as a constant and computes conv(sign(x), B_w)·α — what a deployed
  binary network runs, bitwise equal to the eval-mode forward.
* PSS-Net: the supernet runs the subnet it was activated with; every exported subnet is activated and its BN
  re-calibrated on the calibration images, exactly as the pipeline's evaluation does, then copied.
* Uformer: ``restore`` marks padded pixels by writing into a bool tensor and skips the padding mask with a
  data-dependent ``padded.any()``; neither traces. :class:`PaddedRestore` builds the same mask from index
  comparisons and applies it unconditionally (adding a zero mask where no token is padded changes nothing).
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SignConv2d(nn.Module):
    """Inference form of a binarised conv: ``conv2d(sign(x), B_w) * α`` with B_w = sign(W_c) stored (±1, 0)."""

    def __init__(
        self,
        binary_weight: Tensor,
        alpha: Tensor,
        stride: tuple[int, ...],
        padding: tuple[int, ...] | str,
        dilation: tuple[int, ...],
        groups: int,
    ) -> None:
        super().__init__()
        self.register_buffer("binary_weight", binary_weight)
        self.register_buffer("alpha", alpha)
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, x: Tensor) -> Tensor:
        out = F.conv2d(
            torch.sign(x), self.binary_weight, None, self.stride, self.padding, self.dilation, self.groups
        )
        return out * self.alpha


def replace_modules(model: nn.Module, make: Callable[[nn.Module], nn.Module | None]) -> int:
    """Replace, in place, every submodule for which ``make`` returns a module; the number replaced."""
    targets = [(name, mod) for name, mod in model.named_modules() if name]
    count = 0
    for name, mod in targets:
        new = make(mod)
        if new is not None:
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, child, new)
            count += 1
    return count


def freeze_binary_convs(model: nn.Module) -> tuple[nn.Module, int]:
    """A copy of ``model`` (eval mode) with every binarised conv in its inference form, and how many there were."""
    from cvpapers.pipelines.recu.binary import BinaryConv2d

    frozen = copy.deepcopy(model).eval()

    @torch.no_grad()
    def make(mod: nn.Module) -> nn.Module | None:
        if not isinstance(mod, BinaryConv2d):
            return None
        return SignConv2d(
            torch.sign(mod.clamped_weight()).detach().clone(),
            mod.alpha.detach().clone(),
            mod.stride,
            mod.padding,
            mod.dilation,
            mod.groups,
        )

    return frozen, replace_modules(frozen, make)


@torch.no_grad()
def materialise_slimmable(model: nn.Module, example: Tensor) -> int:
    """Replace, in place, every slimmable layer of an activated supernet by a plain layer holding only its active
    slice (conv ``W[:c_out, :c_in/groups]``, BN's first ``c`` entries, the classifier's first inputs), so the
    exported file carries the subnet's weights, not the supernet's. BN widths are read from one forward of
    ``example``. Returns the number of layers replaced."""
    from cvpapers.pipelines.pss_net.slimmable import SlimBatchNorm2d, SlimConv2d, SlimLinear

    widths: dict[int, int] = {}
    hooks = [
        m.register_forward_pre_hook(lambda mod, args: widths.__setitem__(id(mod), int(args[0].shape[1])))
        for m in model.modules()
        if isinstance(m, SlimBatchNorm2d)
    ]
    try:
        model.eval()(example[:1])
    finally:
        for h in hooks:
            h.remove()

    def make(mod: nn.Module) -> nn.Module | None:
        if isinstance(mod, SlimConv2d):
            conv = nn.Conv2d(
                mod.in_channels,
                mod.out_channels,
                mod.kernel_size,
                mod.stride,
                mod.padding,
                mod.dilation,
                mod.groups,
                bias=False,
            )
            conv.weight.copy_(mod.weight[: mod.out_channels, : mod.in_channels // mod.groups])
            return conv
        if isinstance(mod, SlimBatchNorm2d) and id(mod) in widths:
            c = widths[id(mod)]
            bn = nn.BatchNorm2d(c, eps=mod.eps, momentum=mod.momentum)
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(bn, name).copy_(getattr(mod, name)[:c])
            return bn
        if isinstance(mod, SlimLinear):
            linear = nn.Linear(mod.in_features, mod.out_features)
            linear.weight.copy_(mod.weight[:, : mod.in_features])
            linear.bias.copy_(mod.bias)
            return linear
        return None

    return replace_modules(model, make)


def pss_subnet(supernet: nn.Module, key: str, calib: np.ndarray, calib_batch_size: int) -> nn.Module:
    """A copy of the supernet running subnet ``key`` (``r<res>:<mults>``) with its BN re-calibrated on ``calib``
    (the pipeline's calibration images, fixed order, as its evaluation does), materialised, in eval mode."""
    from cvpapers.pipelines.pss_net import space as sp
    from cvpapers.pipelines.pss_net.calibrate import recalibrate_bn

    subnet = copy.deepcopy(supernet)
    subnet.activate(*sp.parse_key(key))
    x = torch.from_numpy(calib)
    batches = [(x[i : i + calib_batch_size], None) for i in range(0, len(x), calib_batch_size)]
    recalibrate_bn(subnet, batches, len(batches), torch.device("cpu"))
    materialise_slimmable(subnet, x)
    return subnet.eval()


def _masked_always(
    block: nn.Module, h: int, w: int, padded: Tensor | None, device: torch.device
) -> Tensor | None:
    """``LeWinBlock._mask`` without the data-dependent ``padded.any()`` shortcut (a zero mask where none is padded)."""
    from cvpapers.pipelines.uformer.networks import padding_attention_mask, shift_attention_mask

    mask = shift_attention_mask(h, w, block.win, block.shift, device)
    mask = mask[:, None] if mask is not None else None
    if padded is not None:
        rolled = torch.roll(padded, (-block.shift, -block.shift), (1, 2)) if block.shift else padded
        pad = padding_attention_mask(rolled, block.win, block.padding_mode)
        mask = pad if mask is None else mask + pad
    return mask


class PaddedRestore(nn.Module):
    """``Uformer.restore`` in traceable form: zero-pad bottom/right to the size multiple, mask the padding, crop."""

    def __init__(self, net: nn.Module) -> None:
        from cvpapers.pipelines.uformer.networks import LeWinBlock

        super().__init__()
        self.net = copy.deepcopy(net).eval()
        self.multiple = int(self.net.size_multiple)
        for block in self.net.modules():
            if isinstance(block, LeWinBlock):
                block._mask = types.MethodType(_masked_always, block)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        ph, pw = -h % self.multiple, -w % self.multiple
        if not ph and not pw:
            return self.net(x)
        rows = torch.arange(h + ph, device=x.device) >= h
        cols = torch.arange(w + pw, device=x.device) >= w
        padded = (rows[:, None] | cols[None, :]).expand(x.shape[0], h + ph, w + pw)
        return self.net(F.pad(x, (0, pw, 0, ph)), padded)[..., :h, :w]


def exportable(
    pipeline: str,
    module: nn.Module,
    sample: dict[str, np.ndarray],
    *,
    pss_keys: dict[str, str] | None = None,
    calib_batch_size: int = 128,
) -> dict[str, nn.Module]:
    """The module(s) to export for ``pipeline``'s trained ``module``, by label (PSS-Net: one per subnet)."""
    module = module.eval()
    if pipeline == "recu":
        return {"recu": freeze_binary_convs(module)[0]}
    if pipeline == "pss_net":
        return {
            label: pss_subnet(module, key, sample["calib"], calib_batch_size)
            for label, key in (pss_keys or {}).items()
        }
    if pipeline == "uformer" and hasattr(module, "size_multiple"):
        return {"uformer": PaddedRestore(module)}
    return {pipeline: module}
