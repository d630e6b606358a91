"""Uformer's architecture (papers/uformer.md §3, §4 Table E, §9 checks 1, 3–9, 11, 12): exact parameter counts,
window helpers, relative-position index, shift and padding masks, the SDPA path against an explicit reference,
the global residual, window locality, LeFF, input-size rules and the effective-window modulator."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from timm.models.swin_transformer import get_relative_position_index, window_partition, window_reverse

from cvpapers.engine.flops import count_params
from cvpapers.pipelines.uformer.networks import (
    VARIANTS,
    LeFF,
    LeWinBlock,
    Uformer,
    UNet,
    WindowAttention,
    build_shift_mask,
    padding_attention_mask,
    shift_attention_mask,
    to_windows,
)

NANO = {"embed_dim": 8, "depths": (1,) * 9, "win_size": 4}


def _meta_params(**kw) -> int:
    with torch.device("meta"):
        return count_params(Uformer(**kw))


@pytest.mark.parametrize(
    ("variant", "with_mod", "without_mod"),
    [("T", 5_291_853, 5_230_413), ("S", 20_751_197, 20_628_317), ("B", 50_880_946, 50_467_250)],
)
def test_table_e_params_of_t_s_b_with_and_without_modulator_are_exact(variant, with_mod, without_mod) -> None:
    assert _meta_params(img_size=256, modulator=True, **VARIANTS[variant]) == with_mod
    assert _meta_params(img_size=256, modulator=False, **VARIANTS[variant]) == without_mod


def test_table_e_params_of_nano_smoke_and_the_unets_are_exact() -> None:
    assert _meta_params(img_size=32, **NANO) == 784_432
    assert _meta_params(img_size=32, embed_dim=4, depths=(1,) * 9, win_size=4) == 205_552
    with torch.device("meta"):
        got = {d: count_params(UNet(d)) for d in (32, 16, 10, 8, 4)}
    assert got == {32: 9_503_779, 16: 2_377_747, 10: 929_653, 8: 595_339, 4: 149_287}


def _block_params(d: int, h: int, m: int) -> int:
    """§3.2's P(d, h, M)."""
    return (
        2 * d
        + (d * d + d)
        + (2 * d * d + 2 * d)
        + (d * d + d)
        + (2 * m - 1) ** 2 * h
        + 2 * d
        + (4 * d * d + 4 * d)
        + (36 * d + 4 * d)
        + (4 * d * d + d)
    )


def test_uformer_t_module_and_block_figures_match_table_e() -> None:
    with torch.device("meta"):
        m = Uformer(img_size=256, modulator=True, **VARIANTS["T"])
    assert count_params(m.input_proj) == 448 and count_params(m.output_proj) == 867
    assert [count_params(s) for s in m.encoders] == [8_290, 28_868, 106_888, 410_384]
    assert [count_params(s) for s in m.downs] == [8_224, 32_832, 131_200, 524_544]
    assert count_params(m.bottleneck) == 1_607_200
    assert [count_params(s) for s in m.ups] == [131_200, 65_600, 16_416, 4_112]
    assert [count_params(s) for s in m.decoders] == [1_639_968, 426_768, 115_080, 32_964]
    assert _block_params(16, 1, 8) == 4_145 == count_params(m.encoders[0].blocks[0])
    assert _block_params(32, 2, 8) == 14_434 == count_params(m.encoders[1].blocks[0])
    assert _block_params(256, 16, 8) + 64 * 256 == 819_984 == count_params(m.decoders[0].blocks[0])


def test_window_partition_and_reverse_round_trip() -> None:
    x = torch.randn(2, 8, 12, 5)
    assert torch.equal(window_reverse(window_partition(x, (4, 4)), (4, 4), 8, 12), x)
    w = to_windows(x, 4)
    assert w.shape == (2, 6, 16, 5) and torch.equal(w[1, 0].view(4, 4, 5), x[1, :4, :4])


@pytest.mark.parametrize("m", [2, 4, 8])
def test_relative_position_index_shape_range_symmetry_and_diagonal(m: int) -> None:
    idx = get_relative_position_index(m, m)
    n, span = m * m, 2 * m - 1
    assert idx.shape == (n, n) and idx.min() >= 0 and idx.max() < span**2
    diag = (m - 1) * span + (m - 1)
    assert torch.all(idx.diagonal() == diag)
    assert torch.equal(idx + idx.T, torch.full_like(idx, 2 * diag)), "pairs map to mirrored offsets"
    assert WindowAttention(8, 2, m).relative_position_bias_table.shape == (span**2, 2)


