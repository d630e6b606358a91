"""L1 structured pruning of a full model into a compact one (the DCFF L1 baseline)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cvpapers.models.classification import build_classifier
from cvpapers.models.pruning import l1_keep_indices, l1_prune_into
from cvpapers.pipelines.dcff.rates import PAPER_RATES, expand_layer_rates

VGG_SMALL_RATES = [0.5, 0.25, 0.5, 0.75, 0.3, 0.5]
RESNET56_PRUNED_STAGES = "[0.3]*9+[0.6]*9+[0.5]*9+[0.5,0.4,0.25]"


def _randomise(model: nn.Module, seed: int) -> nn.Module:
    """Random weights and non-trivial BN statistics, so that no channel is interchangeable."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(n, generator=gen) * 0.1)
                module.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            elif isinstance(module, nn.Conv2d | nn.Linear):
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * 0.2)
    return model.eval()


def _zero_unselected_bn(full: nn.Module, keep: dict[str, torch.Tensor]) -> None:
    """Make the pruned channels of ``full`` output exactly 0 after BN (gamma = beta = 0) so its output can
    be compared exactly with the compact model."""
    with torch.no_grad():
        for conv_name in full.prunable_convs:
            bn = full.get_submodule(conv_name.rsplit("conv", 1)[0] + "bn" + conv_name.rsplit("conv", 1)[1])
            dropped = torch.ones(bn.num_features, dtype=torch.bool)
            dropped[keep[conv_name]] = False
            bn.weight[dropped] = 0.0
            bn.bias[dropped] = 0.0


@pytest.mark.parametrize(
    ("arch", "cprate"),
    [
        ("vgg_small", str(VGG_SMALL_RATES)),
        ("vgg16", PAPER_RATES["vgg16"]),
        ("resnet56", PAPER_RATES["resnet56"]),
        ("resnet56", RESNET56_PRUNED_STAGES),
        ("resnet110", PAPER_RATES["resnet110"]),
    ],
)
def test_pruned_state_dict_loads_strictly_into_compact_model(arch: str, cprate: str) -> None:
    full = _randomise(build_classifier(arch), seed=0)
    compact = build_classifier(arch, layer_rates=expand_layer_rates(arch, cprate))
    compact.load_state_dict(l1_prune_into(full, compact), strict=True)
    size = 16 if arch == "vgg_small" else 32
    with torch.no_grad():
        assert torch.isfinite(compact.eval()(torch.randn(2, 3, size, size))).all()


def test_resnet50_pruned_state_dict_loads_strictly_with_downsample_coupling() -> None:
    full = build_classifier("resnet50", num_classes=1000)
    rates = expand_layer_rates("resnet50", PAPER_RATES["resnet50_step_0.96b"])
    compact = build_classifier("resnet50", num_classes=1000, layer_rates=rates)
    keep = l1_keep_indices(full, compact)
    for s, n in enumerate((3, 4, 6, 3), start=1):
        stream = [keep[f"layer{s}.{b}.conv3"] for b in range(n)] + [keep[f"layer{s}.0.downsample.0"]]
        assert all(torch.equal(idx, stream[0]) for idx in stream)
    compact.load_state_dict(l1_prune_into(full, compact), strict=True)


def test_vgg_small_compact_output_equals_full_output_with_unselected_channels_zeroed() -> None:
    full = _randomise(build_classifier("vgg_small"), seed=1)
    compact = build_classifier("vgg_small", layer_rates=VGG_SMALL_RATES).eval()
    compact.load_state_dict(l1_prune_into(full, compact), strict=True)
    _zero_unselected_bn(full, l1_keep_indices(full, compact))
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(compact(x), full(x), rtol=1e-5, atol=1e-5)


def test_resnet56_with_unpruned_stages_is_exact_restriction_of_full_model() -> None:
    # DCFF's ResNet-56 rates leave the residual streams at full width: only conv1 of blocks is pruned,
    # so the option-A padding is unchanged and the pruning is exact.
    full = _randomise(build_classifier("resnet56"), seed=3)
    compact = build_classifier(
        "resnet56", layer_rates=expand_layer_rates("resnet56", PAPER_RATES["resnet56"])
    )
    compact.load_state_dict(l1_prune_into(full, compact), strict=True)
    _zero_unselected_bn(full, l1_keep_indices(full, compact))
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.testing.assert_close(compact.eval()(x), full(x), rtol=1e-4, atol=1e-4)


def test_selection_keeps_largest_l1_filters_in_ascending_order() -> None:
    full = build_classifier("vgg_small")
    compact = build_classifier("vgg_small", layer_rates=VGG_SMALL_RATES)
    order = torch.randperm(16, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        conv = full.get_submodule("features.conv0")
        conv.weight.copy_(torch.ones_like(conv.weight) * (order.float() + 1).view(-1, 1, 1, 1))
    keep = l1_keep_indices(full, compact)["features.conv0"]
    assert torch.equal(keep, torch.sort(torch.argsort(order, descending=True)[:8]).values)
    assert torch.all(keep[1:] > keep[:-1])


def test_residual_stream_channels_chosen_by_summed_l1_over_all_writers() -> None:
    full = _randomise(build_classifier("resnet56"), seed=6)
    compact = build_classifier("resnet56", layer_rates=expand_layer_rates("resnet56", RESNET56_PRUNED_STAGES))
    keep = l1_keep_indices(full, compact)
    writers = ["conv1"] + [f"layer1.{b}.conv2" for b in range(9)]
    score = sum(full.get_submodule(w).weight.detach().abs().flatten(1).sum(1).double() for w in writers)
    expected = torch.topk(score, 8).indices.sort().values  # int(16 * (1 - 0.5)) = 8
    assert all(torch.equal(keep[w], expected) for w in writers)
    state = l1_prune_into(full, compact)
    conv1_out = keep["layer1.1.conv1"]  # the block's own conv1 filters are pruned freely
    torch.testing.assert_close(
        state["layer1.1.conv1.weight"], full.layer1[1].conv1.weight.detach()[conv1_out][:, expected]
    )


def test_zero_rates_return_the_full_state_dict_unchanged() -> None:
    full = _randomise(build_classifier("resnet56"), seed=7)
    state = l1_prune_into(full, build_classifier("resnet56"))
    reference = full.state_dict()
    assert all(torch.equal(state[k], v) for k, v in reference.items())


def test_mismatched_architectures_are_rejected() -> None:
    with pytest.raises(ValueError, match="differ in arch"):
        l1_prune_into(build_classifier("vgg_small"), build_classifier("resnet56"))


def test_bn_less_vgg16_imagenet_groups_name_no_bn_and_end_at_the_first_linear() -> None:
    """collab_compression's ImageNet VGG-16 (cfg D without BN): writers carry ``None`` for their BN."""
    from cvpapers.models.pruning import channel_groups

    with torch.device("meta"):
        model = build_classifier("vgg16_imagenet", 1000)
    groups = channel_groups(model)
    assert len(groups) == 13
    assert all(bn is None for g in groups for _, bn in g.writers)
    assert groups[0].readers == ["features.conv1"] and groups[-1].readers == ["classifier.0"]
