"""The prologue every training or evaluation node shares, written once: ``RunContext.start`` sets the CPU
threads, resolves the device, applies the run's determinism and CUDA speed settings and names the
train-state folder; the context then hands out seeds and
generators derived from the run's seed by purpose, so every stream is reproducible and independent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cvpapers.engine.config import RunParams
from cvpapers.engine.device import Acceleration, configure, resolve_device, set_cpu_threads
from cvpapers.engine.seeding import derive_seed, seed_everything


@dataclass(frozen=True)
class RunContext:
    pipeline: str
    params: RunParams
    device: torch.device
    acceleration: Acceleration

    @classmethod
    def start(cls, params: RunParams, pipeline: str) -> RunContext:
        """``pipeline`` is the registered name being run (a variant's own name), not the package."""
        set_cpu_threads(params.cpu_threads)
        device = resolve_device(params.device)
        return cls(pipeline=pipeline, params=params, device=device,
                   acceleration=configure(device, params.deterministic, params.cuda))

    @property
    def resume(self) -> bool:
        return self.params.resume

    def seed(self, *purpose: int | str) -> int:
        """The run's seed itself, or a sub-seed for a named purpose (``seed("init", cycle)``)."""
        return derive_seed(self.params.seed, *purpose) if purpose else self.params.seed

    def seed_everything(self, *purpose: int | str) -> torch.Generator:
        """Seed Python, NumPy and torch's global streams for ``purpose``; returns a generator seeded alike."""
        return seed_everything(self.seed(*purpose))

    def generator(self, *purpose: int | str) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed(*purpose))

    def numpy_rng(self, *purpose: int | str) -> np.random.Generator:
        return np.random.default_rng(self.seed(*purpose))

    @property
    def checkpoint_dir(self) -> Path:
        return Path(self.params.checkpoint_dir.format(pipeline=self.pipeline))

    def checkpoint_path(self, stage: str) -> Path:
        """Where the loop keeps a stage's train state for ``resume``."""
        return self.checkpoint_dir / f"{stage}.pt"
