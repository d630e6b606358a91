"""Issue 12: the shared detector parts issue fewer operations and no host synchronisation, with the results
of their former one-coordinate-at-a-time forms to the last bit (box IoU, box encoding, target assignment),
and the anchors come with their concatenation cached."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cvpapers.models.detection import (
    AnchorGrid,
    Levels,
    assign_targets,
    box_iou_batched,
    concat_levels,
    encode_boxes,
)


def _ref_iou(a: Tensor, b: Tensor) -> Tensor:
    a, b = a.unsqueeze(-2), b.unsqueeze(-3)
    area_a = (a[..., 2] - a[..., 0]).clamp(min=0) * (a[..., 3] - a[..., 1]).clamp(min=0)
    area_b = (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)
    iw = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    ih = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(min=0)
    inter = iw * ih
    union = area_a + area_b - inter
    return inter / union.clamp(min=torch.finfo(union.dtype).eps)


def _ref_encode(anchors: Tensor, boxes: Tensor, stds=(1.0, 1.0, 1.0, 1.0)) -> Tensor:
    pw, ph = anchors[..., 2] - anchors[..., 0], anchors[..., 3] - anchors[..., 1]
    px, py = anchors[..., 0] + 0.5 * pw, anchors[..., 1] + 0.5 * ph
    gw, gh = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
    gx, gy = boxes[..., 0] + 0.5 * gw, boxes[..., 1] + 0.5 * gh
    deltas = torch.stack(((gx - px) / pw, (gy - py) / ph, torch.log(gw / pw), torch.log(gh / ph)), dim=-1)
    return deltas / deltas.new_tensor(stds)


def _ref_assign(anchors, gt_boxes, gt_labels, num_classes, pos_iou=0.5, neg_iou=0.4):
    n, g = gt_labels.shape
    num_a = anchors.shape[0]
    gt_valid = gt_labels >= 0
    iou = _ref_iou(anchors, gt_boxes.to(anchors.dtype)).masked_fill(~gt_valid[:, None, :], -1.0)
    max_iou, assigned = iou.max(dim=2)
    pos = max_iou >= pos_iou
    gt_max = iou.max(dim=1, keepdim=True).values
    best = (iou == gt_max) & (gt_max > 0) & gt_valid[:, None, :]
    last_gt = torch.where(best, torch.arange(g).expand_as(best), -1).max(dim=2).values
    is_best = last_gt >= 0
    assigned = torch.where(is_best, last_gt, assigned)
    pos = pos | is_best
    neg = (max_iou < neg_iou) & ~pos
    labels_a = gt_labels.gather(1, assigned).clamp(min=0)
    labels = F.one_hot(labels_a, num_classes).to(anchors.dtype) * pos[..., None]
    boxes_a = gt_boxes.to(anchors.dtype).gather(1, assigned[..., None].expand(n, num_a, 4))
    deltas = torch.where(pos[..., None], _ref_encode(anchors[None], boxes_a), 0.0)
    return labels, pos | neg, pos, deltas


def _case(seed: int, n: int = 3, g: int = 5, side: int = 608):
    gen = torch.Generator().manual_seed(seed)
    grid = AnchorGrid((8, 16, 32, 64, 128), AnchorGrid.retina_sizes((8, 16, 32, 64, 128)), (0.5, 1.0, 2.0))
    anchors = torch.cat(grid(grid.feature_sizes((side, side))))
    xy = torch.rand(n, g, 2, generator=gen) * side * 0.7
    wh = 4 + torch.rand(n, g, 2, generator=gen) * side * 0.4
    boxes = torch.cat([xy, xy + wh], -1)
    labels = torch.randint(0, 20, (n, g), generator=gen)
    labels[0, -2:] = -1  # padding and dropped boxes
    labels[2, :] = -1  # an image without boxes
    return anchors, boxes, labels


def test_iou_and_encoding_equal_their_per_coordinate_forms_to_the_bit() -> None:
    anchors, boxes, _ = _case(0)
    assert torch.equal(box_iou_batched(anchors, boxes), _ref_iou(anchors, boxes))
    a, b = anchors[:500], boxes[0, :1].expand(500, 4)
    assert torch.equal(encode_boxes(a, b), _ref_encode(a, b))
    stds = (0.1, 0.1, 0.2, 0.2)
    assert torch.equal(encode_boxes(a, b, stds), _ref_encode(a, b, stds))


def test_assign_targets_equals_the_one_hot_form_to_the_bit_without_reading_anything_back() -> None:
    for seed in range(3):
        anchors, boxes, labels = _case(seed)
        t = assign_targets(anchors, boxes, labels, 20)
        ref = _ref_assign(anchors, boxes, labels, 20)
        for got, want in zip((t.labels, t.valid, t.pos, t.deltas), ref, strict=True):
            assert got.dtype == want.dtype and torch.equal(got, want)
        assert t.num_pos == ref[2].sum()
    # no host synchronisation: nothing is read back (F.one_hot read the labels' min and max)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        assign_targets(anchors, boxes, labels, 20)
    syncs = [e.name for e in prof.events() if e.name in ("aten::item", "aten::_local_scalar_dense", "aten::nonzero")]
    assert syncs == []


def test_anchors_come_with_their_concatenation_cached() -> None:
    from tests.models.test_detection import _tiny_detector

    model = _tiny_detector()
    anchors = model.anchors((96, 96))
    assert isinstance(anchors, Levels) and [a.shape[0] for a in anchors] == [1296, 324]
    assert concat_levels(anchors, 0) is anchors.full is model.anchors((96, 96)).full
    assert torch.equal(anchors.full, torch.cat(model.anchor_grid(model.anchor_grid.feature_sizes((96, 96)))))
