"""MI-AOD on images read from disk (real VOC): the official code's preprocessing, the training batch source
and the streaming passes over the test set and the pool, in memory bounded by the batch (spec §5, §3.6).

Preprocessing, as MMDetection v2.3 runs the code's ``configs/MIAOD.py`` pipeline:

* decode strictly (:func:`cvpapers.data.voc.read_voc_image`: a half-written JPEG is an error naming the file);
* **resize to fit** ``img_scale = (1000, 600)`` keeping the aspect ratio: mmcv's ``imrescale`` rule, scale =
  min(1000 / long edge, 600 / short edge), new size ``int(w·s + 0.5) × int(h·s + 0.5)``, bilinear; boxes are
  multiplied by the realised factors ``new_w / w``, ``new_h / h`` and clipped to the new size. This is the
  code's own transform: albumentations' ``LongestMaxSize`` / ``SmallestMaxSize`` bound one edge only and
  ``max_size_hw`` bounds height and width (orientation-dependent), none of them is mmcv's rule;
* **horizontal flip** with probability ``train.flip_prob`` (training only): albumentations ``HorizontalFlip``
  with ``bbox_params`` (pascal_voc boxes, the labels as a label field), seeded per sample
  (:class:`cvpapers.data.streaming.SeededAlbumentations`), so a resumed stage replays the same flips. Its box
  rule, x1' = w − x2, x2' = w − x1, is MMDetection's ``bbox_flip``;
* **normalisation** as the code (ImageNet mean (123.675, 116.28, 103.53) and std (58.395, 57.12, 57.375) on
  0–255, the same numbers /255): inside the detector (``RetinaDetector`` normalises its [0, 1] input);
* **padding**: each batch is padded bottom/right to a multiple of ``size_divisor`` (32) of its largest image,
  with the mean colour, so that after the detector's normalisation the padding is 0, as MMDetection pads the
  normalised image with 0. The anchors follow each batch's padded size (``RetinaDetector.anchors``).

Test-time (evaluation, pool scoring): the same resize, no flip; detections are clipped to each image's resized
size and divided by its scale factors (MMDetection ``rescale=True``), so they are in original pixel
coordinates, the ground truth's. Only per-image results are kept: detections (≤ ``max_dets``) and U(x).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from cvpapers.data.streaming import ManifestDataset, SkipLog, StreamingBatches, stream

Sample = dict[str, Any]
#: The code's normalisation mean on [0, 1] (123.675, 116.28, 103.53) / 255: the padding colour.
PAD_COLOUR = (0.485, 0.456, 0.406)


# ------------------------------------------------------------------------------------------------
# samples
# ------------------------------------------------------------------------------------------------


def rescale_to_fit(image: np.ndarray, img_scale: Sequence[int]) -> tuple[np.ndarray, tuple[float, float]]:
    """mmcv ``imrescale(image, img_scale)`` with ``keep_ratio``: the image resized to fit (long edge, short
    edge) = ``(max(img_scale), min(img_scale))``, bilinear, and its realised (w_scale, h_scale)."""
    import cv2

    h, w = image.shape[:2]
    long_edge, short_edge = max(img_scale), min(img_scale)
    s = min(long_edge / max(h, w), short_edge / min(h, w))
    new_w, new_h = int(w * float(s) + 0.5), int(h * float(s) + 0.5)
    if (new_w, new_h) != (w, h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return image, (new_w / w, new_h / h)


class VocReader:
    """A manifest row → ``{"image", "bboxes", "labels"}``: the strictly decoded image and, for labelled training
    samples, its non-difficult boxes (difficult objects are not training targets, spec §5). Unlabelled and
    test-time samples carry no boxes."""

    def __init__(self, with_boxes: bool) -> None:
        self.with_boxes = with_boxes

    def __call__(self, row: Mapping[str, Any]) -> Sample:
        from cvpapers.data.voc import read_voc_image, row_annotations

        sample: Sample = {"image": read_voc_image(row)}
        if self.with_boxes:
            boxes, labels, difficult = row_annotations(row)
            sample["bboxes"], sample["labels"] = boxes[~difficult], labels[~difficult]
        return sample


class TrainTransform:
    """Resize to fit ``img_scale`` (the code's rule), then the seeded albumentations horizontal flip."""

    def __init__(self, img_scale: Sequence[int], flip_prob: float) -> None:
        import albumentations as A

        from cvpapers.data.streaming import SeededAlbumentations

        self.img_scale = tuple(img_scale)
        compose = A.Compose([A.HorizontalFlip(p=flip_prob)],
                            bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"], clip=True,
                                                     min_area=0.0, min_visibility=0.0, filter_invalid_bboxes=False))
        self.flip = SeededAlbumentations(compose, targets=["image", "bboxes", "labels"])

    def __call__(self, sample: Sample, seed: int) -> Sample:
        image, (ws, hs) = rescale_to_fit(sample["image"], self.img_scale)
        h, w = image.shape[:2]
        boxes = sample.get("bboxes", np.zeros((0, 4), np.float32)) * np.float32([ws, hs, ws, hs])
        boxes = np.clip(boxes, 0, np.float32([w, h, w, h]))  # MMDetection's Resize clips to the new size
        labels = sample.get("labels", np.zeros(0, np.int64))
        out = self.flip({"image": image, "bboxes": boxes, "labels": labels}, seed)
        if "bboxes" not in sample:  # unlabelled: the image alone
            return {"image": out["image"]}
        return {"image": out["image"], "bboxes": np.asarray(out["bboxes"], np.float32).reshape(-1, 4),
                "labels": np.asarray(out["labels"], np.int64).reshape(-1)}


