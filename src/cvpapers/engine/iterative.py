"""Iteration-based training through the one loop (DA and restoration papers count iterations, not epochs).

A stage of ``iters`` iterations is run as ``iters / eval_every`` loop "epochs" of ``eval_every`` iterations:
after each chunk the loop evaluates on the validation set, logs the curves (``step`` = iterations done)
and writes the resume checkpoint. The lr follows one poly (or other) schedule over all ``iters``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cvpapers.engine.loop import FitConfig, FitResult, LoopCallback, StepFn, fit
from cvpapers.engine.optim import build_optimizer, build_scheduler
from cvpapers.engine.tracking import MetricLogger

Draw = Callable[[torch.Generator], Any]


class IterationBatches:
    """``iters_per_chunk`` batches per chunk drawn by ``draw(generator)``, seeded by (seed, chunk, iteration).

    Every batch depends only on its position, so a resumed stage sees exactly the batches it would have.
    Several draws take turns by global iteration (MI-AOD alternates a labelled and an unlabelled step).
    """

    def __init__(self, draw: Draw | Sequence[Draw], iters_per_chunk: int, seed: int) -> None:
        self.draws = tuple(draw) if isinstance(draw, Sequence) else (draw,)
        self.iters, self.seed = iters_per_chunk, seed

    def __len__(self) -> int:
        return self.iters

    def batches(self, epoch: int) -> Iterator[Any]:
        from cvpapers.engine.seeding import derive_seed

        for it in range(self.iters):
            draw = self.draws[(epoch * self.iters + it) % len(self.draws)]
            yield draw(torch.Generator().manual_seed(derive_seed(self.seed, epoch, it)))


class _StepAxisLogger(MetricLogger):
    """Logs a chunk's record at ``step`` = iterations done, so curves read against iterations."""

    def __init__(self, prefix: str, iters_per_chunk: int) -> None:
        super().__init__(prefix)
        self.iters_per_chunk = iters_per_chunk

    def log(self, metrics: Any, step: int) -> None:
        super().log(metrics, (step + 1) * self.iters_per_chunk)


def train_iterations(
    model: nn.Module,
    draw: Draw | Sequence[Draw] | None,
    step_fn: StepFn,
    *,
    stage: str,
    iters: int,
    eval_every: int,
    lr: float,
    device: torch.device,
    seed: int,
    optimizer: str = "adam",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    poly_power: float = 0.9,
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
    checkpoint_path: str | Path | None = None,
    resume: bool = False,
    fingerprint: dict[str, Any] | None = None,
    callbacks: Sequence[LoopCallback] = (),
    log_prefix: str | None = None,
    schedule: str = "poly",
    track_best: str | None = None,
    milestones: Sequence[int] = (),
    grad_clip: float | None = None,
    source: Callable[[int, int], Any] | None = None,
) -> FitResult:
    """Train for ``iters`` iterations (lr ``schedule``: poly by default, constant, or step ×0.1 at the
    iteration ``milestones``); evaluate every ``eval_every`` iterations; with ``track_best`` keep the
    weights of the best evaluation. Several ``draw`` functions take turns, one per iteration.

    ``source(iters_per_chunk, seed)``, when given, builds the batch source instead of the in-memory draws
    (``draw`` is then ``None``): a file-backed :class:`~cvpapers.data.streaming.StreamingBatches` seeds its
    iterations the same way, so a resumed stage replays the same batches either way."""
    # Chunks must tile the stage exactly (the poly schedule spans ``iters``): the largest divisor of
    # ``iters`` not above ``eval_every`` (300 / 50 → 50; 120 / 50 → 40).
    chunk = max(d for d in range(1, min(eval_every, iters) + 1) if iters % d == 0)
    chunks = iters // chunk
    draws = () if source is not None else tuple(draw) if isinstance(draw, Sequence) else (draw,)
    if len(draws) > 1 and chunk % len(draws):
        raise ValueError(f"{stage}: {len(draws)} alternating draws need chunks of a multiple of {len(draws)} "
                         f"iterations (iters {iters}, eval_every {eval_every} give {chunk})")
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = build_optimizer(params, optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay)  # type: ignore[arg-type]
    # Step milestones act at chunk boundaries (the scheduler counts chunks as epochs).
    if any(m % chunk for m in milestones):
        raise ValueError(f"{stage}: lr milestones {list(milestones)} must fall on multiples of the chunk ({chunk})")
    sched = build_scheduler(opt, chunk, schedule, chunks, power=poly_power,  # type: ignore[arg-type]
                            milestones=[m // chunk for m in milestones])
    config = FitConfig(
        stage=stage, epochs=chunks, checkpoint_path=Path(checkpoint_path) if checkpoint_path else None,
        resume=resume, fingerprint={**(fingerprint or {}), "iters": chunks * chunk}, track_best=track_best,
        grad_clip=grad_clip,
    )
    logger = _StepAxisLogger(log_prefix if log_prefix is not None else stage, chunk)
    batches = source(chunk, seed) if source is not None else IterationBatches(draws, chunk, seed)
    return fit(model, batches, step_fn, opt, sched, config, device, evaluate, callbacks, logger)
