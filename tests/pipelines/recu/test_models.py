"""Spec §9.10–§9.12: the paper's networks, their exact sizes through the one counter, FP first/last layers,
parameter-free CIFAR shortcuts, output shapes; and the arms' shared initial weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cvpapers.engine.flops import count_macs_params
from cvpapers.pipelines.recu.accounting import architecture_plan
from cvpapers.pipelines.recu.binary import BinaryConv2d
from cvpapers.pipelines.recu.models import AvgPadShortcut, BiRealBlock, build_recu_net, decay_groups

# arch: (params incl. α and BN affine, binarised conv weights)
SIZES = {
    "resnet_bireal_tiny": (75_642, 73_728),
    "resnet20_1w1a": (270_522, 267_264),
    "resnet18_1w1a": (11_005_002, 10_985_472),
    "vgg_small_1w1a": (4_661_770, 4_571_136),
    "resnet18_imagenet_1w1a": (11_694_376, 10_985_472),
    "resnet34_imagenet_1w1a": (21_806_248, 21_086_208),
}


def _classes(arch: str) -> int:
    return 1000 if "imagenet" in arch else 10


@pytest.mark.parametrize("arch", list(SIZES))
def test_parameter_and_binarised_weight_counts_equal_the_spec(arch: str) -> None:
    with torch.device("meta"):
        model = build_recu_net(arch, _classes(arch))
    params, binary = SIZES[arch]
    assert sum(p.numel() for p in model.parameters()) == params
    assert sum(m.weight.numel() for m in model.modules() if isinstance(m, BinaryConv2d)) == binary
    if "imagenet" in arch:  # the FP 1×1 downsample convs of the shortcuts
        downsample = [
            m
            for blk in model.modules()
            if isinstance(blk, BiRealBlock)
            for m in blk.shortcut.modules()
            if isinstance(m, nn.Conv2d)
        ]
        assert sum(m.weight.numel() for m in downsample) == 172_032
        assert not any(isinstance(m, BinaryConv2d) for m in downsample)


@pytest.mark.parametrize(
    ("arch", "conv_linear", "paper", "binary"),
    [
        ("resnet_bireal_tiny", 3_060_352, 3_099_968, 2_949_120),
        ("resnet20_1w1a", 40_551_040, 40_938_304, 40_108_032),
    ],
)
def test_macs_through_the_one_counter_equal_the_spec(
    arch: str, conv_linear: int, paper: int, binary: int
) -> None:
    model = build_recu_net(arch, 10)
    assert count_macs_params(model, (1, 3, 32, 32), "conv_linear")[0] == conv_linear
    assert count_macs_params(model, (1, 3, 32, 32), "paper")[0] == paper
    plan = architecture_plan(arch, 10, (1, 3, 32, 32))
    assert (plan["macs"], plan["binary_macs"], plan["fp_macs"]) == (conv_linear, binary, conv_linear - binary)
    assert plan["params"] == SIZES[arch][0] and plan["binary_weights"] == SIZES[arch][1]


@pytest.mark.parametrize("arch", list(SIZES))
def test_first_conv_and_last_fc_are_full_precision(arch: str) -> None:
    """§9.11 (and every CIFAR shortcut is parameter-free)."""
    with torch.device("meta"):
        model = build_recu_net(arch, _classes(arch))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert type(convs[0]) is nn.Conv2d and convs[0].in_channels == 3
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 1 and type(linears[0]) is nn.Linear
    if "imagenet" not in arch:
        shortcuts = [m for m in model.modules() if isinstance(m, AvgPadShortcut)]
        assert all(not list(s.parameters()) for s in shortcuts)
        assert arch == "vgg_small_1w1a" or shortcuts


@pytest.mark.parametrize("arch", list(SIZES))
def test_output_shapes(arch: str) -> None:
    """§9.12: CIFAR nets (2, 3, 32, 32) → (2, 10); ImageNet nets (2, 3, 224, 224) → (2, 1000)."""
    torch.manual_seed(0)
    model = build_recu_net(arch, _classes(arch)).eval()
    side = 224 if "imagenet" in arch else 32
    with torch.no_grad():
        assert model(torch.randn(2, 3, side, side)).shape == (2, _classes(arch))


def test_shortcut_averages_two_by_two_windows_then_zero_pads_channels() -> None:
    """Pitfall 14: AvgPool2d(2), not a strided subsample; c_out/4 zero channels on each side."""
    x = torch.arange(2 * 4 * 4 * 4, dtype=torch.float32).reshape(2, 4, 4, 4)
    out = AvgPadShortcut(4, 8, 2)(x)
    assert out.shape == (2, 8, 2, 2)
    torch.testing.assert_close(out[:, 2:6], nn.functional.avg_pool2d(x, 2))
    assert out[:, :2].abs().sum() == 0 and out[:, 6:].abs().sum() == 0


def test_binary_arms_start_from_identical_weights() -> None:
    """Spec §0.3: seeded alike, recu, bnn and ws_only build the same initial weights (only the method differs)."""
    states = []
    for method in ("recu", "bnn", "ws_only"):
        torch.manual_seed(123)
        states.append(build_recu_net("resnet_bireal_tiny", 10, method).state_dict())
    for other in states[1:]:
        assert all(torch.equal(states[0][k], other[k]) for k in states[0])


def test_imagenet_decay_groups_by_role() -> None:
    """Pitfall 8: decay on stem conv, binarised convs and α, FC; none on BN and the FP downsample convs;
    every BatchNorm2d weight starts at 1e-8."""
    with torch.device("meta"):
        model = build_recu_net("resnet18_imagenet_1w1a", 1000)
    decay, other = decay_groups(model, 1e-4)
    assert decay["weight_decay"] == 1e-4 and other["weight_decay"] == 0.0
    ids = {id(p) for p in decay["params"]}
    assert sum(p.numel() for p in decay["params"]) == 9_408 + 10_985_472 + 3_840 + 513_000
    assert len(ids) + len(other["params"]) == len(list(model.parameters()))
    with torch.device("cpu"):
        bn = [
            m
            for m in build_recu_net("resnet18_imagenet_1w1a", 1000).modules()
            if isinstance(m, nn.BatchNorm2d)
        ]
    assert all(torch.all(m.weight == 1e-8) for m in bn)
