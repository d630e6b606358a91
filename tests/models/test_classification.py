"""Invariants of the shared classification builder (papers/dcff.md §4, §9.2)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cvpapers.models.classification import (
    GlobalAvgPool2d,
    ZeroPadShortcut,
    build_classifier,
    full_widths,
    kept_width,
    prunable_layer_count,
)
from cvpapers.pipelines.dcff.rates import PAPER_RATES, expand_layer_rates

SHAPE_CASES = [
    ("vgg_small", 10, 16),
    ("vgg16", 10, 32),
    ("resnet56", 10, 32),
    ("resnet110", 10, 32),
    ("resnet50", 1000, 64),
]


@pytest.mark.parametrize(("arch", "num_classes", "size"), SHAPE_CASES)
def test_output_shape_is_batch_by_num_classes(arch: str, num_classes: int, size: int) -> None:
    model = build_classifier(arch, num_classes=num_classes).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, num_classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("arch", "count"),
    [("vgg16", 13), ("resnet56", 55), ("resnet110", 109), ("resnet50", 49), ("vgg_small", 6)],
)
def test_prunable_conv_count_matches_spec(arch: str, count: int) -> None:
    model = build_classifier(arch)
    assert prunable_layer_count(arch) == count
    assert len(model.prunable_convs) == count
    assert len(full_widths(arch)) == count
    modules = dict(model.named_modules())
    assert all(name in modules for name in model.prunable_convs)


@pytest.mark.parametrize("arch", ["vgg_small", "vgg16", "resnet56", "resnet50"])
def test_prunable_convs_follow_creation_order_and_full_widths(arch: str) -> None:
    model = build_classifier(arch)
    order = [name for name, _ in model.named_modules()]
    positions = [order.index(name) for name in model.prunable_convs]
    assert positions == sorted(positions)
    widths = [model.get_submodule(n).out_channels for n in model.prunable_convs]
    assert widths == full_widths(arch)
    assert model.layer_rates == [0.0] * prunable_layer_count(arch)


@pytest.mark.parametrize(
    ("c", "rate", "m"), [(64, 0.5, 32), (128, 0.4, 76), (256, 0.35, 166), (512, 0.85, 76), (16, 0.7, 4)]
)
def test_kept_width_truncates_float_product(c: int, rate: float, m: int) -> None:
    assert kept_width(c, rate) == m


def test_vgg16_paper_rates_give_spec_widths() -> None:
    model = build_classifier("vgg16", layer_rates=expand_layer_rates("vgg16", PAPER_RATES["vgg16"]))
    widths = [model.get_submodule(n).out_channels for n in model.prunable_convs]
    assert widths == [32, 32, 76, 76, 166, 166, 166, 76, 76, 76, 76, 76, 76]
    assert model.classifier.in_features == 76


def test_resnet56_paper_rates_give_spec_widths() -> None:
    model = build_classifier("resnet56", layer_rates=expand_layer_rates("resnet56", PAPER_RATES["resnet56"]))
    widths = [model.get_submodule(n).out_channels for n in model.prunable_convs]
    conv1 = widths[1::2]
    assert conv1 == [4, 4, 8, 8, 8, 11, 11, 9, 3, 9, 9, 6, 6, 6, 6, 19, 25, 25,
                     19, 44, 12, 38, 38, 19, 44, 38, 12]  # fmt: skip
    assert widths[0] == 16
    assert widths[2::2] == [16] * 9 + [32] * 9 + [64] * 9


def test_resnet110_paper_rates_give_spec_widths() -> None:
    model = build_classifier(
        "resnet110", layer_rates=expand_layer_rates("resnet110", PAPER_RATES["resnet110"])
    )
    widths = [model.get_submodule(n).out_channels for n in model.prunable_convs]
    assert widths[1::2] == [
        12, 16, 12, 11, 4, 4, 14, 11, 11, 9, 4, 4, 8, 14, 11, 16, 6, 16,
        25, 16, 32, 9, 9, 16, 9, 9, 19, 19, 32, 22, 28, 16, 28, 28, 28, 9,
        57, 57, 44, 44, 44, 44, 44, 32, 19, 51, 38, 19, 19, 19, 19, 19, 32, 57,
    ]  # fmt: skip
    assert widths[0] == 6  # stem takes the stage-1 rate
    assert widths[2::2] == [6] * 18 + [25] * 18 + [32] * 18
    assert model.fc.in_features == 32


def test_resnet110_compact_forward_runs_with_pruned_residual_widths() -> None:
    model = build_classifier(
        "resnet110", layer_rates=expand_layer_rates("resnet110", PAPER_RATES["resnet110"])
    )
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_resnet50_stage_rate_sets_conv3_and_downsample_width() -> None:
    rates = expand_layer_rates("resnet50", PAPER_RATES["resnet50_step_0.96b"])
    model = build_classifier("resnet50", num_classes=1000, layer_rates=rates)
    stage_widths = [int(c * (1 - 0.3)) for c in (256, 512, 1024, 2048)]
    for s, (n, width) in enumerate(zip((3, 4, 6, 3), stage_widths, strict=True), start=1):
        for b in range(n):
            assert model.get_submodule(f"layer{s}.{b}.conv3").out_channels == width
        downsample = model.get_submodule(f"layer{s}.0.downsample.0")
        assert isinstance(downsample, nn.Conv2d) and downsample.out_channels == width
        assert downsample.in_channels == (64 if s == 1 else stage_widths[s - 2])
        assert downsample.stride == ((1, 1) if s == 1 else (2, 2))
        assert model.get_submodule(f"layer{s}.0.conv2").stride == ((1, 1) if s == 1 else (2, 2))
    assert "layer1.0.downsample.0" not in model.prunable_convs


def test_vgg16_convs_have_bias_and_resnet_convs_do_not() -> None:
    vgg = build_classifier("vgg16")
    assert all(vgg.get_submodule(n).bias is not None for n in vgg.prunable_convs)
    for arch in ("vgg_small", "resnet56"):
        model = build_classifier(arch)
        assert all(model.get_submodule(n).bias is None for n in model.prunable_convs)


def test_zero_pad_shortcut_subsamples_and_splits_padding_floor_before() -> None:
    x = torch.arange(2 * 5 * 4 * 4, dtype=torch.float32).reshape(2, 5, 4, 4) + 1
    y = ZeroPadShortcut(5, 10, stride=2)(x)
    assert y.shape == (2, 10, 2, 2)
    assert (y[:, :2] == 0).all() and (y[:, 7:] == 0).all()  # (10-5)//2 = 2 before, 3 after
    torch.testing.assert_close(y[:, 2:7], x[:, :, ::2, ::2])


def test_factory_receives_full_and_kept_widths_for_every_prunable_conv() -> None:
    calls: list[tuple[int, int, int]] = []

    def recording_conv(in_channels, out_full, out_kept, kernel_size, stride=1, padding=0, bias=False):
        calls.append((in_channels, out_full, out_kept))
        return nn.Conv2d(in_channels, out_kept, kernel_size, stride=stride, padding=padding, bias=bias)

    rates = expand_layer_rates("resnet56", PAPER_RATES["resnet56"])
    model = build_classifier("resnet56", layer_rates=rates, conv=recording_conv)
    assert len(calls) == 55
    assert [c[1] for c in calls] == full_widths("resnet56")
    assert [c[2] for c in calls] == model.kept_widths
    # every conv's input is the previous kept width of its stream (stem input: 3 RGB channels)
    assert calls[0][0] == 3 and calls[2][0] == calls[1][2]


def test_rate_list_length_and_coupling_are_validated() -> None:
    with pytest.raises(ValueError, match="expected 55"):
        build_classifier("resnet56", layer_rates=[0.1] * 54)
    bad = [0.0] * 55
    bad[2] = 0.5  # conv2 of block 0 differs from the stem: residual widths would not match
    with pytest.raises(ValueError, match="residual stream"):
        build_classifier("resnet56", layer_rates=bad)
    with pytest.raises(ValueError, match="unknown arch"):
        build_classifier("resnet18")


def test_resnet50_global_pool_equals_avgpool7_on_7x7_maps() -> None:
    x = torch.randn(2, 8, 7, 7)
    torch.testing.assert_close(GlobalAvgPool2d()(x), nn.AvgPool2d(7, stride=1)(x))
    assert GlobalAvgPool2d()(torch.randn(1, 8, 2, 2)).shape == (1, 8, 1, 1)


def test_vgg16_imagenet_is_torchvision_cfg_d_without_bn() -> None:
    """collab_compression's VGG-16: 13 biased convs, no BN, head 25088-4096-4096-classes."""
    model = build_classifier("vgg16_imagenet", 7)
    assert model.prunable_convs == [f"features.conv{i}" for i in range(13)]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert all(model.get_submodule(n).bias is not None for n in model.prunable_convs)
    assert [m.in_features for m in model.classifier if isinstance(m, nn.Linear)] == [25088, 4096, 4096]
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 7)
