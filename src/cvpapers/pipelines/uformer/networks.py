"""Uformer (papers/uformer.md §3–4) and the official convolutional ``UNet`` baseline, in plain PyTorch.

Layout: feature maps travel channels-last, ``(B, H, W, C)``, with H and W carried by the tensor (the official
code recovers them as √tokens, so it only runs on squares); windows are ``(B, nW, N, C)`` so one additive mask
``bias (heads, N, N) + shift (nW, 1, N, N) [+ padding (B, nW, 1, 1|N, N)]`` broadcasts over a single
``scaled_dot_product_attention`` call per block — no loop over windows, heads or pixels.

Pieces from timm where they are exactly the piece: ``window_partition`` / ``window_reverse`` /
``get_relative_position_index`` (Swin's helpers, the same index formula as Uformer), ``DropPath``,
``trunc_normal_``, ``Mlp`` (the plain-FFN ablation). Not in timm: LeFF, the modulator, the cached shift mask,
the cross / concat-cross skip blocks (arXiv v1).

Deviations from the official code, each on purpose and named: the modulator has M_eff² rows (the block's
effective window; the official nominal M² crashes for ``img_size < 8·M``); a padding mask, when the input is
padded, masks every padded *key* (``padding_mask: keys``; ``official`` reproduces the code's "both tokens
padded" rule) and is rolled with the shift (the code does not roll it); the concat-cross bias is tiled
``[B | B]`` along the keys (the v1 code interleaves the columns, misaligning it).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Literal

import torch
import torch.nn.functional as F
from timm.layers import DropPath, Mlp, trunc_normal_
from timm.models.swin_transformer import get_relative_position_index, window_partition, window_reverse
from torch import Tensor, nn

__all__ = [
    "LeFF",
    "LeWinBlock",
    "UNet",
    "Uformer",
    "WindowAttention",
    "build_restoration_model",
    "effective_window",
    "padding_attention_mask",
    "shift_attention_mask",
    "to_windows",
]

MASK_VALUE = -100.0  # the official additive mask value (softmax weight e^-100 ≈ 0)
Skip = Literal["concat", "cross", "catcross"]
PaddingMask = Literal["keys", "official"]


def effective_window(resolution: int, win: int, shift: int) -> tuple[int, int]:
    """The official rule: a stage whose nominal resolution is ≤ the window uses window = resolution, no shift."""
    return (resolution, 0) if resolution <= win else (win, shift)


def to_windows(x: Tensor, win: int) -> Tensor:
    """(B, H, W, C) → (B, nW, win², C) (timm's ``window_partition``, batch axis kept apart)."""
    b, h, w, c = x.shape
    return window_partition(x, (win, win)).view(b, (h // win) * (w // win), win * win, c)


def from_windows(windows: Tensor, win: int, h: int, w: int) -> Tensor:
    """Inverse of :func:`to_windows` (timm's ``window_reverse``)."""
    b, _, _, c = windows.shape
    return window_reverse(windows.reshape(-1, win, win, c), (win, win), h, w).view(b, h, w, c)


@lru_cache(maxsize=64)
def _cached_shift_mask(h: int, w: int, win: int, shift: int, device: str) -> Tensor:
    return build_shift_mask(h, w, win, shift, torch.device(device))


def build_shift_mask(h: int, w: int, win: int, shift: int, device: torch.device | None = None) -> Tensor:
    """SW-MSA mask (nW, N, N): the rolled map is cut into 3×3 regions by [0, H−M), [H−M, H−s), [H−s, H) per
    axis; token pairs from different regions get −100, pairs of one region 0 (vectorised labels, no loop)."""
    rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)
    row_region = (rows >= h - win).long() + (rows >= h - shift).long()
    col_region = (cols >= w - win).long() + (cols >= w - shift).long()
    labels = (row_region[:, None] * 3 + col_region[None, :]).view(1, h, w, 1)
    lab = to_windows(labels, win)[0, :, :, 0]  # (nW, N)
    return (lab[:, None, :] != lab[:, :, None]).float() * MASK_VALUE


def shift_attention_mask(h: int, w: int, win: int, shift: int, device: torch.device) -> Tensor | None:
    """The cached shift mask for (resolution, window, shift, device), or None without a shift."""
    if shift == 0:
        return None
    return _cached_shift_mask(h, w, win, shift, str(device))


def padding_attention_mask(padded: Tensor, win: int, mode: PaddingMask) -> Tensor:
    """Additive mask from a (B, H, W) bool map of padded tokens (already rolled like the features):
    ``keys`` → (B, nW, 1, 1, N), −100 on every padded key; ``official`` → (B, nW, 1, N, N), −100 only where
    query and key are both padded (the official "test at any resolution" rule, issue #32)."""
    pad = to_windows(padded[..., None].float(), win)[..., 0]  # (B, nW, N)
    if mode == "keys":
        return (pad * MASK_VALUE)[:, :, None, None, :]
    return (pad[:, :, :, None] * pad[:, :, None, :] * MASK_VALUE)[:, :, None]


class LinearProjection(nn.Module):
    """q from the queries' tokens (``to_q``), k and v from the keys' tokens (``to_kv``), as the official code;
    ``concat_kv`` (v1 concat-cross): ``to_qkv`` on the decoder tokens plus ``to_kv`` on the encoder tokens,
    their keys/values concatenated along the token axis."""

    def __init__(self, dim: int, heads: int, concat_kv: bool = False) -> None:
        super().__init__()
        self.heads, self.concat_kv = heads, concat_kv
        if concat_kv:
            self.to_qkv = nn.Linear(dim, 3 * dim)
        else:
            self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(dim, 2 * dim)

    def _split(self, t: Tensor, parts: int) -> tuple[Tensor, ...]:
        *lead, n, c = t.shape
        t = t.view(*lead, n, parts, self.heads, c // (parts * self.heads)).movedim(-3, 0).transpose(-2, -3)
        return tuple(t)  # each (..., heads, N, d)

    def forward(self, x: Tensor, kv: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        kv = x if kv is None else kv
        if self.concat_kv:
            q, k_d, v_d = self._split(self.to_qkv(x), 3)
            k_e, v_e = self._split(self.to_kv(kv), 2)
            return q, torch.cat([k_d, k_e], -2), torch.cat([v_d, v_e], -2)
        (q,) = self._split(self.to_q(x), 1)
        k, v = self._split(self.to_kv(kv), 2)
        return q, k, v


class WindowAttention(nn.Module):
    """Multi-head attention inside windows with a relative-position bias ((2M−1)² × heads table, Swin index).

    ``forward(x, kv=None, mask=None)`` on windows (B, nW, N, C); ``mask`` is the additive shift/padding mask
    (broadcastable to (B, nW, heads, N, N_keys)). One ``scaled_dot_product_attention`` call (default scale
    d_h^(−1/2), the official one). ``matmul_macs`` tells the project's counter (mode ``restoration``) the
    cost of q·kᵀ and A·v, which are not modules."""

    def __init__(self, dim: int, heads: int, win: int, concat_kv: bool = False) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} is not divisible by {heads} heads")
        self.dim, self.heads, self.win, self.concat_kv = dim, heads, win, concat_kv
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * win - 1) ** 2, heads))
        self.register_buffer(
            "relative_position_index",
            get_relative_position_index(win, win).to(self.relative_position_bias_table.device),
            persistent=False,
        )
        trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.qkv = LinearProjection(dim, heads, concat_kv)
        self.proj = nn.Linear(dim, dim)

    def position_bias(self) -> Tensor:
        """(heads, N, N_keys): the table gathered by the relative index (tiled [B | B] for concat-cross)."""
        n = self.win * self.win
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        bias = bias.permute(2, 0, 1)
        return torch.cat([bias, bias], -1) if self.concat_kv else bias

    def attention_mask(self, mask: Tensor | None) -> Tensor:
        bias = self.position_bias()
        if mask is None:
            return bias
        if self.concat_kv:  # the same key mask for the decoder's and the encoder's copy of each key
            mask = torch.cat([mask, mask], -1)
        return bias + mask

    def forward(self, x: Tensor, kv: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        q, k, v = self.qkv(x, kv)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=self.attention_mask(mask).to(q.dtype))
        return self.proj(out.transpose(-2, -3).flatten(-2))

    def matmul_macs(self, x: Tensor, _out: Tensor) -> int:
        """q·kᵀ and A·v: 2 · tokens · N_keys · dim (N_keys = 2N for concat-cross), the repo's convention."""
        tokens = x.numel() // x.shape[-1]
        keys = x.shape[-2] * (2 if self.concat_kv else 1)
        return 2 * tokens * keys * self.dim


