"""Informative-image selection and the active-learning bookkeeping (spec §3.6–3.7, official code).

The image score is the mean of the k largest anchor discrepancies of f1 and f2; the MIL weights are
not used here (pitfall 3). X_L only grows; X_U is a fresh random subset of the unlabelled pool of
|X_L| images each cycle, padded with labelled images when the pool runs short (pitfall 11).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor


def anchor_uncertainty(cls1: Tensor, cls2: Tensor, norm: str = "l2") -> Tensor:
    """u[i] = (1/C) Σ_c (σ(z1) − σ(z2))² (code, "l2") or |σ(z1) − σ(z2)| (paper, "l1"); (N, A, C) → (N, A)."""
    gap = torch.sigmoid(cls1.float()) - torch.sigmoid(cls2.float())
    if norm == "l2":
        return gap.square().mean(-1)
    if norm == "l1":
        return gap.abs().mean(-1)
    raise ValueError(f"uncertainty_norm: unknown '{norm}' (allowed: l2, l1)")


def image_uncertainty(u: Tensor, k: int, valid: Tensor | None = None) -> Tensor:
    """U(x) = mean of the k largest anchor uncertainties of each image (k ≥ #anchors: the plain mean).

    ``valid`` (N, A) bool: only these anchors of each image count (in a padded batch of differently sized
    images, the anchors a batch of one would have had), so U(x) does not depend on the batch."""
    if valid is None:
        return u.topk(min(k, u.shape[1]), dim=1).values.mean(1)
    top = u.masked_fill(~valid, float("-inf")).topk(min(k, u.shape[1]), dim=1).values
    return torch.where(torch.isfinite(top), top, 0.0).sum(1) / valid.sum(1).clamp(min=1, max=k)


def initial_split(pool_size: int, n_initial: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The code's start: shuffle the pool with the seed; X_L0 = the first n, X_U0 = the last n."""
    order = np.random.default_rng(seed).permutation(pool_size)
    return order[:n_initial].copy(), order[-n_initial:].copy()


def select_top(scores: np.ndarray, labelled: Sequence[int], size: int) -> np.ndarray:
    """The ``size`` images outside X_L with the largest score; ties go to the lower pool index."""
    candidates = np.setdiff1d(np.arange(len(scores)), np.asarray(labelled, dtype=np.int64))
    _check_enough(len(candidates), size)
    # An image skipped as unreadable has no score (NaN): it comes last.
    key = -scores[candidates]
    order = np.lexsort((candidates, np.where(np.isnan(key), np.inf, key)))
    return candidates[order[:size]]


def select_random(pool_size: int, labelled: Sequence[int], size: int, rng: np.random.Generator) -> np.ndarray:
    """The Random baseline: ``size`` images drawn uniformly from outside X_L."""
    candidates = np.setdiff1d(np.arange(pool_size), np.asarray(labelled, dtype=np.int64))
    _check_enough(len(candidates), size)
    return rng.choice(candidates, size, replace=False)


def next_unlabelled(pool_size: int, labelled: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """X_U for the next cycle: |X_L| random unlabelled images, padded with random labelled ones if needed."""
    labelled = np.asarray(labelled, dtype=np.int64)
    remaining = np.setdiff1d(np.arange(pool_size), labelled)
    rng.shuffle(remaining)
    chosen = remaining[: len(labelled)]
    if len(chosen) < len(labelled):
        chosen = np.concatenate([chosen, rng.choice(labelled, len(labelled) - len(chosen), replace=False)])
    return chosen


def next_plan(plan: Mapping[str, Any], selected: np.ndarray, pool_size: int, rng: np.random.Generator,
              ) -> dict[str, Any]:
    """The next cycle's plan: X_L grows by ``selected``, X_U is drawn afresh (:func:`next_unlabelled`)."""
    labelled = np.concatenate([np.asarray(plan["labelled"], dtype=np.int64), selected])
    unlabelled = next_unlabelled(pool_size, labelled, rng)
    return {**plan, "cycle": plan["cycle"] + 1, "labelled": labelled.tolist(), "unlabelled": unlabelled.tolist(),
            "selected": selected.tolist()}


def _check_enough(available: int, size: int) -> None:
    if size > available:
        raise ValueError(f"cannot select {size} images: only {available} are left outside the labelled set")
