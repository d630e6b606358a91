"""The arms' initial weights: a fused filter starts at a compact filter's scale (as the official CIFAR
models initialise), and paired seeds give every arm the same numbers wherever their shapes overlap."""

from __future__ import annotations

import math

import pytest
import torch

from cvpapers.models.classification import build_classifier
from cvpapers.pipelines.dcff import nodes
from cvpapers.pipelines.dcff.accounting import model_config
from cvpapers.pipelines.dcff.arms import build_arm_model
from cvpapers.pipelines.dcff.fusion import FusionController, build_fused_classifier
from cvpapers.pipelines.dcff.init import paired_init, resolve_scheme
from cvpapers.pipelines.dcff.rates import expand_layer_rates

ARCH, RATES = "vgg_small", expand_layer_rates("vgg_small", "[0.5]*6")
PLAN = {"arch": ARCH, "num_classes": 10, "layer_rates": RATES}


def _std_ratios(init: str) -> list[float]:
    """Per prunable conv: std of the fused filters once Q is one-hot (a few iterations into training) over
    the std of a compact network's filters, both initialised by ``init``."""
    p, run = nodes._start({"model": {"init": init}}, "dcff")
    fused = build_arm_model("fused", PLAN, p, run, "dcff")
    compact = build_arm_model("compact", PLAN, p, run, "scratch")
    FusionController(fused).recompute(1e4)  # T(e) passes 10^3 within the first tenth of an epoch
    with torch.no_grad():
        return [
            float(fused.get_submodule(n).fused_weight().std() / compact.get_submodule(n).weight.std())
            for n in compact.prunable_convs
        ]


def test_a_fused_filter_starts_at_a_compact_filters_scale() -> None:
    ratios = _std_ratios("auto")
    assert all(0.8 < r < 1.25 for r in ratios), ratios
    assert sum(ratios) / len(ratios) == pytest.approx(1.0, abs=0.1)


def test_the_earlier_builder_init_leaves_fused_filters_a_root_two_smaller() -> None:
    ratios = _std_ratios("builder")  # Kaiming fan_out over the c-filter tensor: std ∝ 1/√c instead of 1/√m
    assert all(r < 0.8 for r in ratios), ratios
    assert sum(ratios) / len(ratios) == pytest.approx(1 / math.sqrt(2), abs=0.06)


def test_auto_follows_each_architectures_official_rule() -> None:
    assert [resolve_scheme(a, "auto") for a in ("vgg16", "resnet56", "resnet50", "vgg_small")] == [
        "conv_default",
        "fan_in",
        "fan_out",
        "fan_in",
    ]
    assert resolve_scheme("vgg16", "builder") == "builder"


@pytest.mark.parametrize(
    "scheme, std",
    [
        ("fan_in", lambda fi, fo: math.sqrt(2 / fi)),
        ("fan_out", lambda fi, fo: math.sqrt(2 / fo)),
        ("conv_default", lambda fi, fo: 1 / math.sqrt(3 * fi)),
    ],
)
def test_each_scheme_scales_by_the_tensors_own_fans(scheme: str, std) -> None:
    model = build_classifier("vgg_small", 10)
    paired_init(model, "vgg_small", 10, scheme, seed=3)
    w = model.get_submodule("features.conv5").weight  # 64 × 64 × 3 × 3: 36864 draws
    assert float(w.detach().std()) == pytest.approx(std(64 * 9, 64 * 9), rel=0.03)


def test_paired_arms_share_their_initial_numbers_where_shapes_overlap() -> None:
    p, run = nodes._start({}, "dcff")
    fused = build_arm_model("fused", PLAN, p, run, "dcff").state_dict()
    full = build_arm_model("full", PLAN, p, run, "l1").state_dict()
    compact = build_arm_model("compact", PLAN, p, run, "scratch").state_dict()
    assert torch.equal(fused["features.conv0.weight"], full["features.conv0.weight"])  # same shape: equal
    for k, m in enumerate((8, 8, 16, 16, 32, 32)):
        key = f"features.conv{k}.weight"
        assert torch.equal(compact[key], fused[key][:m]), key  # the scratch net's filters are DCFF's first m
        kept_in = fused[key].shape[1]
        rescale = math.sqrt(full[key].shape[1] / kept_in)  # each tensor is scaled by its own fan-in
        torch.testing.assert_close(full[key][:, :kept_in] * rescale, fused[key])
    assert torch.equal(compact["classifier.bias"], fused["classifier.bias"])


def test_per_arm_seeds_with_the_builder_init_reproduce_the_earlier_models() -> None:
    from cvpapers.engine.seeding import derive_seed, seed_everything

    p, run = nodes._start({"arm_seeds": "per_arm", "model": {"init": "builder"}}, "dcff")
    seed_everything(derive_seed(p.seed, "dcff"))
    before = build_fused_classifier(**model_config(PLAN)).state_dict()
    now = build_arm_model("fused", PLAN, p, run, "dcff").state_dict()
    assert before.keys() == now.keys() and all(torch.equal(before[k], now[k]) for k in before)
    other = build_arm_model("compact", PLAN, p, run, "scratch").state_dict()["features.conv0.weight"]
    assert not torch.equal(other, now["features.conv0.weight"][:8])  # per-arm: different draws


def test_paired_init_refuses_a_layer_wider_than_the_full_network() -> None:
    wide = build_classifier("vgg_small", 12)  # a classifier with more outputs than the full net's 10
    with pytest.raises(ValueError, match="exceeds the full network"):
        paired_init(wide, "vgg_small", 10, "fan_in", seed=0)
