"""Invariants of the HDR fusion models (papers/fhdrnet.md §3.4, §4, §7, §8, §9.3–9.5, §9.11)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cvpapers.engine.flops import count_macs_params, count_params
from cvpapers.models.wavelet import HaarIDWT
from cvpapers.pipelines.fhdrnet.networks import (
    HDR_MODEL_NAMES,
    AHDRNet,
    FHDRNet,
    LLAttention,
    StackedFrames,
    build_hdr_model,
    network_config,
)


def _meta(cls: type[nn.Module], **kwargs: object) -> nn.Module:
    """Build without real storage: paper-sized models (20 M params) in milliseconds, shapes/counts only."""
    with torch.device("meta"):
        return cls(**kwargs)


def _frames(b: int, c: int, h: int, w: int, seed: int = 0, scale: float = 1.0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [scale * torch.rand(b, c, h, w, generator=g) for _ in range(3)]


# ---------------------------------------------------------------------------------- parameter counts
@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, 20_476_995),  # paper RGB, no BN
        ({"use_bn": True}, 20_483_395),  # paper RGB command (--use-bn)
        ({"in_channels": 8, "out_channels": 4, "use_bn": True, "head": "softplus"}, 20_494_596),  # RAW
        ({"nf": 16, "n_res_blocks": 3}, 844_563),  # embedded FHDRNet-small
        ({"nf": 16, "n_res_blocks": 9}, 1_287_699),
        ({"nf": 8, "n_res_blocks": 1}, 176_587),  # smoke
    ],
)
def test_fhdrnet_param_count_equals_official_code_exactly(kwargs: dict, expected: int) -> None:
    assert count_params(_meta(FHDRNet, **kwargs)) == expected


def test_fhdrnet_per_module_param_counts_equal_official_code() -> None:
    model = _meta(FHDRNet)
    counts = {name: count_params(child) for name, child in model.named_children()}
    expected = {
        "enc1": 214_592,
        "enc2": 214_592,
        "enc3": 214_592,
        "merge": 13_079_296,
        "up1": 1_474_944,
        "up2": 663_744,
        "up3": 184_448,
        "hf2": 1_770_240,
        "hf1": 442_752,
        "att12": 885_120,
        "att32": 885_120,
        "att11": 221_376,
        "att31": 221_376,
        "out_conv": 4_803,
        "head": 0,
    }
    assert counts == expected


def test_encoders_and_attention_modules_do_not_share_weights() -> None:
    model = FHDRNet(nf=8, n_res_blocks=1)
    for group in (("enc1", "enc2", "enc3"), ("att11", "att31", "att12", "att32")):
        ptrs = [{p.data_ptr() for p in getattr(model, name).parameters()} for name in group]
        assert all(a.isdisjoint(b) for i, a in enumerate(ptrs) for b in ptrs[i + 1 :])


def test_nohf_ablation_has_no_hf_merge_parameters() -> None:
    full, nohf = _meta(FHDRNet, nf=16, n_res_blocks=3), _meta(FHDRNet, nf=16, n_res_blocks=3, high_freq=False)
    hf = count_params(full.hf1) + count_params(full.hf2)
    assert count_params(nohf) == count_params(full) - hf == 706_035
    assert not hasattr(nohf, "hf1") and not hasattr(nohf, "hf2")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, 1_441_283),  # paper config nF 64, 6 dense layers, growth 32, 3 DRDBs (unused attConv dropped)
        ({"nfeat": 16, "n_dense_layers": 3, "growth": 8, "n_drdb": 3}, 59_003),  # embedded AHDRNet-small
    ],
)
def test_ahdrnet_param_count(kwargs: dict, expected: int) -> None:
    assert count_params(_meta(AHDRNet, **kwargs)) == expected


# ---------------------------------------------------------------------------------------------- MACs
@pytest.mark.parametrize(
    ("kwargs", "size", "expected"),
    [
        ({}, 256, 73_068_969_984),  # §4: 73.07 G conv MACs per 256×256 (fvcore, convs only)
        ({"nf": 16, "n_res_blocks": 3}, 64, 282_918_912),  # §8: 0.283 G per 64×64
        ({"nf": 16, "n_res_blocks": 9}, 64, 311_230_464),  # §8: 0.311 G
        ({"nf": 8, "n_res_blocks": 1}, 64, 76_972_032),  # §8: 0.077 G
    ],
)
def test_fhdrnet_conv_macs_match_spec(kwargs: dict, size: int, expected: int) -> None:
    """Counted on the meta device through the single-input adapter; the DWT convs are functional calls
    and, like the official matrix DWT under fvcore, are not counted."""
    model = StackedFrames(_meta(FHDRNet, **kwargs))
    macs, _ = count_macs_params(model, (1, 18, size, size), mode="conv_linear")
    assert macs == expected


# ------------------------------------------------------------------------------- shapes and ranges
@pytest.mark.parametrize("high_freq", [True, False])
@pytest.mark.parametrize("use_bn", [False, True])
def test_fhdrnet_rgb_output_shape_and_sigmoid_range(high_freq: bool, use_bn: bool) -> None:
    model = FHDRNet(nf=8, n_res_blocks=1, use_bn=use_bn, high_freq=high_freq)
    y = model(*_frames(2, 6, 32, 40))
    assert y.shape == (2, 3, 32, 40)
    assert torch.isfinite(y).all() and (y > 0).all() and (y < 1).all()


def test_fhdrnet_raw_output_shape_and_softplus_nonnegative() -> None:
    model = FHDRNet(in_channels=8, out_channels=4, nf=8, n_res_blocks=1, use_bn=True, head="softplus")
    model.eval()
    y = model(*_frames(1, 8, 24, 16, scale=20.0))  # HDR-domain RAW inputs can be far above 1
    assert y.shape == (1, 4, 24, 16)
    assert (y >= 0).all()


@pytest.mark.parametrize(("h", "w"), [(36, 32), (32, 20), (12, 12)])
def test_fhdrnet_rejects_size_not_divisible_by_8(h: int, w: int) -> None:
    model = FHDRNet(nf=4, n_res_blocks=1)
    with pytest.raises(ValueError, match="divisible by 8"):
        model(*_frames(1, 6, h, w))


def test_fhdrnet_rejects_wrong_channels_or_mismatched_frames() -> None:
    model = FHDRNet(nf=4, n_res_blocks=1)
    with pytest.raises(ValueError, match="input channels"):
        model(*_frames(1, 8, 16, 16))
    x1, x2, _ = _frames(1, 6, 16, 16)
    with pytest.raises(ValueError, match="equal shape"):
        model(x1, x2, torch.rand(1, 6, 16, 24))


def test_every_fhdrnet_parameter_receives_a_gradient() -> None:
    """Catches a module that is built (and counted) but never used in forward."""
    model = FHDRNet(nf=4, n_res_blocks=2, use_bn=True)
    model(*_frames(2, 6, 16, 16)).mean().backward()
    unused = [name for name, p in model.named_parameters() if p.grad is None]
    assert unused == []


def test_ahdrnet_output_shape_range_and_any_size() -> None:
    model = AHDRNet(nfeat=8, n_dense_layers=2, growth=4, n_drdb=2)
    y = model(*_frames(2, 6, 18, 27))  # no down-sampling, so no divisibility constraint
    assert y.shape == (2, 3, 18, 27)
    assert (y > 0).all() and (y < 1).all()
    raw = AHDRNet(in_channels=8, out_channels=4, nfeat=8, n_dense_layers=2, growth=4, head="softplus")
    assert raw(*_frames(1, 8, 8, 8)).shape == (1, 4, 8, 8)
    model(*_frames(1, 6, 8, 8)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


# -------------------------------------------------------------------------------------------- attention
@pytest.mark.parametrize("act", [nn.ReLU(), nn.LeakyReLU()])
def test_attention_only_attenuates_its_input(act: nn.Module) -> None:
    att = LLAttention(6, act=act)
    g = torch.Generator().manual_seed(3)
    s, r = 5 * torch.randn(2, 6, 8, 8, generator=g), 5 * torch.randn(2, 6, 8, 8, generator=g)
    mask = att.mask(s, r)
    out = att(s, r)
    assert ((mask >= 0) & (mask <= 1)).all()
    torch.testing.assert_close(out, s * mask, atol=0, rtol=0)
    assert (out.abs() <= s.abs()).all()


# ---------------------------------------------------------------------------------- nohf equivalence
def _zero_high_bands(_module: nn.Module, args: tuple) -> tuple:
    ll, *highs = args
    return (ll, *(torch.zeros_like(h) for h in highs))


@pytest.mark.parametrize("use_bn", [False, True])
def test_nohf_equals_fhdrnet_with_high_bands_forced_to_zero(use_bn: bool) -> None:
    """§9.11: copy the shared weights; zero every high band entering the inverse DWTs of the full model
    (HF-merge outputs and the merge's own bands) — both forwards must agree."""
    torch.manual_seed(0)
    full = FHDRNet(nf=8, n_res_blocks=2, use_bn=use_bn).eval()
    nohf = FHDRNet(nf=8, n_res_blocks=2, use_bn=use_bn, high_freq=False).eval()
    result = nohf.load_state_dict(full.state_dict(), strict=False)
    assert result.missing_keys == []
    assert result.unexpected_keys and all(k.startswith(("hf1.", "hf2.")) for k in result.unexpected_keys)

    frames = _frames(2, 6, 32, 32, seed=7)
    with torch.no_grad():
        y_full = full(*frames)
        handles = [
            m.register_forward_pre_hook(_zero_high_bands) for m in full.modules() if isinstance(m, HaarIDWT)
        ]
        assert len(handles) == 3
        try:
            y_zeroed = full(*frames)
        finally:
            for handle in handles:
                handle.remove()
        y_nohf = nohf(*frames)
    torch.testing.assert_close(y_nohf, y_zeroed, atol=1e-6, rtol=0)
    assert not torch.allclose(y_full, y_nohf, atol=1e-4)  # the high bands do matter in the full model


# ----------------------------------------------------------------------------------------- factory
def test_build_hdr_model_names_and_errors() -> None:
    assert HDR_MODEL_NAMES == ("fhdrnet", "fhdrnet_nohf", "ahdrnet")
    small = {"nf": 8, "n_res_blocks": 1}
    assert isinstance(build_hdr_model("fhdrnet", **small), FHDRNet)
    nohf = build_hdr_model("fhdrnet_nohf", **small)
    assert isinstance(nohf, FHDRNet) and not nohf.high_freq
    assert isinstance(build_hdr_model("ahdrnet", nfeat=8, n_dense_layers=1, growth=4), AHDRNet)
    with pytest.raises(ValueError, match="fhdrnet, fhdrnet_nohf, ahdrnet"):
        build_hdr_model("unet")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="high_freq"):
        build_hdr_model("fhdrnet_nohf", high_freq=True)
    with pytest.raises(ValueError, match="sigmoid, softplus"):
        build_hdr_model("fhdrnet", head="relu")
    with pytest.raises(ValueError, match="haar"):
        build_hdr_model("fhdrnet", wavelet="db2")


