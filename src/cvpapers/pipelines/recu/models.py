"""ReCU's networks (spec §4, official ``models_cifar/*.py``, ``models_imagenet/resnet.py``), plain PyTorch.

Every architecture keeps its first conv and last FC in full precision and binarises every other conv
(:class:`BinaryConv2d`, except the FP 1×1 downsample convs of the ImageNet ResNets); Hardtanh everywhere.
``method`` picks the binarised convs' weight path (``recu``, ``bnn``, ``ws_only``) or replaces them by plain
``nn.Conv2d`` of the same shape (``fp``, the full-precision reference). The ``_1w1a`` suffix keeps these apart
from the project's ``vgg_small`` (dcff's embedded net) and ``ZeroPadShortcut`` (strided, not averaged).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from cvpapers.pipelines.recu.binary import METHODS, WS_TARGET_STD, BinaryConv2d

ARCHS: tuple[str, ...] = (
    "resnet_bireal_tiny",
    "resnet20_1w1a",
    "resnet18_1w1a",
    "vgg_small_1w1a",
    "resnet18_imagenet_1w1a",
    "resnet34_imagenet_1w1a",
)
CIFAR_ARCHS = ARCHS[:4]


class _Binarise:
    """Builds the network's binarised convs with one method, τ and standardisation target."""

    def __init__(self, method: str, tau: float, target_std: float, eps: float) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        self.method, self.tau, self.target_std, self.eps = method, tau, target_std, eps

    def conv3x3(self, cin: int, cout: int, stride: int = 1) -> nn.Module:
        if self.method == "fp":
            return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        return BinaryConv2d(
            cin,
            cout,
            3,
            stride=stride,
            padding=1,
            method=self.method,
            tau=self.tau,
            target_std=self.target_std,
            eps=self.eps,
        )


class AvgPadShortcut(nn.Module):
    """ReCU's option-A shortcut: AvgPool2d(2) when strided, then zero channels on both sides (parameter-free).

    Not the project's ``ZeroPadShortcut``, which subsamples with ``x[:, :, ::2, ::2]`` (pitfall 14).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels < in_channels or (out_channels - in_channels) % 2:
            raise ValueError(f"zero-pad shortcut needs an even widening, got {in_channels} → {out_channels}")
        self.pool = nn.AvgPool2d(2) if stride != 1 else nn.Identity()
        # = c_out / 4 per side when c_out = 2·c_in (the official rule)
        self.pad = (out_channels - in_channels) // 2

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(x)
        return F.pad(x, (0, 0, 0, 0, self.pad, self.pad)) if self.pad else x


class BiRealBlock(nn.Module):
    """A shortcut around every binarised conv (ResNet-20, the tiny net, the ImageNet ResNets):
    h = Hardtanh(BN1(conv1(x)) + shortcut(x)); out = Hardtanh(BN2(conv2(h)) + h)."""

    def __init__(self, b: _Binarise, cin: int, cout: int, stride: int, fp_downsample: bool = False) -> None:
        super().__init__()
        self.conv1, self.bn1 = b.conv3x3(cin, cout, stride), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = b.conv3x3(cout, cout), nn.BatchNorm2d(cout)
        self.act1, self.act2 = nn.Hardtanh(), nn.Hardtanh()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = (
                nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
                if fp_downsample
                else AvgPadShortcut(cin, cout, stride)
            )

    def forward(self, x: Tensor) -> Tensor:
        h = self.act1(self.bn1(self.conv1(x)) + self.shortcut(x))
        return self.act2(self.bn2(self.conv2(h)) + h)


class BasicBlock1w1a(nn.Module):
    """The CIFAR ResNet-18 block, one shortcut per block (pitfall 9):
    h = Hardtanh(BN1(conv1(x))); out = Hardtanh(BN2(conv2(h)) + shortcut(x))."""

    def __init__(self, b: _Binarise, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = b.conv3x3(cin, cout, stride), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = b.conv3x3(cout, cout), nn.BatchNorm2d(cout)
        self.act1, self.act2 = nn.Hardtanh(), nn.Hardtanh()
        self.shortcut = AvgPadShortcut(cin, cout, stride) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h = self.act1(self.bn1(self.conv1(x)))
        return self.act2(self.bn2(self.conv2(h)) + self.shortcut(x))


class ResNet1w1a(nn.Module):
    """Stem (FP) → stages of blocks → global average pool → BatchNorm1d → FC (FP)."""

    def __init__(self, stem: nn.Module, stages: nn.Sequential, width: int, num_classes: int) -> None:
        super().__init__()
        self.stem, self.stages = stem, stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.bn_head = nn.BatchNorm1d(width)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.bn_head(self.pool(self.stages(self.stem(x))).flatten(1)))


def _stages(
    b: _Binarise,
    block: Any,
    stem_width: int,
    widths: Sequence[int],
    blocks: Sequence[int],
    strides: Sequence[int],
    **kwargs: Any,
) -> nn.Sequential:
    layers, cin = [], stem_width
    for width, n, stride in zip(widths, blocks, strides, strict=True):
        for i in range(n):
            layers.append(block(b, cin, width, stride if i == 0 else 1, **kwargs))
            cin = width
    return nn.Sequential(*layers)


def _kaiming_convs(model: nn.Module) -> None:
    """Kaiming-normal (fan_in) on every conv, binarised or not; PyTorch defaults elsewhere (spec §4)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight)


