"""Invariants of the shared detector parts (papers/mi_aod.md §3.4 a, §4.1, §8.2, §9.2): anchors, box coding,
MaxIoU assignment, backbones, and a detector that takes its head as a parameter (a plain RetinaNet head here;
the MI-AOD head is tested in tests/pipelines/mi_aod/test_heads.py)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torchvision
from torch import Tensor, nn

from cvpapers.models.detection import (
    PRIOR_PROB,
    AnchorGrid,
    ResNetFPNBackbone,
    RetinaDetector,
    TinyRetinaBackbone,
    anchor_grid_for,
    assign_targets,
    box_iou_batched,
    build_backbone,
    decode_boxes,
    encode_boxes,
    normal_init,
    retina_subnet,
)

PAPER_STRIDES = (8, 16, 32, 64, 128)


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


class PlainRetinaHead(nn.Module):
    """torchvision's RetinaNet head in miniature: one classifier and one box regressor."""

    def __init__(self, in_channels: int, num_anchors: int, num_classes: int, tower_depth: int = 1) -> None:
        super().__init__()
        self.num_anchors, self.num_classes = num_anchors, num_classes
        self.cls = retina_subnet(in_channels, num_anchors * num_classes, tower_depth)
        self.reg = retina_subnet(in_channels, num_anchors * 4, tower_depth)
        normal_init(self.cls.out, bias=-math.log((1 - PRIOR_PROB) / PRIOR_PROB))
        normal_init(self.reg.out)

    def _per_anchor(self, x: Tensor, k: int) -> Tensor:
        n, _, h, w = x.shape
        return x.permute(0, 2, 3, 1).reshape(n, h * w * self.num_anchors, k)

    def forward(self, features: list[Tensor]) -> dict[str, list[Tensor]]:
        return {"cls": [self._per_anchor(self.cls(f), self.num_classes) for f in features],
                "reg": [self._per_anchor(self.reg(f), 4) for f in features]}

    def class_scores(self, output: dict[str, list[Tensor]], temperature: float = 1.0) -> list[Tensor]:
        return [(t / temperature).sigmoid() for t in output["cls"]]

    def box_deltas(self, output: dict[str, list[Tensor]]) -> list[Tensor]:
        return output["reg"]


def _tiny_detector(num_classes: int = 4) -> RetinaDetector:
    net = build_backbone("tiny")
    grid = anchor_grid_for(net)
    return RetinaDetector(net, grid, PlainRetinaHead(net.out_channels, grid.num_anchors, num_classes))


@pytest.fixture(scope="module")
def resnet_backbone() -> ResNetFPNBackbone:
    """One real ResNet-50-FPN for the whole module (building one takes ~1 s)."""
    torch.manual_seed(0)
    return ResNetFPNBackbone()


@pytest.fixture
def tiny_model() -> RetinaDetector:
    torch.manual_seed(0)
    return _tiny_detector()


# ------------------------------------------------------------------------------------ param counts


def test_torchvision_retinanet_param_count_sanity() -> None:
    with torch.device("meta"):
        model = torchvision.models.detection.retinanet_resnet50_fpn(
            weights=None, weights_backbone=None, num_classes=91
        )
    assert _params(model) == 34_068_119


# ------------------------------------------------------------------------------------ §9.2 anchors


def test_paper_anchor_settings_give_116712_anchors_at_1024x608() -> None:
    grid = AnchorGrid(PAPER_STRIDES, AnchorGrid.retina_sizes(PAPER_STRIDES), (0.5, 1.0, 2.0))
    assert grid.num_anchors == 9
    assert grid.count((608, 1024)) == grid.count((1024, 608)) == 116_712
    sizes = grid.sizes[0]
    assert sizes == pytest.approx((32.0, 32.0 * 2 ** (1 / 3), 32.0 * 2 ** (2 / 3)))


def test_anchor_shapes_follow_ratio_and_size() -> None:
    grid = AnchorGrid((8,), [[16.0, 32.0]], (0.5, 1.0, 2.0))
    anchors = grid([(1, 1)])[0]  # the 6 base anchors at location (0, 0), ratio-major
    w = anchors[:, 2] - anchors[:, 0]
    h = anchors[:, 3] - anchors[:, 1]
    ratios = torch.tensor([0.5, 0.5, 1.0, 1.0, 2.0, 2.0])
    sizes = torch.tensor([16.0, 32.0, 16.0, 32.0, 16.0, 32.0])
    torch.testing.assert_close(w, sizes / ratios.sqrt())
    torch.testing.assert_close(h, sizes * ratios.sqrt())
    torch.testing.assert_close((anchors[:, :2] + anchors[:, 2:]) / 2, torch.zeros(6, 2))  # offset 0


