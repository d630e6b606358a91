"""A trained model of each task family applied to one batch of the user's images (plain PyTorch, no Kedro).

Each ``apply_<family>(trained, samples, device, options)`` takes the batch's samples as
:mod:`~cvpapers.pipelines.predict.inputs` reads them (originals, any size) and returns one result dict per
image; the preprocessing is the trained pipeline's (:class:`cvpapers.io.trained.Preprocess`). Images of one
size are stacked into one forward pass; a batch of mixed sizes runs image by image where the network keeps the
image's size (segmentation, HDR, restoration).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
import torch
from torch import Tensor

from cvpapers.io.trained import Preprocess, TrainedModel, to_model_input

Sample = dict[str, Any]


def _nchw(images: Sequence[np.ndarray]) -> Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def _resize(image: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    h, w = image.shape[:2]
    # Area averaging when shrinking (no aliasing), bilinear when enlarging.
    interp = cv2.INTER_AREA if hw[0] < h or hw[1] < w else cv2.INTER_LINEAR
    return cv2.resize(image, (hw[1], hw[0]), interpolation=interp)


def classifier_input(image: np.ndarray, pre: Preprocess) -> np.ndarray:
    """H×W×3 in [0, 1] → the classifier's square input (ImageNet: short side to size/0.875, centre crop)."""
    assert pre.size is not None
    if not pre.imagenet_crop:
        return _resize(image, pre.size)
    side = pre.size[0]
    h, w = image.shape[:2]
    short = round(side / 0.875)
    scaled = _resize(
        image,
        (max(short, round(h * short / w)), short) if h > w else (short, max(short, round(w * short / h))),
    )
    top, left = (scaled.shape[0] - side) // 2, (scaled.shape[1] - side) // 2
    return scaled[top : top + side, left : left + side]


@torch.inference_mode()
def apply_classification(
    trained: TrainedModel, samples: Sequence[Sample], device: torch.device, top_k: int = 3
) -> list[dict[str, Any]]:
    """Per image: ``label``, ``score`` and the ``top`` (label, probability) pairs."""
    pre = trained.preprocess
    x = to_model_input(_nchw([classifier_input(s["image"], pre) for s in samples]), pre).to(device)
    probs = torch.softmax(trained.module.to(device)(x).float(), dim=1).cpu()
    scores, labels = probs.topk(min(top_k, probs.shape[1]), dim=1)
    return [
        {
            "label": int(lab[0]),
            "score": float(sc[0]),
            "top": list(zip(lab.tolist(), sc.tolist(), strict=True)),
        }
        for lab, sc in zip(labels, scores, strict=True)
    ]


def _segment_probs(trained: TrainedModel, x: Tensor, size: tuple[int, int]) -> Tensor:
    """Class probabilities N×C×H×W; an ensemble of members (msda_collab's MSCL) averages their softmax."""
    from cvpapers.da.segmenter import segment_logits

    members = list(trained.module.values()) if trained.is_ensemble else [trained.module]
    return torch.stack([torch.softmax(segment_logits(m, x, size), dim=1) for m in members]).mean(0)


def _groups(samples: Sequence[Sample], key: str) -> list[list[int]]:
    """Indices of the samples sharing one shape of ``key`` (one forward pass each)."""
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, s in enumerate(samples):
        by_shape.setdefault(tuple(np.shape(s[key])), []).append(i)
    return list(by_shape.values())


