"""ReCU's binarised convolution (spec §3, official ``modules/binarized_modules.py``), plain PyTorch.

Weight path of the ``recu`` method (one layer, W of shape C_out × C_in × k × k):

1. per-filter standardisation to std 2√2 (Laplace scale b* = 2): Ŵ_i = (W_i − μ_i) / (σ_i / 2√2);
2. ReCU: b̂ = mean |Ŵ| over the whole layer, Q = −b̂·ln(2 − 2τ) (no gradient), W_c = clamp(Ŵ, −Q, Q);
3. B_w = sign(W_c) with the identity straight-through gradient.

Activation path (every binary method): in training A' = A / sqrt(per-sample var(A) + eps), B_a = sign(A') with
the ApproxSign surrogate gradient max(0, 2 − 2|A'|). Output conv(B_a, B_w) ⊙ α, α learnable per channel.

The baseline ``bnn`` binarises W itself (no standardisation, no clamp); ``ws_only`` standardises without the
clamp. Everything else (activations, α, architecture) is shared, so the arms differ only in the weight path.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Method = Literal["recu", "bnn", "ws_only", "fp"]
BINARY_METHODS: tuple[str, ...] = ("recu", "bnn", "ws_only")
METHODS: tuple[str, ...] = (*BINARY_METHODS, "fp")

#: 2√2: the per-filter std of the standardised weights (Laplace scale b* = 2, as the official code).
WS_TARGET_STD = 2.0 * math.sqrt(2.0)


class SignSTE(torch.autograd.Function):
    """sign(x) forward (torch.sign: 0 ↦ 0); backward passes the upstream gradient unchanged (spec §3.3)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return torch.sign(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad


class ApproxSign(torch.autograd.Function):
    """sign(x) forward; backward max(0, 2 − 2|x|) × upstream (Bi-Real ApproxSign, spec §3.4)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return torch.sign(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * (2.0 - 2.0 * x.abs()).clamp_min(0.0)


def standardise_filters(w: Tensor, target_std: float = WS_TARGET_STD, eps: float = 1e-5) -> Tensor:
    """Per output filter: subtract the mean, divide by sqrt(unbiased var + eps) / target_std (§3.1)."""
    dims = tuple(range(1, w.dim()))
    centred = w - w.mean(dim=dims, keepdim=True)
    return centred / (torch.sqrt(centred.var(dim=dims, keepdim=True) + eps) / target_std)


def laplace_quantile_factor(tau: float | Tensor) -> float | Tensor:
    """Q(τ) / b̂ = −ln(2 − 2τ): the τ-quantile of a zero-mean Laplace of scale 1 (τ ∈ (0.5, 1))."""
    if isinstance(tau, Tensor):
        return -torch.log(2.0 - 2.0 * tau)
    return -math.log(2.0 - 2.0 * tau)


def recu_bound(w_hat: Tensor, tau: float | Tensor) -> Tensor:
    """Q(τ) = −b̂·ln(2 − 2τ) with b̂ = mean |Ŵ| of the whole layer (one scalar, pitfall 1), detached (pitfall 2)."""
    with torch.no_grad():
        return w_hat.abs().mean() * laplace_quantile_factor(tau)


def recu(w_hat: Tensor, tau: float | Tensor) -> Tensor:
    """The rectified clamp unit clamp(Ŵ, Q(1 − τ), Q(τ)) = clamp(Ŵ, −Q, Q) (§3.2): gradient 1 inside, 0 outside."""
    q = recu_bound(w_hat, tau)
    return torch.clamp(w_hat, min=-q, max=q)


def scale_activation(a: Tensor, eps: float = 1e-5) -> Tensor:
    """A / sqrt(per-sample unbiased var over (C, H, W) + eps), no centring (§3.4, training only)."""
    dims = tuple(range(1, a.dim()))
    return a / torch.sqrt(a.var(dim=dims, keepdim=True) + eps)


class BinaryConv2d(nn.Conv2d):
    """A conv with binary weights and activations and a learnable per-channel scale α (spec §3.7).

    ``method`` selects the weight path: ``recu`` (standardise → clamp at the τ-quantile → sign), ``ws_only``
    (standardise → sign), ``bnn`` (sign of the latent weight). τ is a buffer (saved with the weights) set by
    :class:`cvpapers.pipelines.recu.schedule.TauSchedule` at the start of every epoch. It subclasses
    ``nn.Conv2d``, so the project's counter counts it as a conv (the α multiply counts 0).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        method: str = "recu",
        tau: float = 0.85,
        target_std: float = WS_TARGET_STD,
        eps: float = 1e-5,
    ) -> None:
        if method not in BINARY_METHODS:
            raise ValueError(f"BinaryConv2d method must be one of {BINARY_METHODS}, got {method!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.method, self.target_std, self.eps = method, target_std, eps
        # U[0, 1) as the official code (torch.rand), not mean|W| (pitfall 7).
        self.alpha = nn.Parameter(torch.rand(out_channels, 1, 1))
        self.register_buffer("tau", torch.tensor(float(tau)))

    def set_tau(self, tau: float) -> None:
        self.tau.fill_(float(tau))

    def clamped_weight(self) -> Tensor:
        """W_c: the real tensor whose sign is the binary weight (Ŵ clamped for recu, Ŵ for ws_only, W for bnn)."""
        if self.method == "bnn":
            return self.weight
        w_hat = standardise_filters(self.weight, self.target_std, self.eps)
        return recu(w_hat, self.tau) if self.method == "recu" else w_hat

    def forward(self, x: Tensor) -> Tensor:
        bw = SignSTE.apply(self.clamped_weight())
        a = scale_activation(x) if self.training else x
        ba = ApproxSign.apply(a)
        out = F.conv2d(ba, bw, None, self.stride, self.padding, self.dilation, self.groups)
        return out * self.alpha

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, method={self.method}"


def binary_convs(model: nn.Module) -> list[BinaryConv2d]:
    """The model's binarised convs in module order."""
    return [m for m in model.modules() if isinstance(m, BinaryConv2d)]


@torch.no_grad()
def layer_diagnostics(conv: BinaryConv2d) -> dict[str, float]:
    """One layer's weight diagnostics (spec §7): share of clamped weights (|Ŵ| > Q, recu only), binary entropy of
    P(B_w = +1) in bits, and the quantisation error mean_i ‖W_c,i − mean|W_c,i|·sign(W_c,i)‖² / n, absolute and
    relative to ‖W_c,i‖² (scale-free, so layers and arms with differently scaled W_c compare)."""
    wc = conv.clamped_weight().detach().float()
    if conv.method == "recu":
        w_hat = standardise_filters(conv.weight.detach().float(), conv.target_std, conv.eps)
        clamp_fraction = float((w_hat.abs() > recu_bound(w_hat, conv.tau)).float().mean())
    else:
        clamp_fraction = 0.0
    p = float((wc > 0).float().mean())
    entropy = 0.0 if p in (0.0, 1.0) else -(p * math.log2(p) + (1 - p) * math.log2(1 - p))
    flat = wc.flatten(1)
    approx = flat.abs().mean(dim=1, keepdim=True) * torch.sign(flat)
    err = (flat - approx).pow(2).sum(dim=1)
    return {
        "clamp_fraction": clamp_fraction,
        "weight_sign_entropy": entropy,
        "quant_error": float((err / flat.shape[1]).mean()),
        "quant_error_rel": float((err / flat.pow(2).sum(dim=1).clamp_min(1e-12)).mean()),
    }
