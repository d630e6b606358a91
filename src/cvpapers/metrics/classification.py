"""Classification metrics."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from cvpapers.engine.device import autocast


def topk_correct(logits: torch.Tensor, target: torch.Tensor, ks: tuple[int, ...] = (1,)) -> list[int]:
    """How many targets are among the top-k predictions, for each k."""
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices
    hit = top == target[:, None]
    return [int(hit[:, : min(k, kmax)].any(1).sum()) for k in ks]


def evaluate_classifier(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    ks: tuple[int, ...] = (1,),
) -> dict[str, float]:
    """Top-k accuracy (%) and mean cross-entropy over ``batches``, in eval mode."""
    was_training = model.training
    model.eval()
    n, loss_sum = 0, 0.0
    correct = [0] * len(ks)
    with torch.inference_mode(), autocast(device):
        for x, y in batches:
            x, y = x.to(device), y.to(device)
            logits = model(x).float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            correct = [c + h for c, h in zip(correct, topk_correct(logits, y, ks), strict=True)]
            n += y.numel()
    model.train(was_training)
    out = {f"top{k}": 100.0 * c / max(n, 1) for k, c in zip(ks, correct, strict=True)}
    out["loss"] = loss_sum / max(n, 1)
    return out
