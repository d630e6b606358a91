"""MI-AOD's losses (spec §3.3–3.4, official code): the detection loss of the two classifiers, the MIL
instance weights and image-level score, pseudo image labels, and the re-weighted discrepancies.

Every function takes per-level lists of (N, anchors_l, K) tensors, as ``MIAODHead`` returns them: the
MIL softmax over anchors is taken per FPN level. Losses are computed in float32 with autocast off
(BCE is not autocast-safe, and the sums over anchors need the precision).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

import torch
import torch.nn.functional as F
from torch import Tensor

FOCAL_ALPHA, FOCAL_GAMMA = 0.25, 2.0
CLAMP = 1e-5  # the code clamps the image score to [1e-5, 1 − 1e-5] before the BCE


def _full_precision(t: Tensor) -> AbstractContextManager:
    return torch.autocast(t.device.type, enabled=False)


def detection_loss(cls1: Tensor, cls2: Tensor, reg: Tensor, labels: Tensor, valid: Tensor, pos: Tensor,
                   deltas: Tensor, focal_norm: str = "batch") -> tuple[Tensor, Tensor]:
    """(classification, localisation) of L_det = ½ [FL(z1, y) + FL(z2, y)] + L1(f_r, y_loc).

    ``cls1``/``cls2``/``reg``: all levels concatenated, (N, A, C) and (N, A, 4); ``labels`` (N, A, C) one-hot,
    ``valid`` (N, A) not-ignored anchors, ``pos`` (N, A) positives, ``deltas`` (N, A, 4) encoded targets.
    ``focal_norm="batch"`` divides by the batch's positives with each image counting at least one
    (MMDetection); ``"per_image"`` divides each image by its own positives and averages (torchvision).
    """
    from torchvision.ops import sigmoid_focal_loss

    with _full_precision(cls1):
        keep = valid.unsqueeze(-1).float()
        per_image = []
        for z in (cls1, cls2):
            fl = sigmoid_focal_loss(z.float(), labels.float(), FOCAL_ALPHA, FOCAL_GAMMA, reduction="none")
            per_image.append((fl * keep).sum(dim=(1, 2)))
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
                mode: str = "code") -> tuple[list[Tensor], Tensor]:
    """Instance weights w[i, c] per level and the image-level class score ŷ (N, C).

    code (default, official): α = softmax over the level's anchors of max_c σ((z1 + z2)/2), w = softmax_c(m)·α,
    so Σ_i Σ_c w = 1 per image and level; ŷ = max over levels of Σ_i w.
    paper (Eq. 5 as recalled): w = softmax_c(m) · softmax over all anchors of ẑ = (z1 + z2)/2, class-wise;
    ŷ = Σ_i w. In both the f1/f2 logits are detached: the weights train f_mil only.
    """
    with _full_precision(mil[0]):
        z_mean = [(a.detach().float() + b.detach().float()) / 2 for a, b in zip(cls1, cls2, strict=True)]
        pi = [m.float().softmax(-1) for m in mil]
        if mode == "code":
            weights = [p * torch.sigmoid(z).amax(-1).softmax(1).unsqueeze(-1) for p, z in zip(pi, z_mean, strict=True)]
            score = torch.stack([w.sum(1) for w in weights]).amax(0)
        elif mode == "paper":
            sizes = [z.shape[1] for z in z_mean]
            alpha = torch.cat(z_mean, 1).softmax(1)
            weights = list((torch.cat(pi, 1) * alpha).split(sizes, 1))
            score = sum(w.sum(1) for w in weights)
        else:
            raise ValueError(f"mil_weight_mode: unknown '{mode}' (allowed: code, paper)")
    return weights, score.clamp(CLAMP, 1 - CLAMP)


def image_labels(gt_labels: Tensor, num_classes: int) -> Tensor:
    """Multi-hot image labels (N, C) from padded GT labels (N, G); −1 (padding, difficult) is ignored."""
    hot = F.one_hot(gt_labels.clamp(min=0), num_classes).float() * (gt_labels >= 0).unsqueeze(-1).float()
    return hot.amax(1) if gt_labels.shape[1] else hot.new_zeros(gt_labels.shape[0], num_classes)


@torch.no_grad()
def pseudo_image_labels(cls1: Sequence[Tensor], cls2: Sequence[Tensor], thr: float = 0.5) -> tuple[Tensor, Tensor]:
    """Pseudo labels of unlabelled images: class c is present if some anchor of some level has
    (σ(z1) + σ(z2))/2 ≥ thr. Returns (labels (N, C), whether each image has a positive class)."""
    z1, z2 = torch.cat(list(cls1), 1).float(), torch.cat(list(cls2), 1).float()
    labels = (((torch.sigmoid(z1) + torch.sigmoid(z2)) / 2).amax(1) >= thr).float()
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
    return loss * torch.as_tensor(enabled, dtype=loss.dtype, device=loss.device)


def weighted_discrepancy(cls1: Sequence[Tensor], cls2: Sequence[Tensor], weights: Sequence[Tensor],
                         lam: float, maximise: bool = False) -> Tensor:
    """l_dis~ = λ Σ_images Σ_levels Σ_i (1/C) Σ_c |σ(z1) − σ(z2)| · w  (``maximise``: 1 − |σ(z1) − σ(z2)|,
    the code's l_dis_minus). A **sum** over anchors, levels and images; only classes are averaged, so λ keeps
    its balance with the detection loss. The weights are detached: they re-weight, they are not trained here."""
    with _full_precision(cls1[0]):
        total = cls1[0].new_zeros((), dtype=torch.float32)
        for z1, z2, w in zip(cls1, cls2, weights, strict=True):
            gap = (torch.sigmoid(z1.float()) - torch.sigmoid(z2.float())).abs()
            if maximise:
                gap = 1 - gap
            total = total + (gap * w.detach().float()).mean(-1).sum()
    return lam * total


def plain_discrepancy(cls1: Sequence[Tensor], cls2: Sequence[Tensor]) -> Tensor:
    """Mean |σ(z1) − σ(z2)| over anchors and classes: the number to watch for a collapse (pitfall 9)."""
    with torch.no_grad():
        z1, z2 = torch.cat(list(cls1), 1).float(), torch.cat(list(cls2), 1).float()
        return (torch.sigmoid(z1) - torch.sigmoid(z2)).abs().mean()
