"""Loading the paper's pretrained checkpoints into ``build_classifier`` models (spec §10; nothing is downloaded).

Key layouts: the official ``pth/resnet56.pth`` names its classifier ``linear.*`` (ours ``fc.*``);
torchvision's ResNet-50 keys are ours; torchvision's VGG-16 numbers its layers (``features.<index>``,
``classifier.<index>``), mapped onto ``vgg16_imagenet``'s ``features.conv<k>`` (the classifier indices
0/3/6 are the same). DataParallel's ``module.`` prefix is dropped.
"""

from __future__ import annotations

import re

import torch
from torch import nn

_TV_VGG16_CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)  # torchvision vgg16().features indices


def map_pretrained_keys(arch: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` renamed into the project's key layout for ``arch``."""
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if arch in ("resnet56", "resnet110"):
        return {("fc." + k[len("linear.") :] if k.startswith("linear.") else k): v for k, v in state.items()}
    if arch == "vgg16_imagenet":
        conv_of = {idx: k for k, idx in enumerate(_TV_VGG16_CONVS)}
        out = {}
        for key, value in state.items():
            match = re.fullmatch(r"features\.(\d+)\.(weight|bias)", key)
            if match and int(match[1]) in conv_of:
                key = f"features.conv{conv_of[int(match[1])]}.{match[2]}"
            out[key] = value
        return out
    return state


def load_pretrained(model: nn.Module, path: str) -> None:
    """Load a local weights file into ``model`` (every key must match in name and shape)."""
    from cvpapers.engine.checkpoint import load_state_checked, read_state_dict

    state = map_pretrained_keys(model.arch, read_state_dict(path, "pretrained weights"))
    load_state_checked(model, state, f"pretrained weights {path}")
