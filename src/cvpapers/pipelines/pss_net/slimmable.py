"""Slimmable MobileNetV1/V2 supernets (spec §3.1, §4) and the embedded ``mbv1_tiny``.

Why here and not in ``models/``: only ``pss_net`` uses them, and they only make sense together with its
structure space (:mod:`cvpapers.pipelines.pss_net.space`), which computes the active widths.

Weight sharing: every layer keeps its full-width weight and a subnet uses the *first* channels
(``W[:c_out, :c_in]``; depthwise convs the first ``c`` filters with ``groups = c``); batch norm is shared and
sliced the same way. :meth:`SlimNet.activate` sets each layer's ``in_channels``/``out_channels``/``groups``
(convs) and ``in_features`` (classifier) to the *active* values, so the project's one counter
(:func:`cvpapers.engine.flops.count_macs_params`, which reads those attributes) counts the subnet.
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvpapers.pipelines.pss_net import space as sp


class SlimConv2d(nn.Conv2d):
    """A conv whose active in/out widths are its leading slices (depthwise: ``groups`` follows the width)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, depthwise: bool = False) -> None:
        super().__init__(
            c_in, c_out, kernel, stride, kernel // 2, groups=c_in if depthwise else 1, bias=False
        )
        self.depthwise, self.max_in, self.max_out = depthwise, c_in, c_out

    def set_width(self, c_in: int, c_out: int) -> None:
        if self.depthwise and c_in != c_out:
            raise ValueError(f"a depthwise conv keeps its width, got {c_in} → {c_out}")
        if c_in > self.max_in or c_out > self.max_out:
            raise ValueError(f"width {c_in}→{c_out} exceeds the supernet's {self.max_in}→{self.max_out}")
        self.in_channels, self.out_channels = c_in, c_out
        self.groups = c_in if self.depthwise else 1

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight[: self.out_channels, : self.in_channels // self.groups]
        return F.conv2d(x, w, None, self.stride, self.padding, self.dilation, self.groups)


class SlimBatchNorm2d(nn.BatchNorm2d):
    """Shared BN: affine parameters and running statistics sliced to the input's width."""

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            # momentum None = cumulative average (BN re-calibration, §3.9), else the usual EMA.
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        else:
            factor = 0.0
        use_batch = self.training or not self.track_running_stats
        return F.batch_norm(
            x,
            self.running_mean[:c],
            self.running_var[:c],
            self.weight[:c],
            self.bias[:c],
            use_batch,
            factor,
            self.eps,
        )


class SlimLinear(nn.Linear):
    """The classifier: input features sliced to the last layer's active width; ``n_classes`` outputs."""

    def __init__(self, c_in: int, n_classes: int) -> None:
        super().__init__(c_in, n_classes)
        self.max_in = c_in

    def set_width(self, c_in: int) -> None:
        self.in_features = c_in

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight[:, : self.in_features], self.bias)


