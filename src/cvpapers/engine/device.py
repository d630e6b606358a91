"""Device choice, determinism and mixed precision: the only place that branches on CUDA.

:func:`configure` turns a run's ``deterministic`` and ``cuda`` settings into backend flags and an
:class:`Acceleration` that the training loop reads (``RunContext.start`` calls it at the start of every node,
so two pipelines in one ``kedro run`` each get their own settings).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


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


@dataclass(frozen=True)
class Acceleration:
    """How the node being run uses its device. The defaults are the CPU's: deterministic, full precision."""

    device_type: str = "cpu"
    deterministic: bool = True
    amp: bool = False
    tf32: bool = False
    channels_last: bool = False
    compile: bool = False

    def tags(self) -> dict[str, str]:
        """The MLflow tags that record it (``deterministic`` as resolved, not as asked)."""
        on = [name for name in ("amp", "tf32", "channels_last", "compile") if getattr(self, name)]
        return {"deterministic": str(self.deterministic).lower(), "accel": ",".join(on) or "none"}


_current = Acceleration()


def resolve_deterministic(deterministic: bool | str, device: torch.device) -> bool:
    """``auto``: deterministic on CPU (where it costs nothing), fast kernels on CUDA."""
    return device.type != "cuda" if deterministic == "auto" else bool(deterministic)


def acceleration_for(device: torch.device, deterministic: bool | str = "auto", cuda: Any = None) -> Acceleration:
    """What a run with these settings does on ``device``; ``cuda`` carries ``amp``, ``tf32``, ``channels_last``
    and ``compile`` (engine.config.CudaParams). On a CPU they are all off, so CPU results never depend on them."""
    on_cuda = device.type == "cuda"

    def want(name: str) -> bool:
        return bool(on_cuda and cuda is not None and getattr(cuda, name))

    return Acceleration(device_type=device.type, deterministic=resolve_deterministic(deterministic, device),
                        amp=want("amp"), tf32=want("tf32"), channels_last=want("channels_last"),
                        compile=want("compile"))


def configure(device: torch.device, deterministic: bool | str = "auto", cuda: Any = None) -> Acceleration:
    """Set the cuDNN/cuBLAS flags for ``device`` and remember the acceleration the training loop applies."""
    global _current
    accel = acceleration_for(device, deterministic, cuda)
    torch.backends.cudnn.deterministic = accel.deterministic
    torch.backends.cudnn.benchmark = device.type == "cuda" and not accel.deterministic
    if device.type == "cuda":
        if accel.deterministic:  # cuBLAS needs a fixed workspace for reproducible matmuls
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(accel.deterministic, warn_only=True)
        torch.backends.cuda.matmul.allow_tf32 = accel.tf32
        torch.backends.cudnn.allow_tf32 = accel.tf32
    _current = accel
    return accel


def acceleration() -> Acceleration:
    """What the running node configured (the CPU defaults outside a node)."""
    return _current


def device_constant(build: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """Cache a small constant tensor (filter banks, kernels) per argument tuple, e.g. (channels, dtype, device).

    Building it from Python numbers on every call costs a host-to-device copy per call on CUDA, which stalls
    the step. The cached tensor is made outside ``inference_mode`` (so a first call during evaluation does not
    leave a tensor autograd refuses to save) and must be treated as read-only."""

    @functools.lru_cache(maxsize=128)
    @functools.wraps(build)
    def cached(*args: Any) -> torch.Tensor:
        with torch.inference_mode(False), torch.no_grad():
            return build(*args)

    @functools.wraps(build)
    def constant(*args: Any) -> torch.Tensor:
        # An export/compile trace sees fake tensors: caching one would poison every later eager call.
        if torch.compiler.is_compiling():
            return build(*args)
        return cached(*args)

    return constant


@contextlib.contextmanager
def autocast(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """bf16 autocast on CUDA (no loss scaling needed) unless the run set ``cuda.amp: false``; full precision
    on CPU for exact reproducibility."""
    if enabled and device.type == "cuda" and (_current.device_type != "cuda" or _current.amp):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
    else:
        yield


def to_memory_format(model: nn.Module) -> nn.Module:
    """The model in channels-last layout when the run asked for it on CUDA (in place, as ``Module.to``)."""
    return model.to(memory_format=torch.channels_last) if _current.channels_last else model


def memory_format_of(batch: torch.Tensor) -> torch.Tensor:
    """A 4-d image batch in the layout of the model (channels last when asked); anything else unchanged."""
    if _current.channels_last and batch.dim() == 4 and batch.is_floating_point():
        return batch.contiguous(memory_format=torch.channels_last)
    return batch
