"""§9: the compressed module — gather + conv (+1×1) with the planned shapes, unused producer filters removed
without changing the network's output, rebuilt from its config (strict load, identical outputs), and its
MACs counted by the project's counter equal the layer FLOPs formula."""

from __future__ import annotations

import copy

import pytest
import torch

from cvpapers.engine.checkpoint import model_checkpoint, rebuild_model
from cvpapers.engine.flops import count_macs_params
from cvpapers.models.classification import build_classifier
from cvpapers.pipelines.collab_compression import export, method
from cvpapers.pipelines.collab_compression.export import CompressedConv2d, build_compressed_classifier

SIZE = (1, 3, 16, 16)
# convs 2–6 of vgg_small: (kept input channels, rank or None)
VGG_PLAN = {
    "features.conv1": {"keep": [0, 1, 2, 5, 7, 8, 9, 10, 12, 13, 15], "rank": 7},
    "features.conv2": {"keep": list(range(0, 16, 2)), "rank": None},
    "features.conv3": {"keep": list(range(32)), "rank": 12},
    "features.conv4": {"keep": list(range(3, 32)), "rank": 20},
    "features.conv5": {"keep": list(range(0, 64, 3)), "rank": None},
}


def _trained_like(arch: str, num_classes: int = 10):
    torch.manual_seed(0)
    model = build_classifier(arch, num_classes)
    with torch.no_grad():  # non-trivial BN statistics, so the slicing of running stats is exercised
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model.eval()


def test_compressed_layers_have_the_planned_shapes() -> None:
    model = method.export(_trained_like("vgg_small"), VGG_PLAN, slim=False)
    layer = model.get_submodule("features.conv1")
    assert isinstance(layer, CompressedConv2d)
    assert tuple(layer.a.weight.shape) == (7, 11, 3, 3) and tuple(layer.b.weight.shape) == (16, 7, 1, 1)
    assert layer.keep.tolist() == VGG_PLAN["features.conv1"]["keep"]
    assert model.get_submodule("features.conv2").b is None
    assert model.get_submodule("features.conv3").keep is None  # reads every channel: no gather
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 10)


def test_compressed_conv_equals_the_conv_with_the_pruned_truncated_kernel() -> None:
    from cvpapers.pipelines.collab_compression.units import svd

    conv = torch.nn.Conv2d(8, 6, 3, padding=1, bias=True).double()
    layer = export.compressed_layer(conv, [0, 3, 4, 7], rank=3, weights=True).double()
    w = conv.weight.detach()[:, [0, 3, 4, 7]]
    u, s, vh = svd(w.reshape(6, -1), keep=3)
    x = torch.randn(2, 8, 5, 5, dtype=torch.float64)
    expected = torch.nn.functional.conv2d(
        x[:, [0, 3, 4, 7]], (u * s @ vh).reshape_as(w), conv.bias, padding=1
    )
    assert (layer(x) - expected).abs().max() < 1e-5  # weights stored in float32


@pytest.mark.parametrize(
    "arch, plan_of",
    [
        ("vgg_small", lambda m: VGG_PLAN),
        (
            "resnet56",
            lambda m: {
                "layer1.0.conv2": {"keep": [1, 2, 3, 5, 8, 13], "rank": None},
                "layer1.1.conv2": {"keep": list(range(10)), "rank": 9},
                "layer2.3.conv1": {"keep": list(range(0, 32, 2)), "rank": 20},
                "layer2.3.conv2": {"keep": list(range(1, 32, 2)), "rank": None},
            },
        ),
    ],
)
def test_removing_unused_producers_keeps_the_output(arch, plan_of) -> None:
    model = _trained_like(arch)
    plan = plan_of(model)
    gathered, slim = method.export(model, plan, slim=False), method.export(model, plan, slim=True)
    x = torch.randn(4, 3, 16 if arch == "vgg_small" else 32, 16 if arch == "vgg_small" else 32)
    with torch.no_grad():
        assert (gathered(x) - slim(x)).abs().max() < 1e-5
    size = (1, *x.shape[1:])
    assert (
        count_macs_params(slim, size, "conv_linear_bias")[0]
        < count_macs_params(gathered, size, "conv_linear_bias")[0]
    )
    if arch == "vgg_small":  # the producer of conv2 (conv1's 1×1 conv B) lost the unread filters
        assert model.get_submodule("features.conv1").weight.shape[0] == 16
        assert slim.get_submodule("features.conv1").b.weight.shape[0] == 8
        assert slim.get_submodule("features.bn1").num_features == 8
        assert slim.get_submodule("features.conv2").keep is None
    else:  # inside a block conv1 → conv2 is a chain; the residual stream keeps its gather
        assert slim.get_submodule("layer1.0.conv1").weight.shape[0] == 6
        assert slim.get_submodule("layer1.1.conv1").weight.shape[0] == 10
        assert slim.get_submodule("layer2.3.conv1").b.weight.shape[0] == 16
        assert slim.get_submodule("layer2.3.conv1").keep is not None


@pytest.mark.parametrize("slim", [False, True])
def test_checkpoint_rebuilt_from_its_config_loads_strictly_and_gives_the_same_outputs(slim: bool) -> None:
    model = method.export(_trained_like("vgg_small"), VGG_PLAN, slim=slim)
    ckpt = model_checkpoint(
        model,
        {"arch": "vgg_small", "num_classes": 10, "plan": VGG_PLAN, "slim": slim},
        build_compressed_classifier,
    )
    rebuilt = rebuild_model(copy.deepcopy(ckpt)).eval()
    rebuilt.load_state_dict(ckpt["state_dict"], strict=True)
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def test_counted_macs_equal_the_plan_flops_formula() -> None:
    model = _trained_like("vgg_small")
    geoms, net = export.layer_geometries(model, SIZE)
    compressed = method.export(model, VGG_PLAN, slim=False)
    planned = net - sum(
        g.flops
        - g.flops_at(
            g.c - len(VGG_PLAN[n]["keep"]), (g.rank - VGG_PLAN[n]["rank"]) if VGG_PLAN[n]["rank"] else 0
        )
        for n, g in geoms.items()
    )
    assert count_macs_params(compressed, SIZE, "conv_linear_bias")[0] == planned
    assert method.layerwise_flops(compressed, SIZE) == planned


def test_layer_geometry_of_vgg_small_and_resnet56() -> None:
    geoms, net = export.layer_geometries(build_classifier("vgg_small"), SIZE)
    assert list(geoms) == [f"features.conv{i}" for i in range(1, 6)]
    assert net == 2_470_538 and geoms["features.conv1"].hw == 256 and geoms["features.conv5"].hw == 16
    geoms, net = export.layer_geometries(build_classifier("resnet56"), (1, 3, 32, 32))
    assert len(geoms) == 54 and net == 125_485_706


def test_resnet50_and_vgg16_imagenet_compressible_layers() -> None:
    with torch.device("meta"):
        r50, vgg = build_classifier("resnet50", 1000), build_classifier("vgg16_imagenet", 1000)
    layers = export.compressible_layers(r50)
    assert len(layers) == 52 and "layer3.0.downsample.0" in layers and "conv1" not in layers
    assert export.compressible_layers(vgg) == [f"features.conv{i}" for i in range(1, 13)]