def test_anchor_index_i_sits_at_location_i_div_a_in_row_major_order() -> None:
    grid = AnchorGrid((8, 16), [[10.0, 20.0], [30.0, 40.0]], (0.5, 2.0))
    a = grid.num_anchors
    for (h, w), stride, anchors in zip([(3, 5), (2, 3)], grid.strides, grid([(3, 5), (2, 3)]), strict=True):
        i = torch.arange(anchors.shape[0])
        loc = i // a
        centres = (anchors[:, :2] + anchors[:, 2:]) / 2
        torch.testing.assert_close(centres[:, 0], (loc % w).float() * stride)
        torch.testing.assert_close(centres[:, 1], (loc // w).float() * stride)
        # location 0 is centred on (0, 0), so its anchors are the base anchors every location repeats
        torch.testing.assert_close(anchors - torch.cat([centres, centres], 1), anchors[:a].repeat(h * w, 1))


# ------------------------------------------------------------------------------------ box coding / IoU


def _random_boxes(n: int, gen: torch.Generator, max_xy: float = 100.0) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=gen) * max_xy
    wh = torch.rand(n, 2, generator=gen) * 50 + 1
    return torch.cat([xy, xy + wh], dim=1)


def test_box_iou_batched_matches_torchvision_and_broadcasts() -> None:
    gen = torch.Generator().manual_seed(0)
    a, b = _random_boxes(30, gen), _random_boxes(7, gen)
    torch.testing.assert_close(box_iou_batched(a, b), torchvision.ops.box_iou(a, b))
    bb = torch.stack([b, b.flip(0)])
    iou = box_iou_batched(a, bb)  # anchors (A, 4) against a batch (N, G, 4)
    assert iou.shape == (2, 30, 7)
    torch.testing.assert_close(iou[1], torchvision.ops.box_iou(a, b.flip(0)))


def test_encode_decode_round_trip() -> None:
    gen = torch.Generator().manual_seed(1)
    anchors, boxes = _random_boxes(200, gen), _random_boxes(200, gen)
    for stds in [(1.0, 1.0, 1.0, 1.0), (0.1, 0.1, 0.2, 0.2)]:
        deltas = encode_boxes(anchors, boxes, stds)
        torch.testing.assert_close(decode_boxes(anchors, deltas, stds), boxes, atol=1e-3, rtol=1e-5)
    torch.testing.assert_close(encode_boxes(anchors, anchors), torch.zeros(200, 4))


def test_decode_clamps_log_size_deltas() -> None:
    anchor = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    box = decode_boxes(anchor, torch.tensor([[0.0, 0.0, 50.0, -50.0]]))
    w, h = box[0, 2] - box[0, 0], box[0, 3] - box[0, 1]
    torch.testing.assert_close(w, torch.tensor(10.0 * 1000 / 16))
    torch.testing.assert_close(h, torch.tensor(10.0 * 16 / 1000))


# ------------------------------------------------------------------------------------ assignment


def _hand_made_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    anchors = torch.tensor(
        [
            [0.0, 0.0, 10.0, 10.0],  # 0: equals GT 0
            [0.0, 0.0, 10.0, 22.0],  # 1: IoU 100/220 = 0.45 with GT 0 -> ignored
            [100.0, 100.0, 110.0, 110.0],  # 2: IoU 0.3 with GT 1, its best anchor -> low-quality positive
            [200.0, 200.0, 210.0, 210.0],  # 3: equals the padded box -> still negative
            [300.0, 300.0, 310.0, 310.0],  # 4: far from everything -> negative
        ]
    )
    gt_boxes = torch.tensor(
        [
            [[0.0, 0.0, 10.0, 10.0], [100.0, 100.0, 110.0, 103.0], [200.0, 200.0, 210.0, 210.0]],
            [[0.0, 0.0, 10.0, 10.0], [100.0, 100.0, 110.0, 110.0], [0.0, 0.0, 0.0, 0.0]],
        ]
    )
    gt_labels = torch.tensor([[2, 1, -1], [-1, -1, -1]])  # image 1: no (valid) GT at all
    return anchors, gt_boxes, gt_labels


def test_assign_targets_hand_made_case() -> None:
    anchors, gt_boxes, gt_labels = _hand_made_case()
    t = assign_targets(anchors, gt_boxes, gt_labels, num_classes=3)
    assert t.labels.shape == (2, 5, 3) and t.deltas.shape == (2, 5, 4)
    assert t.pos[0].tolist() == [True, False, True, False, False]
    assert t.valid[0].tolist() == [True, False, True, True, True]
    assert t.labels[0, 0].tolist() == [0.0, 0.0, 1.0]
    assert t.labels[0, 2].tolist() == [0.0, 1.0, 0.0]
    assert t.labels[0, [1, 3, 4]].abs().sum() == 0
    torch.testing.assert_close(t.deltas[0, 0], torch.zeros(4))
    torch.testing.assert_close(t.deltas[0, 2], encode_boxes(anchors[2], gt_boxes[0, 1]))
    assert t.deltas[0, [1, 3, 4]].abs().sum() == 0
    # padding-only image: every anchor negative
    assert not t.pos[1].any() and t.valid[1].all() and t.labels[1].abs().sum() == 0
    assert int(t.num_pos) == 2
    assert float(t.normalizer) == 3.0  # 2 positives + at least 1 for the empty image


def test_assign_targets_low_quality_switch() -> None:
    anchors, gt_boxes, gt_labels = _hand_made_case()
    t = assign_targets(anchors, gt_boxes, gt_labels, num_classes=3, low_quality=False)
    assert t.pos[0].tolist() == [True, False, False, False, False]
    assert t.valid[0, 2]  # IoU 0.3 < 0.4: plain negative without the low-quality rule


def test_assign_targets_low_quality_keeps_all_ties_and_needs_positive_iou() -> None:
    anchors = torch.tensor([[0.0, 0.0, 10.0, 10.0], [2.0, 0.0, 12.0, 10.0], [-2.0, 0.0, 8.0, 10.0]])
    gt_boxes = torch.tensor([[[0.0, 0.0, 10.0, 3.0], [500.0, 500.0, 510.0, 510.0]]])
    t = assign_targets(anchors, gt_boxes, torch.tensor([[0, 1]]), num_classes=2)
    # anchor 0 alone is best for GT 0 (IoU 0.3); GT 1 overlaps nothing, so it claims no anchor
    assert t.pos[0].tolist() == [True, False, False]
    tie = torch.tensor([[[1.0, 0.0, 11.0, 3.0]]])  # anchors 0 and 1 overlap it equally (IoU 27/103)
    t = assign_targets(anchors, tie, torch.tensor([[1]]), num_classes=2)
    assert t.pos[0].tolist() == [True, True, False]
    assert t.labels[0, :2, 1].tolist() == [1.0, 1.0]


def test_assign_targets_without_gt_gives_all_negative() -> None:
    anchors = _random_boxes(20, torch.Generator().manual_seed(2))
    t = assign_targets(anchors, torch.zeros(3, 0, 4), torch.zeros(3, 0, dtype=torch.long), num_classes=4)
    assert t.labels.shape == (3, 20, 4) and t.deltas.shape == (3, 20, 4)
    assert t.valid.all() and not t.pos.any() and int(t.num_pos) == 0
    assert t.labels.abs().sum() == 0 and t.deltas.abs().sum() == 0


def test_assign_targets_batched_equals_per_image() -> None:
    gen = torch.Generator().manual_seed(3)
    grid = AnchorGrid((8, 16), [[16.0, 20.0, 25.0], [32.0, 40.0, 50.0]], (0.5, 1.0, 2.0))
    anchors = torch.cat(grid(grid.feature_sizes((96, 96))))
    counts = [3, 0, 5, 1]
    g = max(counts)
    boxes = torch.zeros(len(counts), g, 4)
    labels = torch.full((len(counts), g), -1)
    for i, c in enumerate(counts):
        boxes[i, :c] = _random_boxes(c, gen, max_xy=60.0)
        labels[i, :c] = torch.randint(0, 4, (c,), generator=gen)
    batched = assign_targets(anchors, boxes, labels, num_classes=4)
    total = 0
    for i, c in enumerate(counts):
        single = assign_targets(anchors, boxes[i : i + 1, :c], labels[i : i + 1, :c], num_classes=4)
        for name in ("labels", "valid", "pos", "deltas"):
            torch.testing.assert_close(getattr(batched, name)[i], getattr(single, name)[0])
        total += int(single.num_pos)
    assert int(batched.num_pos) == total > 0


# ------------------------------------------------------------------------------------ detector with a head


def _check_detections(dets: list[dict[str, Tensor]], hw: tuple[int, int], thr: float, max_dets: int) -> None:
    h, w = hw
    for d in dets:
        boxes, scores, labels = d["boxes"], d["scores"], d["labels"]
        assert boxes.shape == (scores.shape[0], 4) and labels.shape == scores.shape
        assert scores.shape[0] <= max_dets
        assert (scores >= thr).all()
        assert (boxes[:, 0::2] >= 0).all() and (boxes[:, 0::2] <= w).all()
        assert (boxes[:, 1::2] >= 0).all() and (boxes[:, 1::2] <= h).all()
        assert (scores[:-1] >= scores[1:]).all()


def _check_reuse_and_batching(model: RetinaDetector, images: Tensor, dets: list[dict[str, Tensor]]) -> None:
    """``detect_from`` on one forward pass gives ``detect``'s detections; an image alone gives its own."""
    again = model.detect_from(model(images), tuple(images.shape[-2:]), score_thr=0.3, max_dets=50)
    for a, b in zip(dets, again, strict=True):
        for key in ("boxes", "scores", "labels"):
            torch.testing.assert_close(a[key], b[key])
    single = model.detect(images[1:], score_thr=0.3, max_dets=50)[0]
    torch.testing.assert_close(single["scores"], dets[1]["scores"], atol=1e-5, rtol=1e-5)


def test_the_detector_runs_the_head_it_is_given(tiny_model: RetinaDetector) -> None:
    out = tiny_model(torch.rand(2, 3, 96, 96))
    assert set(out) == {"cls", "reg"}
    assert [t.shape[1] for t in out["reg"]] == [a.shape[0] for a in tiny_model.anchors((96, 96))] == [1296, 324]
    assert tiny_model.num_classes == 4 and tiny_model.anchor_grid.count((96, 96)) == 1620
    ids = [id(p) for p in tiny_model.parameters()]
    assert set(ids) == {id(p) for m in (tiny_model.backbone, tiny_model.head) for p in m.parameters()}


def test_detect_outputs_are_valid_and_score_options_reach_the_head(tiny_model: RetinaDetector) -> None:
    with torch.no_grad():  # a detector that fires: scores ≈ 0.5 everywhere, so NMS and max_dets act
        tiny_model.head.cls.out.bias.zero_()
    model = tiny_model.eval()
    images = torch.rand(2, 3, 96, 96)
    dets = model.detect(images, score_thr=0.3, max_dets=50)
    assert len(dets) == 2 and all(d["scores"].numel() == 50 for d in dets)
    _check_detections(dets, (96, 96), 0.3, 50)
    assert all(((d["labels"] >= 0) & (d["labels"] < 4)).all() for d in dets)
    sharper = model.detect(images, score_thr=0.3, max_dets=50, temperature=0.5)
    _check_detections(sharper, (96, 96), 0.3, 50)
    assert not torch.allclose(dets[0]["scores"], sharper[0]["scores"])
    _check_reuse_and_batching(model, images, dets)


def test_detect_with_random_init_model_respects_thresholds(tiny_model: RetinaDetector) -> None:
    model = tiny_model.eval()
    dets = model.detect(torch.rand(3, 3, 96, 96))  # prior 0.01 < 0.05: nothing to report
    assert [d["boxes"].shape for d in dets] == [(0, 4)] * 3
    dets = model.detect(torch.rand(3, 3, 96, 96), score_thr=0.005, max_dets=7, pre_nms_top=20)
    _check_detections(dets, (96, 96), 0.005, 7)
    with pytest.raises(ValueError, match="anchors per level"):
        model.detect_from(model(torch.rand(1, 3, 96, 96)), (64, 64))


def test_tiny_detector_trains_end_to_end_after_detect(tiny_model: RetinaDetector) -> None:
    images = torch.rand(2, 3, 96, 96)
    tiny_model.eval().detect(images)  # fills the anchor cache inside inference mode
    out = tiny_model.train()(images)
    anchors = torch.cat(tiny_model.anchors(images))
    t = assign_targets(anchors, torch.tensor([[[10.0, 10.0, 40.0, 40.0]]] * 2), torch.tensor([[1], [2]]), 4)
    cls, reg = torch.cat(out["cls"], 1), torch.cat(out["reg"], 1)
    loss = torchvision.ops.sigmoid_focal_loss(cls[t.valid], t.labels[t.valid], reduction="sum")
    loss = (loss + (reg - t.deltas).abs()[t.pos].sum()) / t.normalizer
    boxes = decode_boxes(anchors[None], reg)  # e.g. an IoU-style loss: anchors in autograd
    loss = loss + 0.0 * boxes.sum()
    loss.backward()
    assert torch.isfinite(loss)
    assert tiny_model.head.cls.out.weight.grad is not None
    assert tiny_model.backbone.stage1[0][0].weight.grad is not None


def test_padded_batches_of_different_sizes_clip_per_image_and_keep_a_bounded_anchor_cache(
        tiny_model: RetinaDetector) -> None:
    from cvpapers.models.detection import ANCHOR_CACHE_SIZES

    with torch.no_grad():
        tiny_model.head.cls.out.bias.zero_()  # fires everywhere, so boxes reach the borders
    model = tiny_model.eval()
    images = torch.rand(2, 3, 96, 128)  # a 64×128 and a 96×64 image padded to one 96×128 batch
    dets = model.detect_from(model(images), (96, 128), score_thr=0.3, clip_hw=[(64, 128), (96, 64)])
    _check_detections(dets[:1], (64, 128), 0.3, 100)
    _check_detections(dets[1:], (96, 64), 0.3, 100)
    assert dets[0]["boxes"][:, 3].max() == 64 and dets[1]["boxes"][:, 2].max() == 64
    with pytest.raises(ValueError, match="clip_hw has 1 sizes for a batch of 2"):
        model.detect_from(model(images), (96, 128), clip_hw=[(64, 128)])
    for k in range(ANCHOR_CACHE_SIZES + 4):  # every padded size a real dataset produces, one after the other
        model.anchors((32 * (k + 1), 64))
    assert len(model._anchor_cache) == ANCHOR_CACHE_SIZES
    assert [a.shape[0] for a in model.anchors((96, 96))] == [1296, 324]


def test_image_masks_keep_the_anchors_of_each_image_own_padded_extent() -> None:
    grid = AnchorGrid((8, 16), [[16.0], [32.0]], [1.0])  # A = 1
    masks = grid.image_masks((64, 96), [(64, 96), (40, 50), (1, 1)], size_divisor=32)
    assert masks.shape == (3, grid.count((64, 96)))
    # own extents padded to 32: 64×96, 64×64, 32×32 → ceil(h/s)·ceil(w/s) summed over the levels
    assert masks.sum(1).tolist() == [grid.count((64, 96)), grid.count((64, 64)), grid.count((32, 32))]
    level0 = masks[1, : 8 * 12].reshape(8, 12)  # P3 of the 64×96 batch, row-major like the anchors
    assert level0[:, :8].all() and not level0[:, 8:].any()
    assert grid.image_masks((64, 96), [(40, 50)]).sum() == grid.count((40, 50))  # no divisor: its own size


def test_the_detector_refuses_a_head_or_grid_that_does_not_fit_the_backbone() -> None:
    net = TinyRetinaBackbone()
    grid = anchor_grid_for(net)
    with pytest.raises(ValueError, match="anchors per location"):
        RetinaDetector(net, grid, PlainRetinaHead(net.out_channels, 6, 3))
    with pytest.raises(ValueError, match="strides"):
        RetinaDetector(net, AnchorGrid((8, 16, 32), [[16.0]] * 3, (1.0,)), PlainRetinaHead(net.out_channels, 1, 3))


# ------------------------------------------------------------------------------------ builders


def test_builders_reject_unknown_backbones_tiny_options_and_mismatched_anchor_levels() -> None:
    with pytest.raises(ValueError, match="backbone"):
        build_backbone("vgg16")
    with pytest.raises(ValueError, match="norm"):
        build_backbone("tiny", norm="frozen_bn")
    with pytest.raises(ValueError, match="backbone_weights"):
        build_backbone("tiny", backbone_weights="r50.pth")
    with pytest.raises(ValueError, match="anchor_sizes"):
        anchor_grid_for(TinyRetinaBackbone(), [[16.0], [32.0], [64.0]])
    with pytest.raises(ValueError, match="anchor_sizes"), torch.device("meta"):
        anchor_grid_for(build_backbone("resnet50_fpn"), [[16.0], [32.0]])


def test_default_anchor_sizes_are_the_tiny_ones_or_retinanet_octaves() -> None:
    assert anchor_grid_for(TinyRetinaBackbone()).sizes == ((16.0, 20.0, 25.0), (32.0, 40.0, 50.0))
    with torch.device("meta"):
        net = build_backbone("resnet50_fpn", fpn_channels=64)  # the FPN width stays RetinaNet's 256
    grid = anchor_grid_for(net)
    assert grid.strides == PAPER_STRIDES and net.out_channels == 256
    assert grid.sizes[4] == pytest.approx((512.0, 512.0 * 2 ** (1 / 3), 512.0 * 2 ** (2 / 3)))


# ------------------------------------------------------------------------------------ ResNet path


def test_resnet_bn_stays_in_eval_and_frozen_stages_do_not_train(resnet_backbone: ResNetFPNBackbone) -> None:
    resnet_backbone.train()
    bns = [m for m in resnet_backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 53
    assert all(not m.training for m in bns)
    assert resnet_backbone.fpn.training
    body = resnet_backbone.body
    for frozen in (body.conv1, body.bn1, body.layer1):
        assert all(not p.requires_grad for p in frozen.parameters())
    for trained in (body.layer2, body.layer4, resnet_backbone.fpn):
        assert all(p.requires_grad for p in trained.parameters())
    assert all(m.weight.requires_grad for m in body.layer2.modules() if isinstance(m, nn.BatchNorm2d))


def test_resnet_forward_gives_p3_to_p7_matching_the_anchors(resnet_backbone: ResNetFPNBackbone) -> None:
    images = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        feats = resnet_backbone.eval()(images)
    assert [tuple(f.shape[-2:]) for f in feats] == [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]
    assert all(f.shape[1] == 256 for f in feats)
    grid = anchor_grid_for(resnet_backbone)
    assert [tuple(f.shape[-2:]) for f in feats] == grid.feature_sizes((64, 64))


def test_resnet_load_weights_from_a_torchvision_state_dict(
    resnet_backbone: ResNetFPNBackbone, tmp_path: Path
) -> None:
    torch.manual_seed(1)
    reference = torchvision.models.resnet50(weights=None).state_dict()  # includes fc.* and num_batches_tracked
    path = tmp_path / "resnet50.pth"
    torch.save(reference, path)
    resnet_backbone.load_weights(path)
    body = resnet_backbone.body.state_dict()
    torch.testing.assert_close(body["layer3.2.conv2.weight"], reference["layer3.2.conv2.weight"])
    torch.testing.assert_close(body["bn1.running_var"], reference["bn1.running_var"])
    frozen = ResNetFPNBackbone(norm="frozen_bn")  # FrozenBatchNorm2d has no num_batches_tracked
    frozen.load_weights(path)
    torch.testing.assert_close(frozen.body.layer4[0].bn3.weight, reference["layer4.0.bn3.weight"])

    bad = tmp_path / "not_a_resnet.pth"
    torch.save({"conv1.weight": reference["conv1.weight"], "head.weight": torch.zeros(3)}, bad)
    with pytest.raises(ValueError, match="not_a_resnet.pth") as err:
        resnet_backbone.load_weights(bad)
    assert "missing keys" in str(err.value) and "head.weight" in str(err.value)
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        resnet_backbone.load_weights(tmp_path / "nowhere.pth")


def test_tiny_backbone_defaults_train_everything_and_norm_eval_freezes_statistics_and_first_stage() -> None:
    # defaults: the from-scratch backbone (every parameter trains, BatchNorm in train mode)
    torch.manual_seed(0)
    plain = TinyRetinaBackbone()
    plain.train()
    assert all(p.requires_grad for p in plain.parameters())
    assert all(m.training for m in plain.modules() if isinstance(m, nn.BatchNorm2d))
    # the same draws from torch's generator: the options change no weight
    torch.manual_seed(0)
    frozen = TinyRetinaBackbone(norm_eval=True, frozen_stages=1)
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), frozen.state_dict().values()))
    frozen.train()
    assert not any(m.training for m in frozen.modules() if isinstance(m, nn.BatchNorm2d))
    assert not any(p.requires_grad for p in frozen.stage1.parameters())
    assert all(p.requires_grad for p in frozen.stage2.parameters())
    stats = {k: v.clone() for k, v in frozen.state_dict().items() if "running_" in k}
    frozen(torch.rand(2, 3, 64, 64))
    assert all(torch.equal(v, frozen.state_dict()[k]) for k, v in stats.items())
    with pytest.raises(ValueError, match="frozen_stages"):
        TinyRetinaBackbone(frozen_stages=5)
