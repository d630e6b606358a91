from __future__ import annotations

import math

import pytest
import torch

from cvpapers.engine.optim import build_optimizer, build_scheduler, lr_factor_fn


def test_step_schedule_decays_at_whole_epoch_milestones() -> None:
    f = lr_factor_fn("step", 300, milestones=[150, 225], gamma=0.1)
    assert f(0) == 1 and f(149.99) == 1 and f(150) == pytest.approx(0.1) and f(225.5) == pytest.approx(0.01)


def test_cosine_and_poly_end_at_min_factor() -> None:
    assert lr_factor_fn("cosine", 10)(10) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor_fn("cosine", 10)(5) == pytest.approx(0.5)
    assert lr_factor_fn("poly", 10, power=0.9)(10) == pytest.approx(0.0)


def test_linear_warmup_is_per_iteration_like_the_paper() -> None:
    # DCFF ImageNet: lr * (1 + it + e*N) / (5N) during the first 5 epochs.
    model = torch.nn.Linear(2, 2)
    opt = build_optimizer(model.parameters(), "sgd", lr=0.1)
    sched = build_scheduler(opt, iters_per_epoch=10, name="step", epochs=90, milestones=[30], warmup_epochs=5)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 1 / 50)
    for _ in range(9):
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 10 / 50)


def test_unknown_optimizer_is_named() -> None:
    with pytest.raises(ValueError, match="unknown name 'rmsprop'"):
        build_optimizer([torch.nn.Parameter(torch.zeros(1))], "rmsprop")  # type: ignore[arg-type]
    assert math.isfinite(lr_factor_fn("constant", 1)(0.5))
