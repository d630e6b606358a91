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


def test_warmup_cosine_rises_over_the_warmup_and_ends_exactly_at_the_floor() -> None:
    """uformer §9 check 15: with W warm-up iterations the lr rises linearly to the base lr, then a cosine
    reaches ``min_factor`` × lr on the last iteration; the existing schedules are untouched."""
    from cvpapers.engine.optim import parse_warmup_cosine, warmup_cosine

    name = warmup_cosine(5, 1e-3)
    assert parse_warmup_cosine(name) == (5, 1e-3)
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    sched = build_scheduler(opt, iters_per_epoch=10, name=name, epochs=3)  # type: ignore[arg-type]
    lrs = []
    for _ in range(30):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:5] == pytest.approx([2e-4, 4e-4, 6e-4, 8e-4, 1e-3])
    assert lrs[5] == pytest.approx(1e-3) and all(a >= b for a, b in zip(lrs[5:], lrs[6:], strict=False))
    assert abs(lrs[-1] - 1e-6) < 1e-12
    with pytest.raises(ValueError, match="warmup_cosine"):
        parse_warmup_cosine("warmup_cosine:x")


def test_warmup_cosine_leaves_the_existing_cosine_unchanged() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(opt, iters_per_epoch=4, name="cosine", epochs=2)
    assert [sched.lr_lambdas[0](i) for i in (0, 4, 7)] == pytest.approx(
        [1.0, 0.5, 0.5 * (1 + math.cos(math.pi * 7 / 8))]
    )
