"""Dynamic-coded filter fusion (DCFF, arXiv 2107.06916): the algorithm, in plain PyTorch.

Every prunable conv keeps all ``c`` of its filters as parameters but computes only ``m`` output
channels, each from a *fused* filter ``W~ = Q·W`` where ``Q`` (``m × c``) holds the rows of a
temperature-scaled similarity distribution ``P`` for the ``m`` filters with the largest KL score.
``Q`` is a buffer that :class:`FusionController` recomputes at chosen moments (start of every
epoch in the paper, every few iterations in our embedded default); between recomputes it is a
constant, so gradients flow through ``Q·W`` into *all* ``c`` filters and never into ``P``.

Reference: ``papers/dcff.md`` §3 (method), §9.2 (invariants), §11 (pitfalls). Equations follow the
official code, including its quirk that the KL score turns NaN once ``P`` underflows to exact
zeros, which freezes the selection after the first epoch (``kl_mode="official"``, §3.5).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

KLMode = Literal["official", "logspace"]
_KL_MODES: tuple[str, ...] = ("official", "logspace")

# Cap on the number of elements of one chunk of the literal c×c×c KL tensor in ``kl_matrix``
# (2^24 float32 = 64 MiB), so a 2048-filter layer is processed in chunks of 4 rows.
_KL_CHUNK_ELEMS = 1 << 24


# --------------------------------------------------------------------------------------------
# Temperature schedule (§3.4)
# --------------------------------------------------------------------------------------------


def temperature(
    epoch: float,
    total_epochs: int,
    t_start: float = 1.0,
    t_end: float = 1e4,
    slope: float = 1.0,
) -> float:
    """Shifted/scaled sigmoid from ``t_start`` at epoch 0 to ``t_end`` at epoch ``total_epochs``.

    ``T(e) = A / (1 + exp(-k e)) + T_s - A/2`` with ``A = 2 (T_e - T_s)(1 + exp(-kE)) / (1 - exp(-kE))``,
    which is what makes ``T(E) == T_e`` exactly for any ``E`` (not only asymptotically). ``epoch`` may
    be fractional (``epoch + it / iters_per_epoch``) for the per-iteration schedule of the embedded
    default; the formula is the same.
    """
    if total_epochs <= 0:
        raise ValueError(f"total_epochs must be positive, got {total_epochs}")
    if slope <= 0:
        raise ValueError(f"slope must be positive, got {slope}")
    tail = math.exp(-slope * total_epochs)
    amplitude = 2.0 * (t_end - t_start) * (1.0 + tail) / (1.0 - tail)
    return amplitude / (1.0 + math.exp(-slope * float(epoch))) + t_start - amplitude / 2.0


# --------------------------------------------------------------------------------------------
# Similarity distribution and KL score (§3.1-3.2)
# --------------------------------------------------------------------------------------------


def filter_distances(weight: Tensor) -> Tensor:
    """``c × c`` Euclidean distances between the flattened (detached) filters of ``weight``.

    The official code uses scipy's float64 ``cdist`` then casts to float32; we do the same on the
    weights' device. float64 matters because ``torch.cdist`` uses the ``|a|²+|b|²-2ab`` matmul
    expansion for large inputs, whose float32 cancellation would leave ``D_jj`` at ~1e-3 instead of
    0 and blur small distances. The diagonal is then set to exactly 0: ``D_jj = 0`` is what makes
    ``P_jj`` the row maximum and ``P`` tend to the identity as ``T`` grows.
    """
    flat = weight.detach().reshape(weight.shape[0], -1).to(torch.float64)
    dist = torch.cdist(flat, flat)
    dist.fill_diagonal_(0.0)
    return dist.clamp_min_(0.0).to(torch.float32)


def similarity_distribution(distances: Tensor, t: float) -> tuple[Tensor, Tensor]:
    """Row-wise ``P = softmax(-T·D)`` and ``log P`` (float32, like the official code).

    ``T`` *multiplies* the distance (pitfall 2: the official code divides by ``1/T``). float32 is
    kept on purpose: in official mode the exact zeros that float32 ``exp`` produces once
    ``T·D ≳ 103`` are what freeze the scores (§3.5). ``log P`` comes from ``log_softmax`` so it is
    finite even where ``P`` underflowed (used by ``kl_mode="logspace"``).
    """
    logits = distances.to(torch.float32) * (-float(t))
    return torch.softmax(logits, dim=1), torch.log_softmax(logits, dim=1)


def _check_mode(mode: str) -> None:
    if mode not in _KL_MODES:
        raise ValueError(f"kl_mode must be one of {_KL_MODES}, got {mode!r}")


def kl_matrix(P: Tensor, logP: Tensor, mode: KLMode, eps: float = 1e-7) -> Tensor:
    """The full ``c × c`` matrix ``KL_jg`` written literally (reference implementation).

    official: ``KL_jg = mean_l P_jl · log(P_jl / (P_gl + eps))`` in ``P``'s dtype, so ``0·log 0``
    gives NaN exactly as the official float32 code does. logspace:
    ``KL_jg = mean_l P_jl (log P_jl − log P_gl)``, always finite and ``KL_jj == 0`` exactly.
    Broadcasts ``chunk × c × c`` with chunks over ``j`` sized to stay under ~64 MiB. Scoring uses the
    algebraically identical O(c²) :func:`kl_scores`; this function exists for analysis and tests.
    """
    _check_mode(mode)
    c = P.shape[0]
    chunk = max(1, _KL_CHUNK_ELEMS // max(1, c * c))
    rows = []
    for j0 in range(0, c, chunk):  # loop over memory chunks, not over filters
        pj = P[j0 : j0 + chunk, None, :]
        if mode == "official":
            terms = pj * torch.log(pj / (P[None, :, :] + eps))
        else:
            terms = pj * (logP[j0 : j0 + chunk, None, :] - logP[None, :, :])
        rows.append(terms.mean(dim=-1))
    return torch.cat(rows, dim=0)


def kl_scores(P: Tensor, logP: Tensor, mode: KLMode, eps: float = 1e-7) -> Tensor:
    """Importance ``s_j = Σ_g KL_jg`` of every filter (float32 vector of length ``c``).

    The sum over the *second* argument ``g`` separates (pitfall 5 keeps the direction):

        s_j = Σ_l P_jl·log P_jl − (1/c) Σ_l P_jl · Σ_g log(P_gl + eps)      (official)
        s_j = Σ_l P_jl·log P_jl − (1/c) Σ_l P_jl · Σ_g log P_gl             (logspace, log P given)

    which is exact algebra on the official formula but O(c²) instead of O(c³): a 2048-filter
    ResNet-50 layer costs a mat-vec instead of 8.6e9 elementwise terms. It is evaluated in float64
    from the float32 ``P`` so it is at least as accurate as the literal float32 formula.
    NaN semantics are preserved: in official mode the literal ``KL_jg`` is NaN for every ``g``
    exactly when row ``j`` of ``P`` has an exact zero (``0·log(0/(P_gl+eps)) = 0·(−∞)``; the ratio
    of a positive ``P_jl`` never underflows because the denominator is ≤ 1 + eps), and here
    ``Σ_l P_jl·log P_jl`` is NaN under exactly the same condition. So a layer freezes exactly when
    the official code's layer would (§3.5).
    """
    _check_mode(mode)
    c = P.shape[0]
    p64 = P.to(torch.float64)
    if mode == "official":
        self_term = (p64 * torch.log(p64)).sum(dim=1)  # NaN where a P_jl == 0, as officially
        log_q = torch.log(p64 + eps)
    else:
        log_p = logP.to(torch.float64)
        self_term = (p64 * log_p).sum(dim=1)
        log_q = log_p
    cross = p64 @ log_q.sum(dim=0)  # Σ_l P_jl Σ_g log(P_gl [+ eps])
    return (self_term - cross / c).to(torch.float32)


# --------------------------------------------------------------------------------------------
# The fused convolution (§3.3)
# --------------------------------------------------------------------------------------------


class FusedConv2d(nn.Module):
    """Conv with ``out_full`` trainable filters that outputs ``out_kept`` fused channels.

    Matches the ``ConvFactory`` signature, so an architecture builder creates it wherever it would
    create the compact ``nn.Conv2d``; module names (and hence state-dict keys ``weight``/``bias``)
    are the same as the compact model's. ``fusion`` (Q, ``out_kept × out_full``) starts as the first
    ``out_kept`` rows of the identity, so an untouched module is an ordinary conv over the first
    filters. The conv hyper-parameters are exposed with the compact conv's names and semantics
    (``out_channels`` = kept width) so a hook-based MACs counter counts it like the compact conv.
    """

    def __init__(
        self,
        in_channels: int,
        out_full: int,
        out_kept: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = False,
    ) -> None:
        super().__init__()
        if not 0 < out_kept <= out_full:
            raise ValueError(f"need 0 < out_kept <= out_full, got out_kept={out_kept}, out_full={out_full}")
        self.in_channels = in_channels
        self.out_channels = out_kept
        self.out_full = out_full
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.dilation = (1, 1)
        self.groups = 1
        self.weight = nn.Parameter(torch.empty(out_full, in_channels, *self.kernel_size))
        if bias:
            self.bias: nn.Parameter | None = nn.Parameter(torch.empty(out_full))
        else:
            self.register_parameter("bias", None)
        self.register_buffer("fusion", torch.eye(out_kept, out_full))
        self.register_buffer("selected", torch.arange(out_kept, dtype=torch.long))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The same initialisation ``nn.Conv2d`` would give the full ``out_full``-filter layer."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight[0].numel()
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            nn.init.uniform_(self.bias, -bound, bound)

    def fused_weight(self) -> Tensor:
        """``Q·W`` reshaped to ``out_kept × in × k × k`` (differentiable w.r.t. ``W``)."""
        q = self.fusion.to(self.weight.dtype)
        return (q @ self.weight.reshape(self.out_full, -1)).reshape(self.out_channels, *self.weight.shape[1:])

    def fused_bias(self) -> Tensor | None:
        """``Q·b`` (``None`` for bias-free convs)."""
        if self.bias is None:
            return None
        return self.fusion.to(self.bias.dtype) @ self.bias

    def forward(self, x: Tensor) -> Tensor:
        # Recomputed on every call (never cached in a buffer): this is what lets gradients reach
        # all c filters, and avoids the stale-buffer export bug of the official code (pitfall 14).
        return F.conv2d(x, self.fused_weight(), self.fused_bias(), self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels} (of {self.out_full}), kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}"
        )


def build_fused_classifier(
    arch: str, num_classes: int = 10, layer_rates: Sequence[float] | None = None
) -> nn.Module:
    """The fused network DCFF trains: ``build_classifier`` with every prunable conv a :class:`FusedConv2d`
    (the builder a fused checkpoint names, so ``rebuild_model`` gives it back)."""
    from cvpapers.models.classification import build_classifier

    return build_classifier(arch, num_classes, layer_rates, conv=FusedConv2d)


# --------------------------------------------------------------------------------------------
# Recomputing the criterion for a whole model (§3.5)
# --------------------------------------------------------------------------------------------


def _top_m_sorted(scores: Tensor, m: int) -> Tensor:
    """Ids of the ``m`` largest scores, returned in ascending id order (pitfall 4).

    A stable descending sort breaks ties towards the lower id, so the choice is the same on every
    backend (``topk`` gives no tie guarantee). NaN scores (only possible when the very first
    computation already underflowed) rank last instead of first.
    """
    ranking = torch.nan_to_num(scores, nan=-math.inf)
    order = torch.sort(ranking, descending=True, stable=True).indices[:m]
    return torch.sort(order).values


class FusionController:
    """Owns the :class:`FusedConv2d` layers of a model and recomputes their fusion matrices.

    Keeps, per layer, the stored score vector (replaced only by an all-finite new one) and the
    previous selection. Its :meth:`state_dict` goes into the training checkpoint so that a resumed
    run makes the same decisions as an uninterrupted one. Pass the bare model, not a
    ``DistributedDataParallel`` wrapper, so layer names match the compact model's.
    """

    def __init__(self, model: nn.Module, kl_mode: KLMode = "official", kl_eps: float = 1e-7) -> None:
        _check_mode(kl_mode)
        self.kl_mode: KLMode = kl_mode
        self.kl_eps = float(kl_eps)
        self.layers: list[tuple[str, FusedConv2d]] = [
            (name, module) for name, module in model.named_modules() if isinstance(module, FusedConv2d)
        ]
        if not self.layers:
            raise ValueError("the model has no FusedConv2d layers")
        self._scores: dict[str, Tensor] = {}
        self._previous: dict[str, Tensor] = {}

    @property
    def layer_names(self) -> list[str]:
        return [name for name, _ in self.layers]

    @torch.no_grad()
    def recompute(self, t: float) -> list[dict[str, Any]]:
        """Steps 1–3 of §3.5 for every layer at temperature ``t``; writes ``fusion``/``selected``.

        Returns one row per layer: ``layer, t, selected, n_changed, frozen, mean_diag_q``.
        ``n_changed`` counts filters that entered the selection since the previous recompute
        (0 on the first one); ``frozen`` is true when the new scores were not all finite and the
        stored ones were kept (on the first call they are stored regardless, as officially).
        """
        rows: list[dict[str, Any]] = []
        for name, layer in self.layers:
            P, logP = similarity_distribution(filter_distances(layer.weight), t)
            scores = kl_scores(P, logP, self.kl_mode, self.kl_eps)
            finite = bool(torch.isfinite(scores).all())
            if name not in self._scores or finite:
                self._scores[name] = scores
            selected = _top_m_sorted(self._scores[name], layer.out_channels)
            q = P[selected]  # the *new* P even when the scores were kept (§3.5 step 3)
            layer.fusion.copy_(q)
            layer.selected.copy_(selected)

            previous = self._previous.get(name)
            n_changed = 0 if previous is None else int((~torch.isin(selected, previous)).sum())
            self._previous[name] = selected.clone()
            rows.append(
                {
                    "layer": name,
                    "t": float(t),
                    "selected": selected.tolist(),
                    "n_changed": n_changed,
                    "frozen": not finite,
                    "mean_diag_q": float(q.gather(1, selected[:, None]).mean()),
                }
            )
        return rows

    def state_dict(self) -> dict[str, Any]:
        """Stored scores and previous selections (CPU tensors; loadable with ``weights_only=True``)."""
        return {
            "kl_mode": self.kl_mode,
            "kl_eps": self.kl_eps,
            "scores": {name: s.detach().cpu().clone() for name, s in self._scores.items()},
            "previous": {name: s.detach().cpu().clone() for name, s in self._previous.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; tensors go to each layer's device. Unknown layers fail loudly."""
        known = set(self.layer_names)
        for key in ("scores", "previous"):
            unknown = set(state[key]) - known
            if unknown:
                raise KeyError(f"controller state has {key} for unknown layers: {sorted(unknown)}")
        if (
            state.get("kl_mode", self.kl_mode) != self.kl_mode
            or state.get("kl_eps", self.kl_eps) != self.kl_eps
        ):
            warnings.warn(
                f"resuming with kl_mode={self.kl_mode!r}, kl_eps={self.kl_eps} but the checkpoint used "
                f"kl_mode={state.get('kl_mode')!r}, kl_eps={state.get('kl_eps')}",
                stacklevel=2,
            )
        devices = {name: layer.weight.device for name, layer in self.layers}
        self._scores = {name: s.to(devices[name]) for name, s in state["scores"].items()}
        self._previous = {name: s.to(devices[name]) for name, s in state["previous"].items()}


