"""Step functions for :func:`cvpapers.engine.loop.fit`, one per task family."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def classification_step(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross-entropy on one batch; returns the loss and batch sums for the epoch averages."""
    x, y = batch
    logits = model(x)
    loss = F.cross_entropy(logits.float(), y)
    with torch.no_grad():
        correct = (logits.argmax(1) == y).sum().item()
    n = y.numel()
    return loss, {"loss": loss.item() * n, "acc": 100.0 * correct, "n": n}
