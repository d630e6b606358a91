"""The project's one training loop.

Every pipeline trains through :func:`fit` with its own *step function* (classification today;
segmentation, restoration and detection later): the loop owns epochs, device moves, bf16 autocast,
the NaN/inf guard, per-iteration lr stepping, per-epoch evaluation, metric curves, progress bars,
best-epoch tracking, and the end-of-epoch training checkpoint that ``resume: true`` continues from.
Under ``torch.distributed`` the batch source shards the data (each rank iterates its own share with
the same iteration indices, like DistributedSampler), so schedules and callbacks stay in step across
ranks. Algorithms hook in through :class:`LoopCallback` (e.g. DCFF recomputes its fusion matrices at the
start of an epoch or every few iterations) and their state travels in the same checkpoint.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from cvpapers.engine import distributed
from cvpapers.engine.checkpoint import CheckpointError, atomic_save, display_path, safe_load
from cvpapers.engine.device import acceleration, autocast, memory_format_of, to_memory_format
from cvpapers.engine.progress import progress
from cvpapers.engine.tracking import MetricLogger

log = logging.getLogger(__name__)

Batch = Any
StepFn = Callable[[nn.Module, Batch], tuple[torch.Tensor, dict[str, "float | torch.Tensor"]]]
"""step(model, batch) -> (loss to back-propagate, sums over the batch, e.g. {"loss": ..., "correct": ..., "n": ...}).