class EvalTransform:
    """Resize to fit ``img_scale`` (no flip); remembers the scale factors to map detections back."""

    def __init__(self, img_scale: Sequence[int]) -> None:
        self.img_scale = tuple(img_scale)

    def __call__(self, sample: Sample, seed: int) -> Sample:
        image, (ws, hs) = rescale_to_fit(sample["image"], self.img_scale)
        return {"image": image, "scale": np.float32([ws, hs, ws, hs])}


def pad_images(images: Sequence[np.ndarray] | torch.Tensor, size_divisor: int) -> torch.Tensor:
    """uint8 H×W×3 images → one (N, 3, H, W) float batch in [0, 1], padded bottom/right to a multiple of
    ``size_divisor`` of the largest with :data:`PAD_COLOUR` (0 after the detector's normalisation)."""
    images = [torch.as_tensor(np.asarray(im)) for im in images]
    h = math.ceil(max(im.shape[0] for im in images) / size_divisor) * size_divisor
    w = math.ceil(max(im.shape[1] for im in images) / size_divisor) * size_divisor
    out = torch.tensor(PAD_COLOUR, dtype=torch.float32).view(1, 3, 1, 1).repeat(len(images), 1, h, w)
    for i, im in enumerate(images):
        out[i, :, : im.shape[0], : im.shape[1]] = im.permute(2, 0, 1).float().div_(255)
    return out


def _as_list(value: Any) -> list:
    return list(value.unbind(0)) if isinstance(value, torch.Tensor) else list(value)


def _require_samples(batch: Sample) -> None:
    if "index" not in batch:  # under on_bad_sample: skip every sample of the batch was unreadable
        raise RuntimeError("every image of a training batch was skipped as unreadable; see the warnings above "
                           "(data.on_bad_sample: skip)")


class TrainPrepare:
    """A collated training batch → what ``training.make_step`` takes (the in-memory draws' format): padded
    ``images``; for labelled batches ``boxes`` (N, G, 4) and ``labels`` (N, G) with −1 padding."""

    def __init__(self, unlabelled: bool, size_divisor: int) -> None:
        self.unlabelled, self.size_divisor = unlabelled, size_divisor

    def __call__(self, batch: Sample) -> Sample:
        _require_samples(batch)
        x = pad_images(_as_list(batch["image"]), self.size_divisor)
        if self.unlabelled:
            return {"images": x, "unlabelled": True}
        boxes, labels = _as_list(batch["bboxes"]), _as_list(batch["labels"])
        g = max([1, *(len(lab) for lab in labels)])
        b = torch.zeros(len(boxes), g, 4)
        lab = torch.full((len(labels), g), -1, dtype=torch.long)
        for i, (bx, lb) in enumerate(zip(boxes, labels, strict=True)):
            b[i, : len(lb)] = torch.as_tensor(np.asarray(bx, np.float32)).reshape(-1, 4)
            lab[i, : len(lb)] = torch.as_tensor(np.asarray(lb, np.int64))
        return {"images": x, "boxes": b, "labels": lab, "unlabelled": False}


# ------------------------------------------------------------------------------------------------
# training source
# ------------------------------------------------------------------------------------------------


def _pick(indices: np.ndarray, batch_size: int) -> Callable[[torch.Generator], torch.Tensor]:
    """The in-memory draw's choice of images (``training.batch_draw``): a random batch of ``indices``."""
    idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))

    def pick(g: torch.Generator) -> torch.Tensor:
        n = len(idx)
        return idx[torch.randperm(n, generator=g)[:batch_size]] if n >= batch_size \
            else idx[torch.randint(0, n, (batch_size,), generator=g)]

    return pick


