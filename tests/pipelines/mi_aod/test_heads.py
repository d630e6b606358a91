"""MI-AOD's head and detector (papers/mi_aod.md §3.2, §4.1, §8.2, §9.1, §9.2): exact parameter counts, the
head's init and output order, the roles the stages freeze, detection from f1 or the f1/f2 mean, the builder."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision
from torch import nn

from cvpapers.models.detection import (
    AnchorGrid,
    ResNetFPNBackbone,
    RetinaDetector,
    assign_targets,
    decode_boxes,
)
from cvpapers.pipelines.mi_aod.heads import HeadOutput, MIAODHead, build_miaod_detector, modules_by_role
from tests.models.test_detection import _check_detections, _check_reuse_and_batching

PAPER_STRIDES = (8, 16, 32, 64, 128)
PRIOR_BIAS = -math.log(0.99 / 0.01)


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _meta_paper_model(norm: str, extra_from: str) -> RetinaDetector:
    """The paper-sized detector without real storage: counts only, no 170 MB of random init."""
    with torch.device("meta"):
        return build_miaod_detector(
            "resnet50_fpn", num_classes=20, tower_depth=4, norm=norm, extra_from=extra_from
        )


@pytest.fixture
def tiny_model() -> RetinaDetector:
    torch.manual_seed(0)
    return build_miaod_detector("tiny", num_classes=4)


# ------------------------------------------------------------------------------------ §9.1 param counts


def test_miaod_head_paper_size_has_exact_param_count() -> None:
    assert _params(MIAODHead(256, 9, 20, 4)) == 10_768_960


@pytest.mark.parametrize(
    ("extra_from", "norm", "expected"),
    [("p5", "frozen_bn", 38_092_544), ("p5", "bn", 38_145_664), ("c5", "bn", 42_274_432)],
)
def test_paper_detector_has_exact_param_count(extra_from: str, norm: str, expected: int) -> None:
    model = _meta_paper_model(norm, extra_from)
    assert _params(model) == expected
    # frozen parameters (stem + layer1) still count; FrozenBatchNorm2d holds buffers only
    assert _params(model.head) == 10_768_960



def test_tiny_detector_has_about_half_a_million_params(tiny_model: RetinaDetector) -> None:
    n = _params(tiny_model)
    print(f"tiny MI-AOD detector: {n:,} parameters")
    assert 400_000 < n < 600_000



def test_tiny_model_has_1620_anchors_at_96px(tiny_model: RetinaDetector) -> None:
    assert tiny_model.anchor_grid.num_anchors == 9
    assert tiny_model.anchor_grid.count((96, 96)) == 1620
    out = tiny_model(torch.rand(1, 3, 96, 96))
    assert out.level_sizes == [a.shape[0] for a in tiny_model.anchors((96, 96))] == [1296, 324]



def test_head_reshape_order_matches_anchor_grid_order() -> None:
    """A regression head that writes (x index, y index, anchor index) of its own location into its
    outputs: after the head's reshape, row i must describe the anchor the grid put at row i."""
    grid = AnchorGrid((8, 16), [[10.0, 20.0], [30.0, 40.0]], (0.5, 1.0, 2.0))
    a = grid.num_anchors
    head = MIAODHead(2, a, num_classes=3, tower_depth=0)
    with torch.no_grad():
        head.f_r.out.weight.zero_()
        head.f_r.out.bias.zero_()
        for k in range(a):
            head.f_r.out.weight[4 * k + 0, 0, 1, 1] = 1.0  # channel 0 of the input = x index
            head.f_r.out.weight[4 * k + 1, 1, 1, 1] = 1.0  # channel 1 = y index
            head.f_r.out.bias[4 * k + 2] = float(k)
    sizes = [(3, 5), (2, 3)]  # non-square, so a transposed order cannot pass
    feats = []
    for h, w in sizes:
        yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
        feats.append(torch.stack([xx, yy])[None].repeat(2, 1, 1, 1))
    out = head(feats)
    assert [t.shape for t in out.cls1] == [(2, 3 * 5 * a, 3), (2, 2 * 3 * a, 3)]
    for reg, anchors, stride in zip(out.reg, grid(sizes), grid.strides, strict=True):
        centres = (anchors[:, :2] + anchors[:, 2:]) / 2 / stride
        torch.testing.assert_close(reg[0, :, :2], centres)
        torch.testing.assert_close(reg[1, :, :2], centres)
        k = reg[0, :, 2].round().long()
        torch.testing.assert_close(anchors[:, 2:] - anchors[:, :2], (anchors[:a, 2:] - anchors[:a, :2])[k])
        torch.testing.assert_close(k, torch.arange(anchors.shape[0]) % a)



