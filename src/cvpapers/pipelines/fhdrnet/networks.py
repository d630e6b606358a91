"""The networks of the FHDRNet paper: FHDRNet (papers/fhdrnet.md §3.4), its no-high-frequency ablation
(§7) and the AHDRNet baseline (§4). Plain PyTorch; the Haar DWT is the shared block :mod:`cvpapers.models.wavelet`.

All models take three frames ``forward(x1, x2, x3)`` — short, medium (= reference), long — each
B×Cin×H×W (Cin = 6 for RGB: LDR and HDR-domain images; 8 for packed RAW) and return the fused
B×Cout×H×W HDR image through an output head (sigmoid for RGB, whose GT lies in [0, 1]; softplus for RAW,
whose GT is unbounded above).

FHDRNet is a three-level wavelet U-Net: every down-sampling is a Haar DWT. Ghosts from large motion live
mostly in the low-frequency (LL) bands, so only LL bands of the non-reference frames are re-weighted by an
attention mask computed against the reference; detail lives in the high bands (LH, HL, HH), so they are
fused per band across the three frames and re-injected by the inverse DWT during up-sampling. The module
layout and widths reproduce the official code's parameter counts exactly (§4, §9.3).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from cvpapers.models.wavelet import HaarDWT, HaarIDWT

__all__ = [
    "AHDRNet",
    "DRDB",
    "FHDRNet",
    "HDR_MODEL_NAMES",
    "HFMerge",
    "LLAttention",
    "StackedFrames",
    "build_hdr_model",
    "kaiming_conv_init_",
    "network_config",
]

Head = Literal["sigmoid", "softplus"]
AhdrInit = Literal["default", "kaiming"]
Bands = tuple[Tensor, Tensor, Tensor]
OptBands = tuple[Tensor | None, Tensor | None, Tensor | None]

HDR_MODEL_NAMES: tuple[str, ...] = ("fhdrnet", "fhdrnet_nohf", "ahdrnet")
_HEADS: tuple[str, ...] = ("sigmoid", "softplus")
_AHDR_INITS: tuple[str, ...] = ("default", "kaiming")
_NO_BANDS: OptBands = (None, None, None)


def _conv(c_in: int, c_out: int, k: int, dilation: int = 1) -> nn.Conv2d:
    """Stride-1 'same' convolution with bias, the only convolution kind these networks use (§3.1)."""
    return nn.Conv2d(c_in, c_out, k, padding=dilation * (k // 2), dilation=dilation, bias=True)


def _bn(channels: int, use_bn: bool) -> nn.Module:
    """BatchNorm when the model is built with ``use_bn`` (paper RGB command and RAW model), else identity."""
    return nn.BatchNorm2d(channels) if use_bn else nn.Identity()


def _head(head: str) -> nn.Module:
    """Output non-linearity: sigmoid bounds RGB outputs to (0, 1); softplus keeps RAW outputs ≥ 0."""
    if head == "sigmoid":
        return nn.Sigmoid()
    if head == "softplus":
        return nn.Softplus()
    raise ValueError(f"unknown output head {head!r}; allowed: {', '.join(_HEADS)}")


def _check_frames(x1: Tensor, x2: Tensor, x3: Tensor, in_channels: int, multiple: int) -> None:
    """Fail early with a readable message instead of a shape error deep inside a DWT or concat."""
    shapes = [tuple(x.shape) for x in (x1, x2, x3)]
    # No set(): the symbolic sizes of an export trace do not hash.
    if any(len(s) != 4 for s in shapes) or any(s != shapes[0] for s in shapes[1:]):
        raise ValueError(f"expected three B×C×H×W frames of equal shape, got {shapes}")
    _, c, h, w = x2.shape
    if c != in_channels:
        raise ValueError(f"expected {in_channels} input channels per frame, got {c}")
    if h % multiple or w % multiple:
        raise ValueError(
            f"input height and width must be divisible by {multiple} (three Haar DWT levels), "
            f"got H={h}, W={w}; pad the frames (the official test code reflect-pads) and crop the output"
        )


# --------------------------------------------------------------------------------------------- blocks
class LLAttention(nn.Module):
    """AHDRNet-style attention: ``s ⊙ σ(conv3(2c→c)(act(conv3(2c→2c)(concat(s, r)))))``.

    The mask lies in (0, 1), so the block can only attenuate the non-reference features ``s`` where they
    disagree with the reference ``r`` (moving objects) — it never invents content (§9.5).
    """

    def __init__(self, channels: int, act: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = _conv(2 * channels, 2 * channels, 3)
        self.act = act if act is not None else nn.ReLU()
        self.conv2 = _conv(2 * channels, channels, 3)

    def mask(self, s: Tensor, r: Tensor) -> Tensor:
        """The (0, 1) attention mask, exposed so it can be inspected or logged."""
        return torch.sigmoid(self.conv2(self.act(self.conv1(torch.cat((s, r), dim=1)))))

    def forward(self, s: Tensor, r: Tensor) -> Tensor:
        return s * self.mask(s, r)


class _Encoder(nn.Module):
    """Per-frame encoder (§3.4): conv5 → LReLU → DWT → conv5 on LL → BN? → LReLU → DWT.

    Returns the full-resolution features ``f0`` (the reference's is the global skip), and the level-1
    and level-2 sub-bands ``(LL, LH, HL, HH)``.
    """

    def __init__(self, in_channels: int, nf: int, use_bn: bool) -> None:
        super().__init__()
        self.conv0 = _conv(in_channels, nf, 5)
        self.conv1 = _conv(nf, 2 * nf, 5)
        self.bn1 = _bn(2 * nf, use_bn)
        self.act = nn.LeakyReLU()
        self.dwt = HaarDWT()

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...], tuple[Tensor, ...]]:
        f0 = self.act(self.conv0(x))
        level1 = self.dwt(f0)
        f1 = self.act(self.bn1(self.conv1(level1[0])))
        level2 = self.dwt(f1)
        return f0, level1, level2


class _ResBlock(nn.Module):
    """``x + BN?(conv3(ReLU(conv3(x))))`` — the bottleneck's residual unit."""

    def __init__(self, channels: int, use_bn: bool) -> None:
        super().__init__()
        self.conv1 = _conv(channels, channels, 3)
        self.relu = nn.ReLU()
        self.conv2 = _conv(channels, channels, 3)
        self.bn = _bn(channels, use_bn)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.bn(self.conv2(self.relu(self.conv1(x))))


class _Merge(nn.Module):
    """Bottleneck: fuse attended level-2 LL bands, DWT once more, run the residual stack on its LL.

    A LeakyReLU precedes every residual block and nothing follows the last one (§11), as in the code.
    Returns ``(r, LLm, (LHm, HLm, HHm))``; the decoder's first up-sampling uses these high bands.
    """

    def __init__(self, nf: int, n_res_blocks: int, use_bn: bool) -> None:
        super().__init__()
        self.conv = _conv(6 * nf, 4 * nf, 5)
        self.bn = _bn(4 * nf, use_bn)
        self.act = nn.LeakyReLU()
        self.dwt = HaarDWT()
        layers: list[nn.Module] = []
        for _ in range(n_res_blocks):
            layers += [nn.LeakyReLU(), _ResBlock(4 * nf, use_bn)]
        self.res = nn.Sequential(*layers)

    def forward(self, ll2_1: Tensor, ll2_2: Tensor, ll2_3: Tensor) -> tuple[Tensor, Tensor, Bands]:
        m = self.act(self.bn(self.conv(torch.cat((ll2_1, ll2_2, ll2_3), dim=1))))
        llm, lhm, hlm, hhm = self.dwt(m)
        return self.res(llm), llm, (lhm, hlm, hhm)


class _Up(nn.Module):
    """Frequency-guided up-sampling: conv3(c_in→c_mid) gives the LL band, the IDWT with the given high
    bands doubles the resolution, then ReLU(BN?(conv3(c_mid→c_out))).

    With high bands ``None`` (the no-HF ablation) the IDWT is nearest-neighbour up-sampling × ½.
    """

    def __init__(self, c_in: int, c_mid: int, c_out: int, use_bn: bool) -> None:
        super().__init__()
        self.conv_in = _conv(c_in, c_mid, 3)
        self.idwt = HaarIDWT()
        self.conv_out = _conv(c_mid, c_out, 3)
        self.bn = _bn(c_out, use_bn)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor, highs: OptBands) -> Tensor:
        z = self.idwt(self.conv_in(x), *highs)
        return self.relu(self.bn(self.conv_out(z)))