# --------------------------------------------------------------------------------------------
# Export (§3.6) and logging
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def export_compact_state_dict(fused_model: nn.Module) -> dict[str, Tensor]:
    """State dict of the compact model (same module names, plain convs) from a fused model.

    Every fused conv's ``weight``/``bias`` become ``Q·W`` / ``Q·b``, computed here from the current
    parameters and ``fusion`` buffer (never from a cached forward result: pitfall 14), with autocast
    off so the export is full precision. ``fusion``/``selected`` are dropped; everything else (BN
    affine + running stats + ``num_batches_tracked``, Linear, non-fused convs) is copied.
    """
    source = fused_model.state_dict()
    fused = {name: m for name, m in fused_model.named_modules() if isinstance(m, FusedConv2d)}
    replaced: dict[str, Tensor] = {}
    dropped: set[str] = set()
    for name, module in fused.items():
        prefix = f"{name}." if name else ""
        with torch.autocast(device_type=module.weight.device.type, enabled=False):
            replaced[prefix + "weight"] = module.fused_weight().detach().clone()
            bias = module.fused_bias()
            if bias is not None:
                replaced[prefix + "bias"] = bias.detach().clone()
        dropped.update({prefix + "fusion", prefix + "selected"})
    return {
        key: replaced.get(key, value.detach().clone()) for key, value in source.items() if key not in dropped
    }


def fusion_summary(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Per-recompute logging metrics: ``frozen_layers``, ``selection_changes``, ``mean_diag_Q``.

    ``mean_diag_Q`` (mean over layers of the mean self-weight of the fused filters) shows how
    one-hot the fusion is: ≈0.1 at T=1 for a 64-filter layer, 1.0 once P has collapsed to I.
    """
    rows = list(rows)
    if not rows:
        return {"frozen_layers": 0.0, "selection_changes": 0.0, "mean_diag_Q": float("nan")}
    return {
        "frozen_layers": float(sum(bool(r["frozen"]) for r in rows)),
        "selection_changes": float(sum(int(r["n_changed"]) for r in rows)),
        "mean_diag_Q": float(sum(float(r["mean_diag_q"]) for r in rows) / len(rows)),
    }