class LeFF(nn.Module):
    """Locally-enhanced feed-forward: Linear(dim→hidden) → GELU → depth-wise 3×3 conv → GELU → Linear(→dim)
    on (B, H, W, C) maps (the depth-wise conv is its only spatial mixing)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.linear1 = nn.Sequential(nn.Linear(dim, hidden), nn.GELU())
        self.dwconv = nn.Sequential(nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden), nn.GELU())
        self.linear2 = nn.Sequential(nn.Linear(hidden, dim))

    def forward(self, x: Tensor) -> Tensor:
        h = self.linear1(x).permute(0, 3, 1, 2)
        return self.linear2(self.dwconv(h).permute(0, 2, 3, 1))


class LeWinBlock(nn.Module):
    """One LeWin Transformer block (§3.2), pre-norm with two residual branches, on (B, H, W, C) maps.

    ``skip`` picks the decoder block kind: ``concat`` (self-attention, CVPR), ``cross`` (v1: self-attention,
    then cross-attention with queries from the decoder and keys/values from the normed encoder skip, then the
    FFN) or ``catcross`` (v1: one attention whose keys/values are the decoder's and the encoder's). The
    ``modulator`` (M_eff² × dim, N(0, 1) as ``nn.Embedding``) is added to the normed decoder windows before
    the (first) attention."""

    def __init__(
        self,
        dim: int,
        heads: int,
        win: int,
        shift: int,
        mlp_ratio: float = 4.0,
        token_mlp: Literal["leff", "mlp"] = "leff",
        modulator: bool = False,
        drop_path: float = 0.0,
        skip: Skip = "concat",
        padding_mask: PaddingMask = "keys",
    ) -> None:
        super().__init__()
        if not 0 <= shift < win:
            raise ValueError(f"shift {shift} must lie in [0, window {win})")
        self.dim, self.win, self.shift, self.skip, self.padding_mode = dim, win, shift, skip, padding_mask
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, win, concat_kv=skip == "catcross")
        if skip != "concat":
            self.norm_kv = nn.LayerNorm(dim)
        if skip == "cross":
            self.norm_cross = nn.LayerNorm(dim)
            self.cross_attn = WindowAttention(dim, heads, win)
        self.modulator = nn.Embedding(win * win, dim) if modulator else None
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = LeFF(dim, hidden) if token_mlp == "leff" else Mlp(dim, hidden, act_layer=nn.GELU)
        self.token_mlp = token_mlp

    def _mask(self, h: int, w: int, padded: Tensor | None, device: torch.device) -> Tensor | None:
        mask = shift_attention_mask(h, w, self.win, self.shift, device)
        mask = mask[:, None] if mask is not None else None  # (nW, 1, N, N): broadcast over heads
        if padded is not None and bool(padded.any()):
            rolled = torch.roll(padded, (-self.shift, -self.shift), (1, 2)) if self.shift else padded
            pad = padding_attention_mask(rolled, self.win, self.padding_mode)
            mask = pad if mask is None else mask + pad
        return mask

    def _windows(self, x: Tensor) -> Tensor:
        if self.shift:
            x = torch.roll(x, (-self.shift, -self.shift), (1, 2))
        return to_windows(x, self.win)

    def _merge(self, windows: Tensor, h: int, w: int) -> Tensor:
        x = from_windows(windows, self.win, h, w)
        return torch.roll(x, (self.shift, self.shift), (1, 2)) if self.shift else x

    def forward(self, x: Tensor, enc: Tensor | None = None, padded: Tensor | None = None) -> Tensor:
        x = self.attention_branch(x, enc, padded)
        return x + self.drop_path(self.mlp(self.norm2(x)))

    def attention_branch(self, x: Tensor, enc: Tensor | None = None, padded: Tensor | None = None) -> Tensor:
        """``x`` plus the (shifted-)window attention branch(es), before the feed-forward branch."""
        _, h, w, _ = x.shape
        if h % self.win or w % self.win:
            raise ValueError(f"a {h}×{w} map is not divisible by its {self.win}×{self.win} window")
        mask = self._mask(h, w, padded, x.device)
        q = self._windows(self.norm1(x))
        if self.modulator is not None:
            q = q + self.modulator.weight
        kv = self._windows(self.norm_kv(enc)) if self.skip != "concat" else None
        if self.skip == "cross":  # v1: self-attention, then cross-attention, both residual on the windows
            y = self._windows(x) + self.drop_path(self.attn(q, mask=mask))
            y = y + self.drop_path(self.cross_attn(self.norm_cross(y), kv, mask))
            return self._merge(y, h, w)
        return x + self.drop_path(self._merge(self.attn(q, kv, mask), h, w))


class Stage(nn.Module):
    """``depth`` LeWin blocks; block i shifts by M/2 when i is odd (Swin style) unless the window is the stage."""

    def __init__(
        self,
        dim: int,
        depth: int,
        heads: int,
        resolution: int,
        win: int,
        shift: bool,
        drop_path: list[float],
        **block: Any,
    ) -> None:
        super().__init__()
        eff, _ = effective_window(resolution, win, 0)
        self.blocks = nn.ModuleList(
            LeWinBlock(
                dim,
                heads,
                *effective_window(resolution, win, win // 2 if shift and i % 2 else 0),
                drop_path=drop_path[i],
                **block,
            )
            for i in range(depth)
        )
        self.win = eff

    def forward(self, x: Tensor, enc: Tensor | None = None, padded: Tensor | None = None) -> Tensor:
        for blk in self.blocks:
            x = blk(x, enc, padded)
        return x


def _conv_nhwc(conv: nn.Module, x: Tensor) -> Tensor:
    return conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class Uformer(nn.Module):
    """The U-shaped LeWin Transformer (§3.1): input conv → 4 encoder stages with 4×4/s2 down-sampling →
    bottleneck → 4 decoder stages with 2×2/s2 up-sampling and skip connections → output conv, plus the input.

    ``img_size`` is the nominal (training) size: it fixes each stage's effective window and shift, as the
    official code's construction does. ``forward`` takes any H×W that is a multiple of :attr:`size_multiple`
    (not only squares); :meth:`restore` pads any other size, masks the padding and crops back."""

    def __init__(
        self,
        img_size: int = 256,
        embed_dim: int = 32,
        depths: tuple[int, ...] = (2,) * 9,
        num_heads: tuple[int, ...] = (1, 2, 4, 8, 16, 16, 8, 4, 2),
        win_size: int = 8,
        mlp_ratio: float = 4.0,
        token_mlp: Literal["leff", "mlp"] = "leff",
        modulator: bool = True,
        shift: bool = True,
        skip: Skip = "concat",
        drop_path_rate: float = 0.1,
        padding_mask: PaddingMask = "keys",
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        if len(depths) != 9 or len(num_heads) != 9:
            raise ValueError("depths and num_heads need 9 entries (4 encoder, bottleneck, 4 decoder stages)")
        c, self.skip, self.img_size = embed_dim, skip, img_size
        enc_dpr = torch.linspace(0, drop_path_rate, sum(depths[:4]), device="cpu").tolist()
        dec_dpr = enc_dpr[::-1]
        common = {
            "mlp_ratio": mlp_ratio,
            "token_mlp": token_mlp,
            "padding_mask": padding_mask,
            "win": win_size,
            "shift": shift,
        }
        self.input_proj = nn.Sequential(nn.Conv2d(in_chans, c, 3, padding=1), nn.LeakyReLU(inplace=True))
        self.encoders, self.downs = nn.ModuleList(), nn.ModuleList()
        for k in range(4):
            dims, offset = c * 2**k, sum(depths[:k])
            self.encoders.append(
                Stage(
                    dims,
                    depths[k],
                    num_heads[k],
                    img_size // 2**k,
                    drop_path=enc_dpr[offset : offset + depths[k]],
                    **common,
                )
            )
            self.downs.append(nn.Conv2d(dims, 2 * dims, 4, stride=2, padding=1))
        self.bottleneck = Stage(
            16 * c, depths[4], num_heads[4], img_size // 16, drop_path=[drop_path_rate] * depths[4], **common
        )
        self.ups, self.decoders = nn.ModuleList(), nn.ModuleList()
        for j in range(4):
            res, offset = img_size // 2 ** (3 - j), sum(depths[5 : 5 + j])
            enc_width = c * 2 ** (3 - j)
            if skip == "concat":  # up-sampled map ‖ encoder map: decoder width 2× the encoder's
                up_in, up_out, width, heads = (
                    (16 * c if j == 0 else 2 * enc_width * 2),
                    enc_width,
                    2 * enc_width,
                    num_heads[5 + j],
                )
            else:  # v1 cross / concat-cross: the decoder keeps the encoder's width, half the heads
                up_in, up_out, width, heads = (
                    2 * enc_width,
                    enc_width,
                    enc_width,
                    max(num_heads[5 + j] // 2, 1),
                )
            self.ups.append(nn.ConvTranspose2d(up_in, up_out, 2, stride=2))
            self.decoders.append(
                Stage(
                    width,
                    depths[5 + j],
                    heads,
                    res,
                    drop_path=dec_dpr[offset : offset + depths[5 + j]],
                    modulator=modulator,
                    skip=skip,
                    **common,
                )
            )
        self.output_proj = nn.Sequential(nn.Conv2d(2 * c if skip == "concat" else c, in_chans, 3, padding=1))
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        """Official init: Linear trunc-normal(0.02) and zero bias; LayerNorm (1, 0); convs PyTorch default."""
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    @property
    def size_multiple(self) -> int:
        """H and W must be multiples of this: 16 (four down-samplings) and every stage's window at its scale."""
        stages = [*self.encoders, self.bottleneck]
        return math.lcm(
            16,
            *(2**k * s.win for k, s in enumerate(stages)),
            *(2 ** (3 - j) * s.win for j, s in enumerate(self.decoders)),
        )

    def forward(self, x: Tensor, padded: Tensor | None = None) -> Tensor:
        """``x`` (B, 3, H, W) → restored (B, 3, H, W); ``padded`` (B, H, W) bool marks padded pixels."""
        h, w = x.shape[-2:]
        m = self.size_multiple
        if h % m or w % m:
            raise ValueError(
                f"Uformer input {h}×{w}: H and W must be multiples of {m} (four down-samplings and "
                f"each stage's window); use Uformer.restore to pad any size"
            )
        pads = [padded]
        for _ in range(4):  # a coarse token is padding when every pixel it covers is
            p = pads[-1]
            pads.append(None if p is None else F.max_pool2d((~p).float()[:, None], 2)[:, 0] == 0)
        y = self.input_proj(x).permute(0, 2, 3, 1)
        skips = []
        for k, (stage, down) in enumerate(zip(self.encoders, self.downs, strict=True)):
            y = stage(y, padded=pads[k])
            skips.append(y)
            y = _conv_nhwc(down, y)
        y = self.bottleneck(y, padded=pads[4])
        for j, (up, stage) in enumerate(zip(self.ups, self.decoders, strict=True)):
            y, enc = _conv_nhwc(up, y), skips[3 - j]
            if self.skip == "concat":
                y = stage(torch.cat([y, enc], -1), padded=pads[3 - j])
            else:
                y = stage(y, enc, padded=pads[3 - j])
        return x + self.output_proj(y.permute(0, 3, 1, 2))

    def restore(self, x: Tensor) -> Tensor:
        """Any H×W: zero-pad bottom/right to :attr:`size_multiple`, mask the padding, run, crop back."""
        h, w = x.shape[-2:]
        m = self.size_multiple
        ph, pw = -h % m, -w % m
        if not ph and not pw:
            return self(x)
        padded = torch.zeros(x.shape[0], h + ph, w + pw, dtype=torch.bool, device=x.device)
        padded[:, h:], padded[:, :, w:] = True, True
        return self(F.pad(x, (0, pw, 0, ph)), padded)[..., :h, :w]


