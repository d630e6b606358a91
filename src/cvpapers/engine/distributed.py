"""Everything the training loop needs to know about ``torch.distributed``, in one place.

Single-process runs (the default, and all of CI but one test) see world size 1 and rank 0, and every
function here is a no-op for them. Under ``torchrun`` the project hook calls :func:`init_from_env` when
the Kedro session starts (gloo on CPU, NCCL for CUDA tensors, one GPU per ``LOCAL_RANK``); then the loop
wraps the model in DDP, the batch sources take this rank's share of each epoch (``rank()`` /
``world_size()``), the epoch statistics are all-reduced, rank 0's buffers (BatchNorm statistics) are
broadcast before each evaluation, only rank 0 logs and saves, and at the end of a fit the ranks prove
they hold the same weights (:func:`check_in_step`), with no second training loop.
"""

from __future__ import annotations

import atexit
import logging
import os
from datetime import timedelta

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


class RanksOutOfStepError(RuntimeError):
    """The ranks of one run disagree on something they must share (weights, the epoch to resume from)."""


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return rank() == 0


# --------------------------------------------------------------------------------------------------------
# process group


def launch_rank() -> int:
    """This process's rank as set by the launcher (``torchrun`` exports ``RANK``); 0 without one.

    Readable before the process group exists, e.g. when ``settings.py`` decides which hooks to register.
    """
    return int(os.environ.get("RANK", "0") or 0)


def launched() -> bool:
    """True when a launcher started this process as one of several (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


def init_from_env(timeout_s: float | None = None) -> bool:
    """Join the process group ``torchrun`` describes in the environment; False when there is none.

    Backend: ``gloo`` without CUDA; with CUDA ``cpu:gloo,cuda:nccl`` (NCCL for the training tensors, gloo
    should a pipeline run on ``device: cpu``), and the current device is ``cuda:LOCAL_RANK``, so
    ``device: auto`` (``cuda``) puts each rank on its own GPU.
    """
    if not launched() or not dist.is_available():
        return False
    if is_distributed():
        return True
    kwargs: dict = {}
    if timeout_s is not None:
        kwargs["timeout"] = timedelta(seconds=timeout_s)
    if torch.cuda.is_available():
        local_rank = int(os.environ.get("LOCAL_RANK", "0") or 0)
        torch.cuda.set_device(local_rank)
        dist.init_process_group("cpu:gloo,cuda:nccl", **kwargs)
    else:
        dist.init_process_group("gloo", **kwargs)
    atexit.register(destroy)  # also when the run fails before the pipeline's own end
    if is_main_process():
        log.info("%d ranks joined the process group (%s)", world_size(), dist.get_backend())
    return True


def destroy() -> None:
    """Leave the process group (idempotent)."""
    if is_distributed():
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


# --------------------------------------------------------------------------------------------------------
# the training loop's collectives


def wrap_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    if not is_distributed():
        return model
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        ids = [device.index if device.index is not None else torch.cuda.current_device()]
    else:
        ids = None
    return DistributedDataParallel(model, device_ids=ids)


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") and is_distributed() else model


def all_reduce_sums(values: dict[str, float], device: torch.device) -> dict[str, float]:
    if not is_distributed():
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(keys, t.tolist(), strict=True))


def broadcast_buffers(model: torch.nn.Module) -> None:
    """Rank 0's buffers (BatchNorm running statistics, fusion matrices) on every rank.

    DDP broadcasts them at the start of each forward, so after the last training step of an epoch each
    rank holds its own; this makes evaluation, best-epoch choice and the checkpoint agree across ranks.
    """
    if not is_distributed():
        return
    for buf in unwrap_model(model).buffers():
        dist.broadcast(buf.data, src=0)


def agree(value: int, what: str, device: torch.device | None = None) -> int:
    """``value``, checked to be the same on every rank (else :class:`RanksOutOfStepError` naming ``what``)."""
    if not is_distributed():
        return value
    t = torch.tensor([value], dtype=torch.int64, device=device)
    values = [torch.zeros_like(t) for _ in range(world_size())]
    dist.all_gather(values, t)
    seen = [int(v.item()) for v in values]
    if len(set(seen)) > 1:
        raise RanksOutOfStepError(f"{what} differs across ranks: {seen} (rank 0 first)")
    return value


def checksums(model: torch.nn.Module) -> torch.Tensor:
    """One float64 sum per floating-point parameter and buffer: a cheap fingerprint of the weights."""
    tensors = [t for t in unwrap_model(model).state_dict().values() if t.is_floating_point()]
    return torch.stack([t.detach().double().sum() for t in tensors]) if tensors else torch.zeros(1, dtype=torch.float64)


def check_in_step(model: torch.nn.Module, what: str) -> list[float]:
    """Prove every rank holds rank 0's weights; returns the per-rank totals (logged by rank 0).

    Gradients are all-reduced and buffers broadcast, so the ranks must agree to the last bit; a difference
    is a bug (e.g. a callback that changes weights from rank-local data) and stops the run.
    """
    if not is_distributed():
        return []
    local = checksums(model)  # on the weights' device: NCCL for CUDA tensors, gloo for CPU ones
    gathered = [torch.zeros_like(local) for _ in range(world_size())]
    dist.all_gather(gathered, local)
    totals = [float(g.sum().item()) for g in gathered]
    diverged = [r for r, g in enumerate(gathered) if not torch.equal(g, gathered[0])]
    if diverged:
        worst = max(float((gathered[r] - gathered[0]).abs().max().item()) for r in diverged)
        raise RanksOutOfStepError(
            f"{what}: ranks {diverged} hold other weights than rank 0 (largest per-tensor difference {worst:.3g})"
        )
    if is_main_process():
        log.info("%s: %d ranks in step, weight checksums %s", what, world_size(), " ".join(f"{t:.17g}" for t in totals))
    return totals
