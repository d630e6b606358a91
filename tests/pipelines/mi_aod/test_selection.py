"""Selection and bookkeeping (spec §3.6–3.7, §9.4, §9.7)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cvpapers.pipelines.mi_aod.selection import (
    anchor_uncertainty,
    image_uncertainty,
    initial_split,
    next_plan,
    next_unlabelled,
    select_random,
    select_top,
)


def test_identical_classifiers_give_zero_uncertainty_for_every_image() -> None:
    z = torch.randn(5, 100, 4)
    for norm in ("l2", "l1"):
        assert torch.equal(image_uncertainty(anchor_uncertainty(z, z.clone(), norm), 10), torch.zeros(5))


def test_uncertainty_is_invariant_to_permuting_anchors() -> None:
    z1, z2 = torch.randn(3, 200, 4), torch.randn(3, 200, 4)
    perm = torch.randperm(200)
    u = image_uncertainty(anchor_uncertainty(z1, z2), 17)
    torch.testing.assert_close(u, image_uncertainty(anchor_uncertainty(z1[:, perm], z2[:, perm]), 17))


def test_k_at_least_the_anchor_count_gives_the_plain_mean() -> None:
    u = torch.rand(3, 50)
    torch.testing.assert_close(image_uncertainty(u, 50), u.mean(1))
    torch.testing.assert_close(image_uncertainty(u, 10_000), u.mean(1))
    assert (image_uncertainty(u, 5) >= u.mean(1)).all()


def test_l2_and_l1_norms_follow_the_code_and_the_paper() -> None:
    z1, z2 = torch.zeros(1, 1, 2), torch.tensor([[[10.0, -10.0]]])
    gap = torch.sigmoid(torch.tensor([10.0])).item() - 0.5
    assert anchor_uncertainty(z1, z2, "l2").item() == pytest.approx(gap**2)
    assert anchor_uncertainty(z1, z2, "l1").item() == pytest.approx(gap)


def test_initial_split_takes_the_first_and_last_of_one_seeded_shuffle() -> None:
    labelled, unlabelled = initial_split(16551, 827, seed=666)
    order = np.random.default_rng(666).permutation(16551)
    assert np.array_equal(labelled, order[:827]) and np.array_equal(unlabelled, order[-827:])
    assert not set(labelled) & set(unlabelled)


def test_selection_takes_the_top_scores_outside_the_labelled_set_with_ties_to_the_lower_index() -> None:
    scores = np.array([0.9, 0.5, 0.7, 0.7, 0.1, 0.7, 0.95])
    chosen = select_top(scores, labelled=[6, 1], size=3)
    assert chosen.tolist() == [0, 2, 3]
    assert not set(chosen) & {6, 1}
    with pytest.raises(ValueError, match="only 5 are left"):
        select_top(scores, [6, 1], 6)


def test_random_selection_has_the_size_and_avoids_the_labelled_set() -> None:
    chosen = select_random(100, list(range(40)), 20, np.random.default_rng(0))
    assert len(chosen) == 20 == len(set(chosen)) and min(chosen) >= 40


def test_next_unlabelled_is_disjoint_from_labelled_with_the_same_size_when_the_pool_allows() -> None:
    labelled = np.arange(30)
    unl = next_unlabelled(100, labelled, np.random.default_rng(1))
    assert len(unl) == 30 == len(set(unl)) and not set(unl) & set(labelled)


def test_next_unlabelled_pads_with_labelled_images_when_the_pool_runs_short() -> None:
    labelled = np.arange(70)
    unl = next_unlabelled(100, labelled, np.random.default_rng(1))
    assert len(unl) == 70 == len(set(unl))
    assert set(range(70, 100)) <= set(unl.tolist()), "every unlabelled image is used first"


def test_next_plan_grows_x_l_by_the_selection_and_draws_x_u_outside_it() -> None:
    plan = {"cycle": 2, "labelled": [0, 1, 2], "unlabelled": [3, 4, 5], "selected": [2], "select_size": 2, "cycles": 5}
    nxt = next_plan(plan, np.asarray([7, 4]), 20, np.random.default_rng(0))
    assert nxt["cycle"] == 3 and nxt["labelled"] == [0, 1, 2, 7, 4] and nxt["selected"] == [7, 4]
    assert nxt["select_size"] == 2 and nxt["cycles"] == 5 and plan["labelled"] == [0, 1, 2]
    assert len(nxt["unlabelled"]) == 5 and not set(nxt["unlabelled"]) & set(nxt["labelled"])