class ConvBlock(nn.Module):
    """Official ``ConvBlock``: two 3×3 convs with LeakyReLU, plus a 1×1 shortcut conv."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1),
            nn.LeakyReLU(inplace=True),
        )
        self.conv11 = nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.block(x) + self.conv11(x)


class UNet(nn.Module):
    """The official convolutional ``UNet(dim)`` baseline: 4 levels of ConvBlock, 4×4/s2 conv down-sampling,
    2×2/s2 transposed-conv up-sampling, concatenation skips, a 3×3 output conv and the global residual."""

    def __init__(self, dim: int = 32, in_chans: int = 3) -> None:
        super().__init__()
        widths = [dim * 2**k for k in range(5)]
        self.enc = nn.ModuleList(
            [ConvBlock(in_chans, dim), *(ConvBlock(widths[k - 1], widths[k]) for k in range(1, 5))]
        )
        self.pools = nn.ModuleList(nn.Conv2d(widths[k], widths[k], 4, stride=2, padding=1) for k in range(4))
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(widths[k + 1], widths[k], 2, stride=2) for k in (3, 2, 1, 0)
        )
        self.dec = nn.ModuleList(ConvBlock(widths[k + 1], widths[k]) for k in (3, 2, 1, 0))
        self.conv10 = nn.Conv2d(dim, in_chans, 3, padding=1)

    size_multiple = 16

    def forward(self, x: Tensor) -> Tensor:
        skips, y = [], x
        for k in range(4):
            y = self.enc[k](y)
            skips.append(y)
            y = self.pools[k](y)
        y = self.enc[4](y)
        for up, dec, skip in zip(self.ups, self.dec, reversed(skips), strict=True):
            y = dec(torch.cat([up(y), skip], 1))
        return x + self.conv10(y)

    def restore(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        ph, pw = -h % 16, -w % 16
        return self(F.pad(x, (0, pw, 0, ph)))[..., :h, :w] if ph or pw else self(x)


#: Table E configurations (§4): name → Uformer keyword arguments (img_size 256).
VARIANTS: dict[str, dict[str, Any]] = {
    "T": {"embed_dim": 16, "depths": (2,) * 9},
    "S": {"embed_dim": 32, "depths": (2,) * 9},
    "B": {"embed_dim": 32, "depths": (1, 2, 8, 8, 2, 8, 8, 2, 1)},
}


def build_restoration_model(kind: str, **config: Any) -> nn.Module:
    """The checkpoint builder: ``kind`` ``uformer`` (keyword arguments of :class:`Uformer`) or ``unet``
    (``dim``). Lists from YAML/JSON become tuples."""
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
    if kind == "uformer":
        return Uformer(**config)
    if kind == "unet":
        return UNet(**config)
    raise ValueError(f"unknown restoration model kind {kind!r} (uformer | unet)")
