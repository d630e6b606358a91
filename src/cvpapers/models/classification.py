"""Classification backbones shared by the compression papers (DCFF, L1 baseline, scratch baseline).

One builder, :func:`build_classifier`, produces the paper architectures of ``papers/dcff.md`` §4:

* ``vgg16``     CIFAR VGG-16: 13 biased 3x3 convs + BN + ReLU, five max-pools, a no-op ``AvgPool2d(1)``
  and a single ``Linear`` (default PyTorch init, as in the official code);
* ``resnet56`` / ``resnet110``  CIFAR ResNets with option-A shortcuts (subsample + zero-pad channels),
  Kaiming-normal (fan_in) init of convs and the classifier;
* ``resnet50``  ImageNet ResNet-50 in torchvision layout (stride on the 3x3 conv, plain 1x1 downsample
  conv), Kaiming-normal (fan_out) init;
* ``vgg_small`` the embedded model (cfg ``[16,16,M,32,32,M,64,64,M]``, no conv bias, global average pool);
* ``vgg16_imagenet`` torchvision's ImageNet VGG-16 (cfg D, biased convs, no BN, ``AdaptiveAvgPool2d(7)``,
  classifier 25088-4096-4096-classes with ReLU + dropout; module names ``features.conv<k>``,
  ``classifier.{0,3,6}``), Collaborative Compression's VGG-16.

Why the builder takes per-layer rates and a ``conv`` factory: a compressed network differs from the
full one only in the *width* of every prunable conv (``m = int(c * (1 - r))``, a Python ``int`` of the
float product, never rounded) and in *how* each prunable conv is parametrised (DCFF keeps ``c`` filters
and outputs ``m`` fused ones; a compact model simply has ``m`` filters). Building all variants with the
same code guarantees identical module names, so a compact state dict exported from a fused model, or
sliced from a full model, loads by name. Every prunable conv is created through ``conv``; the only
non-prunable conv (ResNet-50's downsample 1x1) is a plain ``nn.Conv2d`` with compact widths.

Residual couplings: channels that are *added* together must have the same width, so they share one
rate. CIFAR ResNets: the stem and conv2 of every block of a stage write the stage's residual stream
(the stem takes the stage-1 rate). ResNet-50: conv3 of every block and the downsample conv write the
stage's stream (the stem is its own width because layer1's first block has a downsample conv).

Every returned model carries ``arch``, ``layer_rates`` (one rate per prunable conv), ``prunable_convs``
(module names in the canonical rate order) and ``kept_widths`` (``m`` of each prunable conv).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cvpapers.models.convs import ConvFactory, plain_conv

__all__ = [
    "ARCHS",
    "GlobalAvgPool2d",
    "ZeroPadShortcut",
    "build_classifier",
    "full_widths",
    "kept_width",
    "prunable_layer_count",
    "stage_blocks",
]

_VGG_CFGS: dict[str, list[int | str]] = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg_small": [16, 16, "M", 32, 32, "M", 64, 64, "M"],
    "vgg16_imagenet": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}
_CIFAR_RESNET_BLOCKS: dict[str, int] = {"resnet56": 9, "resnet110": 18}
_CIFAR_RESNET_PLANES: tuple[int, int, int] = (16, 32, 64)
_RESNET50_BLOCKS: tuple[int, int, int, int] = (3, 4, 6, 3)
_RESNET50_PLANES: tuple[int, int, int, int] = (64, 128, 256, 512)
_BOTTLENECK_EXPANSION = 4

ARCHS: tuple[str, ...] = ("vgg_small", "vgg16", "resnet56", "resnet110", "resnet50", "vgg16_imagenet")


def _check_arch(arch: str) -> None:
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; allowed: {', '.join(ARCHS)}")


def kept_width(c: int, rate: float) -> int:
    """Kept filters ``m = int(c * (1 - r))``: the official code truncates the float product (never
    rounds), e.g. ``512 * (1 - 0.85) = 76.8 -> 76``; rounding would change every FLOPs number."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"pruning rate must be in [0, 1), got {rate!r}")
    m = int(c * (1 - rate))
    if m < 1:
        raise ValueError(f"rate {rate!r} keeps no filter of a {c}-filter layer")
    return m


def stage_blocks(arch: str) -> list[int]:
    """Blocks per residual stage (empty for VGG); rate-list expansion needs it."""
    _check_arch(arch)
    if arch in _CIFAR_RESNET_BLOCKS:
        return [_CIFAR_RESNET_BLOCKS[arch]] * 3
    if arch == "resnet50":
        return list(_RESNET50_BLOCKS)
    return []


