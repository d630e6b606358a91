"""The segmenter of the DA pipelines: input normalisation, building one from a model section, rebuilding it from
its checkpoint, and evaluating / predicting on the uint8 image arrays that travel between their nodes.

Image sets are ``N×H×W×3`` uint8 arrays (channel-last, as the benchmark generator and the real-data readers
write them) with ``N×H×W`` uint8 label maps (255 = ignore); the network sees ``N×3×H×W``. The models are the
shared ones of :mod:`cvpapers.models.segmentation`; what is DA-specific is only how they are configured, fed
and scored here, so ssda_dual_mix, msda_collab and mtda_collab do it one way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

Normaliser = Callable[[Tensor], Tensor]

# Input normalisations: the embedded benchmark's fixed statistics (nothing is pretrained), and Caffe's
# BGR mean subtraction that ImageNet-pretrained DeepLab-v2 weights expect (ssda_dual_mix.md §3.7).
INPUT_NORMS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float], bool]] = {
    "embedded": ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), False),
    "caffe": ((104.00698793 / 255, 116.66876762 / 255, 122.67891434 / 255), (1 / 255, 1 / 255, 1 / 255), True),
}


def to_model_channels(x_uint8: Tensor, name: str) -> Tensor:
    """RGB → the channel order the model expects (BGR for Caffe weights)."""
    return x_uint8.flip(1) if INPUT_NORMS[name][2] else x_uint8


def normaliser(name: str) -> Normaliser:
    """uint8 N×3×H×W → the float input of a model trained with input normalisation ``name``."""
    from cvpapers.metrics.segmentation import normalize_images

    mean, std, _ = INPUT_NORMS[name]
    return lambda x_uint8: normalize_images(to_model_channels(x_uint8, name), mean, std)


def nchw(images: np.ndarray) -> Tensor:
    """uint8 N×H×W×3 array → N×3×H×W tensor."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()


def label_tensor(labels: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(labels))


def segmenter_config(model: Any, num_classes: int) -> dict[str, Any]:
    """The checkpoint config of a pipeline's ``model`` section (``name``, ``widths``, ``rates``, ``aux``,
    ``weights_path``): what :func:`build_da_segmenter` rebuilds the network from."""
    cfg: dict[str, Any] = {"name": model.name, "num_classes": num_classes}
    if model.name == "tiny_deeplabv2":
        cfg.update(widths=list(model.widths), rates=list(model.rates), aux=model.aux)
    else:
        cfg.update(multi_level=model.aux, weights_path=model.weights_path)
    return cfg


def build_da_segmenter(name: str, num_classes: int, **kwargs: Any) -> nn.Module:
    """The builder a DA checkpoint names (``build_da_segmenter(**config)``); draws the initial weights from
    torch's global stream, so seed it first for a reproducible fresh model."""
    from cvpapers.models.segmentation import build_segmenter

    return build_segmenter(name, num_classes, **kwargs)


def segmenter_checkpoint(model: nn.Module, config: dict[str, Any]) -> dict[str, Any]:
    """A model checkpoint that rebuilds itself through :func:`build_da_segmenter`."""
    from cvpapers.engine.checkpoint import model_checkpoint

    return model_checkpoint(model, config, build_da_segmenter)


def load_segmenter(checkpoint: dict[str, Any], device: torch.device, source: str = "checkpoint") -> nn.Module:
    """The model of a DA checkpoint on ``device``. The checkpoint holds every weight, so an ImageNet
    backbone file named in its config is not read again."""
    from cvpapers.engine.checkpoint import check_model_checkpoint, rebuild_model

    config = check_model_checkpoint(checkpoint, source)["config"]
    overrides = {"weights_path": None} if "weights_path" in config else {}
    return rebuild_model(checkpoint, source, **overrides).to(device)


def evaluate_arrays(model: nn.Module, images: np.ndarray, labels: np.ndarray, num_classes: int,
                    input_norm: str, device: torch.device, batch_size: int) -> dict[str, Any]:
    """:func:`~cvpapers.metrics.segmentation.evaluate_segmenter` on uint8 N×H×W×3 images and N×H×W labels."""
    from cvpapers.metrics.segmentation import evaluate_segmenter

    mean, std, _ = INPUT_NORMS[input_norm]
    return evaluate_segmenter(model, to_model_channels(nchw(images), input_norm), label_tensor(labels),
                              num_classes, mean, std, device, batch_size=batch_size)


def predict_arrays(model: nn.Module, images: np.ndarray, input_norm: str, device: torch.device,
                   batch_size: int) -> tuple[Tensor, Tensor]:
    """Per-pixel (confidence, class) of uint8 N×H×W×3 images, on the CPU."""
    from cvpapers.metrics.segmentation import predict

    mean, std, _ = INPUT_NORMS[input_norm]
    conf, pred = predict(model, to_model_channels(nchw(images), input_norm), mean, std, device,
                         batch_size=batch_size)
    return conf.cpu(), pred.cpu()