def training_source(pool: Mapping[str, Any], labelled: np.ndarray, unlabelled: np.ndarray | None, p: Any,
                    skips: SkipLog) -> Callable[[bool, int, int], StreamingBatches]:
    """``source(alternating, iters_per_chunk, seed)`` → the stage's :class:`StreamingBatches` over the pool's
    files: labelled batches of X_L alone, or labelled and unlabelled (X_U) batches taking turns. The images of
    a batch are chosen as the in-memory draws choose them; each sample's flip has its own seed."""
    d, t = p.data, p.train
    rows = pool["manifest"]
    train_tf = TrainTransform(d.img_scale, t.flip_prob)
    lab = (ManifestDataset(rows, VocReader(True), train_tf, d.on_bad_sample), _pick(labelled, t.batch_size))
    unl = None if unlabelled is None else (ManifestDataset(rows, VocReader(False), train_tf, d.on_bad_sample),
                                           _pick(unlabelled, t.batch_size))
    prep_l, prep_u = TrainPrepare(False, d.size_divisor), TrainPrepare(True, d.size_divisor)

    def source(alternating: bool, iters_per_chunk: int, seed: int) -> StreamingBatches:
        if not alternating:
            return StreamingBatches([lab], iters_per_chunk, seed, d.workers, prep_l, skips)
        if unl is None:
            raise ValueError("an alternating stage needs unlabelled images")
        return StreamingBatches([lab, unl], iters_per_chunk, seed, d.workers, _Alternate(prep_l, prep_u), skips)

    return source


class _Alternate:
    """Prepares a batch of either stream by what it carries (labelled samples have boxes)."""

    def __init__(self, labelled: TrainPrepare, unlabelled: TrainPrepare) -> None:
        self.labelled, self.unlabelled = labelled, unlabelled

    def __call__(self, batch: Sample) -> Sample:
        return (self.labelled if "bboxes" in batch else self.unlabelled)(batch)


# ------------------------------------------------------------------------------------------------
# streaming passes: evaluation and pool scoring
# ------------------------------------------------------------------------------------------------


@torch.inference_mode()
def predict_files(model: nn.Module, data: Mapping[str, Any], device: torch.device, p: Any, *,
                  k_top: int | None = None, norm: str = "l2", detect: Mapping[str, Any] | None = None,
                  indices: Sequence[int] | None = None, desc: str = "", skips: SkipLog | None = None,
                  ) -> dict[str, Any]:
    """One ordered pass over a split's files (``indices``, default all) in batches of ``p.eval.batch_size``:
    detections in original pixel coordinates (``detect``: kwargs of ``detect_from``) and/or image
    uncertainties U (``k_top``, over the anchors a batch of one would have had for each image). Images that
    were skipped as unreadable get no detections and U = NaN (``"kept"`` lists the indices that were read)."""
    from cvpapers.pipelines.mi_aod.selection import anchor_uncertainty, image_uncertainty

    model.eval()
    d = p.data
    dataset = ManifestDataset(data["manifest"], VocReader(False), EvalTransform(d.img_scale), d.on_bad_sample)
    order = list(range(len(dataset))) if indices is None else [int(i) for i in indices]
    dets: dict[int, dict[str, np.ndarray]] = {}
    scores = np.full(len(order), np.nan)
    position = {i: j for j, i in enumerate(order)}
    for batch in stream(dataset, p.eval.batch_size, workers=d.workers, desc=desc, skips=skips, indices=order):
        images = _as_list(batch["image"])
        sizes = [tuple(im.shape[:2]) for im in images]
        x = pad_images(images, d.size_divisor).to(device)
        out = model(x)  # float32 (see training.predict)
        index = batch["index"].tolist()
        if detect is not None:
            scale = torch.as_tensor(np.stack(_np_list(batch["scale"])), device=device)
            for i, det, s in zip(index, model.detect_from(out, x.shape[-2:], clip_hw=sizes, **detect), scale,
                                 strict=True):
                det["boxes"] = det["boxes"] / s
                dets[i] = {k: v.float().cpu().numpy() if v.is_floating_point() else v.cpu().numpy()
                           for k, v in det.items()}
        if k_top is not None:
            valid = model.anchor_grid.image_masks(x.shape[-2:], sizes, d.size_divisor, device=device)
            u = anchor_uncertainty(out.cat("cls1"), out.cat("cls2"), norm)
            for i, value in zip(index, image_uncertainty(u, k_top, valid).double().cpu().numpy(), strict=True):
                scores[position[i]] = value
    kept = [i for i in order if i in dets] if detect is not None else [i for i in order
                                                                        if not np.isnan(scores[position[i]])]
    return {"detections": [dets[i] for i in kept] if detect is not None else [],
            "uncertainty": scores if k_top is not None else None, "kept": kept}


def _np_list(value: Any) -> list[np.ndarray]:
    return [np.asarray(v) for v in (value.unbind(0) if isinstance(value, torch.Tensor) else value)]
