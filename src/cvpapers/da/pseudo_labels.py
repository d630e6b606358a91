"""Class-balanced pseudo labels (BDL rule: per-class confidence quantile, capped) for the DA pipelines.

DDM (``papers/ssda_dual_mix.md`` §3.5) applies the rule once per round over the **whole** unlabelled
set; MSCL (``papers/msda_collab.md`` §3.3) applies it online to one batch. The rule is the same, only
the set of pixels passed in differs, so one implementation serves both:

1. for each class ``c``: sort the confidences of the pixels predicted ``c`` ascending and take the
   value at zero-based index ``min(n_c − 1, round(portion · n_c))`` as ``τ_c`` (``portion = 0.5``:
   the median); then ``τ_c ← min(τ_c, cap)``; classes never predicted get ``cap``;
2. pseudo label = predicted class where ``confidence ≥ τ_class``, else ``ignore_index``.

So each class keeps (about) its more confident half, and every pixel at least ``cap`` confident is
kept whatever its class. ``round`` is half-to-even (NumPy/torch/Python ``round``), as in BDL's code.

For real data the exact quantile needs all confidences in memory (~1.5 G floats for Cityscapes at
1024×512); the ``histogram`` method needs only a ``C × bins`` count table, which
:func:`confidence_histogram` builds per batch so the caller can sum batches and call
:func:`thresholds_from_histogram` once. :class:`ThresholdHistogram` does exactly that over a stream of
batches (its thresholds equal ``bdl_thresholds(..., method="histogram")`` on the concatenated set, and lie
within one bin below the exact ones), and :class:`PseudoLabelTally` accumulates what
:func:`pseudo_label_stats` reports, so a pseudo-labelling pass never holds more than one batch.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

ThresholdMethod = Literal["exact", "histogram"]
_METHODS: tuple[str, ...] = ("exact", "histogram")


def _check_inputs(confidence: Tensor, predicted: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    if confidence.shape != predicted.shape:
        raise ValueError(
            f"confidence and predicted must have the same shape, got {tuple(confidence.shape)} "
            f"and {tuple(predicted.shape)}"
        )
    if not torch.is_floating_point(confidence):
        raise TypeError(f"confidence must be floating point, got {confidence.dtype}")
    if num_classes <= 0:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    conf = confidence.reshape(-1)
    pred = predicted.reshape(-1).long()
    if pred.numel() and (int(pred.min()) < 0 or int(pred.max()) >= num_classes):
        raise ValueError(
            f"predicted classes must lie in [0, {num_classes}), got range "
            f"[{int(pred.min())}, {int(pred.max())}]"
        )
    return conf, pred


def _quantile_index(counts: Tensor, portion: float) -> Tensor:
    """Zero-based index ``min(n − 1, round(portion · n))`` per class (valid where ``n > 0``)."""
    k = torch.round(counts.to(torch.float64) * portion).long()
    return torch.minimum(k, (counts - 1).clamp(min=0))


def confidence_histogram(confidence: Tensor, predicted: Tensor, num_classes: int, bins: int = 1000) -> Tensor:
    """Per-class counts of confidences in ``bins`` equal bins on [0, 1] → ``C × bins`` int64.

    Bin ``b`` holds ``b/bins ≤ m < (b+1)/bins``; ``m = 1`` goes into the last bin. Histograms of
    different batches add up, which is what makes the dataset-level threshold streamable.
    """
    if bins <= 0:
        raise ValueError(f"bins must be positive, got {bins}")
    conf, pred = _check_inputs(confidence, predicted, num_classes)
    b = (conf.to(torch.float64) * bins).floor().long().clamp(0, bins - 1)
    flat = torch.bincount(pred * bins + b, minlength=num_classes * bins)
    return flat.reshape(num_classes, bins)


def thresholds_from_histogram(hist: Tensor, portion: float = 0.5, cap: float = 0.9) -> Tensor:
    """BDL thresholds from a ``C × bins`` histogram: the lower edge of the bin holding the quantile.

    The lower edge is never above the exact threshold and less than one bin width below it, so the
    histogram rule keeps every pixel the exact rule keeps (plus, at most, pixels of that one bin).
    Returns float32 ``C``; never-predicted classes get ``cap``.
    """
    if hist.ndim != 2:
        raise ValueError(f"hist must be C×bins, got shape {tuple(hist.shape)}")
    counts = hist.sum(dim=1)
    k = _quantile_index(counts, portion)
    # The bin holding the k-th (zero-based) sorted value: the first bin whose cumulative count > k.
    cum = hist.cumsum(dim=1)
    bin_idx = (cum <= k[:, None]).sum(dim=1).clamp(max=hist.shape[1] - 1)
    tau = bin_idx.to(torch.float64) / hist.shape[1]
    tau = torch.where(counts > 0, tau.clamp(max=cap), torch.full_like(tau, cap))
    return tau.to(torch.float32)


def bdl_thresholds(
    confidence: Tensor,
    predicted: Tensor,
    num_classes: int,
    portion: float = 0.5,
    cap: float = 0.9,
    method: ThresholdMethod = "exact",
    bins: int = 1000,
) -> Tensor:
    """Per-class BDL thresholds ``τ`` (float ``C``) over **all** pixels passed in (§3.5 step 2).

    ``confidence`` (max softmax probability) and ``predicted`` (argmax) have any identical shape,
    typically ``N×H×W`` for a whole unlabelled set: computing the quantile per image or per batch
    instead would change the rule (§11). ``exact`` sorts all confidences (two stable sorts: by
    confidence, then by class, which leaves each class's confidences ascending in one contiguous
    run); ``histogram`` is the bounded-memory approximation (within one bin of exact).
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if not 0.0 <= portion <= 1.0:
        raise ValueError(f"portion must lie in [0, 1], got {portion}")
    if method == "histogram":
        return thresholds_from_histogram(
            confidence_histogram(confidence, predicted, num_classes, bins), portion, cap
        ).to(confidence.dtype)
    conf, pred = _check_inputs(confidence, predicted, num_classes)
    counts = torch.bincount(pred, minlength=num_classes)
    order = torch.argsort(conf, stable=True)
    order = order[torch.argsort(pred[order], stable=True)]
    sorted_conf = conf[order]
    starts = counts.cumsum(0) - counts
    k = _quantile_index(counts, portion)
    present = counts > 0
    tau = torch.full((num_classes,), cap, dtype=conf.dtype, device=conf.device)
    if bool(present.any()):
        picked = sorted_conf[(starts + k)[present]]
        tau[present] = picked.clamp(max=cap)
    return tau