class HFMerge(nn.Module):
    """High-frequency merge (``H_Merge``): per band b ∈ {LH, HL, HH}, with its own weights,
    ``b* = conv3(c→c)(ReLU(conv3(3c→c)(concat(b_1, b_2, b_3))))``.

    Inputs are the raw (un-attended) encoder bands of all three frames, reference included: detail that
    is saturated or noisy in one exposure can be taken from another.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()

        def branch() -> nn.Sequential:
            return nn.Sequential(_conv(3 * channels, channels, 3), nn.ReLU(), _conv(channels, channels, 3))

        self.lh = branch()
        self.hl = branch()
        self.hh = branch()

    def forward(self, bands1: Bands, bands2: Bands, bands3: Bands) -> Bands:
        branches = (self.lh, self.hl, self.hh)
        return tuple(  # type: ignore[return-value]
            net(torch.cat((b1, b2, b3), dim=1))
            for net, b1, b2, b3 in zip(branches, bands1, bands2, bands3, strict=True)
        )


# -------------------------------------------------------------------------------------------- FHDRNet
class FHDRNet(nn.Module):
    """Frequency-guided HDR network (papers/fhdrnet.md §3.4).

    Args:
        in_channels: channels per frame (6 RGB: LDR + HDR-domain; 8 RAW).
        out_channels: output channels (3 RGB; 4 packed RAW).
        nf: base width (paper 64).
        n_res_blocks: residual blocks in the bottleneck (paper 9).
        use_bn: BatchNorm after the encoder's second conv, the merge conv, each residual block and each
            up-sampling block (paper RGB command and RAW model: on).
        high_freq: ``False`` builds the ``fhdrnet_nohf`` ablation (§7): every high band fed to the
            inverse DWTs is zero and the HF-merge modules do not exist, isolating the frequency-guided
            up-sampling claim while keeping the LL attention.
        head: ``"sigmoid"`` (RGB) or ``"softplus"`` (RAW).
        wavelet: only ``"haar"`` — the paper's default and the one the parameters file names.

    H and W of the inputs must be divisible by 8 (three DWT levels).
    """

    def __init__(
        self,
        in_channels: int = 6,
        out_channels: int = 3,
        nf: int = 64,
        n_res_blocks: int = 9,
        use_bn: bool = False,
        high_freq: bool = True,
        head: Head = "sigmoid",
        wavelet: Literal["haar"] = "haar",
    ) -> None:
        super().__init__()
        if wavelet != "haar":
            raise ValueError(f"unknown wavelet {wavelet!r}; allowed: haar")
        if nf < 1 or n_res_blocks < 0 or in_channels < 1 or out_channels < 1:
            raise ValueError(
                f"invalid FHDRNet sizes: in_channels={in_channels}, out_channels={out_channels}, "
                f"nf={nf}, n_res_blocks={n_res_blocks}"
            )
        self.in_channels = in_channels
        self.high_freq = high_freq
        # Three encoders with separate weights (unlike AHDRNet's shared first conv, §11).
        self.enc1 = _Encoder(in_channels, nf, use_bn)
        self.enc2 = _Encoder(in_channels, nf, use_bn)
        self.enc3 = _Encoder(in_channels, nf, use_bn)
        # LL attention: frame 1/3 against the reference at level 1 (c = nf) and level 2 (c = 2nf).
        self.att11 = LLAttention(nf)
        self.att31 = LLAttention(nf)
        self.att12 = LLAttention(2 * nf)
        self.att32 = LLAttention(2 * nf)
        self.merge = _Merge(nf, n_res_blocks, use_bn)
        self.up1 = _Up(8 * nf, 4 * nf, 2 * nf, use_bn)
        self.up2 = _Up(8 * nf, 2 * nf, nf, use_bn)
        self.up3 = _Up(4 * nf, nf, nf, use_bn)
        if high_freq:
            self.hf2 = HFMerge(2 * nf)
            self.hf1 = HFMerge(nf)
        self.out_conv = _conv(nf, out_channels, 5)
        self.head = _head(head)

    def forward(self, x1: Tensor, x2: Tensor, x3: Tensor) -> Tensor:
        """Fuse short ``x1``, reference ``x2`` and long ``x3`` (each B×Cin×H×W) into B×Cout×H×W."""
        _check_frames(x1, x2, x3, self.in_channels, 8)
        f0_1, (ll1_1, *h1_1), (ll2_1, *h2_1) = self.enc1(x1)
        f0_2, (ll1_2, *h1_2), (ll2_2, *h2_2) = self.enc2(x2)
        f0_3, (ll1_3, *h1_3), (ll2_3, *h2_3) = self.enc3(x3)

        ll1_1 = self.att11(ll1_1, ll1_2)
        ll1_3 = self.att31(ll1_3, ll1_2)
        ll2_1 = self.att12(ll2_1, ll2_2)
        ll2_3 = self.att32(ll2_3, ll2_2)

        r, llm, highs_m = self.merge(ll2_1, ll2_2, ll2_3)
        if self.high_freq:
            highs_2: OptBands = self.hf2(tuple(h2_1), tuple(h2_2), tuple(h2_3))
            highs_1: OptBands = self.hf1(tuple(h1_1), tuple(h1_2), tuple(h1_3))
        else:
            highs_m = highs_2 = highs_1 = _NO_BANDS  # type: ignore[assignment]

        d1 = self.up1(torch.cat((r, llm), dim=1), highs_m)
        d2 = self.up2(torch.cat((d1, ll2_1, ll2_2, ll2_3), dim=1), highs_2)
        d3 = self.up3(torch.cat((d2, ll1_1, ll1_2, ll1_3), dim=1), highs_1)
        return self.head(self.out_conv(d3 + f0_2))


# -------------------------------------------------------------------------------------------- AHDRNet
class _DilatedDense(nn.Module):
    """One dense layer: ``concat(x, ReLU(dilated conv3(x)))`` (dilation 2 widens the receptive field)."""

    def __init__(self, channels: int, growth: int) -> None:
        super().__init__()
        self.conv = _conv(channels, growth, 3, dilation=2)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat((x, self.relu(self.conv(x))), dim=1)


class DRDB(nn.Module):
    """Dilated residual dense block: ``n_layers`` dilated dense layers, 1×1 fusion back to ``channels``,
    plus the block input."""

    def __init__(self, channels: int, n_layers: int, growth: int) -> None:
        super().__init__()
        self.dense = nn.Sequential(*(_DilatedDense(channels + i * growth, growth) for i in range(n_layers)))
        self.fuse = _conv(channels + n_layers * growth, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.fuse(self.dense(x))


class AHDRNet(nn.Module):
    """Attention-guided HDR network (Yan et al., CVPR 2019), the baseline of papers/fhdrnet.md §4.

    A shared conv3(Cin→nF)+LReLU embeds each frame; attention modules (conv3(2nF→2nF)+LReLU,
    conv3(2nF→nF), sigmoid) re-weight frames 1 and 3 against the reference; the concat goes through
    conv3(3nF→nF), ``n_drdb`` DRDBs whose outputs are concatenated, 1×1(n_drdb·nF→nF), conv3, plus the
    reference features, conv3, conv3(nF→Cout) and the output head. Everything runs at full resolution,
    so the receptive field comes only from the dilated convolutions. The official code's two unused
    ``attConv`` layers are not built (they hold parameters but never run).

    ``init="kaiming"`` initialises as the official training script does (``model.apply`` of
    :func:`kaiming_conv_init_`); ``"default"`` keeps PyTorch's default init (this project's choice before).
    """

    def __init__(
        self,
        in_channels: int = 6,
        out_channels: int = 3,
        nfeat: int = 64,
        n_dense_layers: int = 6,
        growth: int = 32,
        n_drdb: int = 3,
        head: Head = "sigmoid",
        init: AhdrInit = "default",
    ) -> None:
        super().__init__()
        if init not in _AHDR_INITS:
            raise ValueError(f"unknown AHDRNet init {init!r}; allowed: {', '.join(_AHDR_INITS)}")
        if min(in_channels, out_channels, nfeat, growth, n_drdb) < 1 or n_dense_layers < 0:
            raise ValueError(
                f"invalid AHDRNet sizes: in_channels={in_channels}, out_channels={out_channels}, "
                f"nfeat={nfeat}, n_dense_layers={n_dense_layers}, growth={growth}, n_drdb={n_drdb}"
            )
        self.in_channels = in_channels
        self.conv1 = _conv(in_channels, nfeat, 3)  # shared by the three frames
        self.act = nn.LeakyReLU()
        self.att1 = LLAttention(nfeat, act=nn.LeakyReLU())
        self.att3 = LLAttention(nfeat, act=nn.LeakyReLU())
        self.conv2 = _conv(3 * nfeat, nfeat, 3)
        self.drdbs = nn.ModuleList(DRDB(nfeat, n_dense_layers, growth) for _ in range(n_drdb))
        self.gff_1x1 = _conv(n_drdb * nfeat, nfeat, 1)
        self.gff_3x3 = _conv(nfeat, nfeat, 3)
        self.conv_up = _conv(nfeat, nfeat, 3)
        self.conv_out = _conv(nfeat, out_channels, 3)
        self.head = _head(head)
        if init == "kaiming":
            kaiming_conv_init_(self)

    def forward(self, x1: Tensor, x2: Tensor, x3: Tensor) -> Tensor:
        """Fuse short ``x1``, reference ``x2`` and long ``x3`` (each B×Cin×H×W, any H, W)."""
        _check_frames(x1, x2, x3, self.in_channels, 1)
        f1, f2, f3 = (self.act(self.conv1(x)) for x in (x1, x2, x3))
        f1 = self.att1(f1, f2)
        f3 = self.att3(f3, f2)
        f = self.conv2(torch.cat((f1, f2, f3), dim=1))
        outs = []
        for block in self.drdbs:
            f = block(f)
            outs.append(f)
        f = self.gff_3x3(self.gff_1x1(torch.cat(outs, dim=1))) + f2
        return self.head(self.conv_out(self.conv_up(f)))


# ------------------------------------------------------------------------------------------- helpers
def kaiming_conv_init_(model: nn.Module) -> nn.Module:
    """The official AHDRNet initialisation (``script_training.py``: ``init.kaiming_normal`` on the weight of
    every ``Conv2d``, PyTorch's defaults — fan_in, gain √2, std = √(2 / fan_in)); biases keep PyTorch's
    default init, as there. In place; returns ``model``."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight)
    return model


class StackedFrames(nn.Module):
    """Adapter giving a three-frame model a single-tensor forward: B×3Cin×H×W → ``model(x1, x2, x3)``.

    Single-input tools (``cvpapers.engine.flops.count_macs_params``, tracing, summaries) call
    ``model(x)``; wrapping lets them measure the HDR models unchanged. Frames are split in channel order
    (short, reference, long). The wrapper owns no parameters beyond the wrapped model's.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        x1, x2, x3 = torch.chunk(x, 3, dim=1)
        return self.model(x1, x2, x3)


def build_hdr_model(name: Literal["fhdrnet", "fhdrnet_nohf", "ahdrnet"], **kwargs: object) -> nn.Module:
    """Build an HDR model by the name the pipeline config uses; ``kwargs`` go to the constructor.

    ``fhdrnet_nohf`` is :class:`FHDRNet` with ``high_freq=False`` (the §7 ablation).
    """
    if name == "fhdrnet":
        return FHDRNet(**kwargs)  # type: ignore[arg-type]
    if name == "fhdrnet_nohf":
        if kwargs.get("high_freq", False):
            raise ValueError("fhdrnet_nohf is FHDRNet with high_freq=False; do not pass high_freq=True")
        kwargs = {**kwargs, "high_freq": False}
        return FHDRNet(**kwargs)  # type: ignore[arg-type]
    if name == "ahdrnet":
        return AHDRNet(**kwargs)  # type: ignore[arg-type]
    raise ValueError(f"unknown HDR model {name!r}; allowed: {', '.join(HDR_MODEL_NAMES)}")


def network_config(name: str, domain: str, fhdrnet: dict[str, object], ahdrnet: dict[str, object]) -> dict[str, object]:
    """The :func:`build_hdr_model` keyword arguments of network ``name`` (stored in its checkpoint).

    RGB frames carry 6 channels (LDR + HDR-domain) and give 3 through a sigmoid; packed RAW frames carry 8
    and give 4 planes through a softplus. ``fhdrnet`` holds ``nf``, ``n_res_blocks``, ``use_bn`` (both FHDRNet
    variants), ``ahdrnet`` the baseline's sizes.
    """
    in_ch, out_ch, head = (6, 3, "sigmoid") if domain == "rgb" else (8, 4, "softplus")
    sizes = ahdrnet if name == "ahdrnet" else {k: fhdrnet[k] for k in ("nf", "n_res_blocks", "use_bn")}
    return {"name": name, "in_channels": in_ch, "out_channels": out_ch, "head": head, **sizes}
