"""Iteration-based training through the one loop: exact iteration counts and replayable batches."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from cvpapers.engine.iterative import IterationBatches, train_iterations


def _draw(g: torch.Generator):
    return torch.randn(2, 4, generator=g), torch.randint(0, 2, (2,), generator=g)


def _step(model: nn.Module, batch):
    x, y = batch
    loss = nn.functional.cross_entropy(model(x), y)
    return loss, {"loss": loss.item(), "n": 1}


def test_a_stage_runs_exactly_iters_steps_even_when_eval_every_does_not_divide_it(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    calls = []
    result = train_iterations(model, _draw, _step, stage="toy", iters=120, eval_every=50, lr=1e-2,
                             device=torch.device("cpu"), seed=0,
                             evaluate=lambda m: calls.append(1) or {"val": 0.0})
    assert len(result.history) == 3 and len(calls) == 3  # 3 chunks of 40 iterations


def test_batches_depend_only_on_their_position() -> None:
    a, b = IterationBatches(_draw, 5, seed=3), IterationBatches(_draw, 5, seed=3)
    for (xa, ya), (xb, yb) in zip(a.batches(2), b.batches(2), strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    first = next(iter(IterationBatches(_draw, 5, seed=4).batches(2)))[0]
    assert not torch.equal(first, next(iter(a.batches(2)))[0]), "another seed, another stream"


def test_alternating_draws_take_turns_by_global_iteration_across_chunks() -> None:
    source = IterationBatches((lambda g: "labelled", lambda g: "unlabelled"), 4, seed=0)
    seen = [b for chunk in range(3) for b in source.batches(chunk)]
    assert seen == ["labelled", "unlabelled"] * 6


def test_step_milestones_drop_the_lr_at_the_given_iteration() -> None:
    model = nn.Linear(4, 2)
    result = train_iterations(model, _draw, _step, stage="toy", iters=60, eval_every=20, lr=1e-2,
                             device=torch.device("cpu"), seed=0, schedule="step", milestones=[40])
    assert [round(h["lr"], 6) for h in result.history] == [1e-2, 1e-2, 1e-3]