def full_widths(arch: str) -> list[int]:
    """Original output width ``c`` of every prunable conv, in canonical order.

    Canonical order = module creation order: VGG convs front to back; CIFAR ResNets stem, then
    ``conv1, conv2`` of each block; ResNet-50 stem, then ``conv1, conv2, conv3`` of each block.
    """
    _check_arch(arch)
    if arch in _VGG_CFGS:
        return [int(v) for v in _VGG_CFGS[arch] if v != "M"]
    if arch in _CIFAR_RESNET_BLOCKS:
        n = _CIFAR_RESNET_BLOCKS[arch]
        widths = [_CIFAR_RESNET_PLANES[0]]
        for planes in _CIFAR_RESNET_PLANES:
            widths += [planes, planes] * n
        return widths
    widths = [64]
    for planes, n in zip(_RESNET50_PLANES, _RESNET50_BLOCKS, strict=True):
        widths += [planes, planes, planes * _BOTTLENECK_EXPANSION] * n
    return widths


def prunable_layer_count(arch: str) -> int:
    """Number of prunable (fused) convs: vgg16 13, vgg_small 6, resnet56 55, resnet110 109, resnet50 49."""
    return len(full_widths(arch))


class ZeroPadShortcut(nn.Module):
    """Option-A shortcut of the CIFAR ResNets: parameter-free, so it costs nothing and is untouched by
    pruning. Subsamples ``x[:, :, ::2, ::2]`` for stride 2 and zero-pads channels, ``(c_out - c_in) // 2``
    zero channels before and the remainder after (the split matters for fused/compact equality)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(
                f"zero-pad shortcut cannot shrink {in_channels} -> {out_channels} channels; "
                "a later stage must keep at least as many residual channels as the previous one"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        extra = self.out_channels - self.in_channels
        if extra:
            before = extra // 2
            x = F.pad(x, (0, 0, 0, 0, before, extra - before))
        return x

    def extra_repr(self) -> str:
        return f"{self.in_channels}->{self.out_channels}, stride={self.stride}"


class GlobalAvgPool2d(nn.AvgPool2d):
    """ResNet-50's final ``AvgPool2d(7)`` that also accepts other resolutions.

    The official ImageNet ResNet uses ``AvgPool2d(7)``; thop-0.0.31 counts it as one op per output
    element, unlike ``AdaptiveAvgPool2d`` (``(k_area + 1)`` per element), and the ResNet-50 FLOPs of the
    paper are printed to 0.01M, so the difference matters. Subclassing ``AvgPool2d`` keeps that counting
    rule, while averaging over the whole map lets small inputs (tests, 64x64 crops) run. On a 7x7 map it
    is numerically ``AvgPool2d(7)``.
    """

    def __init__(self) -> None:
        super().__init__(kernel_size=7, stride=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3), keepdim=True)


# --------------------------------------------------------------------------------------------- VGG


class _VGG(nn.Module):
    def __init__(self, features: nn.Sequential, pool: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.avgpool = pool
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def _build_vgg(
    arch: str, num_classes: int, widths: list[int], conv: ConvFactory
) -> tuple[nn.Module, list[str]]:
    cfg = _VGG_CFGS[arch]
    # pitfall 9: the paper's VGG convs have bias, the embedded one not
    with_bias = arch in ("vgg16", "vgg16_imagenet")
    with_bn = arch != "vgg16_imagenet"  # torchvision's VGG-16 (cfg D) has no BN
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    names: list[str] = []
    in_ch, k, p = 3, 0, 0
    for v in cfg:
        if v == "M":
            layers[f"pool{p}"] = nn.MaxPool2d(kernel_size=2, stride=2)
            p += 1
            continue
        m = widths[k]
        layers[f"conv{k}"] = conv(in_ch, int(v), m, 3, stride=1, padding=1, bias=with_bias)
        if with_bn:
            layers[f"bn{k}"] = nn.BatchNorm2d(m)
        layers[f"relu{k}"] = nn.ReLU(inplace=True)
        names.append(f"features.conv{k}")
        in_ch, k = m, k + 1
    if arch == "vgg16_imagenet":
        return _vgg16_imagenet(layers, in_ch, num_classes), names
    # vgg16: the official no-op AvgPool(1) after the last max-pool (1x1 map); vgg_small: global average.
    pool: nn.Module = nn.AvgPool2d(1) if arch == "vgg16" else nn.AdaptiveAvgPool2d(1)
    model = _VGG(nn.Sequential(layers), pool, nn.Linear(in_ch, num_classes))
    if arch == "vgg_small":
        for name in names:
            _kaiming(model.get_submodule(name), mode="fan_out")
    return model, names


def _vgg16_imagenet(layers: OrderedDict[str, nn.Module], in_ch: int, num_classes: int) -> nn.Module:
    """torchvision's classifier head and init (Kaiming fan_out convs, N(0, 0.01) linears, zero biases)."""
    classifier = nn.Sequential(
        nn.Linear(in_ch * 49, 4096), nn.ReLU(inplace=True), nn.Dropout(),
        nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(),
        nn.Linear(4096, num_classes),
    )
    model = _VGG(nn.Sequential(layers), nn.AdaptiveAvgPool2d((7, 7)), classifier)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            _kaiming(module, mode="fan_out")
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0, 0.01)
        if isinstance(module, (nn.Conv2d, nn.Linear)) and module.bias is not None:
            nn.init.zeros_(module.bias)
    return model


