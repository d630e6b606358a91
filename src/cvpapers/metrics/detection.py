"""PASCAL VOC detection AP with MMDetection v2 ``eval_map`` semantics (``papers/mi_aod.md`` §5, §8.4, §9.8).

Why a copy of MMDetection's rules rather than "some" AP: MI-AOD's numbers come from ``eval_map``, and the
small choices (difficult boxes ignored, duplicates are false positives, classes without ground truth left
out of the mean, 11-point vs all-point interpolation) move mAP by points. The rules, per class:

* all detections of the class over all images are ranked by score (descending, stable: ties keep image
  order, then the order inside the image);
* a detection's candidate is its best-IoU ground-truth box of the same class in the same image (argmax
  over *all* such boxes, difficult and already matched ones included, as ``tpfp_default`` does; on an
  exact IoU tie a non-difficult box wins, as in MMDetection's stacking order);
* IoU ≥ ``iou_thr`` and the candidate is difficult → the detection is ignored (neither TP nor FP);
  IoU ≥ ``iou_thr``, not difficult, not yet matched → TP; already matched → FP (a duplicate);
  IoU < ``iou_thr`` (or no candidate) → FP;
* recall = cumTP / num_gt (difficult boxes excluded from num_gt), precision = cumTP / max(cumTP + cumFP,
  eps); AP by :func:`average_precision`; mAP = mean AP over the classes with num_gt > 0.

Boxes are xyxy in continuous coordinates: area = (x2 − x1)(y2 − y1), no "+1" (MMDetection v2's default,
``use_legacy_coordinate=False``). Results are fractions in [0, 1].

Pitfall (``mi_aod.md`` §11.13): the paper's VOC2007 numbers use ``mode="11points"``; the embedded benchmark
reports ``mode="area"``. Never compare the two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from torch import Tensor

__all__ = ["AP_MODES", "average_precision", "box_iou", "evaluate_detections"]

#: Interpolation modes of :func:`average_precision`.
AP_MODES = ("area", "11points")

# MMDetection's eps for the precision denominator and the IoU union.
_EPS = float(np.finfo(np.float32).eps)


def average_precision(recall: np.ndarray, precision: np.ndarray, mode: str = "area") -> float:
    """AP of one precision/recall curve (points in ranking order, recall non-decreasing).

    ``"area"``: all-point interpolation, the area under the precision envelope (precision made
    non-increasing from the right), summed over the recall steps: Σ Δrecall × envelope. ``"11points"``:
    VOC07, the mean over t ∈ {0, 0.1, …, 1} of the maximum precision at recall ≥ t (0 where none), with
    MMDetection's floating-point thresholds (see the comment below). An empty curve gives 0.
    """
    if mode not in AP_MODES:
        raise ValueError(f"unknown AP mode {mode!r}; expected one of {AP_MODES}")
    rec = np.asarray(recall, dtype=np.float64).reshape(-1)
    prec = np.asarray(precision, dtype=np.float64).reshape(-1)
    if rec.shape != prec.shape:
        raise ValueError(f"recall {rec.shape} and precision {prec.shape} must have the same length")
    if mode == "area":
        # Sentinels as in MMDetection: recall 0 in front, recall 1 with precision 0 at the end (adds 0).
        mrec = np.concatenate(([0.0], rec, [1.0]))
        mpre = np.concatenate(([0.0], prec, [0.0]))
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # envelope: best precision at any higher recall
        return float(np.sum(np.diff(mrec) * mpre[1:]))  # Δrecall = 0 steps contribute nothing
    # 11 thresholds on one (11, P) mask, generated exactly as MMDetection does: np.arange's 0.1·k gives
    # 0.30000000000000004, 0.6000000000000001 and 0.7000000000000001, so a recall of exactly 3/10, 6/10 or
    # 7/10 does *not* reach those thresholds. Bit-compatibility with eval_map wins over the decimal ideal:
    # the 11-point mode exists to compare with MMDetection-evaluated papers (mi_aod.md pitfall 13).
    thresholds = np.arange(0.0, 1.0 + 1e-3, 0.1)
    reached = rec[None, :] >= thresholds[:, None]
    best = np.where(reached, prec[None, :], -np.inf).max(axis=1, initial=-np.inf)
    return float(np.where(np.isfinite(best), best, 0.0).sum() / 11.0)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (A, B) of xyxy boxes, continuous coordinates (no +1), union clamped to eps."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(w, 0.0, None) * np.clip(h, 0.0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / np.maximum(union, _EPS)


def _np(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def evaluate_detections(
    detections: Sequence[Mapping[str, np.ndarray | Tensor]],
    ground_truth: Mapping[str, np.ndarray],
    num_classes: int,
    iou_thr: float = 0.5,
    mode: str = "area",
) -> dict[str, Any]:
    """VOC mAP of per-image detections against the dataset's padded ground truth (rules: module doc).

    ``detections[i]``: ``{"boxes": (K, 4) xyxy, "scores": (K,), "labels": (K,) int}`` for image i, numpy or
    torch (any device). ``ground_truth``: ``"boxes"`` float (N, G, 4), ``"labels"`` int (N, G) with −1 as
    padding, ``"difficult"`` bool (N, G) (optional: all False when absent).

    Returns ``{"mAP": float, "ap": (C,) float64, "num_gt": (C,) int64 (non-difficult), "num_dets": (C,)
    int64}``. A class without (non-difficult) ground truth has AP 0.0 and is left out of the mAP; mAP is
    0.0 when no class has any.
    """
    if mode not in AP_MODES:
        raise ValueError(f"unknown AP mode {mode!r}; expected one of {AP_MODES}")
    c = int(num_classes)
    gt_boxes = _np(ground_truth["boxes"]).astype(np.float64, copy=False)
    gt_labels = _np(ground_truth["labels"]).astype(np.int64, copy=False)
    n = gt_labels.shape[0]
    if len(detections) != n:
        raise ValueError(
            f"{len(detections)} detection entries but {n} ground-truth images; one entry per image"
        )
    if "difficult" in ground_truth:
        gt_difficult = _np(ground_truth["difficult"]).astype(bool, copy=False)
    else:
        gt_difficult = np.zeros(gt_labels.shape, dtype=bool)
    gt_boxes = gt_boxes.reshape(n, -1, 4)
    if gt_labels.shape != gt_boxes.shape[:2] or gt_difficult.shape != gt_labels.shape:
        raise ValueError(
            f"ground truth shapes disagree: boxes {gt_boxes.shape}, labels {gt_labels.shape}, "
            f"difficult {gt_difficult.shape}"
        )
    real = gt_labels >= 0
    if real.any() and int(gt_labels[real].max()) >= c:
        raise ValueError(f"ground-truth labels must be in [0, {c}) or -1; got {int(gt_labels[real].max())}")
    num_gt = np.bincount(gt_labels[real & ~gt_difficult], minlength=c).astype(np.int64)

    # Per image (vectorised over detections × GT): each detection's best same-class GT and its IoU. A global
    # key image·G + gt identifies the GT box, so matching afterwards needs no per-image state.
    g = gt_labels.shape[1]
    labels_l, scores_l, iou_l, key_l, diff_l = [], [], [], [], []
    for i, det in enumerate(detections):
        boxes = _np(det["boxes"]).astype(np.float64, copy=False).reshape(-1, 4)
        scores = _np(det["scores"]).astype(np.float64, copy=False).reshape(-1)
        labels = _np(det["labels"]).astype(np.int64, copy=False).reshape(-1)
        k = len(boxes)
        if len(scores) != k or len(labels) != k:
            raise ValueError(f"image {i}: {k} boxes, {len(scores)} scores, {len(labels)} labels")
        if k == 0:
            continue
        if int(labels.min()) < 0 or int(labels.max()) >= c:
            raise ValueError(
                f"image {i}: detection labels must be in [0, {c}); got [{labels.min()}, {labels.max()}]"
            )
        # MMDetection stacks the ignored (difficult) GT after the others, so an IoU tie goes to a
        # non-difficult box: look at the columns in that order (argmax takes the first maximum).
        order = np.argsort(gt_difficult[i], kind="stable")
        iou = box_iou(boxes, gt_boxes[i, order])
        iou[labels[:, None] != gt_labels[i, order][None, :]] = -1.0  # other classes, padding (−1): never
        best = order[iou.argmax(axis=1)] if g else np.zeros(k, dtype=np.int64)
        best_iou = iou.max(axis=1) if g else np.full(k, -1.0)
        labels_l.append(labels)
        scores_l.append(scores)
        iou_l.append(best_iou)
        key_l.append(i * g + best)
        diff_l.append(gt_difficult[i, best] if g else np.zeros(k, dtype=bool))

    ap = np.zeros(c, dtype=np.float64)
    num_dets = np.zeros(c, dtype=np.int64)
    if labels_l:
        labels, scores = np.concatenate(labels_l), np.concatenate(scores_l)
        best_iou, key, difficult = np.concatenate(iou_l), np.concatenate(key_l), np.concatenate(diff_l)
        hit = best_iou >= iou_thr
        for cls in range(c):
            idx = np.flatnonzero(labels == cls)
            num_dets[cls] = len(idx)
            if num_gt[cls] == 0 or len(idx) == 0:
                continue  # AP stays 0 (MMDetection's value); such classes are out of the mean anyway
            idx = idx[np.argsort(-scores[idx], kind="stable")]
            h, d, kk = hit[idx], difficult[idx], key[idx]
            # Greedy matching in score order reduces to "first hit of each GT wins": a detection's
            # candidate GT does not depend on what was matched before, so the first ranked hit on a
            # non-difficult GT is its TP and later hits on it are duplicates (FP).
            candidates = np.flatnonzero(h & ~d)
            _, first = np.unique(kk[candidates], return_index=True)
            tp = np.zeros(len(idx), dtype=np.float64)
            tp[candidates[first]] = 1.0
            fp = (~(h & d)).astype(np.float64) - tp  # everything not ignored and not a TP
            ctp, cfp = np.cumsum(tp), np.cumsum(fp)
            recall = ctp / num_gt[cls]
            precision = ctp / np.maximum(ctp + cfp, _EPS)
            ap[cls] = average_precision(recall, precision, mode)
    present = num_gt > 0
    return {
        "mAP": float(ap[present].mean()) if present.any() else 0.0,
        "ap": ap,
        "num_gt": num_gt,
        "num_dets": num_dets,
    }
