"""Segmentation metrics (papers/da_benchmark.md §5, §9; papers/ssda_dual_mix.md §3.8, §9.8)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cvpapers.metrics.segmentation import (
    SYNTHIA_13_IN_16,
    SYNTHIA_13_IN_19,
    SYNTHIA_16_IN_19,
    confusion_matrix,
    evaluate_segmenter,
    iou_per_class,
    mean_iou,
    pixel_accuracy,
    predict,
)


class ConstantModel(nn.Module):
    """Predicts class ``k`` everywhere, at half the input resolution (so evaluation must upsample)."""

    def __init__(self, num_classes: int, k: int) -> None:
        super().__init__()
        self.num_classes, self.k = num_classes, k
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        logits = torch.zeros(n, self.num_classes, h // 2, w // 2) + self.dummy
        logits[:, self.k] = 2.0
        return logits


def test_perfect_prediction_gives_100_miou_and_accuracy() -> None:
    labels = torch.randint(0, 8, (3, 16, 32), dtype=torch.uint8)
    cm = confusion_matrix(labels, labels, 8)
    assert cm.dtype == torch.int64 and cm.shape == (8, 8)
    assert int(cm.sum()) == labels.numel() and int(cm.diagonal().sum()) == labels.numel()
    assert mean_iou(cm) == 1.0 and pixel_accuracy(cm) == 1.0


def test_two_class_toy_confusion_matches_hand_computation() -> None:
    target = torch.tensor([[0, 0], [1, 1]])
    pred = torch.tensor([[0, 1], [1, 1]])
    cm = confusion_matrix(pred, target, 2)
    assert cm.tolist() == [[1, 1], [0, 2]]  # rows = truth, cols = prediction
    iou = iou_per_class(cm)
    assert iou.dtype == torch.float64
    assert iou.tolist() == pytest.approx([1 / 2, 2 / 3])  # 1/(1+1+0), 2/(2+0+1)
    assert mean_iou(cm) == pytest.approx(7 / 12)
    assert pixel_accuracy(cm) == pytest.approx(3 / 4)


def test_three_class_toy_with_absent_class_is_nan_and_skipped_by_the_mean() -> None:
    target = torch.tensor([0, 0, 0, 1, 1, 1])
    pred = torch.tensor([0, 0, 1, 1, 1, 0])
    cm = confusion_matrix(pred, target, 3)
    assert cm.tolist() == [[2, 1, 0], [1, 2, 0], [0, 0, 0]]
    iou = iou_per_class(cm)
    assert iou[:2].tolist() == pytest.approx([0.5, 0.5]) and math.isnan(iou[2])
    assert mean_iou(cm) == pytest.approx(0.5)
    # a class predicted but never true has IoU 0 (not NaN): it counts against the mean
    cm2 = confusion_matrix(torch.tensor([0, 2]), torch.tensor([0, 0]), 3)
    assert iou_per_class(cm2)[2].item() == 0.0 and mean_iou(cm2) == pytest.approx(0.25)


def test_ignore_index_pixels_are_excluded() -> None:
    target = torch.tensor([0, 1, 255, 255], dtype=torch.uint8)
    pred = torch.tensor([0, 1, 0, 1])
    cm = confusion_matrix(pred, target, 2)
    assert int(cm.sum()) == 2 and mean_iou(cm) == 1.0
    assert int(confusion_matrix(pred, torch.tensor([0, 1, 7, 7]), 2, ignore_index=7).sum()) == 2


def test_out_of_range_labels_raise() -> None:
    with pytest.raises(ValueError, match="target labels"):
        confusion_matrix(torch.tensor([0]), torch.tensor([5]), 2)
    with pytest.raises(ValueError, match="predicted labels"):
        confusion_matrix(torch.tensor([3]), torch.tensor([0]), 2)


def test_subset_miou_uses_the_13_synthia_classes() -> None:
    assert len(SYNTHIA_16_IN_19) == 16 and len(SYNTHIA_13_IN_19) == 13 and len(SYNTHIA_13_IN_16) == 13
    # 13-in-16 is 13-in-19 renumbered into the contiguous 16-class space
    assert tuple(SYNTHIA_16_IN_19.index(c) for c in SYNTHIA_13_IN_19) == SYNTHIA_13_IN_16
    # classes 3, 4, 5 (wall, fence, pole) always wrong (predicted as 0), every other class perfect
    cm = torch.diag(torch.full((16,), 10, dtype=torch.int64))
    for c in (3, 4, 5):
        cm[c, c], cm[c, 0] = 0, 10
    assert mean_iou(cm, SYNTHIA_13_IN_16) == pytest.approx((12 + 10 / 40) / 13)
    assert mean_iou(cm) == pytest.approx((12 + 10 / 40) / 16)


def test_evaluate_segmenter_on_a_constant_model() -> None:
    torch.manual_seed(0)
    images = torch.randint(0, 256, (5, 3, 8, 12), dtype=torch.uint8)
    labels = torch.zeros(5, 8, 12, dtype=torch.uint8)
    labels[:, :, 6:] = 1  # half class 0, half class 1
    labels[:, 0, :] = 255  # one ignored row
    model = ConstantModel(num_classes=3, k=1).train()
    out = evaluate_segmenter(model, images, labels, 3, mean=0.5, std=0.25, device="cpu", batch_size=2)
    assert model.training  # mode restored
    n0 = n1 = 5 * 7 * 6
    assert out["confusion"].tolist() == [[0, n0, 0], [0, n1, 0], [0, 0, 0]]
    assert out["pixel_acc"] == pytest.approx(50.0)
    assert out["iou"][0] == 0.0 and out["iou"][1] == pytest.approx(50.0) and math.isnan(out["iou"][2])
    assert out["miou"] == pytest.approx(25.0)
    subset = evaluate_segmenter(model, images, labels, 3, 0.5, 0.25, "cpu", classes=[1])
    assert subset["miou"] == pytest.approx(50.0)


def test_evaluate_segmenter_resizes_labels_to_label_size() -> None:
    images = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    labels = torch.ones(2, 16, 16, dtype=torch.uint8)
    out = evaluate_segmenter(
        ConstantModel(2, 1), images, labels, 2, [0.5] * 3, [0.25] * 3, "cpu", label_size=(4, 4)
    )
    assert int(out["confusion"].sum()) == 2 * 4 * 4 and out["miou"] == 100.0


def test_predict_returns_confidence_and_uint8_class() -> None:
    images = torch.zeros(3, 3, 8, 12, dtype=torch.uint8)
    conf, pred = predict(ConstantModel(4, 2), images, 0.5, 0.25, "cpu", batch_size=2, output_size=(8, 12))
    assert conf.dtype == torch.float32 and pred.dtype == torch.uint8
    assert conf.shape == pred.shape == (3, 8, 12)
    expected = math.exp(2) / (math.exp(2) + 3)
    assert torch.allclose(conf, torch.full_like(conf, expected)) and bool((pred == 2).all())
