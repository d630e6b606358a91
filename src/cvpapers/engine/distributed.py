"""Everything the training loop needs to know about ``torch.distributed``, in one place.

Single-process runs (the default, and all of CI) see world size 1 and rank 0. Under ``torchrun`` the
loop wraps the model in DDP, the batch sources take this rank's share of each epoch (``rank()`` /
``world_size()``), the epoch statistics are all-reduced and only rank 0 logs and saves, with no second
training loop.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return rank() == 0


def wrap_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    if not is_distributed():
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
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


def barrier() -> None:
    if is_distributed():
        dist.barrier()
