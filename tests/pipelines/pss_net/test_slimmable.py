"""Spec §9.3–§9.5, §9.13, §9.14: the slimmable supernets against dense networks and the one counter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cvpapers.engine.flops import count_macs_params
from cvpapers.pipelines.pss_net import space as sp
from cvpapers.pipelines.pss_net.slimmable import SlimConv2d, SlimLinear, build_supernet, extract_subnet

PAPER_RES = list(range(128, 225, 8))
ARCHS = {
    "mbv1_tiny": dict(
        arch="mbv1_tiny", n_classes=10, divisor=4, width_range=(0.5, 1.0), resolutions=[24, 28, 32]
    ),
    "mobilenet_v1": dict(
        arch="mobilenet_v1", n_classes=1000, divisor=8, width_range=(0.75, 1.0), resolutions=PAPER_RES
    ),
    "mobilenet_v2": dict(
        arch="mobilenet_v2", n_classes=1000, divisor=8, width_range=(0.75, 1.0), resolutions=PAPER_RES
    ),
}


@pytest.fixture(scope="module")
def supernets() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {name: build_supernet(**cfg).eval() for name, cfg in ARCHS.items()}


@pytest.mark.parametrize(
    ("arch", "params"), [("mbv1_tiny", 37_162), ("mobilenet_v1", 4_231_976), ("mobilenet_v2", 3_504_872)]
)
def test_full_width_parameter_counts(supernets, arch: str, params: int) -> None:
    assert sum(p.numel() for p in supernets[arch].parameters()) == params


@pytest.mark.parametrize("arch", list(ARCHS))
def test_analytic_flops_equal_the_counter_on_20_random_subnets(supernets, arch: str) -> None:
    """§9.3: exact integer equality of space.flops and count_macs_params(mode="conv_linear_pool")."""
    model = supernets[arch]
    res, mults = sp.sample_uniform(model.space, 20, np.random.default_rng(3))
    analytic = sp.flops(model.space, res, mults)
    for r, m, f in zip(res, mults, analytic, strict=True):
        model.activate(r, m)
        assert count_macs_params(model, (1, 3, int(r), int(r)), "conv_linear_pool")[0] == f
    model.activate_max()


def test_max_net_counts_the_spec_split_of_conv_linear_and_pool(supernets) -> None:
    model = supernets["mbv1_tiny"]
    model.activate_max()
    assert count_macs_params(model, (1, 3, 32, 32), "conv_linear")[0] == 4_592_896
    assert count_macs_params(model, (1, 3, 32, 32), "conv_linear_pool")[0] == 4_601_088


@pytest.mark.parametrize("arch", ["mbv1_tiny", "mobilenet_v2"])
def test_a_subnet_equals_the_dense_network_of_its_sliced_weights(supernets, arch: str) -> None:
    """§9.4 and §9.14: plain Conv2d/BatchNorm2d/Linear with W[:c_out, :c_in] compute the same function, and
    the counter reads the active widths (equal to the dense copy's count)."""
    model = supernets[arch]
    _randomise_bn(model)
    rng = np.random.default_rng(5)
    res, mults = sp.sample_uniform(model.space, 2, rng)
    side = model.space.max_resolution if arch == "mbv1_tiny" else 128
    x = torch.randn(2, 3, side, side)
    for r, m in zip(res, mults, strict=True):
        r = int(r) if arch == "mbv1_tiny" else 128
        model.activate(r, m)
        dense = extract_subnet(model).eval()
        assert not any(isinstance(mod, SlimConv2d | SlimLinear) for mod in dense.modules())
        torch.testing.assert_close(model(x), dense(x), atol=1e-5, rtol=1e-5)
        assert (
            count_macs_params(model, (1, 3, r, r), "conv_linear_pool")[0]
            == count_macs_params(dense, (1, 3, r, r), "conv_linear_pool")[0]
        )
        widths = sp.widths(model.space, m)[0]
        convs = [mod for mod in model.modules() if isinstance(mod, SlimConv2d)]
        assert convs[0].out_channels == widths[0]
        assert all(c.groups == c.in_channels for c in convs if c.depthwise)
        assert model.classifier.in_features == widths[-1]
    model.activate_max()


def _randomise_bn(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def _dense_tiny() -> nn.Module:
    c, s = sp.TINY_CHANNELS, sp.TINY_STRIDES
    layers: list[nn.Module] = [nn.Conv2d(3, c[0], 3, s[0], 1, bias=False), nn.BatchNorm2d(c[0]), nn.ReLU6()]
    for i in range(1, len(c)):
        layers += [
            nn.Conv2d(c[i - 1], c[i - 1], 3, s[i], 1, groups=c[i - 1], bias=False),
            nn.BatchNorm2d(c[i - 1]),
            nn.ReLU6(),
            nn.Conv2d(c[i - 1], c[i], 1, bias=False),
            nn.BatchNorm2d(c[i]),
            nn.ReLU6(),
        ]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c[-1], 10))


def _copy_in_order(src: nn.Module, dst: nn.Module) -> None:
    a, b = list(src.state_dict().values()), dst.state_dict()
    assert [tuple(t.shape) for t in a] == [tuple(t.shape) for t in b.values()]
    dst.load_state_dict(dict(zip(b, a, strict=True)))


def test_max_net_equals_plain_dense_models_with_the_same_weights(supernets) -> None:
    """§9.5: the tiny max net against hand-built layers; MobileNetV2 against torchvision's."""
    from torchvision.models import mobilenet_v2

    tiny = supernets["mbv1_tiny"]
    tiny.activate_max()
    _randomise_bn(tiny)
    dense = _dense_tiny().eval()
    _copy_in_order(tiny, dense)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(tiny(x), dense(x), atol=1e-5, rtol=1e-5)

    v2 = supernets["mobilenet_v2"]
    v2.activate(128, np.ones(v2.space.n_mults))  # full width at 128 px (smaller forward)
    tv = mobilenet_v2().eval()
    _copy_in_order(v2, tv)
    x = torch.randn(1, 3, 128, 128)
    torch.testing.assert_close(v2(x), tv(x), atol=1e-5, rtol=1e-5)
    v2.activate_max()


def test_lower_resolutions_are_made_inside_the_model_by_bilinear_resize(supernets) -> None:
    model = supernets["mbv1_tiny"]
    model.activate(24, np.ones(model.space.n_mults))
    x = torch.randn(1, 3, 32, 32)
    small = torch.nn.functional.interpolate(x, size=(24, 24), mode="bilinear", align_corners=True)
    torch.testing.assert_close(model(x), model(small))
    model.activate_max()
