"""The one training loop: resume continues exactly, NaN stops with the stage and step, curves are kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from cvpapers.engine.loop import FitConfig, LoopCallback, NonFiniteLossError, ResumeMismatchError, fit
from cvpapers.engine.optim import build_optimizer, build_scheduler
from cvpapers.engine.steps import classification_step


class _Batches:
    def __init__(self, n: int = 64, batch: int = 16, seed: int = 0, poison_at: int | None = None) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 8, generator=g)
        self.y = (self.x[:, 0] > 0).long()
        self.batch, self.seed, self.poison_at = batch, seed, poison_at

    def __len__(self) -> int:
        return len(self.x) // self.batch

    def batches(self, epoch: int):
        perm = torch.randperm(len(self.x), generator=torch.Generator().manual_seed(self.seed * 100 + epoch))
        for i in range(len(self)):
            idx = perm[i * self.batch : (i + 1) * self.batch]
            x = self.x[idx].clone()
            if self.poison_at is not None and (epoch, i) == divmod(self.poison_at, len(self)):
                x[0, 0] = float("nan")
            yield x, self.y[idx]


class _Killed(Exception):
    pass


class _Counter(LoopCallback):
    def __init__(self, kill_at_epoch: int | None = None) -> None:
        self.calls = 0
        self.kill_at_epoch = kill_at_epoch

    def on_epoch_start(self, epoch, model) -> None:
        if epoch == self.kill_at_epoch:
            raise _Killed(f"killed at the start of epoch {epoch}")

    def on_iteration_start(self, epoch, iteration, iters_per_epoch, model) -> None:
        self.calls += 1

    def epoch_metrics(self, epoch):
        return {"calls": float(self.calls)}

    def state_dict(self):
        return {"calls": self.calls}

    def load_state_dict(self, state) -> None:
        self.calls = state["calls"]


def _run(epochs: int, ckpt: Path | None, resume: bool, data: _Batches | None = None, fingerprint=None,
         kill_at_epoch: int | None = None):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    data = data or _Batches()
    opt = build_optimizer(model.parameters(), "sgd", lr=0.1, momentum=0.9, weight_decay=1e-4)
    sched = build_scheduler(opt, len(data), "step", 4, milestones=[2], gamma=0.1)
    cb = _Counter(kill_at_epoch)
    cfg = FitConfig(stage="toy", epochs=epochs, checkpoint_path=ckpt, resume=resume,
                    fingerprint=fingerprint or {"lr": 0.1}, track_best="train_acc")
    result = fit(model, data, classification_step, opt, sched, cfg, torch.device("cpu"), callbacks=[cb])
    return model, result, cb


def test_resumed_run_equals_uninterrupted_run(tmp_path: Path) -> None:
    full_model, full, _ = _run(4, tmp_path / "a.pt", resume=False)
    # Killed after epoch 2 (its checkpoint is on disk), then re-run with resume: true.
    with pytest.raises(_Killed):
        _run(4, tmp_path / "b.pt", resume=False, kill_at_epoch=2)
    model, resumed, cb = _run(4, tmp_path / "b.pt", resume=True)
    assert resumed.resumed_from == 2
    assert len(resumed.history) == 4, "history written before the kill is kept"
    assert [h["train_loss"] for h in resumed.history] == pytest.approx([h["train_loss"] for h in full.history])
    for a, b in zip(full_model.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.allclose(a, b)
    assert cb.calls == 4 * 4, "callback state travels in the checkpoint"


def test_resume_of_a_finished_run_trains_nothing_more(tmp_path: Path) -> None:
    _run(2, tmp_path / "c.pt", resume=False)
    _, result, cb = _run(2, tmp_path / "c.pt", resume=True)
    assert result.resumed_from == 2 and len(result.history) == 2 and cb.calls == 8


def test_resume_with_other_settings_is_refused_with_the_differing_key(tmp_path: Path) -> None:
    _run(2, tmp_path / "d.pt", resume=False)
    with pytest.raises(ResumeMismatchError, match=r"\n    lr: 0\.1 \(checkpoint\) vs 0\.2 \(now\)\n"):
        _run(2, tmp_path / "d.pt", resume=True, fingerprint={"lr": 0.2})
    # A different length changes the lr schedule, so it is a different run too.
    with pytest.raises(ResumeMismatchError, match=r"epochs: 2 \(checkpoint\) vs 3 \(now\)"):
        _run(3, tmp_path / "d.pt", resume=True)


def test_non_finite_loss_names_stage_epoch_and_iteration() -> None:
    with pytest.raises(NonFiniteLossError, match=r"toy: loss became nan at epoch 1, iteration 2"):
        _run(3, None, resume=False, data=_Batches(poison_at=4 + 2))


def test_best_epoch_is_tracked_with_its_weights() -> None:
    _, result, _ = _run(3, None, resume=False)
    best = max(range(3), key=lambda e: result.history[e]["train_acc"])
    assert result.best_epoch == best and result.best_state is not None


def test_checkpoint_is_a_weights_only_file(tmp_path: Path) -> None:
    _run(1, tmp_path / "e.pt", resume=False)
    state = torch.load(tmp_path / "e.pt", weights_only=True)
    assert state["format"] == "cvpapers.train/1" and state["epoch"] == 0


def test_tensor_step_sums_equal_python_float_sums_bitwise() -> None:
    """A step may return device tensors; the epoch averages equal those of ``loss.item() * n`` added on the host."""
    from cvpapers.engine.loop import _EpochSums

    g = torch.Generator().manual_seed(0)
    losses = torch.rand(50, generator=g) * 3
    on_device, on_host = _EpochSums(), 0.0
    for loss in losses:
        on_device.add({"loss": loss.double() * 16, "n": 16})
        on_host += loss.item() * 16
    assert on_device.read() == {"loss": on_host, "n": 16.0 * 50}


def test_deferred_finite_guard_names_the_first_bad_iteration_at_the_end_of_the_epoch() -> None:
    """On CUDA the NaN check waits for the end of the epoch (no host sync per step) and still names the step."""
    from cvpapers.engine.loop import _FiniteGuard

    guard = _FiniteGuard("stage_x", torch.device("cuda"))  # only the policy is CUDA's; the tensors stay on the CPU
    for it, value in enumerate([1.0, 2.0, float("inf"), float("nan")]):
        guard.check(3, it, torch.tensor(value), lr=0.5 / (it + 1))
    with pytest.raises(NonFiniteLossError, match=r"stage_x: loss became inf at epoch 3, iteration 2 \(lr=0.167\)"):
        guard.end_epoch(3)
    guard.end_epoch(4)  # the next epoch starts clean