def _per_group(
    samples: Sequence[Sample],
    key: str,
    run: Callable[[list[Sample]], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    out: list[dict[str, Any] | None] = [None] * len(samples)
    for idx in _groups(samples, key):
        for i, result in zip(idx, run([samples[i] for i in idx]), strict=True):
            out[i] = result
    return out  # type: ignore[return-value]


@torch.inference_mode()
def apply_segmentation(
    trained: TrainedModel,
    samples: Sequence[Sample],
    device: torch.device,
) -> list[dict[str, Any]]:
    """Per image: ``mask`` (H×W uint8 class ids, at the image's size) and ``confidence`` (mean max probability)."""
    trained.module.to(device)

    def run(group: list[Sample]) -> list[dict[str, Any]]:
        h, w = group[0]["image"].shape[:2]
        x = to_model_input(_nchw([s["image"] for s in group]), trained.preprocess).to(device)
        conf, pred = _segment_probs(trained, x, (h, w)).max(dim=1)
        return [
            {"mask": p.to(torch.uint8).cpu().numpy(), "confidence": float(c.mean())}
            for p, c in zip(pred, conf, strict=True)
        ]

    return _per_group(samples, "image", run)


def apply_hdr(trained: TrainedModel, samples: Sequence[Sample], device: torch.device) -> list[dict[str, Any]]:
    """Per scene: ``hdr`` (H×W×3 float32, linear, in the short exposure's units as the network was trained)."""
    from cvpapers.data.hdr_scenes import build_inputs
    from cvpapers.pipelines.fhdrnet.inference import predict

    def run(group: list[Sample]) -> list[dict[str, Any]]:
        ldr = np.stack([s["ldr"] for s in group])
        n, _, h, w, c = ldr.shape
        scenes = {
            "ldr": ldr,
            "exposure": np.stack([s["exposure"] for s in group]),
            "hdr": np.zeros((n, h, w, c), np.float32),
            "mask": np.zeros((n, h, w), bool),
        }
        x = build_inputs(scenes, trained.preprocess.gamma, "rgb")["x"]
        out = predict(trained.module, x, device, len(group))
        return [{"hdr": o.permute(1, 2, 0).numpy().astype(np.float32)} for o in out]

    return _per_group(samples, "ldr", run)


@torch.inference_mode()
def apply_detection(
    trained: TrainedModel,
    samples: Sequence[Sample],
    device: torch.device,
) -> list[dict[str, Any]]:
    """Per image: ``boxes`` (K×4 x1 y1 x2 y2 in the image's pixels), ``scores`` (K,), ``labels`` (K,)."""
    from cvpapers.pipelines.mi_aod.loading import pad_images, rescale_to_fit

    pre = trained.preprocess
    assert pre.fit is not None
    resized = [rescale_to_fit(np.round(s["image"] * 255).astype(np.uint8), pre.fit) for s in samples]
    x = pad_images([im for im, _ in resized], pre.size_divisor).to(device)
    clip = [im.shape[:2] for im, _ in resized]
    dets = trained.module.to(device).detect(x, **pre.detect, clip_hw=clip)
    out = []
    for d, (_, scale) in zip(dets, resized, strict=True):
        boxes = d["boxes"].float().cpu().numpy() / np.float32([*scale, *scale])
        out.append(
            {
                "boxes": boxes.astype(np.float32),
                "scores": d["scores"].float().cpu().numpy(),
                "labels": d["labels"].cpu().numpy().astype(np.int64),
            }
        )
    return out


def apply_restoration(
    trained: TrainedModel,
    samples: Sequence[Sample],
    device: torch.device,
) -> list[dict[str, Any]]:
    """Per image: ``restored`` (H×W×3 float32 in [0, 1], the image's size)."""
    from cvpapers.pipelines.uformer.training import predict

    def run(group: list[Sample]) -> list[dict[str, Any]]:
        out = predict(trained.module, _nchw([s["image"] for s in group]), device, len(group))
        return [{"restored": o.permute(1, 2, 0).numpy()} for o in out]

    return _per_group(samples, "image", run)


def apply_batch(
    trained: TrainedModel,
    samples: Sequence[Sample],
    device: torch.device,
    top_k: int = 3,
) -> list[dict[str, Any]]:
    """The family's ``apply_*`` on one batch."""
    if trained.family == "classification":
        return apply_classification(trained, samples, device, top_k)
    return {
        "segmentation": apply_segmentation,
        "hdr": apply_hdr,
        "detection": apply_detection,
        "restoration": apply_restoration,
    }[trained.family](trained, samples, device)
