"""The shared FLOPs/params counter reproduces DCFF's thop-0.0.31 numbers (papers/dcff.md §9.1)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cvpapers.engine.flops import count_macs_params, count_with_torch
from cvpapers.models.classification import build_classifier
from cvpapers.pipelines.dcff.rates import PAPER_RATES, expand_layer_rates

CIFAR = (1, 3, 32, 32)
IMAGENET = (1, 3, 224, 224)


def _m(x: int, digits: int = 2) -> float:
    return round(x / 1e6, digits)


def _reduction(compact: int, full: int) -> float:
    return round(100 * (1 - compact / full), 2)


def _paper_model(key: str) -> nn.Module:
    arch = key.split("_")[0]
    return build_classifier(
        arch,
        num_classes=1000 if arch == "resnet50" else 10,
        layer_rates=expand_layer_rates(arch, PAPER_RATES[key]),
    )


@pytest.mark.parametrize(
    ("arch", "flops", "params"),
    [("vgg16", 314.03, 14.73), ("resnet56", 126.55, 0.85), ("resnet110", 254.99, 1.73)],
)
def test_cifar_full_models_match_paper_flops_and_params(arch: str, flops: float, params: float) -> None:
    macs, n_params = count_macs_params(build_classifier(arch), CIFAR)
    assert (_m(macs), _m(n_params)) == (flops, params)


@pytest.mark.parametrize(
    ("key", "flops", "flops_red", "params", "params_red"),
    [
        ("vgg16", 72.77, 76.83, 1.07, 92.73),  # paper prints 1.06M (92.80%): see test below
        ("resnet56", 55.84, 55.88, 0.38, 54.95),
        ("resnet110", 85.30, 66.55, 0.56, 67.86),
    ],
)
def test_cifar_dcff_compact_models_match_paper_flops_params_and_reductions(
    key: str, flops: float, flops_red: float, params: float, params_red: float
) -> None:
    full_macs, full_params = count_macs_params(build_classifier(key), CIFAR)
    macs, n_params = count_macs_params(_paper_model(key), CIFAR)
    assert _m(macs) == flops and _reduction(macs, full_macs) == flops_red
    assert _m(n_params) == params and _reduction(n_params, full_params) == params_red


def test_vgg16_compact_params_within_0_015m_of_paper_printed_1_06m() -> None:
    # The official architecture yields 1.0712M; the README prints 1.06M (pitfall 10).
    _, n_params = count_macs_params(_paper_model("vgg16"), CIFAR)
    assert abs(n_params / 1e6 - 1.07) <= 0.015
    assert abs(n_params / 1e6 - 1.06) <= 0.015


def test_resnet50_full_matches_paper_4_111g_and_25_56m() -> None:
    macs, n_params = count_macs_params(build_classifier("resnet50", num_classes=1000), IMAGENET)
    assert round(macs / 1e9, 3) == 4.111
    assert _m(n_params) == 25.56
    linear_macs, _ = count_macs_params(
        build_classifier("resnet50", num_classes=1000), IMAGENET, "conv_linear"
    )
    assert round(linear_macs / 1e9, 3) == 4.089


RESNET50_CONFIGS = [
    ("resnet50_step_0.96b", 958.07, 76.70, 7.40, 71.03),
    ("resnet50_step_1.49b", 1490.51, 63.75, 10.58, 58.60),
    ("resnet50_step_2.25b", 2248.78, 45.30, 15.16, 40.67),
    ("resnet50_cos_1.52b", 1522.96, 62.96, 11.05, 56.77),
    ("resnet50_cos_1.38b", 1380.92, 66.41, 11.81, 53.77),
    ("resnet50_cos_1.02b", 1023.26, 75.11, 6.56, 74.33),
]


@pytest.fixture(scope="module")
def resnet50_full_counts() -> tuple[int, int]:
    return count_macs_params(build_classifier("resnet50", num_classes=1000), IMAGENET)


@pytest.mark.parametrize(("key", "flops", "flops_red", "params", "params_red"), RESNET50_CONFIGS)
def test_resnet50_dcff_configs_match_readme_flops_params_and_reductions(
    resnet50_full_counts: tuple[int, int],
    key: str,
    flops: float,
    flops_red: float,
    params: float,
    params_red: float,
) -> None:
    full_macs, full_params = resnet50_full_counts
    macs, n_params = count_macs_params(_paper_model(key), IMAGENET)
    assert _m(macs) == flops and _reduction(macs, full_macs) == flops_red
    assert _m(n_params) == params and _reduction(n_params, full_params) == params_red


@pytest.mark.parametrize(("arch", "macs"), [("resnet56", 125.49), ("resnet110", 252.89)])
def test_conv_linear_mode_gives_classic_resnet_macs(arch: str, macs: float) -> None:
    assert _m(count_macs_params(build_classifier(arch), CIFAR, "conv_linear")[0]) == macs


def test_vgg16_conv_linear_is_313_20m_and_spec_313_48m_includes_conv_bias_ops() -> None:
    # §9.1 prints 313.48M for VGG-16 "conv+linear MACs"; that number includes the one op per output
    # element of the conv bias (276,480 ops). Without bias ops (this mode, = torch's flop counter): 313.20M.
    model = build_classifier("vgg16")
    macs, _ = count_macs_params(model, CIFAR, "conv_linear")
    assert _m(macs) == 313.20
    bias_ops = 2 * 64 * 32 * 32 + 2 * 128 * 16 * 16 + 3 * 256 * 8 * 8 + 3 * 512 * 4 * 4 + 3 * 512 * 2 * 2
    assert _m(macs + bias_ops) == 313.48


def test_vgg_small_conv_linear_macs_full_2_47m_and_half_width_0_65m() -> None:
    full, _ = count_macs_params(build_classifier("vgg_small"), (1, 3, 16, 16), "conv_linear")
    half, _ = count_macs_params(
        build_classifier("vgg_small", layer_rates=[0.5] * 6), (1, 3, 16, 16), "conv_linear"
    )
    assert (_m(full), _m(half)) == (2.47, 0.65)
    assert round(100 * (1 - half / full), 1) == 73.9


@pytest.mark.parametrize(("arch", "size", "rates"), [("vgg_small", 16, [0.5] * 6), ("resnet56", 32, None)])
def test_conv_linear_mode_equals_torch_flop_counter_half(
    arch: str, size: int, rates: list[float] | None
) -> None:
    for layer_rates in (None, rates if rates is not None else expand_layer_rates(arch, PAPER_RATES[arch])):
        model = build_classifier(arch, layer_rates=layer_rates)
        ours, _ = count_macs_params(model, (1, 3, size, size), "conv_linear")
        assert ours == count_with_torch(model, (1, 3, size, size))


class _WideFilterConv(nn.Module):
    """Stand-in for a DCFF fused conv: ``weight`` has ``out_full`` filters, output has ``out_kept``."""

    def __init__(self, in_channels: int, out_full: int, out_kept: int, bias: bool) -> None:
        super().__init__()
        self.in_channels, self.out_kept, self.groups, self.kernel_size = in_channels, out_kept, 1, (3, 3)
        self.weight = nn.Parameter(torch.randn(out_full, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_full)) if bias else None
        self.inner = nn.Conv2d(in_channels, out_kept, 3)  # a child conv must not be counted twice

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias[: self.out_kept]
        return F.conv2d(x, self.weight[: self.out_kept], bias, padding=1)


@pytest.mark.parametrize("bias", [False, True])
def test_conv_like_module_with_wide_weight_counts_like_compact_conv(bias: bool) -> None:
    wide = _WideFilterConv(3, 16, 6, bias)
    compact = nn.Conv2d(3, 6, 3, padding=1, bias=bias)
    for mode in ("paper", "conv_linear"):
        assert (
            count_macs_params(wide, (1, 3, 8, 8), mode)[0]
            == count_macs_params(compact, (1, 3, 8, 8), mode)[0]
        )
    expected = 6 * 8 * 8 * (3 * 9 + int(bias))
    assert count_macs_params(wide, (1, 3, 8, 8))[0] == expected


def test_bn_pooling_and_linear_rules_follow_thop_0_0_31() -> None:
    model = nn.Sequential(
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.AvgPool2d(2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )
    macs, params = count_macs_params(model, (1, 4, 8, 8))
    bn, avg, adaptive, linear = 2 * 4 * 64, 4 * 2 * 2, (4 + 1) * 4, 4 * 3
    assert macs == bn + avg + adaptive + linear
    assert params == 4 + 4 + 4 * 3 + 3  # BN gamma/beta + Linear; running stats are buffers
    assert count_macs_params(model, (1, 4, 8, 8), "conv_linear")[0] == linear


def test_counting_restores_training_mode_and_rejects_unknown_mode() -> None:
    model = build_classifier("vgg_small").train()
    count_macs_params(model, (1, 3, 16, 16))
    assert model.training
    assert not any(m._forward_hooks for m in model.modules())
    with pytest.raises(ValueError, match="unknown counting mode"):
        count_macs_params(model, (1, 3, 16, 16), mode="fvcore")


def _dense_mobilenet_v1(n_classes: int = 1000) -> nn.Module:
    """MobileNetV1 of pss_net §4 in plain layers (stem + 13 dw/pw blocks, avgpool module, FC)."""
    widths = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)
    strides = (2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
    layers: list[nn.Module] = [nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6()]
    for c_in, c_out, s in zip(widths[:-1], widths[1:], strides[1:], strict=True):
        layers += [nn.Conv2d(c_in, c_in, 3, s, 1, groups=c_in, bias=False), nn.BatchNorm2d(c_in), nn.ReLU6(),
                   nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU6()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1024, n_classes))


def test_conv_linear_pool_mode_adds_the_global_pool_input_to_conv_linear() -> None:
    """pss_net §9.3: MBV1 568 740 352 + 50 176 = 568 790 528; MBV2 (torchvision) 300 774 272 + 62 720."""
    from torchvision.models import mobilenet_v2

    v1 = _dense_mobilenet_v1()
    assert count_macs_params(v1, (1, 3, 224, 224), "conv_linear") == (568_740_352, 4_231_976)
    assert count_macs_params(v1, (1, 3, 224, 224), "conv_linear_pool") == (568_790_528, 4_231_976)
    tv = mobilenet_v2()
    # torchvision pools functionally (not counted): the same layers with the pool as a module.
    v2 = nn.Sequential(tv.features, nn.AdaptiveAvgPool2d(1), nn.Flatten(), tv.classifier)
    assert count_macs_params(tv, (1, 3, 224, 224), "conv_linear_pool")[0] == 300_774_272
    assert count_macs_params(v2, (1, 3, 224, 224), "conv_linear")[0] == 300_774_272
    assert count_macs_params(v2, (1, 3, 224, 224), "conv_linear_pool") == (300_836_992, 3_504_872)


def test_per_module_breakdown_sums_to_the_total_under_qualified_names() -> None:
    """``per_module`` splits the one count by module (recu: binary vs FP MACs) without changing the total."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Sequential(nn.Conv2d(8, 4, 1)), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    for mode in ("paper", "conv_linear"):
        per_module: dict[str, int] = {}
        total = count_macs_params(model, (1, 3, 8, 8), mode)
        assert count_macs_params(model, (1, 3, 8, 8), mode, per_module=per_module) == total
        assert sum(per_module.values()) == total[0]
    assert per_module == {"0": 8 * 64 * 27, "3.0": 4 * 64 * 8, "6": 8}