def _cifar_resnet(
    b: _Binarise,
    num_classes: int,
    widths: Sequence[int],
    blocks: Sequence[int],
    stem_stride: int,
    block: Any = BiRealBlock,
    stem_act: bool = True,
) -> ResNet1w1a:
    stem_layers = [
        nn.Conv2d(3, widths[0], 3, stride=stem_stride, padding=1, bias=False),
        nn.BatchNorm2d(widths[0]),
    ]
    stem = nn.Sequential(*stem_layers, *([nn.Hardtanh()] if stem_act else []))
    strides = [1] + [2] * (len(widths) - 1)
    model = ResNet1w1a(stem, _stages(b, block, widths[0], widths, blocks, strides), widths[-1], num_classes)
    _kaiming_convs(model)
    return model


class VggSmall1w1a(nn.Module):
    """ReCU's VGG-small (128–512 channels; pooling before BN), not the project's ``vgg_small``."""

    def __init__(self, b: _Binarise, num_classes: int = 10) -> None:
        super().__init__()
        act = nn.Hardtanh
        self.features = nn.Sequential(
            nn.Conv2d(3, 128, 3, padding=1, bias=False),
            nn.BatchNorm2d(128),
            act(),
            b.conv3x3(128, 128),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(128),
            act(),
            b.conv3x3(128, 256),
            nn.BatchNorm2d(256),
            act(),
            b.conv3x3(256, 256),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(256),
            act(),
            b.conv3x3(256, 512),
            nn.BatchNorm2d(512),
            act(),
            b.conv3x3(512, 512),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(512),
            act(),
        )
        self.fc = nn.Linear(512 * 4 * 4, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(
                    m.weight, 0.0, (2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels)) ** 0.5
                )
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.fc.weight, 0.0, 0.01)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).flatten(1))


def _imagenet_resnet(b: _Binarise, num_classes: int, blocks: Sequence[int]) -> ResNet1w1a:
    stem = nn.Sequential(
        nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(64),
        nn.Hardtanh(),
        nn.MaxPool2d(3, stride=2, padding=1),
    )
    widths = (64, 128, 256, 512)
    stages = _stages(b, BiRealBlock, 64, widths, blocks, (1, 2, 2, 2), fp_downsample=True)
    model = ResNet1w1a(stem, stages, 512, num_classes)
    _kaiming_convs(model)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):  # pitfall 8: every BatchNorm2d weight starts at 1e-8
            nn.init.constant_(m.weight, 1e-8)
            nn.init.zeros_(m.bias)
    return model


def build_recu_net(
    arch: str,
    num_classes: int = 10,
    method: str = "recu",
    widths: Sequence[int] = (16, 32, 64),
    blocks_per_stage: int = 1,
    stem_stride: int = 2,
    tau: float = 0.85,
    target_std: float = WS_TARGET_STD,
    eps: float = 1e-5,
) -> nn.Module:
    """One of :data:`ARCHS` with ``method``'s binarised convs. ``widths``, ``blocks_per_stage`` and
    ``stem_stride`` are read only for ``resnet_bireal_tiny``; the paper networks have fixed shapes."""
    b = _Binarise(method, tau, target_std, eps)
    if arch == "resnet_bireal_tiny":
        return _cifar_resnet(b, num_classes, list(widths), [blocks_per_stage] * len(widths), stem_stride)
    if arch == "resnet20_1w1a":
        return _cifar_resnet(b, num_classes, [16, 32, 64], [3, 3, 3], 1)
    if arch == "resnet18_1w1a":
        return _cifar_resnet(
            b, num_classes, [64, 128, 256, 512], [2, 2, 2, 2], 1, BasicBlock1w1a, stem_act=False
        )
    if arch == "vgg_small_1w1a":
        return VggSmall1w1a(b, num_classes)
    if arch == "resnet18_imagenet_1w1a":
        return _imagenet_resnet(b, num_classes, (2, 2, 2, 2))
    if arch == "resnet34_imagenet_1w1a":
        return _imagenet_resnet(b, num_classes, (3, 4, 6, 3))
    raise ValueError(f"unknown arch {arch!r}; allowed: {', '.join(ARCHS)}")


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """ImageNet's weight-decay rule by role (pitfall 8): decay on the stem conv, binarised conv weights and α, FC
    weight and bias; none on BatchNorm and on the FP downsample convs of the shortcuts."""
    no_decay_modules = {
        id(m) for blk in model.modules() if isinstance(blk, BiRealBlock) for m in blk.shortcut.modules()
    }
    decay, other = [], []
    for module in model.modules():
        for p in module.parameters(recurse=False):
            is_weight_layer = isinstance(module, nn.Conv2d | nn.Linear)
            (decay if is_weight_layer and id(module) not in no_decay_modules else other).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": other, "weight_decay": 0.0}]
