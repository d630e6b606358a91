"""The training loss (papers/uformer.md §3.5): Charbonnier, ``mean(√((Î − I)² + ε²))``, ε = 1e-3 (official
``losses.CharbonnierLoss``); no other term."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["charbonnier"]


def charbonnier(pred: Tensor, target: Tensor, eps: float = 1e-3) -> Tensor:
    """Mean Charbonnier penalty; ≥ ε, = ε where prediction = target; gradient (x − y)/√((x − y)² + ε²)."""
    diff = pred - target
    return torch.sqrt(diff * diff + eps * eps).mean()
