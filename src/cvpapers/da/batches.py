"""Seeded batch draws and the supervised step of the DA pipelines' iteration-based training.

A *draw* maps a ``torch.Generator`` (seeded by the batch's position, :class:`~cvpapers.engine.iterative.
IterationBatches`) to one batch, so a resumed stage replays its batches exactly; a *step* maps
``(model, batch)`` to ``(loss, stats)`` for the engine's loop. Images are uint8 N×3×H×W tensors normalised
inside the draw; labels N×H×W (255 = ignore).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from cvpapers.da.segmenter import Normaliser

Draw = Callable[[torch.Generator], Any]
Step = Callable[[nn.Module, Any], tuple[Tensor, dict[str, float]]]


def pick(n: int, k: int, g: torch.Generator) -> Tensor:
    """``k`` indices into ``n`` items, uniformly with replacement."""
    return torch.randint(0, n, (k,), generator=g)


def maybe_flip(x: Tensor, y: Tensor, hflip: bool, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """With ``hflip``, flip each image and its label map horizontally with probability 1/2."""
    if not hflip:
        return x, y
    flip = torch.rand(x.shape[0], generator=g) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x), torch.where(flip[:, None, None], y.flip(-1), y)


def supervised_draw(images: Tensor, labels: Tensor, batch: int, normalise: Normaliser, hflip: bool = False) -> Draw:
    """Uniformly drawn labelled images (with replacement): the batches of a supervised baseline."""

    def draw(g: torch.Generator) -> tuple[Tensor, Tensor]:
        idx = pick(len(images), batch, g)
        x, y = maybe_flip(images[idx], labels[idx], hflip, g)
        return normalise(x), y.long()

    return draw


def supervised_step(lambda_aux: float) -> Step:
    """``L_seg`` = CE(main) + λ_aux·CE(aux) on one labelled batch."""
    from cvpapers.models.segmentation import seg_loss

    def step(model: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, Tensor | int]]:
        x, y = batch
        loss = seg_loss(model(x), y, lambda_aux)
        return loss, {"loss": loss.detach(), "n": 1}

    return step