# -- file-backed sets: one image at a time, at full resolution -------------------------------------------------

def _windows(length: int, window: int, stride: int) -> list[int]:
    """Start offsets covering ``length`` with windows of ``window`` every ``stride`` (the last one flush)."""
    if window >= length:
        return [0]
    starts = list(range(0, length - window + 1, stride))
    return starts if starts[-1] == length - window else [*starts, length - window]


def segment_logits(model: nn.Module, x: Tensor, size: tuple[int, int], window: tuple[int, int] | None = None,
                   stride: tuple[int, int] | None = None) -> Tensor:
    """Main-head logits (float32, N×C×``size``) of normalised N×3×H×W input.

    Whole input: the model upsamples its own logits to ``size`` (``output_size``; bilinear with the model's
    ``align_corners`` — True for DeepLab-v2, as the official ``eval.py``). With ``window`` (h, w): the input is
    covered by windows every ``stride`` (default half a window), each window's logits (at window size) are
    averaged where windows overlap, and the average is upsampled to ``size`` — memory bounded by the window
    for the network, by one C×H×W map for the result.
    """
    import torch.nn.functional as F

    if window is None:
        out = model(x, output_size=tuple(size))
        return (out[0] if isinstance(out, tuple | list) else out).float()
    h, w = x.shape[-2:]
    wh, ww = min(window[0], h), min(window[1], w)
    sh, sw = stride if stride is not None else (max(1, wh // 2), max(1, ww // 2))
    total: Tensor | None = None
    count = torch.zeros(1, 1, h, w, device=x.device)
    for top in _windows(h, wh, sh):
        for left in _windows(w, ww, sw):
            out = model(x[..., top:top + wh, left:left + ww])
            out = (out[0] if isinstance(out, tuple | list) else out).float()
            if total is None:
                total = torch.zeros(x.shape[0], out.shape[1], h, w, device=x.device)
            total[..., top:top + wh, left:left + ww] += out
            count[..., top:top + wh, left:left + ww] += 1
    logits = total / count  # type: ignore[operator]
    if tuple(logits.shape[-2:]) != tuple(size):
        logits = F.interpolate(logits, size=tuple(size), mode="bilinear",
                               align_corners=bool(getattr(model, "align_corners", False)))
    return logits


def _per_image(batch: dict[str, Any], key: str) -> list[Any]:
    value = batch[key]
    return list(value) if isinstance(value, list) else [value[i] for i in range(value.shape[0])]


def predict_stream(model: nn.Module, batches: Any, input_norm: str, device: torch.device,
                   window: tuple[int, int] | None = None, stride: tuple[int, int] | None = None) -> Any:
    """For every sample of ``batches`` (collated dicts with ``image`` H×W×3 uint8 at the network's input size
    and ``full_size``, the image's size on disk): ``(batch, i, logits 1×C×H×W)`` at that full resolution.
    Eval mode, ``inference_mode``, bf16 autocast on CUDA; one image in the network at a time."""
    from cvpapers.engine.device import autocast

    norm = normaliser(input_norm)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), autocast(device):
            for batch in batches:
                for i, (image, size) in enumerate(zip(_per_image(batch, "image"), _per_image(batch, "full_size"),
                                                      strict=True)):
                    x = norm(torch.as_tensor(image).permute(2, 0, 1)[None].contiguous().to(device))
                    hw = (int(size[0]), int(size[1]))
                    yield batch, i, segment_logits(model, x, hw, window, stride)
    finally:
        model.train(was_training)


def evaluate_stream(model: nn.Module, batches: Any, num_classes: int, input_norm: str, device: torch.device,
                    window: tuple[int, int] | None = None, stride: tuple[int, int] | None = None) -> dict[str, Any]:
    """:func:`~cvpapers.metrics.segmentation.evaluate_segmenter` over a stream of batches (``image`` at the
    network's input size, ``mask`` at full resolution ``full_size``): one confusion matrix accumulated image by image, logits
    upsampled to each label's size before the argmax. Same result keys (percentages)."""
    from cvpapers.metrics.segmentation import confusion_matrix, iou_per_class, mean_iou, pixel_accuracy

    cm = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
    for batch, i, logits in predict_stream(model, batches, input_norm, device, window, stride):
        label = torch.as_tensor(_per_image(batch, "mask")[i]).to(device)
        cm += confusion_matrix(logits.argmax(1)[0], label, num_classes)
    cm = cm.cpu()
    return {"miou": 100.0 * mean_iou(cm), "pixel_acc": 100.0 * pixel_accuracy(cm),
            "iou": [100.0 * v for v in iou_per_class(cm).tolist()], "confusion": cm}
