"""Bookkeeping of DDM's labelled split and progressive rounds (``papers/ssda_dual_mix.md`` §3.6).

``D_T^{r+1} = D_T ∪ {(x^u, ŷ^u_r)}``: the true-labelled images keep their true labels, every
unlabelled image joins with the pseudo label of the *newest* student; round r's pseudo labels
replace round r−1's rather than accumulating, because the next set is always rebuilt from ``D_T``
and the current pseudo labels only. The functions are stateless so a Kedro node per round can call
them with catalog inputs.

Arrays may be NumPy or torch (one kind per call); the images' layout is free as long as dim 0
indexes images.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

Array = np.ndarray | Tensor


def labeled_split(n_pool: int, n_labeled: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded choice of the labelled subset of a target pool → ``(labeled_idx, unlabeled_idx)``.

    A seeded permutation of ``range(n_pool)``: its first ``n_labeled`` entries are labelled, the
    rest unlabelled; both returned sorted (int64). Taking a prefix of one permutation makes budgets
    nested: with the same seed and pool, the 200-image labelled set contains the 100-image one, so a
    label-budget sweep compares like with like.
    """
    if not 0 <= n_labeled <= n_pool:
        raise ValueError(f"need 0 <= n_labeled <= n_pool, got n_labeled={n_labeled}, n_pool={n_pool}")
    perm = torch.randperm(n_pool, generator=torch.Generator().manual_seed(int(seed))).numpy()
    return np.sort(perm[:n_labeled]).astype(np.int64), np.sort(perm[n_labeled:]).astype(np.int64)


def _concat(a: Array, b: Array) -> Array:
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return torch.cat((a, b.to(a.dtype)), dim=0)
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return np.concatenate((a, b.astype(a.dtype, copy=False)), axis=0)
    raise TypeError(f"mix of array kinds: {type(a).__name__} and {type(b).__name__}")


def next_target_set(
    labeled_images: Array,
    labeled_labels: Array,
    unlabeled_images: Array,
    pseudo_labels: Array,
    *,
    labeled_ids: Array | None = None,
    unlabeled_ids: Array | None = None,
) -> tuple[Array, Array, Array]:
    """Build ``D_T^{r+1}`` → ``(images, labels, is_pseudo)``: true-labelled first, then pseudo-labelled.

    Labels come back in the true labels' dtype (uint8 with ignore 255); ``is_pseudo`` is a bool
    vector of the same kind as the inputs. With ``labeled_ids``/``unlabeled_ids`` given, unlabelled
    entries whose id is also labelled are dropped (the true label wins over a pseudo label); the
    ids of the result are then ``labeled_ids`` followed by the kept ``unlabeled_ids`` in order.
    """
    if len(labeled_images) != len(labeled_labels):
        raise ValueError(f"{len(labeled_images)} labelled images but {len(labeled_labels)} labels")
    if len(unlabeled_images) != len(pseudo_labels):
        raise ValueError(f"{len(unlabeled_images)} unlabelled images but {len(pseudo_labels)} pseudo labels")
    if tuple(labeled_labels.shape[1:]) != tuple(pseudo_labels.shape[1:]):
        raise ValueError(
            f"label maps differ in size: true {tuple(labeled_labels.shape[1:])}, "
            f"pseudo {tuple(pseudo_labels.shape[1:])}"
        )
    if (labeled_ids is None) != (unlabeled_ids is None):
        raise ValueError("give both labeled_ids and unlabeled_ids, or neither")
    if labeled_ids is not None and unlabeled_ids is not None:
        lab_ids = np.asarray(labeled_ids.cpu() if isinstance(labeled_ids, Tensor) else labeled_ids)
        unl_ids = np.asarray(unlabeled_ids.cpu() if isinstance(unlabeled_ids, Tensor) else unlabeled_ids)
        if len(unl_ids) != len(unlabeled_images) or len(lab_ids) != len(labeled_images):
            raise ValueError("ids must have one entry per image")
        keep = ~np.isin(unl_ids, lab_ids)
        if not keep.all():
            index = torch.from_numpy(np.flatnonzero(keep)) if isinstance(unlabeled_images, Tensor) else keep
            unlabeled_images, pseudo_labels = unlabeled_images[index], pseudo_labels[index]
    images = _concat(labeled_images, unlabeled_images)
    labels = _concat(labeled_labels, pseudo_labels)
    n_true, n_pseudo = len(labeled_images), len(unlabeled_images)
    if isinstance(images, Tensor):
        is_pseudo: Array = torch.cat(
            (torch.zeros(n_true, dtype=torch.bool), torch.ones(n_pseudo, dtype=torch.bool))
        ).to(images.device)
    else:
        is_pseudo = np.concatenate((np.zeros(n_true, dtype=bool), np.ones(n_pseudo, dtype=bool)))
    return images, labels, is_pseudo
