"""One seeding function for the whole project."""

from __future__ import annotations

import random
import zlib

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch.Generator seeded the same way.

    On CPU the same seed gives the same numbers. Whether CUDA kernels are deterministic is the run's
    ``deterministic`` choice (:func:`cvpapers.engine.device.configure`), not the seed's.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def derive_seed(seed: int, *keys: int | str) -> int:
    """A reproducible 63-bit sub-seed for a named purpose (a baseline arm, an epoch, a batch).

    Distinct key tuples give unrelated streams (NumPy's SeedSequence hashing); string keys are mapped
    to integers with CRC-32, which is stable across processes (unlike ``hash``).
    """
    words = [int(k) if isinstance(k, int) else zlib.crc32(str(k).encode()) for k in (seed, *keys)]
    if any(w < 0 for w in words):
        raise ValueError(f"seeds must be non-negative, got {words}")
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