def bdl_pseudo_labels(
    confidence: Tensor, predicted: Tensor, thresholds: Tensor, ignore_index: int = 255
) -> Tensor:
    """Pseudo labels (uint8, shape of ``predicted``): the predicted class where ``m ≥ τ_class``, else ignore.

    ``≥`` (not ``>``) so the pixel that defines a threshold is kept, and every pixel with confidence
    at the cap is kept.
    """
    if confidence.shape != predicted.shape:
        raise ValueError(
            f"confidence and predicted must have the same shape, got {tuple(confidence.shape)} "
            f"and {tuple(predicted.shape)}"
        )
    if not 0 <= ignore_index <= 255 or thresholds.numel() > 255:
        raise ValueError("uint8 labels need ignore_index in [0, 255] and at most 255 classes")
    pred = predicted.long()
    keep = confidence >= thresholds.to(confidence.device, confidence.dtype)[pred]
    labels = torch.where(keep, pred, torch.full_like(pred, ignore_index))
    return labels.to(torch.uint8)


def pseudo_label_stats(
    pseudo: Tensor,
    truth: Tensor | None = None,
    predicted: Tensor | None = None,
    num_classes: int | None = None,
    ignore_index: int = 255,
) -> dict[str, float]:
    """Diagnostics of a pseudo-label set, as MLflow-ready floats.

    - ``kept_frac``: fraction of all pixels that carry a label;
    - ``kept_frac/<c>``: fraction of all pixels kept with label ``c`` (sums to ``kept_frac``);
    - ``kept_of_predicted/<c>`` (only with ``predicted``): fraction of the pixels predicted ``c``
      that were kept — the per-class quantity the BDL rule controls (≈ 1 − portion);
    - ``acc`` (only with ``truth``): accuracy of kept pixels whose true label is not ignored (NaN if
      there is none); ``acc/<c>`` the same per pseudo class, for classes with such pixels.

    ``num_classes`` defaults to one more than the largest label present.
    """
    labels = pseudo.long().reshape(-1)
    kept = labels != ignore_index
    if num_classes is None:
        present = labels[kept]
        num_classes = int(present.max()) + 1 if present.numel() else 0
    n = max(1, labels.numel())
    kept_labels = labels[kept]
    kept_counts = torch.bincount(kept_labels, minlength=num_classes)[:num_classes]
    stats: dict[str, float] = {"kept_frac": float(kept.sum()) / n}
    for c in range(num_classes):
        stats[f"kept_frac/{c}"] = float(kept_counts[c]) / n
    if predicted is not None:
        if predicted.numel() != labels.numel():
            raise ValueError("predicted must have as many pixels as pseudo")
        pred_counts = torch.bincount(predicted.long().reshape(-1), minlength=num_classes)[:num_classes]
        for c in range(num_classes):
            if int(pred_counts[c]) > 0:
                stats[f"kept_of_predicted/{c}"] = float(kept_counts[c]) / float(pred_counts[c])
    if truth is not None:
        if truth.numel() != labels.numel():
            raise ValueError("truth must have as many pixels as pseudo")
        t = truth.long().reshape(-1)
        valid = kept & (t != ignore_index)
        correct = valid & (labels == t)
        n_valid = int(valid.sum())
        stats["acc"] = float(correct.sum()) / n_valid if n_valid else float("nan")
        valid_counts = torch.bincount(labels[valid], minlength=num_classes)[:num_classes]
        correct_counts = torch.bincount(labels[correct], minlength=num_classes)[:num_classes]
        for c in range(num_classes):
            if int(valid_counts[c]) > 0:
                stats[f"acc/{c}"] = float(correct_counts[c]) / float(valid_counts[c])
    return stats