A sum may be a detached 0-d tensor: the loop accumulates those on the device in float64 (the same
additions, in the same order, as Python floats) and reads them once per epoch, so a CUDA step never waits
for the host. Use float64 arithmetic for a product like ``loss × n`` to match ``loss.item() * n``."""


class BatchSource(Protocol):
    def batches(self, epoch: int) -> Iterable[Batch]: ...

    def __len__(self) -> int: ...


class LoopCallback:
    """Algorithm hooks into :func:`fit`; every method is optional."""

    def on_epoch_start(self, epoch: int, model: nn.Module) -> None:
        return None

    def on_iteration_start(self, epoch: int, iteration: int, iters_per_epoch: int, model: nn.Module) -> None:
        return None

    def epoch_metrics(self, epoch: int) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


class NonFiniteLossError(FloatingPointError):
    pass


class ResumeMismatchError(ValueError):
    pass


@dataclass
class FitConfig:
    stage: str
    epochs: int
    checkpoint_path: Path | None = None
    resume: bool = False
    fingerprint: dict[str, Any] = field(default_factory=dict)
    track_best: str | None = None  # metric name to maximise, e.g. "test_acc"
    amp: bool = True
    grad_clip: float | None = None


@dataclass
class FitResult:
    history: list[dict[str, float]]
    best_epoch: int | None = None
    best_metrics: dict[str, float] = field(default_factory=dict)
    best_state: dict[str, torch.Tensor] | None = None
    resumed_from: int | None = None

    @property
    def last(self) -> dict[str, float]:
        return self.history[-1] if self.history else {}


def _to_device(batch: Batch, device: torch.device) -> Batch:
    if isinstance(batch, torch.Tensor):
        return memory_format_of(batch.to(device, non_blocking=True))
    if isinstance(batch, list | tuple):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


class _EpochSums:
    """The step sums of one epoch; tensors stay on the device until :meth:`read` (one transfer per epoch)."""

    def __init__(self) -> None:
        self.sums: dict[str, float | torch.Tensor] = {}

    def add(self, stats: dict[str, float | torch.Tensor]) -> None:
        for k, v in stats.items():
            v = v.detach().to(torch.float64) if isinstance(v, torch.Tensor) else float(v)
            self.sums[k] = self.sums[k] + v if k in self.sums else v

    def read(self) -> dict[str, float]:
        keys = [k for k, v in self.sums.items() if isinstance(v, torch.Tensor)]
        values = torch.stack([self.sums[k].reshape(()) for k in keys]).tolist() if keys else []
        return {**self.sums, **dict(zip(keys, values, strict=True))}  # type: ignore[dict-item]


class _FiniteGuard:
    """Stops training when the loss turns NaN/inf, naming the epoch, iteration and lr. On a CPU it checks every
    step (free); on CUDA it keeps the losses on the device and checks them at the end of the epoch, before
    anything is saved, so the step never waits for the host."""

    def __init__(self, stage: str, device: torch.device) -> None:
        self.stage, self.deferred = stage, device.type == "cuda"
        self.pending: list[tuple[int, torch.Tensor, float]] = []

    def check(self, epoch: int, it: int, loss: torch.Tensor, lr: float) -> None:
        if self.deferred:
            self.pending.append((it, loss.detach(), lr))
        elif not torch.isfinite(loss.detach()).all():
            self._raise(epoch, it, loss, lr)

    def end_epoch(self, epoch: int) -> None:
        pending, self.pending = self.pending, []
        if not pending:
            return
        finite = torch.isfinite(torch.stack([loss.reshape(()) for _, loss, _ in pending])).tolist()
        if not all(finite):
            it, loss, lr = pending[finite.index(False)]
            self._raise(epoch, it, loss, lr)

    def _raise(self, epoch: int, it: int, loss: torch.Tensor, lr: float) -> None:
        raise NonFiniteLossError(
            f"{self.stage}: loss became {loss.item()} at epoch {epoch}, iteration {it} "
            f"(lr={lr:.3g}); lower the learning rate or check the data"
        )


def _training_module(model: nn.Module, device: torch.device) -> nn.Module:
    """The module the steps call: the model in the run's memory format, wrapped for DDP, compiled when asked
    (evaluation and checkpoints use ``model`` itself, which shares the parameters)."""
    train_model = distributed.wrap_model(to_memory_format(model), device)
    return torch.compile(train_model) if acceleration().compile else train_model


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in distributed.unwrap_model(model).state_dict().items()}


def fit(
    model: nn.Module,
    train: BatchSource,
    step_fn: StepFn,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    config: FitConfig,
    device: torch.device,
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
    callbacks: Sequence[LoopCallback] = (),
    logger: MetricLogger | None = None,
) -> FitResult:
    """Train ``model`` for ``config.epochs`` epochs; continue from the checkpoint when resuming."""
    stage = config.stage
    result = FitResult(history=[])
    start_epoch = 0
    ckpt_path = Path(config.checkpoint_path) if config.checkpoint_path else None
    if config.resume and ckpt_path is not None and ckpt_path.is_file():
        start_epoch = _restore(ckpt_path, model, optimizer, scheduler, callbacks, config, result)
        log.info("%s: resumed from %s at epoch %d/%d", stage, ckpt_path, start_epoch, config.epochs)
    # Every rank reads rank 0's checkpoint (on several machines checkpoint_dir must be shared storage):
    # ranks starting at different epochs would wait on each other forever, so they stop here instead.
    distributed.agree(start_epoch, f"{stage}: the epoch to resume from (is checkpoint_dir on shared storage?)", device)
    if result.resumed_from is not None:
        if logger is not None and distributed.is_main_process():
            # The new MLflow run gets the restored epochs too, so its curves are complete.
            for epoch, record in enumerate(result.history):
                logger.log(record, step=epoch)
            logger.flush()
    train_model = _training_module(model, device)
    guard = _FiniteGuard(stage, device)
    iters = len(train)
    best_value = result.best_metrics.get(config.track_best or "", -math.inf)

    for epoch in range(start_epoch, config.epochs):
        t0 = time.perf_counter()
        train_model.train()
        for cb in callbacks:
            cb.on_epoch_start(epoch, model)
        epoch_sums = _EpochSums()
        lr = optimizer.param_groups[0]["lr"]
        batches = progress(train.batches(epoch), total=iters, desc=f"{stage} {epoch + 1}/{config.epochs}",
                           disable=not distributed.is_main_process())
        for it, batch in enumerate(batches):
            for cb in callbacks:
                cb.on_iteration_start(epoch, it, iters, model)
            batch = _to_device(batch, device)
            with autocast(device, config.amp):
                loss, stats = step_fn(train_model, batch)
            guard.check(epoch, it, loss, optimizer.param_groups[0]["lr"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            epoch_sums.add(stats)
        guard.end_epoch(epoch)
        sums = distributed.all_reduce_sums(epoch_sums.read(), device)
        distributed.broadcast_buffers(model)  # rank 0's BatchNorm statistics: every rank evaluates the same model
        n = max(sums.pop("n", 0.0), 1.0)
        record: dict[str, float] = {f"train_{k}": v / n for k, v in sums.items()}
        record["lr"] = lr
        for cb in callbacks:
            record.update(cb.epoch_metrics(epoch))
        if evaluate is not None:
            record.update(evaluate(model))
        record["epoch_time_s"] = time.perf_counter() - t0
        result.history.append(record)

        if config.track_best and record.get(config.track_best, -math.inf) > best_value:
            best_value = record[config.track_best]
            result.best_epoch, result.best_metrics = epoch, dict(record)
            result.best_state = _cpu_state(model)

        if distributed.is_main_process():
            if logger is not None:
                logger.log(record, step=epoch)
                logger.flush()
            if ckpt_path is not None:
                _save(ckpt_path, model, optimizer, scheduler, callbacks, config, result, epoch)
        distributed.barrier()
    distributed.check_in_step(model, stage)
    return result


def _save(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    callbacks: Sequence[LoopCallback],
    config: FitConfig,
    result: FitResult,
    epoch: int,
) -> None:
    atomic_save(
        {
            "format": "cvpapers.train/1",
            "stage": config.stage,
            "epoch": epoch,
            "epochs": config.epochs,
            "fingerprint": copy.deepcopy(config.fingerprint),
            "model": _cpu_state(model),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "callbacks": [cb.state_dict() for cb in callbacks],
            "history": result.history,
            "best_epoch": result.best_epoch,
            "best_metrics": result.best_metrics,
            "best_state": result.best_state,
        },
        path,
    )


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 0.1}}`` → ``{"train.lr": 0.1}``: a mismatch is named by its one setting."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


_ABSENT = object()


def setting_differences(saved: dict[str, Any], now: dict[str, Any], limit: int = 5) -> list[str]:
    """The settings (dotted leaves) on which two fingerprints differ, one line each:
    ``train.lr: 0.05 (checkpoint) vs 0.01 (now)``. One change recorded under several names (a stage's ``lr``
    and ``train.lr``) is one line, named by its most specific key."""
    a, b = _flat(saved), _flat(now)
    keys = [k for k in b if a.get(k, _ABSENT) != b[k]] + [k for k in a if k not in b]
    show = {k: ("(absent)" if k not in a else _show(a[k]), "(absent)" if k not in b else _show(b[k])) for k in keys}
    groups: dict[tuple[str, str], list[str]] = {}
    for k in keys:
        groups.setdefault(show[k], []).append(k)
    lines = []
    for (old, new), names in groups.items():
        names = sorted(names, key=lambda k: (-k.count("."), keys.index(k)))
        also = f" (also recorded as {', '.join(names[1:])})" if len(names) > 1 else ""
        lines.append(f"{names[0]}: {old} (checkpoint) vs {new} (now){also}")
    if len(lines) > limit:
        lines = [*lines[:limit], f"… and {len(lines) - limit} more"]
    return lines


def _refuse(stage: str, path: Path, problem: str, *details: str, keep: str = "") -> ResumeMismatchError:
    """The one resume refusal: the file, what is wrong, and the remedy that retrains this stage alone."""
    import shlex

    shown = display_path(path)
    lines = [f"{stage}: cannot resume from {shown}: {problem}", *(f"    {d}" for d in details)]
    lines.append(f"  {keep}To retrain this stage alone, delete that file and run again with resume=true "
                 "(the stages already finished keep their train state and are not retrained):")
    lines.append(f"    rm {shlex.quote(shown)}")
    return ResumeMismatchError("\n".join(lines))


def _restore(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    callbacks: Sequence[LoopCallback],
    config: FitConfig,
    result: FitResult,
) -> int:
    stage = config.stage
    try:
        state = safe_load(path)
    except CheckpointError as err:
        raise _refuse(stage, path, err.problem) from err
    if not isinstance(state, dict) or state.get("format") != "cvpapers.train/1":
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise _refuse(stage, path, f"it is not a cvpapers training checkpoint (format {found!r})")
    saved = {**(state.get("fingerprint") or {}), "epochs": state.get("epochs")}
    now = {**config.fingerprint, "epochs": config.epochs}
    diff = setting_differences(saved, now)
    if diff:
        raise _refuse(stage, path, "it was written with other settings:", *diff,
                      keep="Run with the checkpoint's values to continue it. ")
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        for cb, cb_state in zip(callbacks, state.get("callbacks") or [], strict=False):
            cb.load_state_dict(cb_state)
    except (KeyError, RuntimeError, ValueError, TypeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise _refuse(stage, path, f"its state does not fit this stage ({type(err).__name__}: {first[:200]})") from err
    result.history = list(state.get("history") or [])
    result.best_epoch = state.get("best_epoch")
    result.best_metrics = dict(state.get("best_metrics") or {})
    result.best_state = state.get("best_state")
    result.resumed_from = int(state["epoch"]) + 1
    return int(state["epoch"]) + 1