# ------------------------------------------------------------------------------------ head / detector


def test_head_init_follows_the_focal_prior_and_f1_f2_differ() -> None:
    torch.manual_seed(0)
    head = MIAODHead(32, 9, 4, tower_depth=2)
    for subnet in (head.f1, head.f2, head.f_mil):
        torch.testing.assert_close(subnet.out.bias, torch.full((36,), PRIOR_BIAS))
        assert subnet.out.weight.std().item() == pytest.approx(0.01, rel=0.1)
    assert head.f_r.out.bias.abs().max() == 0
    assert head.f1.tower[0].weight.std().item() == pytest.approx(0.01, rel=0.1)
    assert head.f_mil.tower[0].weight.std().item() > 0.02  # PyTorch default init, not re-initialised
    assert not torch.equal(head.f1.out.weight, head.f2.out.weight)
    assert not torch.equal(head.f1.tower[0].weight, head.f2.tower[0].weight)


def test_head_output_cat_and_level_sizes(tiny_model: RetinaDetector) -> None:
    out = tiny_model(torch.rand(2, 3, 64, 64))
    assert isinstance(out, HeadOutput) and tiny_model.head.box_deltas(out) is out.reg
    assert out.level_sizes == [8 * 8 * 9, 4 * 4 * 9]
    assert out.cat("cls1").shape == out.cat("cls2").shape == out.cat("mil").shape == (2, 720, 4)
    assert out.cat("reg").shape == (2, 720, 4)


def test_modules_by_role_cover_every_parameter_once(tiny_model: RetinaDetector) -> None:
    roles = modules_by_role(tiny_model)
    assert set(roles) == {"g", "f1", "f2", "f_mil", "f_r"}
    assert roles["f1"] is tiny_model.head.f1 and roles["g"] is tiny_model.backbone
    ids = [id(p) for m in roles.values() for p in m.parameters()]
    assert len(ids) == len(set(ids)) == len(list(tiny_model.parameters()))


def test_detect_outputs_are_valid_and_score_heads_differ(tiny_model: RetinaDetector) -> None:
    with torch.no_grad():  # a detector that fires: scores ≈ 0.5 everywhere, so NMS and max_dets act
        tiny_model.head.f1.out.bias.zero_()
        tiny_model.head.f2.out.bias.zero_()
    model = tiny_model.eval()
    images = torch.rand(2, 3, 96, 96)
    dets = model.detect(images, score_thr=0.3, max_dets=50)
    assert len(dets) == 2 and all(d["scores"].numel() == 50 for d in dets)
    _check_detections(dets, (96, 96), 0.3, 50)
    assert all(((d["labels"] >= 0) & (d["labels"] < 4)).all() for d in dets)
    mean = model.detect(images, score_thr=0.3, max_dets=50, score_head="mean")
    _check_detections(mean, (96, 96), 0.3, 50)
    assert not torch.allclose(dets[0]["scores"], mean[0]["scores"])
    _check_reuse_and_batching(model, images, dets)


def test_detect_with_random_init_model_respects_thresholds(tiny_model: RetinaDetector) -> None:
    model = tiny_model.eval()
    dets = model.detect(torch.rand(3, 3, 96, 96))  # prior 0.01 < 0.05: nothing to report
    assert [d["boxes"].shape for d in dets] == [(0, 4)] * 3
    dets = model.detect(torch.rand(3, 3, 96, 96), score_thr=0.005, max_dets=7, pre_nms_top=20)
    _check_detections(dets, (96, 96), 0.005, 7)
    with pytest.raises(ValueError, match="score_head"):
        model.detect(torch.rand(1, 3, 96, 96), score_head="f2")


