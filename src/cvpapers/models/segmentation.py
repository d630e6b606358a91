"""Segmentation networks shared by the domain-adaptation pipelines, and their loss.

Two DeepLab-v2 networks with one interface, so a pipeline swaps the CPU-sized embedded model for the
paper model through :func:`build_segmenter` without touching its training code:

* :class:`TinyDeepLabV2` (``papers/da_benchmark.md`` §5): dilated residual backbone at output stride 4,
  DeepLab-v2 ASPP as a *sum* of dilated 3×3 classifiers, auxiliary classifier on the penultimate
  stage. 160,368 parameters (C = 8, aux), 75.2 M conv MACs per 64×128 image.
* :func:`deeplabv2_resnet101` (``papers/ssda_dual_mix.md`` §4.1): the ADVENT-style multi-level
  DeepLab-v2 on a Caffe-style ResNet-101 at output stride 8. 44,601,560 parameters (C = 19,
  multi-level), 379.5 G conv MACs at 512×1024.

Both follow one forward convention, the one the DA training loops are written against:

* training mode → ``(main_logits, aux_logits)``, ``aux_logits`` is ``None`` without an aux head;
* eval mode → ``main_logits`` only (evaluation uses the main head, ``eval.py`` takes output 1), and the
  aux head is not even computed;
* logits are upsampled bilinearly to the input's H×W, or to ``output_size`` when the caller passes one
  (evaluation against full-resolution labels then interpolates once, as the official ``eval.py`` does,
  instead of twice).

:func:`seg_loss` is ``CE(main) + λ_aux·CE(aux)`` with ignore index 255 (``ssda_dual_mix.md`` §3.0).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cvpapers.models.convs import conv_bn_relu

__all__ = [
    "ASPPSum",
    "DeepLabV2ResNet",
    "ResNetBackbone",
    "SEGMENTERS",
    "SegOutput",
    "TinyDeepLabV2",
    "build_segmenter",
    "load_backbone_weights",
    "deeplabv2_resnet101",
    "seg_loss",
]

#: What a segmenter's forward returns: logits (eval) or ``(main, aux or None)`` (training).
SegOutput = torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]

#: Keys of a weights file that are heads, not backbone: ImageNet ``fc``, DeepLab ``layer5``/``layer6``
#: classifiers of the Caffe/ADVENT checkpoints, and our own classifier modules. They are skipped.
_HEAD_PREFIXES: tuple[str, ...] = ("fc.", "layer5.", "layer6.", "classifier.", "aux_classifier.")
#: Wrapper prefixes stripped from weights-file keys (DataParallel, the Caffe-converted ``Scale.``
#: DeepLab weights, a state dict of our whole model).
_WRAPPER_PREFIXES: tuple[str, ...] = ("module.", "Scale.", "backbone.")


def _upsample(logits: torch.Tensor, size: Sequence[int], align_corners: bool) -> torch.Tensor:
    """Bilinear resize of logits to ``size``; a no-op when the size already matches."""
    size = (int(size[0]), int(size[1]))
    if tuple(logits.shape[-2:]) == size:
        return logits
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=align_corners)


class ASPPSum(nn.Module):
    """DeepLab-v2 ASPP ("ClassifierModule"): parallel dilated 3×3 convs straight to C classes, summed.

    Summed, not concatenated, and without BN or image pooling: that is DeepLab-v2's head (v3 changed
    it), and the parameter counts of both specs depend on it. ``padding = dilation`` keeps the size.
    ``weight_std`` re-initialises the weights N(0, std) as the official net does (0.01); ``None`` keeps
    PyTorch's default init (the embedded model's spec).
    """

    def __init__(
        self, in_channels: int, num_classes: int, rates: Sequence[int], weight_std: float | None = None
    ) -> None:
        super().__init__()
        if not rates:
            raise ValueError("ASPPSum needs at least one dilation rate")
        self.convs = nn.ModuleList(
            nn.Conv2d(in_channels, num_classes, 3, padding=int(r), dilation=int(r), bias=True) for r in rates
        )
        if weight_std is not None:
            for conv in self.convs:
                nn.init.normal_(conv.weight, 0.0, weight_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.convs[0](x)
        for conv in self.convs[1:]:
            out = out + conv(x)
        return out


# --------------------------------------------------------------------------------------------------
# TinyDeepLabV2 (da_benchmark.md §5)
# --------------------------------------------------------------------------------------------------


class _TinyResBlock(nn.Module):
    """conv3×3-BN-ReLU-conv3×3-BN + shortcut, ReLU; both 3×3 convs dilated (stride 1, size kept).

    The shortcut is the identity when the width is unchanged, else a 1×1 conv + BN projection.
    """

    def __init__(self, cin: int, cout: int, dilation: int) -> None:
        super().__init__()
        d = int(dilation)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=d, dilation=d, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=d, dilation=d, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = (
            nn.Identity()
            if cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class TinyDeepLabV2(nn.Module):
    """CPU-sized DeepLab-v2 of the embedded DA benchmark (``da_benchmark.md`` §5).

    Two stride-2 stem convs (output stride 4), residual layers with dilations 1/2/4 (the DeepLab way of
    growing the receptive field without losing resolution), ASPP-sum main head on layer3 and aux head on
    layer2, bilinear upsampling (align_corners=False) to the input size. Backbone convs have no bias
    (BN follows); init is PyTorch's default, so the caller's seed fixes it.

    Args:
        num_classes: C.
        widths: channels of stem1, stem2 (= layer1), layer2, layer3.
        rates: ASPP dilations of both heads.
        aux: build the auxiliary classifier on layer2.
    """

    align_corners: bool = False

    def __init__(
        self,
        num_classes: int = 8,
        widths: Sequence[int] = (16, 32, 48, 64),
        rates: Sequence[int] = (1, 2, 4, 6),
        aux: bool = True,
    ) -> None:
        super().__init__()
        if len(widths) != 4:
            raise ValueError(
                f"widths must have 4 entries (stem1, stem2/layer1, layer2, layer3), got {widths}"
            )
        w1, w2, w3, w4 = (int(w) for w in widths)
        self.num_classes = int(num_classes)
        self.stem = nn.Sequential(conv_bn_relu(3, w1, stride=2), conv_bn_relu(w1, w2, stride=2))
        self.layer1 = _TinyResBlock(w2, w2, dilation=1)
        self.layer2 = _TinyResBlock(w2, w3, dilation=2)
        self.layer3 = _TinyResBlock(w3, w4, dilation=4)
        self.classifier = ASPPSum(w4, self.num_classes, rates)
        self.aux_classifier = ASPPSum(w3, self.num_classes, rates) if aux else None

    def forward(self, x: torch.Tensor, output_size: Sequence[int] | None = None) -> SegOutput:
        """Logits at ``output_size`` (default: the input's H×W); see the module docstring."""
        size = tuple(output_size) if output_size is not None else tuple(x.shape[-2:])
        f2 = self.layer2(self.layer1(self.stem(x)))
        main = _upsample(self.classifier(self.layer3(f2)), size, self.align_corners)
        if not self.training:
            return main
        aux = None
        if self.aux_classifier is not None:
            aux = _upsample(self.aux_classifier(f2), size, self.align_corners)
        return main, aux


# --------------------------------------------------------------------------------------------------
# DeepLab-v2 ResNet-101, multi-level (ssda_dual_mix.md §4.1)
# --------------------------------------------------------------------------------------------------


class _CaffeBottleneck(nn.Module):
    """ResNet bottleneck, Caffe style: the stride sits on the first 1×1 conv (as in the DeepLab-v2
    Caffe model the ImageNet weights come from), the 3×3 conv carries the dilation.

    Module names follow torchvision (``conv1``…``bn3``, ``downsample.0/1``) so ImageNet state dicts
    load by name.
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNetBackbone(nn.Module):
    """DeepLab-v2 ResNet trunk (conv1…layer4) at output stride 8; returns ``(layer3, layer4)`` features.

    Stem 7×7/2 conv + BN + ReLU + 3×3/2 max-pool with padding 1 in **ceil mode** (a 512×1024 input gives
    65×129 features, as in the official net). layer3/layer4 replace their stride by dilation 2/4.
    A 1×1 conv + BN projection on the first block of every layer (the width always changes there).
    """

    def __init__(self, layers: Sequence[int] = (3, 4, 23, 3)) -> None:
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"layers must have 4 block counts, got {layers}")
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.layer1 = self._make_layer(64, layers[0], stride=1, dilation=1)
        self.layer2 = self._make_layer(128, layers[1], stride=2, dilation=1)
        self.layer3 = self._make_layer(256, layers[2], stride=1, dilation=2)
        self.layer4 = self._make_layer(512, layers[3], stride=1, dilation=4)

    def _make_layer(self, planes: int, blocks: int, stride: int, dilation: int) -> nn.Sequential:
        out = planes * _CaffeBottleneck.expansion
        downsample = nn.Sequential(
            nn.Conv2d(self.inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out)
        )
        modules = [_CaffeBottleneck(self.inplanes, planes, stride, dilation, downsample)]
        self.inplanes = out
        modules += [_CaffeBottleneck(out, planes, 1, dilation) for _ in range(1, int(blocks))]
        return nn.Sequential(*modules)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        f3 = self.layer3(self.layer2(self.layer1(x)))
        return f3, self.layer4(f3)


class DeepLabV2ResNet(nn.Module):
    """Multi-level DeepLab-v2: ResNet trunk, ASPP-sum main head on layer4 and aux head on layer3.

    ``freeze_bn`` reproduces the official net's frozen BatchNorm: the affine parameters get
    ``requires_grad=False`` and :meth:`train` keeps every BN layer in eval mode, so the ImageNet running
    statistics are used and never updated (with 1+1 images per batch, batch statistics would be noise).

    ``align_corners`` of the final upsampling defaults to True, the official code's choice for both the
    training interpolation and the evaluation upsampling (``ssda_dual_mix.md`` §3.8).
    """

    def __init__(
        self,
        num_classes: int = 19,
        multi_level: bool = True,
        layers: Sequence[int] = (3, 4, 23, 3),
        rates: Sequence[int] = (6, 12, 18, 24),
        freeze_bn: bool = True,
        align_corners: bool = True,
    ) -> None:
        super().__init__()
        self.num_classes = int(num_classes)
        self.freeze_bn = bool(freeze_bn)
        self.align_corners = bool(align_corners)
        self.backbone = ResNetBackbone(layers)
        self.classifier = ASPPSum(2048, self.num_classes, rates, weight_std=0.01)
        self.aux_classifier = ASPPSum(1024, self.num_classes, rates, weight_std=0.01) if multi_level else None
        if self.freeze_bn:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    for p in module.parameters():
                        p.requires_grad_(False)
            self.train(self.training)

    def train(self, mode: bool = True) -> DeepLabV2ResNet:
        """Set the training flag; with ``freeze_bn`` the BN layers stay in eval mode whatever ``mode``."""
        super().train(mode)
        if self.freeze_bn:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def forward(self, x: torch.Tensor, output_size: Sequence[int] | None = None) -> SegOutput:
        """Logits at ``output_size`` (default: the input's H×W); see the module docstring."""
        size = tuple(output_size) if output_size is not None else tuple(x.shape[-2:])
        f3, f4 = self.backbone(x)
        main = _upsample(self.classifier(f4), size, self.align_corners)
        if not self.training:
            return main
        aux = None
        if self.aux_classifier is not None:
            aux = _upsample(self.aux_classifier(f3), size, self.align_corners)
        return main, aux


def _clean_backbone_state(state: dict[str, Any]) -> dict[str, Any]:
    """Strip wrapper prefixes and drop head keys, so ImageNet/DeepLab/our own files map onto the trunk."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in _WRAPPER_PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix) :], True
        if not key.startswith(_HEAD_PREFIXES):
            out[key] = value
    return out


def load_backbone_weights(backbone: nn.Module, weights_path: str | Path) -> None:
    """Load a local state dict into ``backbone`` (``torch.load(weights_only=True)``; nothing downloaded).

    Accepts a plain state dict or one nested under ``state_dict``/``model``; keys may carry ``module.``,
    ``Scale.`` (Caffe-converted DeepLab) or ``backbone.`` prefixes; classifier keys (``fc``, ``layer5``,
    ``layer6``, ours) are skipped. BN ``num_batches_tracked`` may be absent (Caffe conversions lack it).
    Anything else missing, unexpected or of the wrong shape raises ``ValueError`` naming the file and
    the keys, because a silently half-loaded backbone trains to plausible but wrong numbers.
    """
    from cvpapers.engine.checkpoint import load_state_checked, read_state_dict

    path = Path(weights_path)
    state = _clean_backbone_state(read_state_dict(path, "backbone weights"))
    load_state_checked(backbone, state, f"backbone weights from {path}")


def deeplabv2_resnet101(
    num_classes: int = 19,
    multi_level: bool = True,
    weights_path: str | None = None,
    freeze_bn: bool = True,
    align_corners: bool = True,
) -> DeepLabV2ResNet:
    """The paper's DeepLab-v2 ResNet-101 (``ssda_dual_mix.md`` §4.1), optionally with local weights.

    Layers [3, 4, 23, 3], Caffe bottlenecks, layer3/layer4 dilated 2/4 (output stride 8), ASPP-sum heads
    with dilations 6/12/18/24 (weights N(0, 0.01)), aux head on layer3 when ``multi_level``.
    ``weights_path`` loads ImageNet (or any compatible) backbone weights via
    :func:`load_backbone_weights`; without it the trunk keeps PyTorch's default init (the real-data path
    always gives weights; the paper never trains this net from scratch).
    """
    model = DeepLabV2ResNet(
        num_classes, multi_level=multi_level, freeze_bn=freeze_bn, align_corners=align_corners
    )
    if weights_path is not None:
        load_backbone_weights(model.backbone, weights_path)
    return model


SEGMENTERS: dict[str, Any] = {"tiny_deeplabv2": TinyDeepLabV2, "deeplabv2_r101": deeplabv2_resnet101}


def build_segmenter(name: str, num_classes: int, **kwargs: Any) -> nn.Module:
    """Build a segmenter by config name (the embedded and real-data configs differ only here)."""
    if name not in SEGMENTERS:
        raise ValueError(f"unknown segmenter {name!r}; allowed: {', '.join(sorted(SEGMENTERS))}")
    return SEGMENTERS[name](num_classes=num_classes, **kwargs)


# --------------------------------------------------------------------------------------------------
# Loss
# --------------------------------------------------------------------------------------------------


def _ce(logits: torch.Tensor, target: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Mean CE over non-ignored pixels; 0 (with grad) when every pixel is ignored, where the built-in
    mean reduction divides 0 by 0 and returns NaN (a fully ignored pseudo-labelled crop is possible)."""
    if logits.shape[0] != target.shape[0] or logits.shape[2:] != target.shape[1:]:
        raise ValueError(
            f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ in batch or spatial size"
        )
    target = target.long()
    total = F.cross_entropy(logits.float(), target, ignore_index=ignore_index, reduction="sum")
    valid = (target != ignore_index).sum().clamp_min(1)
    return total / valid


def seg_loss(
    outputs: SegOutput, target: torch.Tensor, lambda_aux: float = 0.1, ignore_index: int = 255
) -> torch.Tensor:
    """``CE(main, y) + lambda_aux · CE(aux, y)`` (``ssda_dual_mix.md`` §3.0), ignore index 255.

    ``outputs`` is a model's training output ``(main, aux)`` (the aux term is skipped when ``aux`` is
    None) or a single logits tensor. ``target`` is N×H×W integer labels at the logits' size.
    """
    if isinstance(outputs, torch.Tensor):
        main, aux = outputs, None
    else:
        main, aux = outputs
    loss = _ce(main, target, ignore_index)
    if aux is not None and lambda_aux:
        loss = loss + lambda_aux * _ce(aux, target, ignore_index)
    return loss
