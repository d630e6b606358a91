"""One seeding function for the whole project."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch.Generator seeded the same way.

    On CPU the same seed gives the same numbers. ``deterministic`` asks cuDNN for deterministic
    kernels (a small speed cost on GPU, none on CPU).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return torch.Generator().manual_seed(seed)


def derive_seed(seed: int, *keys: int | str) -> int:
    """A reproducible sub-seed for a named purpose (an epoch, a baseline arm, a data split)."""
    h = seed & 0xFFFFFFFF
    for key in keys:
        for ch in str(key).encode():
            h = (h * 1000003) ^ ch
            h &= 0xFFFFFFFFFFFF
    return int(h % (2**31 - 1))
