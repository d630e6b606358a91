"""MI-AOD's losses (spec §3.3–3.4, §9.3, §9.4, §9.6): MIL weight sums and gradient routing, the
discrepancy identities, pseudo labels and the detection-loss normalisation."""

from __future__ import annotations

import copy

import pytest
import torch

from cvpapers.pipelines.mi_aod.losses import (
    detection_loss,
    image_cls_loss,
    image_labels,
    mil_weights,
    pseudo_image_labels,
    weighted_discrepancy,
)

N, C, SIZES = 3, 4, (144 * 9, 36 * 9)


def _logits(seed: int, requires_grad: bool = False) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(N, a, C, generator=g).mul(2).requires_grad_(requires_grad) for a in SIZES]


def test_code_mil_weights_sum_to_one_per_image_and_level_and_are_non_negative() -> None:
    weights, score = mil_weights(_logits(0), _logits(1), _logits(2), "code")
    for w in weights:
        assert (w >= 0).all()
        torch.testing.assert_close(w.sum(dim=(1, 2)), torch.ones(N), atol=1e-5, rtol=0)
    assert score.shape == (N, C) and (score >= 1e-5).all() and (score <= 1 - 1e-5).all()


def test_paper_mil_weights_are_a_classwise_softmax_over_all_anchors_of_all_levels() -> None:
    """With constant MIL logits (class share 1/C) each class's weights sum to 1/C over every anchor of every
    level: the instance softmax runs per class over the whole image, not per level."""
    flat = [torch.zeros(N, a, C) for a in SIZES]
    weights, score = mil_weights(_logits(0), _logits(1), flat, "paper")
    assert all((w >= 0).all() for w in weights)
    torch.testing.assert_close(sum(w.sum(1) for w in weights), torch.full((N, C), 1 / C))
    torch.testing.assert_close(score, torch.full((N, C), 1 / C))
    assert not torch.allclose(weights[0].sum(1), torch.full((N, C), 1 / C)), "not a per-level softmax"


@pytest.mark.parametrize("mode", ["code", "paper"])
def test_mil_weights_train_f_mil_only_never_f1_or_f2(mode: str) -> None:
    z1, z2, m = _logits(0, True), _logits(1, True), _logits(2, True)
    weights, score = mil_weights(z1, z2, m, mode)
    (score.sum() + sum(w.sum() * 0.5 for w in weights)).backward()
    assert all(t.grad is None for t in z1 + z2), "w and ŷ are detached from f1/f2"
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in m)


def test_identical_classifiers_have_zero_discrepancy() -> None:
    z1 = _logits(0)
    z2 = copy.deepcopy(z1)
    weights, _ = mil_weights(z1, z2, _logits(2))
    assert weighted_discrepancy(z1, z2, weights, lam=0.5).item() == 0.0


def test_discrepancy_and_its_minus_form_add_up_to_lambda_levels_images_over_classes() -> None:
    z1, z2 = _logits(0), _logits(1)
    weights, _ = mil_weights(z1, z2, _logits(2))
    lam = 0.5
    total = weighted_discrepancy(z1, z2, weights, lam) + weighted_discrepancy(z1, z2, weights, lam, maximise=True)
    assert total.item() == pytest.approx(lam * len(SIZES) * N / C, abs=1e-5)


def test_discrepancy_is_a_sum_over_anchors_not_a_mean() -> None:
    """Repeating every level's anchors (and weights) doubles the loss; a mean over anchors would not change."""
    z1, z2 = _logits(0), _logits(1)
    weights, _ = mil_weights(z1, z2, _logits(2))
    one = weighted_discrepancy(z1, z2, weights, 1.0)

    def twice(levels: list[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.cat([t, t], 1) for t in levels]

    two = weighted_discrepancy(twice(z1), twice(z2), twice(weights), 1.0)
    assert two.item() == pytest.approx(2 * one.item(), rel=1e-5)


def test_discrepancy_gradient_reaches_the_classifiers_but_not_through_the_weights() -> None:
    z1, z2, m = _logits(0, True), _logits(1, True), _logits(2, True)
    weights, _ = mil_weights(z1, z2, m)
    weighted_discrepancy(z1, z2, weights, 0.5).backward()
    assert all(t.grad is not None for t in z1 + z2)
    assert all(t.grad is None for t in m), "the weights are detached in l_dis~"


def test_an_image_without_pseudo_positive_class_zeroes_the_batch_image_loss() -> None:
    confident = [torch.full((N, a, C), -8.0) for a in SIZES]
    confident[0][0, 5, 2] = 8.0  # image 0 has class 2; images 1 and 2 have nothing
    labels, has_positive = pseudo_image_labels(confident, confident, 0.5)
    assert labels[0].tolist() == [0, 0, 1, 0] and has_positive.tolist() == [True, False, False]
    _, score = mil_weights(confident, confident, _logits(2))
    assert image_cls_loss(score, labels, has_positive.all()).item() == 0.0
    assert image_cls_loss(score, labels, True).item() > 0


def test_labelled_image_targets_are_the_multi_hot_of_gt_classes_ignoring_padding() -> None:
    gt = torch.tensor([[2, 2, -1], [0, 3, 1], [-1, -1, -1]])
    assert image_labels(gt, C).tolist() == [[0, 0, 1, 0], [1, 1, 0, 1], [0, 0, 0, 0]]
    assert image_labels(torch.zeros(2, 0, dtype=torch.long), C).shape == (2, C)


def test_detection_loss_averages_the_two_focal_losses_and_normalises_by_batch_positives() -> None:
    g = torch.Generator().manual_seed(0)
    a = 50
    z = torch.randn(2, a, C, generator=g)
    labels = torch.zeros(2, a, C)
    labels[0, 3, 1] = labels[0, 7, 2] = 1
    pos = labels.amax(-1) > 0
    valid = torch.ones(2, a, dtype=torch.bool)
    valid[1, :5] = False
    reg, deltas = torch.randn(2, a, 4, generator=g), torch.randn(2, a, 4, generator=g)
    from torchvision.ops import sigmoid_focal_loss

    fl = (sigmoid_focal_loss(z, labels, 0.25, 2.0, reduction="none") * valid.unsqueeze(-1)).sum()
    cls_same, loc = detection_loss(z, z, reg, labels, valid, pos, deltas)
    norm = 2 + 1  # image 0 has 2 positives; image 1 has none and still counts one
    assert cls_same.item() == pytest.approx(fl.item() / norm, rel=1e-5)
    assert loc.item() == pytest.approx(((reg - deltas).abs()[pos].sum() / norm).item(), rel=1e-5)
    cls_other, _ = detection_loss(z, torch.zeros_like(z), reg, labels, valid, pos, deltas)
    fl0 = (sigmoid_focal_loss(torch.zeros_like(z), labels, 0.25, 2.0, reduction="none") * valid.unsqueeze(-1)).sum()
    assert cls_other.item() == pytest.approx(0.5 * (fl + fl0).item() / norm, rel=1e-5)