# ------------------------------------------------------------------------------------ CIFAR ResNet


class _BasicBlock(nn.Module):
    def __init__(
        self,
        in_full: int,
        in_kept: int,
        planes: int,
        mid_kept: int,
        out_kept: int,
        stride: int,
        conv: ConvFactory,
    ) -> None:
        super().__init__()
        self.conv1 = conv(in_kept, planes, mid_kept, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_kept)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = conv(mid_kept, planes, out_kept, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_kept)
        self.relu2 = nn.ReLU(inplace=True)
        # The structure is decided on the *full* widths so that full, fused and compact models have the
        # same modules; the padding itself uses the compact widths.
        self.shortcut: nn.Module = (
            nn.Identity() if stride == 1 and in_full == planes else ZeroPadShortcut(in_kept, out_kept, stride)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class _CifarResNet(nn.Module):
    def __init__(self, num_blocks: int, num_classes: int, widths: list[int], conv: ConvFactory) -> None:
        super().__init__()
        self.conv1 = conv(3, _CIFAR_RESNET_PLANES[0], widths[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        k = 1
        in_full, in_kept = _CIFAR_RESNET_PLANES[0], widths[0]
        for s, planes in enumerate(_CIFAR_RESNET_PLANES):
            blocks = []
            for b in range(num_blocks):
                stride = 2 if s > 0 and b == 0 else 1
                mid_kept, out_kept = widths[k], widths[k + 1]
                blocks.append(_BasicBlock(in_full, in_kept, planes, mid_kept, out_kept, stride, conv))
                in_full, in_kept, k = planes, out_kept, k + 2
            self.add_module(f"layer{s + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_kept, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _build_cifar_resnet(
    arch: str, num_classes: int, widths: list[int], conv: ConvFactory
) -> tuple[nn.Module, list[str]]:
    n = _CIFAR_RESNET_BLOCKS[arch]
    model = _CifarResNet(n, num_classes, widths, conv)
    names = ["conv1"] + [f"layer{s}.{b}.conv{j}" for s in (1, 2, 3) for b in range(n) for j in (1, 2)]
    # Official init (HRank-style `_weights_init`): Kaiming-normal, fan_in, on every conv and the Linear.
    for module in [model.get_submodule(nm) for nm in names] + [model.fc]:
        _kaiming(module, mode="fan_in")
    return model, names


# -------------------------------------------------------------------------------------- ResNet-50


class _Bottleneck(nn.Module):
    def __init__(
        self,
        in_full: int,
        in_kept: int,
        planes: int,
        kept: tuple[int, int, int],
        stride: int,
        conv: ConvFactory,
    ) -> None:
        super().__init__()
        m1, m2, m3 = kept
        out_full = planes * _BOTTLENECK_EXPANSION
        self.conv1 = conv(in_kept, planes, m1, 1, stride=1, padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(m1)
        self.conv2 = conv(m1, planes, m2, 3, stride=stride, padding=1, bias=False)  # torchvision: stride here
        self.bn2 = nn.BatchNorm2d(m2)
        self.conv3 = conv(m2, out_full, m3, 1, stride=1, padding=0, bias=False)
        self.bn3 = nn.BatchNorm2d(m3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_full != out_full:
            # Not fused in DCFF: an ordinary conv between the compact widths of both residual streams.
            self.downsample = nn.Sequential(
                nn.Conv2d(in_kept, m3, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(m3)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class _ResNet50(nn.Module):
    def __init__(self, num_classes: int, widths: list[int], conv: ConvFactory) -> None:
        super().__init__()
        self.conv1 = conv(3, 64, widths[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        k = 1
        in_full, in_kept = 64, widths[0]
        for s, (planes, n) in enumerate(zip(_RESNET50_PLANES, _RESNET50_BLOCKS, strict=True)):
            blocks = []
            for b in range(n):
                stride = 2 if s > 0 and b == 0 else 1
                kept = (widths[k], widths[k + 1], widths[k + 2])
                blocks.append(_Bottleneck(in_full, in_kept, planes, kept, stride, conv))
                in_full, in_kept, k = planes * _BOTTLENECK_EXPANSION, kept[2], k + 3
            self.add_module(f"layer{s + 1}", nn.Sequential(*blocks))
        self.avgpool = GlobalAvgPool2d()
        self.fc = nn.Linear(in_kept, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _build_resnet50(num_classes: int, widths: list[int], conv: ConvFactory) -> tuple[nn.Module, list[str]]:
    model = _ResNet50(num_classes, widths, conv)
    names = ["conv1"] + [
        f"layer{s + 1}.{b}.conv{j}"
        for s, n in enumerate(_RESNET50_BLOCKS)
        for b in range(n)
        for j in (1, 2, 3)
    ]
    # torchvision init: Kaiming-normal fan_out on every conv, BN gamma=1 / beta=0 (PyTorch's default).
    for name, module in model.named_modules():
        if name in names or isinstance(module, nn.Conv2d):
            _kaiming(module, mode="fan_out")
    return model, names


# ------------------------------------------------------------------------------------------ common


def _kaiming(module: nn.Module, mode: str) -> None:
    """Kaiming-normal (ReLU gain) on a module's ``weight``. Applied to whatever the factory returned, so a
    fused conv's wide ``c``-filter tensor is initialised like the full model's conv (as in the official
    code, where the fused layer owns the original filters)."""
    weight = getattr(module, "weight", None)
    if isinstance(weight, torch.Tensor) and weight.dim() >= 2:
        nn.init.kaiming_normal_(weight, mode=mode, nonlinearity="relu")


def _coupled_rates(arch: str, rates: list[float]) -> None:
    """Raise if layers whose outputs are added together were given different rates (their widths must
    be equal for the residual add); the expansion in ``pipelines/dcff/rates.py`` always satisfies it."""
    groups: list[list[int]] = []
    if arch in _CIFAR_RESNET_BLOCKS:
        n = _CIFAR_RESNET_BLOCKS[arch]
        for s in range(3):
            conv2s = [1 + 2 * (s * n + b) + 1 for b in range(n)]
            groups.append(([0] if s == 0 else []) + conv2s)
    elif arch == "resnet50":
        k = 1
        for n in _RESNET50_BLOCKS:
            groups.append([k + 3 * b + 2 for b in range(n)])
            k += 3 * n
    for group in groups:
        values = {rates[i] for i in group}
        if len(values) > 1:
            raise ValueError(
                f"{arch}: layers {group} share a residual stream and need one rate, got {sorted(values)}"
            )


def build_classifier(
    arch: str,
    num_classes: int = 10,
    layer_rates: Sequence[float] | None = None,
    conv: ConvFactory = plain_conv,
) -> nn.Module:
    """Build ``arch`` with one pruning rate per prunable conv (canonical order, ``None`` = unpruned).

    Every prunable conv is created by ``conv(in_kept, out_full, out_kept, k, stride, padding, bias)``;
    ``plain_conv`` gives the compact (or, with rates 0, the full) model, DCFF's fused conv gives the fused
    model with the same module names. Residual-coupled layers must share a rate (ValueError otherwise).
    """
    _check_arch(arch)
    n_layers = prunable_layer_count(arch)
    rates = [0.0] * n_layers if layer_rates is None else [float(r) for r in layer_rates]
    if len(rates) != n_layers:
        raise ValueError(f"{arch}: expected {n_layers} layer rates (one per prunable conv), got {len(rates)}")
    _coupled_rates(arch, rates)
    widths = [kept_width(c, r) for c, r in zip(full_widths(arch), rates, strict=True)]
    if arch in _VGG_CFGS:
        model, names = _build_vgg(arch, num_classes, widths, conv)
    elif arch in _CIFAR_RESNET_BLOCKS:
        model, names = _build_cifar_resnet(arch, num_classes, widths, conv)
    else:
        model, names = _build_resnet50(num_classes, widths, conv)
    model.arch = arch
    model.layer_rates = rates
    model.prunable_convs = names
    model.kept_widths = widths
    return model
