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