def test_network_config_sets_the_domain_channels_and_the_checkpoint_rebuilds_the_network() -> None:
    from cvpapers.engine.checkpoint import model_checkpoint, rebuild_model

    fhdr, ahdr = {"nf": 4, "n_res_blocks": 1, "use_bn": True, "wavelet": "haar"}, {"nfeat": 4, "n_dense_layers": 1,
                                                                                   "growth": 2, "n_drdb": 1}
    raw = network_config("fhdrnet_nohf", "raw", fhdr, ahdr)
    assert raw == {"name": "fhdrnet_nohf", "in_channels": 8, "out_channels": 4, "head": "softplus",
                   "nf": 4, "n_res_blocks": 1, "use_bn": True}
    rgb = network_config("ahdrnet", "rgb", fhdr, ahdr)
    assert rgb == {"name": "ahdrnet", "in_channels": 6, "out_channels": 3, "head": "sigmoid", **ahdr}
    for config in (raw, rgb):
        model = build_hdr_model(**config)
        again = rebuild_model(model_checkpoint(model, config, build_hdr_model))
        assert type(again) is type(model)
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


# ---------------------------------------------------------------------------------- init and BN switches
def _conv_weight_std(model: nn.Module) -> list[tuple[float, float]]:
    """(measured std, Kaiming-normal std √(2 / fan_in)) of every convolution with enough weights to measure."""
    return [(float(m.weight.detach().std()), (2.0 / (m.weight[0].numel())) ** 0.5)
            for m in model.modules() if isinstance(m, nn.Conv2d) and m.weight.numel() >= 2000]


