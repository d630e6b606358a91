"""Optimiser and learning-rate schedule factories.

Schedules are written as a factor of the base lr at a *fractional epoch* and stepped every iteration,
so epoch-based papers (MultiStep at epochs 150/225) and iteration-based ones (per-iteration warm-up,
poly decay) share one mechanism, and a resumed run restores the exact position.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

import torch

OptimizerName = Literal["sgd", "adam", "adamw"]
ScheduleName = Literal["constant", "step", "cosine", "poly"]


def build_optimizer(
    params: Iterable[torch.nn.Parameter] | Iterable[dict],
    name: OptimizerName = "sgd",
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay)
    raise ValueError(f"optimizer: unknown name '{name}' (allowed: sgd, adam, adamw)")


def lr_factor_fn(
    name: ScheduleName,
    epochs: int,
    milestones: Sequence[float] = (),
    gamma: float = 0.1,
    power: float = 0.9,
    warmup_epochs: float = 0.0,
    min_factor: float = 0.0,
) -> Callable[[float], float]:
    """factor(t) for fractional epoch t ∈ [0, epochs]. Step milestones act at whole epochs."""
    ms = sorted(milestones)

    def decay(t: float) -> float:
        if name == "constant":
            return 1.0
        if name == "step":
            return gamma ** bisect.bisect_right(ms, math.floor(t + 1e-9))
        span = max(epochs - warmup_epochs, 1e-9)
        u = min(max((t - warmup_epochs) / span, 0.0), 1.0)
        if name == "cosine":
            return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * u))
        if name == "poly":
            return min_factor + (1 - min_factor) * (1 - u) ** power
        raise ValueError(f"schedule: unknown name '{name}' (allowed: constant, step, cosine, poly)")

    def factor(t: float) -> float:
        f = decay(t)
        if warmup_epochs > 0 and t < warmup_epochs:
            f *= t / warmup_epochs
        return f

    return factor


WARMUP_COSINE = "warmup_cosine"


def warmup_cosine(warmup_iters: int, min_factor: float) -> str:
    """The name of the restoration papers' schedule (Uformer's official ``GradualWarmupScheduler`` then
    ``CosineAnnealingLR``) for :func:`build_scheduler` and ``train_iterations(schedule=...)``: a linear
    warm-up over ``warmup_iters`` iterations, then a cosine from the base lr down to ``min_factor`` × base lr
    over the remaining iterations (the last iteration runs at the floor). Its parameters travel in the name,
    so the shared loop needs no new argument and resume fingerprints record them."""
    if warmup_iters < 0 or not 0.0 <= min_factor <= 1.0:
        raise ValueError(
            f"warmup_cosine: warmup_iters {warmup_iters} must be ≥ 0 and min_factor {min_factor} in [0, 1]"
        )
    return f"{WARMUP_COSINE}:{int(warmup_iters)}:{float(min_factor)!r}"


def parse_warmup_cosine(name: str) -> tuple[int, float]:
    """(warmup_iters, min_factor) of a :func:`warmup_cosine` name."""
    parts = name.split(":")
    try:
        if len(parts) != 3 or parts[0] != WARMUP_COSINE:
            raise ValueError(name)
        return int(parts[1]), float(parts[2])
    except ValueError:
        raise ValueError(
            f"schedule {name!r}: expected '{WARMUP_COSINE}:<warmup_iters>:<min_factor>'"
        ) from None


def warmup_cosine_factor(total_iters: int, warmup_iters: int, min_factor: float) -> Callable[[int], float]:
    """factor(it) of :func:`warmup_cosine` over ``total_iters`` iterations: ``(it + 1) / W`` during the warm-up
    (its last iteration reaches the full lr), then ``f + (1 − f)·½(1 + cos(π·u))`` with
    ``u = (it − W) / (T − 1 − W)``, so the cosine starts at 1 after the warm-up and ends at ``f`` on the last
    iteration (the official code restarts the cosine after its warm-up epochs in the same way)."""
    span = max(total_iters - 1 - warmup_iters, 1)

    def factor(it: int) -> float:
        if it < warmup_iters:
            return (it + 1) / warmup_iters
        u = min((it - warmup_iters) / span, 1.0)
        return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * u))

    return factor


def milestone_epochs(fractions: Sequence[float], epochs: int) -> list[int]:
    """Fractions of the run → whole epochs, rounding halves up (0.5 × 5 epochs → epoch 3, not 2)."""
    return [math.floor(f * epochs + 0.5) for f in fractions]


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    iters_per_epoch: int,
    name: ScheduleName = "step",
    epochs: int = 1,
    milestones: Sequence[float] = (),
    gamma: float = 0.1,
    power: float = 0.9,
    warmup_epochs: float = 0.0,
    min_factor: float = 0.0,
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR to be stepped once per iteration (the loop does this). ``name`` may also be a
    :func:`warmup_cosine` name (warm-up then cosine to a floor, with its parameters in the name)."""
    if isinstance(name, str) and name.startswith(WARMUP_COSINE + ":"):
        warmup, floor = parse_warmup_cosine(name)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, warmup_cosine_factor(max(int(iters_per_epoch), 1) * epochs, warmup, floor)
        )
    decay = lr_factor_fn(name, epochs, milestones, gamma, power, 0.0, min_factor)
    n = max(int(iters_per_epoch), 1)
    warmup_iters = warmup_epochs * n

    def factor(it: int) -> float:
        # Decay follows the iteration's own position; the warm-up counts it as done, (1+it)/(W·N), as
        # the papers' per-iteration warm-ups do, so the last warm-up iteration reaches the full lr.
        f = decay(it / n)
        if warmup_iters > 0 and it < warmup_iters:
            f *= (it + 1) / warmup_iters
        return f

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
