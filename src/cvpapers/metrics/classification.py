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
    """Top-k accuracy (%) and mean cross-entropy over ``batches``, in eval mode.

    The sums stay on the device (the loss in float64, as Python would add the batch losses) and are read
    once at the end, so a GPU evaluation never waits for the host between batches."""
    was_training = model.training
    model.eval()
    n, loss_sum, correct = 0, torch.zeros((), dtype=torch.float64, device=device), None
    kmax = max(ks)
    with torch.inference_mode(), autocast(device):
        for x, y in batches:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            logits = model(x).float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
            top = logits.topk(min(kmax, logits.shape[1]), dim=1).indices == y[:, None]
            hits = torch.stack([top[:, :k].any(1).sum() for k in ks])
            correct = hits if correct is None else correct + hits
            n += y.numel()
    model.train(was_training)
    counts = correct.tolist() if correct is not None else [0] * len(ks)
    out = {f"top{k}": 100.0 * c / max(n, 1) for k, c in zip(ks, counts, strict=True)}
    out["loss"] = loss_sum.item() / max(n, 1)
    return out
