"""Semantic-segmentation metrics: confusion matrix, IoU, mIoU, pixel accuracy, and evaluation/prediction
loops over uint8 image tensors.

One implementation for every DA pipeline (``papers/da_benchmark.md`` §5–6, ``ssda_dual_mix.md`` §3.8),
so their numbers are comparable: a single confusion matrix is accumulated over *all* evaluation
pixels (not a mean of per-image IoUs), labels equal to the ignore index are excluded, IoU_c =
TP / (TP + FP + FN), and mIoU is the nan-mean over the classes (a class absent from both truth and
prediction is NaN and does not count), optionally over a subset such as SYNTHIA's 13 of 16 classes.

Conventions: ``confusion[i, j]`` counts pixels of true class i predicted as j (rows = truth). Scalar
results of :func:`mean_iou`/:func:`pixel_accuracy` are fractions in [0, 1]; :func:`evaluate_segmenter`
reports percentages, as the papers' tables do.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cvpapers.engine.device import autocast, resolve_device

__all__ = [
    "SYNTHIA_13_IN_16",
    "SYNTHIA_13_IN_19",
    "SYNTHIA_16_IN_19",
    "confusion_matrix",
    "evaluate_segmenter",
    "iou_per_class",
    "mean_iou",
    "normalize_images",
    "pixel_accuracy",
    "predict",
]

#: SYNTHIA→Cityscapes index sets (``ssda_dual_mix.md`` §3.8, from the official ``eval.py``): the 16
#: trained classes and the 13 reported ones (16 minus wall, fence, pole) in 19-class trainId space,
#: and the 13 in the contiguous 16-class space the network is trained in.
# The SYNTHIA → Cityscapes protocols' class subsets, defined once with the label mappings.
from cvpapers.data.segmentation import CLASSES_13_IN_16 as SYNTHIA_13_IN_16  # noqa: E402
from cvpapers.data.segmentation import CLASSES_13_IN_19 as SYNTHIA_13_IN_19  # noqa: E402
from cvpapers.data.segmentation import CLASSES_16_IN_19 as SYNTHIA_16_IN_19  # noqa: E402


def confusion_matrix(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = 255
) -> torch.Tensor:
    """C×C int64 confusion matrix (rows = truth, cols = prediction) of same-shaped label tensors.

    Pixels whose target equals ``ignore_index`` are skipped. One ``bincount`` over ``C·t + p``: no loop
    over pixels or classes. Out-of-range labels raise ``ValueError`` rather than silently landing in a
    neighbouring cell. The result is on ``pred``'s device.
    """
    if pred.shape != target.shape:
        raise ValueError(
            f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape"
        )
    c = int(num_classes)
    t = target.reshape(-1).to(pred.device, torch.int64)
    p = pred.reshape(-1).to(torch.int64)
    keep = t != ignore_index
    t, p = t[keep], p[keep]
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= c):
        raise ValueError(
            f"target labels must be in [0, {c}) or {ignore_index}; got [{int(t.min())}, {int(t.max())}]"
        )
    if p.numel() and (int(p.min()) < 0 or int(p.max()) >= c):
        raise ValueError(f"predicted labels must be in [0, {c}); got [{int(p.min())}, {int(p.max())}]")
    return torch.bincount(t * c + p, minlength=c * c).reshape(c, c)


def iou_per_class(cm: torch.Tensor) -> torch.Tensor:
    """IoU_c = TP / (TP + FP + FN) per class as float64; NaN where the class is in neither truth nor
    prediction (0/0), so it drops out of a nan-mean instead of counting as 0 or 1."""
    cm = cm.to(torch.float64)
    tp = cm.diagonal()
    denom = cm.sum(0) + cm.sum(1) - tp
    return torch.where(denom > 0, tp / denom.clamp_min(1), torch.full_like(tp, math.nan))


def mean_iou(cm: torch.Tensor, classes: Sequence[int] | None = None) -> float:
    """Nan-mean IoU (fraction in [0, 1]) over all classes or over ``classes`` (e.g.
    :data:`SYNTHIA_13_IN_16`); NaN when no selected class occurs at all."""
    iou = iou_per_class(cm)
    if classes is not None:
        iou = iou[torch.as_tensor(list(classes), dtype=torch.long, device=iou.device)]
    valid = iou[~torch.isnan(iou)]
    return float(valid.mean()) if valid.numel() else math.nan


def pixel_accuracy(cm: torch.Tensor) -> float:
    """Correct / counted pixels (fraction in [0, 1]); NaN for an empty matrix."""
    total = int(cm.sum())
    return float(cm.diagonal().sum()) / total if total else math.nan


def _stats(value: float | Sequence[float], device: torch.device) -> torch.Tensor:
    return torch.as_tensor(value, dtype=torch.float32, device=device).reshape(1, -1, 1, 1)


def normalize_images(
    images_uint8: torch.Tensor, mean: float | Sequence[float], std: float | Sequence[float]
) -> torch.Tensor:
    """``(x / 255 − mean) / std`` of uint8 N×C×H×W images, on their device.

    The embedded benchmark uses mean 0.5 / std 0.25. Caffe-style DeepLab input (BGR, mean subtraction in
    0–255 units, no std) is ``mean = CAFFE_BGR_MEAN / 255``, ``std = 1 / 255`` on BGR-ordered images.
    """
    if images_uint8.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images (N×C×H×W), got {images_uint8.dtype}")
    if images_uint8.dim() != 4:
        raise ValueError(f"expected N×C×H×W images, got shape {tuple(images_uint8.shape)}")
    x = images_uint8.float().div_(255.0)
    return (x - _stats(mean, x.device)) / _stats(std, x.device)


def _accepts_output_size(model: nn.Module) -> bool:
    try:
        return "output_size" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _logits(model: nn.Module, x: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """Main-head logits (float32) at ``size`` (None: the model's own output size).

    Models of :mod:`cvpapers.models.segmentation` take ``output_size`` and interpolate once from their
    feature map, as the official ``eval.py`` does; other models are interpolated afterwards with their
    ``align_corners`` attribute (default False).
    """
    if size is not None and _accepts_output_size(model):
        out = model(x, output_size=size)
    else:
        out = model(x)
    if isinstance(out, (tuple, list)):  # a model that returns (main, aux) even in eval mode
        out = out[0]
    out = out.float()
    if size is not None and tuple(out.shape[-2:]) != tuple(size):
        align = bool(getattr(model, "align_corners", False))
        out = F.interpolate(out, size=size, mode="bilinear", align_corners=align)
    return out


def evaluate_segmenter(
    model: nn.Module,
    images_uint8: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    mean: float | Sequence[float],
    std: float | Sequence[float],
    device: str | torch.device,
    batch_size: int = 50,
    label_size: tuple[int, int] | None = None,
    classes: Sequence[int] | None = None,
    ignore_index: int = 255,
) -> dict[str, object]:
    """mIoU / pixel accuracy of ``model`` on uint8 images N×3×H×W and labels N×h×w.

    Eval mode (the previous mode is restored) under ``torch.inference_mode()``, bf16 autocast on CUDA;
    the model must already be on ``device``. Logits of the main head are upsampled to the label size
    before the argmax (``ssda_dual_mix.md`` §3.8). ``label_size`` (H, W) evaluates at another size than
    the stored labels: labels are then resized with nearest-neighbour first. ``classes`` restricts the
    mIoU to a subset (e.g. SYNTHIA's 13); per-class IoUs and the matrix always cover all classes.

    Returns ``{"miou": %, "pixel_acc": %, "iou": [per-class % or nan], "confusion": C×C int64 (CPU)}``.
    """
    if images_uint8.shape[0] != labels.shape[0]:
        raise ValueError(f"{images_uint8.shape[0]} images but {labels.shape[0]} label maps")
    device = resolve_device(device)
    size = tuple(label_size) if label_size is not None else tuple(labels.shape[-2:])
    cm = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), autocast(device):
            for start in range(0, images_uint8.shape[0], batch_size):
                x = normalize_images(images_uint8[start : start + batch_size].to(device), mean, std)
                y = labels[start : start + batch_size].to(device)
                if tuple(y.shape[-2:]) != size:
                    y = F.interpolate(y[:, None].float(), size=size, mode="nearest-exact")[:, 0].to(y.dtype)
                pred = _logits(model, x, size).argmax(1)
                cm += confusion_matrix(pred, y, num_classes, ignore_index)
    finally:
        model.train(was_training)
    cm = cm.cpu()
    return {
        "miou": 100.0 * mean_iou(cm, classes),
        "pixel_acc": 100.0 * pixel_accuracy(cm),
        "iou": [100.0 * v for v in iou_per_class(cm).tolist()],
        "confusion": cm,
    }


def predict(
    model: nn.Module,
    images_uint8: torch.Tensor,
    mean: float | Sequence[float],
    std: float | Sequence[float],
    device: str | torch.device,
    batch_size: int = 50,
    output_size: tuple[int, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel confidence and class for pseudo-labelling (BDL thresholds need exactly these two).

    Returns ``(conf, pred)`` on the CPU: ``conf`` float32 N×H×W is the max softmax probability of the
    main head, ``pred`` uint8 N×H×W its argmax (255 stays free for "ignore"). H×W is the model's output
    size (its input size for our segmenters) or ``output_size``. Eval mode, ``inference_mode``.
    """
    device = resolve_device(device)
    size = tuple(output_size) if output_size is not None else None
    confs: list[torch.Tensor] = []
    preds: list[torch.Tensor] = []
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), autocast(device):
            for start in range(0, images_uint8.shape[0], batch_size):
                x = normalize_images(images_uint8[start : start + batch_size].to(device), mean, std)
                logits = _logits(model, x, size)
                if logits.shape[1] > 255:
                    raise ValueError(f"{logits.shape[1]} classes do not fit uint8 labels with 255 = ignore")
                conf, pred = logits.softmax(1).max(1)
                confs.append(conf.float().cpu())
                preds.append(pred.to(torch.uint8).cpu())
    finally:
        model.train(was_training)
    if not confs:
        raise ValueError("predict() got no images")
    return torch.cat(confs), torch.cat(preds)
