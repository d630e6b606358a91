"""Step functions for :func:`cvpapers.engine.loop.fit`, one per task family."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def classification_step(
    model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, dict[str, torch.Tensor | int]]:
    """Cross-entropy on one batch; returns the loss and batch sums for the epoch averages (on the device:
    float64, so they equal ``loss.item() * n`` and ``100 * correct`` computed on the host)."""
    x, y = batch
    logits = model(x)
    loss = F.cross_entropy(logits.float(), y)
    with torch.no_grad():
        correct = (logits.argmax(1) == y).sum()
    n = y.numel()
    return loss, {"loss": loss.detach().double() * n, "acc": 100.0 * correct.double(), "n": n}
