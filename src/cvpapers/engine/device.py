"""Device choice and mixed precision: the only place that branches on CUDA."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """``auto`` → CUDA when present, else CPU; anything else is passed to ``torch.device``."""
    if isinstance(spec, torch.device):
        return spec
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: '{spec}' was requested but CUDA is not available; use 'auto' or 'cpu'")
    return device


def set_cpu_threads(n: int | None) -> None:
    """Intra-op threads for CPU work. On small convolutions and 2-core machines one thread is fastest:
    measured here, vgg_small at batch 500 ran 142 ms/iter with 1 thread and 400-980 ms with 2."""
    if n:
        torch.set_num_threads(int(n))


@contextlib.contextmanager
def autocast(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """bf16 autocast on CUDA (no loss scaling needed), full precision on CPU for exact reproducibility."""
    if enabled and device.type == "cuda":
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
    else:
        yield