def test_ahdrnet_kaiming_init_gives_every_conv_the_official_scale_and_default_keeps_pytorchs() -> None:
    torch.manual_seed(0)
    official = build_hdr_model("ahdrnet", nfeat=16, n_dense_layers=3, growth=8, n_drdb=3, init="kaiming")
    torch.manual_seed(0)
    default = build_hdr_model("ahdrnet", nfeat=16, n_dense_layers=3, growth=8, n_drdb=3)
    assert all(abs(std / want - 1) < 0.1 for std, want in _conv_weight_std(official))
    # PyTorch's default (kaiming_uniform with a = √5) is √6 ≈ 2.45× smaller: what the baseline used before.
    assert all(abs(want / std - 6**0.5) < 0.3 for std, want in _conv_weight_std(default))
    with pytest.raises(ValueError, match="unknown AHDRNet init"):
        AHDRNet(init="xavier")  # type: ignore[arg-type]


def test_parameters_switch_bn_and_init_and_the_checkpoint_config_rebuilds_them() -> None:
    from cvpapers.engine.checkpoint import model_checkpoint, rebuild_model
    from cvpapers.pipelines.fhdrnet.config import FhdrnetParams

    p = FhdrnetParams.model_validate({"model": {"use_bn": True}, "ahdrnet": {"init": "kaiming"}})
    for name in HDR_MODEL_NAMES:
        config = network_config(name, "rgb", p.model.model_dump(), p.ahdrnet.model_dump())
        model = build_hdr_model(**config)
        has_bn = any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        assert has_bn == (name != "ahdrnet"), name
        assert config.get("init") == ("kaiming" if name == "ahdrnet" else None)
        again = rebuild_model(model_checkpoint(model, config, build_hdr_model))
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    off = FhdrnetParams.model_validate({"model": {"use_bn": False}, "ahdrnet": {"init": "default"}})
    model = build_hdr_model(**network_config("fhdrnet", "rgb", off.model.model_dump(), off.ahdrnet.model_dump()))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_ahdrnet_small_receptive_field_is_51_px() -> None:
    """The figure the benchmark's large motion is measured against: an output pixel of AHDRNet-small sees
    input pixels at most 25 px away (3×3 convolutions, nine of them dilated by 2)."""
    torch.manual_seed(0)  # the benchmark's widths: narrower ones leave dead ReLUs that hide the outer ring
    model = build_hdr_model("ahdrnet", nfeat=16, n_dense_layers=3, growth=8, n_drdb=3, init="kaiming").double()
    frames = [f.double().requires_grad_() for f in _frames(1, 6, 96, 96)]
    model(*frames)[0, :, 48, 48].sum().backward()
    seen = sum(f.grad.abs().sum(dim=(0, 1)) for f in frames) > 0
    cols = seen.any(dim=0).nonzero().flatten()
    assert (int(cols.min()), int(cols.max())) == (48 - 25, 48 + 25)


def test_fhdrnet_exports_with_a_symbolic_batch() -> None:
    """The frame and sub-band shape checks compare sizes without hashing them, so torch.export keeps the batch
    dimension symbolic and the program equals the module at another batch size."""
    from cvpapers.engine.export import export_program, program_is_batch_dynamic
    from cvpapers.pipelines.fhdrnet.networks import build_hdr_model

    torch.manual_seed(0)
    model = build_hdr_model("fhdrnet").eval()
    program = export_program(model, tuple(torch.rand(1, 6, 16, 16) for _ in range(3)), dynamic_batch=True)
    assert program_is_batch_dynamic(program)
    frames = tuple(torch.rand(3, 6, 16, 16) for _ in range(3))
    with torch.no_grad():
        assert torch.allclose(program.module()(*frames), model(*frames), atol=1e-6)