class ThresholdHistogram:
    """Dataset-level BDL thresholds from batches: per-class confidence histograms summed batch by batch.

    ``add(confidence, predicted)`` for every batch of the set, then ``thresholds(portion, cap)``: equal to
    :func:`bdl_thresholds` with ``method="histogram"`` on all the pixels at once (histograms add), so within
    one bin (``1/bins``) of the exact rule. Memory: one ``C × bins`` int64 table.
    """

    def __init__(self, num_classes: int, bins: int = 1000) -> None:
        if bins <= 0 or num_classes <= 0:
            raise ValueError(f"need positive num_classes and bins, got {num_classes}, {bins}")
        self.hist = torch.zeros(num_classes, bins, dtype=torch.int64)

    def add(self, confidence: Tensor, predicted: Tensor) -> None:
        self.hist += confidence_histogram(confidence, predicted, self.hist.shape[0], self.hist.shape[1]).cpu()

    @property
    def predicted_pixels(self) -> Tensor:
        """Pixels predicted as each class so far (``C`` int64)."""
        return self.hist.sum(dim=1)

    def thresholds(self, portion: float = 0.5, cap: float = 0.9) -> Tensor:
        if not 0.0 <= portion <= 1.0:
            raise ValueError(f"portion must lie in [0, 1], got {portion}")
        return thresholds_from_histogram(self.hist, portion, cap)


class PseudoLabelTally:
    """:func:`pseudo_label_stats` accumulated batch by batch: ``add(pseudo, predicted, truth)`` per batch, then
    ``stats()`` gives the same keys and values as one call on the whole set (counts are summed exactly)."""

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        self.c, self.ignore = num_classes, ignore_index
        zeros = lambda: torch.zeros(num_classes, dtype=torch.int64)  # noqa: E731
        self.pixels, self.kept, self.predicted, self.valid, self.correct = 0, zeros(), zeros(), zeros(), zeros()
        self.has_predicted = self.has_truth = False

    def _count(self, labels: Tensor) -> Tensor:
        return torch.bincount(labels, minlength=self.c)[: self.c]

    def add(self, pseudo: Tensor, predicted: Tensor | None = None, truth: Tensor | None = None) -> None:
        labels = pseudo.long().reshape(-1).cpu()
        kept = labels != self.ignore
        self.pixels += labels.numel()
        self.kept += self._count(labels[kept])
        if predicted is not None:
            if predicted.numel() != labels.numel():
                raise ValueError("predicted must have as many pixels as pseudo")
            self.has_predicted = True
            self.predicted += self._count(predicted.long().reshape(-1).cpu())
        if truth is not None:
            if truth.numel() != labels.numel():
                raise ValueError("truth must have as many pixels as pseudo")
            self.has_truth = True
            t = truth.long().reshape(-1).cpu()
            valid = kept & (t != self.ignore)
            self.valid += self._count(labels[valid])
            self.correct += self._count(labels[valid & (labels == t)])

    def stats(self) -> dict[str, float]:
        n = max(1, self.pixels)
        out: dict[str, float] = {"kept_frac": float(self.kept.sum()) / n}
        out.update({f"kept_frac/{c}": float(self.kept[c]) / n for c in range(self.c)})
        if self.has_predicted:
            out.update({f"kept_of_predicted/{c}": float(self.kept[c]) / float(self.predicted[c])
                        for c in range(self.c) if int(self.predicted[c]) > 0})
        if self.has_truth:
            n_valid = int(self.valid.sum())
            out["acc"] = float(self.correct.sum()) / n_valid if n_valid else float("nan")
            out.update({f"acc/{c}": float(self.correct[c]) / float(self.valid[c])
                        for c in range(self.c) if int(self.valid[c]) > 0})
        return out
