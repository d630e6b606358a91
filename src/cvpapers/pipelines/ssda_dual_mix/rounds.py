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


def labelled_split(n_pool: int, n_labelled: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded choice of the labelled subset of a target pool → ``(labelled_idx, unlabelled_idx)``.

    A seeded permutation of ``range(n_pool)``: its first ``n_labelled`` entries are labelled, the
    rest unlabelled; both returned sorted (int64). Taking a prefix of one permutation makes budgets
    nested: with the same seed and pool, the 200-image labelled set contains the 100-image one, so a
    label-budget sweep compares like with like.
    """
    if not 0 <= n_labelled <= n_pool:
        raise ValueError(f"need 0 <= n_labelled <= n_pool, got n_labelled={n_labelled}, n_pool={n_pool}")
    perm = torch.randperm(n_pool, generator=torch.Generator().manual_seed(int(seed))).numpy()
    return np.sort(perm[:n_labelled]).astype(np.int64), np.sort(perm[n_labelled:]).astype(np.int64)


def _concat(a: Array, b: Array) -> Array:
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return torch.cat((a, b.to(a.dtype)), dim=0)
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return np.concatenate((a, b.astype(a.dtype, copy=False)), axis=0)
    raise TypeError(f"mix of array kinds: {type(a).__name__} and {type(b).__name__}")


def next_target_set(
    labelled_images: Array,
    labelled_labels: Array,
    unlabelled_images: Array,
    pseudo_labels: Array,
    *,
    labelled_ids: Array | None = None,
    unlabelled_ids: Array | None = None,
) -> tuple[Array, Array, Array]:
    """Build ``D_T^{r+1}`` → ``(images, labels, is_pseudo)``: true-labelled first, then pseudo-labelled.

    Labels come back in the true labels' dtype (uint8 with ignore 255); ``is_pseudo`` is a bool
    vector of the same kind as the inputs. With ``labelled_ids``/``unlabelled_ids`` given, unlabelled
    entries whose id is also labelled are dropped (the true label wins over a pseudo label); the
    ids of the result are then ``labelled_ids`` followed by the kept ``unlabelled_ids`` in order.
    """
    if len(labelled_images) != len(labelled_labels):
        raise ValueError(f"{len(labelled_images)} labelled images but {len(labelled_labels)} labels")
    if len(unlabelled_images) != len(pseudo_labels):
        raise ValueError(f"{len(unlabelled_images)} unlabelled images but {len(pseudo_labels)} pseudo labels")
    if tuple(labelled_labels.shape[1:]) != tuple(pseudo_labels.shape[1:]):
        raise ValueError(
            f"label maps differ in size: true {tuple(labelled_labels.shape[1:])}, "
            f"pseudo {tuple(pseudo_labels.shape[1:])}"
        )
    if (labelled_ids is None) != (unlabelled_ids is None):
        raise ValueError("give both labelled_ids and unlabelled_ids, or neither")
    if labelled_ids is not None and unlabelled_ids is not None:
        lab_ids = np.asarray(labelled_ids.cpu() if isinstance(labelled_ids, Tensor) else labelled_ids)
        unl_ids = np.asarray(unlabelled_ids.cpu() if isinstance(unlabelled_ids, Tensor) else unlabelled_ids)
        if len(unl_ids) != len(unlabelled_images) or len(lab_ids) != len(labelled_images):
            raise ValueError("ids must have one entry per image")
        keep = ~np.isin(unl_ids, lab_ids)
        if not keep.all():
            index = torch.from_numpy(np.flatnonzero(keep)) if isinstance(unlabelled_images, Tensor) else keep
            unlabelled_images, pseudo_labels = unlabelled_images[index], pseudo_labels[index]
    images = _concat(labelled_images, unlabelled_images)
    labels = _concat(labelled_labels, pseudo_labels)
    n_true, n_pseudo = len(labelled_images), len(unlabelled_images)
    if isinstance(images, Tensor):
        is_pseudo: Array = torch.cat(
            (torch.zeros(n_true, dtype=torch.bool), torch.ones(n_pseudo, dtype=torch.bool))
        ).to(images.device)
    else:
        is_pseudo = np.concatenate((np.zeros(n_true, dtype=bool), np.ones(n_pseudo, dtype=bool)))
    return images, labels, is_pseudo


def next_target_arrays(labelled: dict[str, np.ndarray], unlabelled: dict[str, np.ndarray],
                       pseudo: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """:func:`next_target_set` on the pipeline's array dicts (``images``, ``labels`` / pseudo ``labels``, ``ids``)
    → ``D_T^{r+1}`` as ``{"images", "labels", "ids", "is_pseudo"}``."""
    images, labels, is_pseudo = next_target_set(labelled["images"], labelled["labels"], unlabelled["images"],
                                                pseudo["labels"], labelled_ids=labelled["ids"],
                                                unlabelled_ids=unlabelled["ids"])
    # An unlabelled image that is also labelled keeps its true label (next_target_set drops its copy).
    ids = np.concatenate([labelled["ids"], unlabelled["ids"][~np.isin(unlabelled["ids"], labelled["ids"])]])
    return {"images": np.asarray(images), "labels": np.asarray(labels), "ids": ids, "is_pseudo": np.asarray(is_pseudo)}