def test_tiny_detector_trains_end_to_end_after_detect(tiny_model: RetinaDetector) -> None:
    images = torch.rand(2, 3, 96, 96)
    tiny_model.eval().detect(images)  # fills the anchor cache inside inference mode
    out = tiny_model.train()(images)
    anchors = torch.cat(tiny_model.anchors(images))
    t = assign_targets(anchors, torch.tensor([[[10.0, 10.0, 40.0, 40.0]]] * 2), torch.tensor([[1], [2]]), 4)
    cls = out.cat("cls1")
    loss = torchvision.ops.sigmoid_focal_loss(cls[t.valid], t.labels[t.valid], reduction="sum")
    loss = (loss + (out.cat("reg") - t.deltas).abs()[t.pos].sum()) / t.normalizer
    boxes = decode_boxes(anchors[None], out.cat("reg"))  # e.g. an IoU-style loss: anchors in autograd
    loss = loss + 0.0 * boxes.sum()
    loss.backward()
    assert torch.isfinite(loss)
    assert tiny_model.head.f1.out.weight.grad is not None
    assert tiny_model.backbone.stage1[0][0].weight.grad is not None


# ------------------------------------------------------------------------------------ builder


def test_builder_rejects_unknown_backbone_and_mismatched_anchor_levels() -> None:
    with pytest.raises(ValueError, match="backbone"):
        build_miaod_detector("vgg16")
    with pytest.raises(ValueError, match="anchor_sizes"):
        build_miaod_detector("tiny", anchor_sizes=[[16.0], [32.0], [64.0]])
    with pytest.raises(ValueError, match="anchor_sizes"), torch.device("meta"):
        build_miaod_detector("resnet50_fpn", anchor_sizes=[[16.0], [32.0]])


def test_builder_paper_defaults_use_retina_anchor_sizes() -> None:
    model = _meta_paper_model("bn", "c5")
    assert model.anchor_grid.strides == PAPER_STRIDES
    assert model.anchor_grid.sizes[4] == pytest.approx((512.0, 512.0 * 2 ** (1 / 3), 512.0 * 2 ** (2 / 3)))
    assert model.backbone.out_channels == 256
    assert isinstance(model.backbone, ResNetFPNBackbone)


def test_the_builder_draws_the_backbone_then_the_head() -> None:
    """The run's numbers depend on the order of the init draws: backbone first, then f1, f2, f_mil, f_r."""
    from cvpapers.models.detection import anchor_grid_for, build_backbone

    torch.manual_seed(5)
    model = build_miaod_detector("tiny", num_classes=4)
    torch.manual_seed(5)
    net = build_backbone("tiny")
    head = MIAODHead(net.out_channels, 9, 4, tower_depth=1)
    reference = RetinaDetector(net, anchor_grid_for(net), head)
    assert list(model.state_dict()) == list(reference.state_dict())
    assert all(torch.equal(v, reference.state_dict()[k]) for k, v in model.state_dict().items())


def test_a_checkpoint_rebuilds_the_detector_through_its_builder(tiny_model: RetinaDetector) -> None:
    from cvpapers.engine.checkpoint import model_checkpoint, rebuild_model

    config = {"backbone": "tiny", "num_classes": 4, "fpn_channels": 64, "tower_depth": 1,
              "anchor_sizes": [[16, 20, 25], [32, 40, 50]], "anchor_ratios": [0.5, 1.0, 2.0], "norm": "bn"}
    ckpt = model_checkpoint(tiny_model, config, build_miaod_detector)
    assert ckpt["builder"] == "cvpapers.pipelines.mi_aod.heads:build_miaod_detector"
    again = rebuild_model(ckpt)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in tiny_model.state_dict().items())
