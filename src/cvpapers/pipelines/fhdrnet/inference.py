"""Inference of the three-frame HDR networks at any image size (papers/fhdrnet.md §3.7).

FHDRNet needs H and W divisible by 8 (three Haar DWT levels); the official test code reflect-pads the
frames (Kalantari's 1000×1500 → 1000×1504) and crops the output back. :func:`predict` does the same, in
batches, under ``inference_mode`` and the engine's autocast.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["MULTIPLE", "forward_frames", "padded_size", "predict"]

MULTIPLE = 8  # three Haar levels


def padded_size(h: int, w: int) -> tuple[int, int]:
    """The size :func:`predict` runs the network at: ``h``, ``w`` rounded up to multiples of 8."""
    return h + -h % MULTIPLE, w + -w % MULTIPLE


def forward_frames(model: nn.Module, x: Tensor) -> Tensor:
    """``model(short, reference, long)`` of a B×3×Cin×H×W batch of stacked frames."""
    return model(x[:, 0], x[:, 1], x[:, 2])


def predict(model: nn.Module, x: np.ndarray | Tensor, device: torch.device, batch: int) -> Tensor:
    """Outputs (N×Cout×H×W, float32 on the CPU) for stacked frames ``x`` (N×3×Cin×H×W, an array or a tensor),
    ``batch`` at a time; sizes not divisible by 8 are reflect-padded (split evenly on both sides) and the
    output cropped back."""
    from cvpapers.engine.device import autocast

    model.eval()
    outs = []
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % MULTIPLE, -w % MULTIPLE
    with torch.inference_mode(), autocast(device):
        for s in range(0, len(x), batch):
            xb = torch.as_tensor(x[s:s + batch]).to(device)
            if pad_h or pad_w:
                n, f, c = xb.shape[:3]
                xb = torch.nn.functional.pad(xb.reshape(n, f * c, h, w), (pad_w // 2, pad_w - pad_w // 2,
                                                                          pad_h // 2, pad_h - pad_h // 2),
                                             mode="reflect").reshape(n, f, c, h + pad_h, w + pad_w)
            out = forward_frames(model, xb).float().cpu()
            outs.append(out[..., pad_h // 2:pad_h // 2 + h, pad_w // 2:pad_w // 2 + w])
    return torch.cat(outs)