def _conv_bn(
    c_in: int, c_out: int, kernel: int, stride: int, depthwise: bool = False, act: bool = True
) -> nn.Sequential:
    layers: list[nn.Module] = [SlimConv2d(c_in, c_out, kernel, stride, depthwise), SlimBatchNorm2d(c_out)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class SlimNet(nn.Module, abc.ABC):
    """Common part: the input resize to the active resolution, pool, classifier, activation of a config."""

    space: sp.Space

    def _init_weights(self) -> None:
        """Official initialisation (§3.8): conv N(0, √(2/(k²·c_out))), BN 1/0, FC N(0, 0.01) and bias 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, (2.0 / fan_out) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight), nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01), nn.init.zeros_(m.bias)

    def activate(self, resolution: int, mults: Sequence[float] | np.ndarray) -> None:
        """Make the subnet ``(resolution, mults)`` the one ``forward`` runs."""
        self.resolution = int(resolution)
        self._set_widths([int(w) for w in sp.widths(self.space, np.asarray(mults, dtype=np.float64))[0]])

    def activate_max(self) -> None:
        self.activate(*sp.max_cfg(self.space))

    def activate_min(self) -> None:
        self.activate(*sp.min_cfg(self.space))

    @abc.abstractmethod
    def _set_widths(self, w: list[int]) -> None:
        """Give every slimmable layer its active width (each architecture maps the width vector its own way)."""

    def _resize(self, x: Tensor) -> Tensor:
        # The data always has the largest resolution; lower ones are made inside the model (§11.10).
        if x.shape[-1] != self.resolution or x.shape[-2] != self.resolution:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=True)
        return x


class SlimMobileNetV1(SlimNet):
    """MobileNetV1 / ``mbv1_tiny``: stem conv, depthwise-separable blocks, one multiplier per non-depthwise
    conv (per-layer widths)."""

    def __init__(
        self,
        base_channels: Sequence[int],
        strides: Sequence[int],
        n_classes: int,
        divisor: int,
        width_range: Sequence[float],
        resolutions: Sequence[int],
        arch: str = "mbv1_tiny",
    ) -> None:
        super().__init__()
        self.arch = arch
        self.space = sp.build_space(
            arch, n_classes, divisor, width_range, resolutions, base_channels, strides
        )
        c = self.space.base_channels
        self.stem = _conv_bn(3, c[0], 3, self.space.strides[0])
        self.blocks = nn.ModuleList(
            nn.Sequential(
                _conv_bn(c[i - 1], c[i - 1], 3, self.space.strides[i], depthwise=True),
                _conv_bn(c[i - 1], c[i], 1, 1),
            )
            for i in range(1, len(c))
        )
        self.pool = nn.AdaptiveAvgPool2d(1)  # a module, so the counter sees the pool
        self.classifier = SlimLinear(c[-1], n_classes)
        self._init_weights()
        self.activate_max()

    def _set_widths(self, w: list[int]) -> None:
        self.stem[0].set_width(3, w[0])
        for i, block in enumerate(self.blocks, start=1):
            block[0][0].set_width(w[i - 1], w[i - 1])
            block[1][0].set_width(w[i - 1], w[i])
        self.classifier.set_width(w[-1])

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(self._resize(x))
        for block in self.blocks:
            x = block(x)
        return self.classifier(torch.flatten(self.pool(x), 1))


class SlimInvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, expand: int, divisor: int) -> None:
        super().__init__()
        self.expand_ratio, self.divisor = expand, divisor
        self.residual = stride == 1 and c_in == c_out
        hidden = c_in if expand == 1 else sp.make_divisible(c_in * expand, divisor)
        layers = [] if expand == 1 else [_conv_bn(c_in, hidden, 1, 1)]
        layers += [
            _conv_bn(hidden, hidden, 3, stride, depthwise=True),
            _conv_bn(hidden, c_out, 1, 1, act=False),
        ]
        self.conv = nn.Sequential(*layers)

    def set_width(self, c_in: int, c_out: int) -> None:
        # The expansion follows the *active* input width (§11.2).
        hidden = c_in if self.expand_ratio == 1 else sp.make_divisible(c_in * self.expand_ratio, self.divisor)
        convs = [seq[0] for seq in self.conv]
        if self.expand_ratio != 1:
            convs.pop(0).set_width(c_in, hidden)
        convs[0].set_width(hidden, hidden)
        convs[1].set_width(hidden, c_out)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class SlimMobileNetV2(SlimNet):
    """MobileNetV2: one multiplier per stage (shared by its blocks, for the residual adds); last conv 1280."""

    def __init__(
        self,
        n_classes: int,
        divisor: int,
        width_range: Sequence[float],
        resolutions: Sequence[int],
        arch: str = "mobilenet_v2",
    ) -> None:
        super().__init__()
        self.arch = arch
        self.space = sp.build_space("mobilenet_v2", n_classes, divisor, width_range, resolutions)
        c = self.space.base_channels
        self.stem = _conv_bn(3, c[0], 3, 2)
        blocks, c_in = [], c[0]
        for stage, (t, c_out, n, s) in enumerate(self.space.stages, start=1):
            for b in range(n):
                blocks.append(SlimInvertedResidual(c_in, c_out, s if b == 0 else 1, t, divisor))
                blocks[-1].stage = stage
                c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.last = _conv_bn(c_in, sp.MBV2_LAST, 1, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = SlimLinear(sp.MBV2_LAST, n_classes)
        self._init_weights()
        self.activate_max()

    def _set_widths(self, w: list[int]) -> None:
        self.stem[0].set_width(3, w[0])
        c_in = w[0]
        for block in self.blocks:
            block.set_width(c_in, w[block.stage])
            c_in = w[block.stage]
        self.last[0].set_width(c_in, sp.MBV2_LAST)
        self.classifier.set_width(sp.MBV2_LAST)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(self._resize(x))
        for block in self.blocks:
            x = block(x)
        return self.classifier(torch.flatten(self.pool(self.last(x)), 1))


def build_supernet(
    arch: str,
    n_classes: int,
    divisor: int,
    width_range: Sequence[float],
    resolutions: Sequence[int],
    base_channels: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
) -> SlimNet:
    """The supernet of ``arch`` (``mbv1_tiny`` | ``mobilenet_v1`` | ``mobilenet_v2``), max net active.
    Called with the checkpoint's config by :func:`cvpapers.engine.checkpoint.rebuild_model`."""
    if arch == "mobilenet_v2":
        return SlimMobileNetV2(n_classes, divisor, width_range, resolutions)
    default = {
        "mbv1_tiny": (sp.TINY_CHANNELS, sp.TINY_STRIDES),
        "mobilenet_v1": (sp.MBV1_CHANNELS, sp.MBV1_STRIDES),
    }
    if arch not in default:
        raise ValueError(f"unknown arch {arch!r}; allowed: mbv1_tiny, mobilenet_v1, mobilenet_v2")
    return SlimMobileNetV1(
        base_channels or default[arch][0],
        strides or default[arch][1],
        n_classes,
        divisor,
        width_range,
        resolutions,
        arch,
    )


def extract_subnet(model: SlimNet) -> nn.Module:
    """A copy of the active subnet made of plain ``nn.Conv2d``/``nn.BatchNorm2d``/``nn.Linear`` layers holding
    the sliced weights (deployment; and the reference the slicing tests compare with)."""
    dense = copy.deepcopy(model)
    for parent in list(dense.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, SlimConv2d):
                conv = nn.Conv2d(
                    child.in_channels,
                    child.out_channels,
                    child.kernel_size,
                    child.stride,
                    child.padding,
                    groups=child.groups,
                    bias=False,
                )
                conv.weight.data.copy_(
                    child.weight[: child.out_channels, : child.in_channels // child.groups]
                )
                setattr(parent, name, conv)
            elif isinstance(child, SlimBatchNorm2d):
                c = _bn_width(dense, parent, name)
                bn = nn.BatchNorm2d(c, child.eps, child.momentum)
                for attr in ("weight", "bias", "running_mean", "running_var"):
                    getattr(bn, attr).data.copy_(getattr(child, attr)[:c])
                setattr(parent, name, bn)
            elif isinstance(child, SlimLinear):
                fc = nn.Linear(child.in_features, child.out_features)
                fc.weight.data.copy_(child.weight[:, : child.in_features])
                fc.bias.data.copy_(child.bias)
                setattr(parent, name, fc)
    return dense


def _bn_width(_model: nn.Module, parent: nn.Module, name: str) -> int:
    """The width of a BN = the output width of the conv just before it in its ``Sequential``."""
    conv = parent[int(name) - 1]
    return conv.out_channels