def test_shift_mask_regions_values_and_cache() -> None:
    mask = build_shift_mask(16, 16, 8, 4)
    assert mask.shape == (4, 64, 64) and set(mask.unique().tolist()) <= {0.0, -100.0}
    assert torch.all(mask[0] == 0), "the first window holds one region"
    for w in range(4):  # pairs of one region get 0; a window holds ≤ 4 regions
        same = mask[w] == 0
        regions = {tuple(r.tolist()) for r in same}
        assert 1 <= len(regions) <= 4
        assert torch.equal(same, same.T) and torch.all(same.diagonal())
    assert shift_attention_mask(16, 16, 8, 0, torch.device("cpu")) is None
    cached = shift_attention_mask(16, 16, 8, 4, torch.device("cpu"))
    assert torch.equal(cached, mask) and cached is shift_attention_mask(16, 16, 8, 4, torch.device("cpu"))


def _reference_block_attention(blk: LeWinBlock, x: torch.Tensor, padded: torch.Tensor | None) -> torch.Tensor:
    """roll → windows → explicit softmax(q kᵀ·d^-½ + B + mask)·v → merge → roll back (attention branch only)."""
    attn, s, win = blk.attn, blk.shift, blk.win
    b, h, w, c = x.shape
    y = blk.norm1(x)
    y = torch.roll(y, (-s, -s), (1, 2)) if s else y
    win_x = to_windows(y, win)
    if blk.modulator is not None:
        win_x = win_x + blk.modulator.weight
    heads, d = attn.heads, c // attn.heads
    q = attn.qkv.to_q(win_x).view(b, -1, win * win, heads, d).transpose(2, 3)
    k, v = attn.qkv.to_kv(win_x).view(b, -1, win * win, 2, heads, d).permute(3, 0, 1, 4, 2, 5)
    logits = q @ k.transpose(-1, -2) * d**-0.5 + attn.position_bias()
    if s:
        logits = logits + build_shift_mask(h, w, win, s)[:, None]
    if padded is not None:
        rolled = torch.roll(padded, (-s, -s), (1, 2)) if s else padded
        logits = logits + padding_attention_mask(rolled, win, "keys")
    out = attn.proj((logits.softmax(-1) @ v).transpose(2, 3).reshape(b, -1, win * win, c))
    out = window_reverse(out.reshape(-1, win, win, c), (win, win), h, w)
    return torch.roll(out, (s, s), (1, 2)) if s else out


@pytest.mark.parametrize("shift", [0, 2])
@pytest.mark.parametrize("pad", [False, True])
def test_sdpa_block_equals_the_explicit_reference_with_shift_and_padding_masks(shift: int, pad: bool) -> None:
    torch.manual_seed(0)
    blk = LeWinBlock(8, 2, 4, shift, modulator=True).eval()
    x = torch.randn(2, 8, 12, 8)
    padded = torch.zeros(2, 8, 12, dtype=torch.bool)
    if pad:
        padded[:, 6:], padded[:, :, 9:] = True, True
    with torch.no_grad():
        got = blk.attention_branch(x, padded=padded if pad else None)
        ref = x + _reference_block_attention(blk, x, padded if pad else None)
    assert torch.allclose(got, ref, atol=1e-5)


def test_official_padding_mode_masks_only_pairs_of_padded_tokens() -> None:
    padded = torch.zeros(1, 4, 4, dtype=torch.bool)
    padded[0, :, 3] = True
    keys = padding_attention_mask(padded, 4, "keys")[0, 0, 0, 0]
    both = padding_attention_mask(padded, 4, "official")[0, 0, 0]
    col = torch.arange(16) % 4 == 3
    assert torch.equal(keys == -100, col)
    assert torch.equal(both == -100, col[:, None] & col[None, :])


def test_zero_output_projection_makes_uformer_the_identity() -> None:
    torch.manual_seed(0)
    m = Uformer(img_size=32, **NANO).eval()
    torch.nn.init.zeros_(m.output_proj[0].weight)
    torch.nn.init.zeros_(m.output_proj[0].bias)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(m(x), x)


def _delta_dwconv(leff: LeFF) -> None:
    with torch.no_grad():
        w = leff.dwconv[0].weight
        w.zero_()
        w[:, 0, 1, 1] = 1.0
        leff.dwconv[0].bias.zero_()


