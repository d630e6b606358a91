"""Convolution factories: how an architecture builder asks for a convolution.

Compression papers change *how* a convolution is parametrised (DCFF keeps all ``c`` filters and
computes ``m`` fused ones; a compact model just has ``m`` filters) without changing the network
around it. Builders therefore never call ``nn.Conv2d`` for a prunable layer; they call a
``ConvFactory`` with both the layer's original width ``out_full`` and its kept width ``out_kept``.
Every factory must return a module whose output has ``out_kept`` channels and whose state-dict keys
for the compact model are ``weight`` (and ``bias``), so a compact state dict loads by module name.
"""

from __future__ import annotations

from typing import Protocol

from torch import nn


class ConvFactory(Protocol):
    def __call__(
        self,
        in_channels: int,
        out_full: int,
        out_kept: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = False,
    ) -> nn.Module: ...


def plain_conv(
    in_channels: int,
    out_full: int,
    out_kept: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    bias: bool = False,
) -> nn.Conv2d:
    """An ordinary convolution with the kept width (``out_full`` is only recorded)."""
    conv = nn.Conv2d(in_channels, out_kept, kernel_size, stride=stride, padding=padding, bias=bias)
    conv.out_full = out_full  # type: ignore[attr-defined]  # lets pruning baselines see the original width
    return conv


def conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3×3 conv (no bias) → BatchNorm → ReLU, the unit of the small CPU backbones."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )
