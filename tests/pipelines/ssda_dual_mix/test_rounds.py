"""Labelled split and round bookkeeping (ssda_dual_mix.md §3.6, §9.9)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cvpapers.pipelines.ssda_dual_mix.rounds import labelled_split, next_target_set


def test_labelled_split_partitions_the_pool_sorted_and_seeded() -> None:
    lab, unl = labelled_split(400, 4, seed=0)
    assert lab.dtype == np.int64 and unl.dtype == np.int64
    assert len(lab) == 4 and len(unl) == 396
    assert np.array_equal(np.sort(np.concatenate([lab, unl])), np.arange(400))
    assert np.all(np.diff(lab) > 0) and np.all(np.diff(unl) > 0)
    lab2, unl2 = labelled_split(400, 4, seed=0)
    assert np.array_equal(lab, lab2) and np.array_equal(unl, unl2)
    assert not np.array_equal(lab, labelled_split(400, 4, seed=1)[0])


def test_labelled_budgets_with_the_same_seed_are_nested() -> None:
    small, _ = labelled_split(300, 10, seed=3)
    big, _ = labelled_split(300, 50, seed=3)
    assert np.isin(small, big).all()


def test_labelled_split_edge_cases() -> None:
    lab, unl = labelled_split(5, 0, seed=0)
    assert len(lab) == 0 and np.array_equal(unl, np.arange(5))
    lab, unl = labelled_split(5, 5, seed=0)
    assert np.array_equal(lab, np.arange(5)) and len(unl) == 0
    with pytest.raises(ValueError):
        labelled_split(5, 6, seed=0)


def _sets(n_l: int = 3, n_u: int = 5, h: int = 4, w: int = 6):
    rng = np.random.default_rng(0)
    lab_x = rng.integers(0, 256, (n_l, h, w, 3), dtype=np.uint8)
    lab_y = rng.integers(0, 8, (n_l, h, w), dtype=np.uint8)
    unl_x = rng.integers(0, 256, (n_u, h, w, 3), dtype=np.uint8)
    return lab_x, lab_y, unl_x


def _pseudo(n_u: int, round_: int, h: int = 4, w: int = 6) -> np.ndarray:
    rng = np.random.default_rng(100 + round_)
    y = rng.integers(0, 8, (n_u, h, w), dtype=np.uint8)
    y[rng.random((n_u, h, w)) < 0.4] = 255
    return y


def test_next_set_keeps_true_labelled_images_and_adds_every_unlabelled_one_with_its_pseudo_label() -> None:
    lab_x, lab_y, unl_x = _sets()
    pseudo = _pseudo(5, 1)
    x, y, is_pseudo = next_target_set(lab_x, lab_y, unl_x, pseudo)
    assert x.shape == (8, 4, 6, 3) and y.shape == (8, 4, 6) and y.dtype == np.uint8
    assert np.array_equal(is_pseudo, [False] * 3 + [True] * 5)
    assert np.array_equal(x[~is_pseudo], lab_x) and np.array_equal(y[~is_pseudo], lab_y)
    assert np.array_equal(x[is_pseudo], unl_x) and np.array_equal(y[is_pseudo], pseudo)


def test_pseudo_labels_of_a_new_round_replace_the_previous_rounds_instead_of_accumulating() -> None:
    lab_x, lab_y, unl_x = _sets()
    x1, y1, _ = next_target_set(lab_x, lab_y, unl_x, _pseudo(5, 1))
    x2, y2, p2 = next_target_set(lab_x, lab_y, unl_x, _pseudo(5, 2))
    assert len(x1) == len(x2) == 3 + 5  # the set does not grow with the rounds
    assert np.array_equal(y2[p2], _pseudo(5, 2))  # only round-2 labels remain
    assert not np.array_equal(y1[3:], y2[3:])
    assert np.array_equal(y1[:3], y2[:3]) and np.array_equal(y2[:3], lab_y)


def test_true_labels_win_when_an_image_is_both_labelled_and_pseudo_labelled() -> None:
    lab_x, lab_y, _ = _sets()
    lab_ids = np.array([10, 20, 30])
    # A pool passed whole to the pseudo-labeller: ids 20 and 30 are also labelled.
    unl_ids = np.array([5, 20, 30, 40])
    unl_x = np.concatenate([lab_x[:1] * 0, lab_x[1:], lab_x[:1] * 0 + 7])
    pseudo = _pseudo(4, 1)
    x, y, is_pseudo = next_target_set(lab_x, lab_y, unl_x, pseudo, labelled_ids=lab_ids, unlabelled_ids=unl_ids)
    assert len(x) == 5 and int(is_pseudo.sum()) == 2
    assert np.array_equal(y[:3], lab_y)
    assert np.array_equal(y[3:], pseudo[[0, 3]])
    assert np.array_equal(x[3:], unl_x[[0, 3]])


def test_next_set_works_on_torch_tensors_and_casts_pseudo_labels_to_the_true_label_dtype() -> None:
    lab_x, lab_y, unl_x = (torch.from_numpy(a) for a in _sets())
    pseudo = torch.from_numpy(_pseudo(5, 1)).long()
    x, y, is_pseudo = next_target_set(lab_x, lab_y, unl_x, pseudo)
    assert isinstance(x, torch.Tensor) and y.dtype == torch.uint8 and is_pseudo.dtype == torch.bool
    assert torch.equal(y[is_pseudo].long(), pseudo) and torch.equal(y[~is_pseudo], lab_y)
    x_ids, _, p_ids = next_target_set(
        lab_x,
        lab_y,
        unl_x,
        pseudo,
        labelled_ids=torch.tensor([0, 1, 2]),
        unlabelled_ids=torch.tensor([2, 3, 4, 5, 6]),
    )
    assert len(x_ids) == 7 and int(p_ids.sum()) == 4


def test_next_set_rejects_mismatched_inputs() -> None:
    lab_x, lab_y, unl_x = _sets()
    with pytest.raises(ValueError):
        next_target_set(lab_x, lab_y[:2], unl_x, _pseudo(5, 1))
    with pytest.raises(ValueError):
        next_target_set(lab_x, lab_y, unl_x, _pseudo(4, 1))
    with pytest.raises(ValueError):
        next_target_set(lab_x, lab_y, unl_x, _pseudo(5, 1), labelled_ids=np.arange(3))
    with pytest.raises(TypeError):
        next_target_set(lab_x, lab_y, torch.from_numpy(unl_x), torch.from_numpy(_pseudo(5, 1)))