def test_leff_with_a_delta_kernel_is_linear_gelu_gelu_linear() -> None:
    torch.manual_seed(0)
    leff = LeFF(8, 32)
    _delta_dwconv(leff)
    x = torch.randn(2, 5, 7, 8)
    ref = leff.linear2(F.gelu(F.gelu(leff.linear1[0](x))))
    assert torch.allclose(leff(x), ref, atol=1e-6)


def test_swapping_two_windows_swaps_the_outputs_when_the_conv_is_a_delta() -> None:
    torch.manual_seed(0)
    blk = LeWinBlock(8, 2, 4, 0, modulator=False).eval()
    _delta_dwconv(blk.mlp)
    x = torch.randn(1, 8, 8, 8)
    swapped = x.clone()
    swapped[:, :4, :4], swapped[:, 4:, 4:] = x[:, 4:, 4:], x[:, :4, :4]
    with torch.no_grad():
        y, ys = blk(x), blk(swapped)
    assert torch.allclose(ys[:, :4, :4], y[:, 4:, 4:], atol=1e-6)
    assert torch.allclose(ys[:, 4:, 4:], y[:, :4, :4], atol=1e-6)
    assert torch.allclose(ys[:, :4, 4:], y[:, :4, 4:], atol=1e-6)


def test_sizes_not_divisible_by_the_windows_raise_and_non_squares_run() -> None:
    m = Uformer(img_size=32, **NANO).eval()
    assert m.size_multiple == 32
    with pytest.raises(ValueError, match="multiples of 32"):
        m(torch.rand(1, 3, 40, 32))
    with torch.no_grad():
        assert m(torch.rand(1, 3, 32, 64)).shape == (1, 3, 32, 64), "carries H and W: not only squares"
        out = m.restore(torch.rand(1, 3, 20, 45))
    assert out.shape == (1, 3, 20, 45) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="not divisible"):
        LeWinBlock(8, 2, 4, 0)(torch.rand(1, 6, 8, 8))


def test_modulator_uses_the_effective_window_so_img_size_32_with_window_8_runs() -> None:
    m = Uformer(img_size=32, embed_dim=4, depths=(1,) * 9, win_size=8).eval()
    rows = [blk.modulator.weight.shape[0] for s in m.decoders for blk in s.blocks]
    assert rows == [16, 64, 64, 64], "4×4 effective window at the 4×4 stage, 8×8 elsewhere"
    with torch.no_grad():
        assert m(torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)


@pytest.mark.parametrize("skip", ["cross", "catcross"])
def test_v1_skip_schemes_build_and_keep_the_encoder_width(skip: str) -> None:
    m = Uformer(img_size=32, embed_dim=4, depths=(2,) * 9, win_size=4, skip=skip).eval()
    assert [s.blocks[0].dim for s in m.decoders] == [32, 16, 8, 4]
    assert [s.blocks[0].attn.heads for s in m.decoders] == [8, 4, 2, 1]
    with torch.no_grad():
        assert m(torch.rand(2, 3, 32, 32)).shape == (2, 3, 32, 32)


def test_catcross_bias_is_tiled_along_the_keys() -> None:
    attn = WindowAttention(8, 2, 4, concat_kv=True)
    bias = attn.position_bias()
    assert bias.shape == (2, 16, 32) and torch.equal(bias[..., :16], bias[..., 16:])


def test_shifted_blocks_alternate_and_drop_path_follows_the_official_schedule() -> None:
    m = Uformer(img_size=256, embed_dim=4, depths=(2,) * 9, win_size=8, drop_path_rate=0.1)
    assert [b.shift for b in m.encoders[0].blocks] == [0, 4]
    assert [b.shift for b in m.bottleneck.blocks] == [0, 4]  # 16×16 stage > window 8
    enc = [
        b.drop_path.drop_prob if hasattr(b.drop_path, "drop_prob") else 0.0
        for s in m.encoders
        for b in s.blocks
    ]
    dec = [
        b.drop_path.drop_prob if hasattr(b.drop_path, "drop_prob") else 0.0
        for s in m.decoders
        for b in s.blocks
    ]
    assert enc == pytest.approx(torch.linspace(0, 0.1, 8).tolist())
    assert dec == pytest.approx(enc[::-1])
    assert all(b.drop_path.drop_prob == pytest.approx(0.1) for b in m.bottleneck.blocks)