def test_conv_linear_bias_mode_gives_cc_imagenet_vgg16_and_leaves_the_resnets_unchanged() -> None:
    """Collaborative Compression's counter: one op per output element of every conv and linear bias
    (collab_compression §4, §9): torchvision-layout VGG-16 15 483 821 032 (conv_linear 15 470 264 320)."""
    with torch.device("meta"):
        vgg = build_classifier("vgg16_imagenet", 1000)
    assert count_macs_params(vgg, (1, 3, 224, 224), "conv_linear") == (15_470_264_320, 138_357_544)
    assert count_macs_params(vgg, (1, 3, 224, 224), "conv_linear_bias") == (15_483_821_032, 138_357_544)
    for arch, size, classes, printed in (("resnet56", 32, 10, "125.49"), ("resnet50", 224, 1000, "4.089")):
        model = build_classifier(arch, classes)
        macs, _ = count_macs_params(model, (1, 3, size, size), "conv_linear_bias")
        assert f"{macs / (1e6 if arch == 'resnet56' else 1e9):.{len(printed.split('.')[1])}f}" == printed


def test_restoration_mode_counts_layernorm_elements_attention_products_and_linears() -> None:
    """Uformer's counter rules (uformer §9 check 2): LayerNorm over (B, L, d) = B·L·d; one window-attention call
    on (B, nW, N, d) = 2·B·nW·N·N·d plus its Linear layers; the 2×2/s2 ConvTranspose rule is unchanged."""
    from cvpapers.pipelines.uformer.networks import WindowAttention

    norm = nn.LayerNorm(6)

    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = norm

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.norm(x.flatten(2).transpose(1, 2))

    assert count_macs_params(Tokens(), (2, 6, 4, 5), mode="restoration")[0] == 2 * 20 * 6
    assert count_macs_params(Tokens(), (2, 6, 4, 5), mode="conv_linear")[0] == 0

    b, nw, n, d = 2, 3, 16, 8
    attn = WindowAttention(d, 2, 4)

    class Windows(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = attn

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.attn(x.view(b, nw, n, d))

    per: dict[str, int] = {}
    macs, _ = count_macs_params(Windows(), (b * nw * n * d,), mode="restoration", per_module=per)
    linears = b * nw * n * (d * d + 2 * d * d + d * d)
    assert macs == 2 * b * nw * n * n * d + linears
    assert per["attn.matmul"] == 2 * b * nw * n * n * d
    assert count_macs_params(Windows(), (b * nw * n * d,), mode="conv_linear")[0] == linears, (
        "other modes: unchanged"
    )

    up = nn.ConvTranspose2d(8, 4, 2, stride=2)
    assert count_macs_params(up, (1, 8, 5, 6), mode="restoration")[0] == 16 * 5 * 6 * 8 * 4
