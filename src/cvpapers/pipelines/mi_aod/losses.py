"""MI-AOD's losses (spec §3.3–3.4, official code): the detection loss of the two classifiers, the MIL
instance weights and image-level score, pseudo image labels, and the re-weighted discrepancies.

Every function takes per-level lists of (N, anchors_l, K) tensors, as ``MIAODHead`` returns them: the
MIL softmax over anchors is taken per FPN level. Losses are computed in float32 with autocast off
(BCE is not autocast-safe, and the sums over anchors need the precision).

The head's lists are :class:`~cvpapers.models.detection.Levels` (views of one (N, ΣA, K) tensor): the
element-wise work runs once on the concatenation, cast to float32 once, and only what is per level by
definition (the softmax over a level's anchors, the sums over a level's anchors) runs per level, each on
the same elements in the same layout as a per-level loop, so CPU results stay the same to the last bit
(on a CPU σ also runs per level: :func:`_sigmoid_per_level`). Plain lists are concatenated first, with the
same results.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

import torch
import torch.nn.functional as F
from torch import Tensor

from cvpapers.models.detection import Levels, concat_levels

FOCAL_ALPHA, FOCAL_GAMMA = 0.25, 2.0
CLAMP = 1e-5  # the code clamps the image score to [1e-5, 1 − 1e-5] before the BCE


def _full_precision(t: Tensor) -> AbstractContextManager:
    return torch.autocast(t.device.type, enabled=False)


def _sizes(levels: Sequence[Tensor]) -> tuple[int, ...]:
    return levels.sizes if isinstance(levels, Levels) else tuple(t.shape[1] for t in levels)


def _float32(levels: Sequence[Tensor], detach: bool = False) -> Tensor:
    """All levels concatenated, (N, ΣA, K), in float32: one cast of the concatenation (none if float32)."""
    full = concat_levels(levels)
    return (full.detach() if detach else full).float()


def _sigmoid_per_level(full: Tensor, sizes: Sequence[int]) -> Tensor:
    """σ of a concatenation (N, ΣA, K) with the values σ gives on each level's own tensor.

    Off the CPU one kernel. On a CPU, σ runs per level on each level's contiguous (N, A_l, K) tensor: the CPU
    kernel computes the last elements of each chunk it splits a tensor into on a scalar path whose σ can
    differ from the vector path's in the last bit, so one σ over the concatenation would change a few values;
    per level, the results are those of a per-level loop to the bit."""
    if full.device.type != "cpu":
        return full.sigmoid()
    return torch.cat([t.contiguous().sigmoid() for t in full.split(list(sizes), 1)], 1)


def level_sigmoid(levels: Sequence[Tensor]) -> Levels:
    """σ of every level as :class:`Levels` (see :func:`_sigmoid_per_level`)."""
    sizes = _sizes(levels)
    return Levels(_sigmoid_per_level(concat_levels(levels), sizes), sizes)


def detection_loss(cls1: Tensor, cls2: Tensor, reg: Tensor, labels: Tensor, valid: Tensor, pos: Tensor,
                   deltas: Tensor, focal_norm: str = "batch") -> tuple[Tensor, Tensor]:
    """(classification, localisation) of L_det = ½ [FL(z1, y) + FL(z2, y)] + L1(f_r, y_loc).

    ``cls1``/``cls2``/``reg``: all levels concatenated, (N, A, C) and (N, A, 4); ``labels`` (N, A, C) one-hot,
    ``valid`` (N, A) not-ignored anchors, ``pos`` (N, A) positives, ``deltas`` (N, A, 4) encoded targets.
    ``focal_norm="batch"`` divides by the batch's positives with each image counting at least one
    (MMDetection); ``"per_image"`` divides each image by its own positives and averages (torchvision).
    """
    with _full_precision(cls1):
        targets = labels.float()
        # torchvision's sigmoid_focal_loss(z, targets, α, γ, "none"), operation for operation, with the terms
        # of the targets computed once for both classifiers; the ignored anchors' 0 folded into α_t
        # (α_t·FL·keep = FL·(α_t·keep) exactly, keep being 0 or 1)
        not_t = 1 - targets
        alpha_keep = (FOCAL_ALPHA * targets + (1 - FOCAL_ALPHA) * not_t) * valid.unsqueeze(-1).float()
        per_image = []
        for z in (cls1.float(), cls2.float()):
            p = torch.sigmoid(z)
            ce = F.binary_cross_entropy_with_logits(z, targets, reduction="none")
            p_t = p * targets + (1 - p) * not_t
            per_image.append((ce * ((1 - p_t) ** FOCAL_GAMMA) * alpha_keep).sum(dim=(1, 2)))
        loc_image = ((reg.float() - deltas.float()).abs() * pos.unsqueeze(-1).float()).sum(dim=(1, 2))
        n_pos = pos.sum(1).clamp(min=1).float()
        if focal_norm == "batch":
            norm = n_pos.sum()
            cls = 0.5 * (per_image[0].sum() + per_image[1].sum()) / norm
            loc = loc_image.sum() / norm
        elif focal_norm == "per_image":
            cls = 0.5 * ((per_image[0] + per_image[1]) / n_pos).mean()
            loc = (loc_image / n_pos).mean()
        else:
            raise ValueError(f"focal_norm: unknown '{focal_norm}' (allowed: batch, per_image)")
    return cls, loc


def mil_weights(cls1: Sequence[Tensor], cls2: Sequence[Tensor], mil: Sequence[Tensor],
                mode: str = "code") -> tuple[Levels, Tensor]:
    """Instance weights w[i, c] per level and the image-level class score ŷ (N, C).

    code (default, official): α = softmax over the level's anchors of max_c σ((z1 + z2)/2), w = softmax_c(m)·α,
    so Σ_i Σ_c w = 1 per image and level; ŷ = max over levels of Σ_i w.
    paper (Eq. 5 as recalled): w = softmax_c(m) · softmax over all anchors of ẑ = (z1 + z2)/2, class-wise;
    ŷ = Σ_i w. In both the f1/f2 logits are detached: the weights train f_mil only.
    """
    if mode not in ("code", "paper"):
        raise ValueError(f"mil_weight_mode: unknown '{mode}' (allowed: code, paper)")
    sizes = _sizes(mil)
    with _full_precision(mil[0]):
        z_mean = (_float32(cls1, detach=True) + _float32(cls2, detach=True)) / 2  # (N, ΣA, C)
        pi = _float32(mil).softmax(-1)  # a softmax over each anchor's classes
        if mode == "code":
            # α: max_c σ(ẑ) per anchor, then a softmax over the anchors of each level
            peak = _sigmoid_per_level(z_mean, sizes).amax(-1)  # (N, ΣA)
            alpha = torch.cat([p.softmax(1) for p in peak.split(list(sizes), 1)], 1).unsqueeze(-1)
        else:
            alpha = z_mean.softmax(1)
        weights = Levels(pi * alpha, sizes)
        per_level = [w.sum(1) for w in weights]  # Σ_i w per level: (N, C) each
        score = torch.stack(per_level).amax(0) if mode == "code" else sum(per_level)
    return weights, score.clamp(CLAMP, 1 - CLAMP)


def image_labels(gt_labels: Tensor, num_classes: int) -> Tensor:
    """Multi-hot image labels (N, C) from padded GT labels (N, G); −1 (padding, difficult) is ignored."""
    if not gt_labels.shape[1]:
        return torch.zeros(gt_labels.shape[0], num_classes, device=gt_labels.device)
    # a comparison, not F.one_hot (which checks its range on the host); −1 matches no class
    classes = torch.arange(num_classes, device=gt_labels.device)
    return (gt_labels.unsqueeze(-1) == classes).any(1).float()


@torch.no_grad()
def class_probabilities(cls1: Sequence[Tensor], cls2: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """σ(z1), σ(z2) of all levels concatenated, (N, ΣA, C) in float32: what :func:`pseudo_image_labels` and
    :func:`plain_discrepancy` read (pass it to both to compute it once)."""
    return torch.sigmoid(concat_levels(cls1).float()), torch.sigmoid(concat_levels(cls2).float())


@torch.no_grad()
def pseudo_image_labels(cls1: Sequence[Tensor], cls2: Sequence[Tensor], thr: float = 0.5,
                        probs: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
    """Pseudo labels of unlabelled images: class c is present if some anchor of some level has
    (σ(z1) + σ(z2))/2 ≥ thr. Returns (labels (N, C), whether each image has a positive class).
    ``probs``: :func:`class_probabilities` of the same logits, if already computed."""
    p1, p2 = probs if probs is not None else class_probabilities(cls1, cls2)
    labels = (((p1 + p2) / 2).amax(1) >= thr).float()
    return labels, labels.amax(1) > 0


def image_cls_loss(score: Tensor, labels: Tensor, enabled: Tensor | bool = True) -> Tensor:
    """l_imgcls: mean BCE of ŷ against image labels. On an unlabelled batch the code multiplies it by 0
    when any image has no pseudo-positive class ("ignore hard images"): pass ``enabled`` = all(has_positive)."""
    with _full_precision(score):
        s = score.float()
        # BCE raises on a NaN input ("all elements of input should be between 0 and 1"), naming neither stage
        # nor step. A diverged score is scored as 0.5 instead and its NaN/inf carried into the loss by
        # 0·Σŷ (exactly 0 for finite scores, so the loss and its gradients are unchanged), so the training
        # loop's NaN/inf guard stops the run with the stage and the step.
        loss = F.binary_cross_entropy(torch.nan_to_num(s, nan=0.5, posinf=1.0, neginf=0.0), labels.float())
        loss = loss + 0.0 * s.sum()
    if isinstance(enabled, Tensor):  # e.g. has_positive.all(): stays on the device
        return loss * enabled.to(loss.dtype)
    return loss if enabled else loss * 0.0


def weighted_discrepancy(cls1: Sequence[Tensor], cls2: Sequence[Tensor], weights: Sequence[Tensor],
                         lam: float, maximise: bool = False) -> Tensor:
    """l_dis~ = λ Σ_images Σ_levels Σ_i (1/C) Σ_c |σ(z1) − σ(z2)| · w  (``maximise``: 1 − |σ(z1) − σ(z2)|,
    the code's l_dis_minus). A **sum** over anchors, levels and images; only classes are averaged, so λ keeps
    its balance with the detection loss. The weights are detached: they re-weight, they are not trained here."""
    sizes = _sizes(cls1)
    with _full_precision(cls1[0]):
        gap = (_sigmoid_per_level(_float32(cls1), sizes) - _sigmoid_per_level(_float32(cls2), sizes)).abs()
        if maximise:
            gap = 1 - gap
        per_anchor = (gap * _float32(weights, detach=True)).mean(-1)  # (N, ΣA): the class average
        total = per_anchor.new_zeros(())
        # Σ over each level's anchors and images on its own (N, A_l) tensor, as a per-level loop adds them
        for level in per_anchor.split(list(sizes), 1):
            total = total + level.contiguous().sum()
    return lam * total


def plain_discrepancy(cls1: Sequence[Tensor], cls2: Sequence[Tensor],
                      probs: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Mean |σ(z1) − σ(z2)| over anchors and classes: the number to watch for a collapse (pitfall 9).
    ``probs``: :func:`class_probabilities` of the same logits, if already computed."""
    with torch.no_grad():
        p1, p2 = probs if probs is not None else class_probabilities(cls1, cls2)
        return (p1 - p2).abs().mean()
