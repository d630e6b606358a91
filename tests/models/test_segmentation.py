"""Invariants of the shared segmenters (papers/da_benchmark.md §5, §9; papers/ssda_dual_mix.md §4.1, §9.1-2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from cvpapers.engine.flops import count_macs_params, count_params
from cvpapers.models.segmentation import (
    DeepLabV2ResNet,
    TinyDeepLabV2,
    build_segmenter,
    deeplabv2_resnet101,
    seg_loss,
)


def _meta_r101(**kwargs: object) -> DeepLabV2ResNet:
    """A ResNet-101 DeepLab-v2 without real storage: shapes and counts only, built in ~0.04 s."""
    with torch.device("meta"):
        return deeplabv2_resnet101(**kwargs)


def _bn_modules(model: nn.Module) -> list[nn.BatchNorm2d]:
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


# ---------------------------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(("aux", "expected"), [(True, 160_368), (False, 146_512)])
def test_tiny_deeplabv2_has_exact_spec_param_count(aux: bool, expected: int) -> None:
    assert count_params(TinyDeepLabV2(num_classes=8, aux=aux)) == expected


def test_tiny_deeplabv2_eval_conv_macs_per_64x128_image_are_75_2m() -> None:
    for aux in (True, False):  # eval mode never runs the aux head
        macs, _ = count_macs_params(TinyDeepLabV2(aux=aux), (1, 3, 64, 128), mode="conv_linear")
        assert macs == 75_202_560
        assert abs(macs - 75.2e6) / 75.2e6 < 0.005


@pytest.mark.parametrize(
    ("num_classes", "multi_level", "expected"),
    [(19, True, 44_601_560), (19, False, 43_901_068), (16, True, 44_269_760), (16, False, 43_679_872)],
)
def test_deeplabv2_r101_has_exact_spec_param_count(
    num_classes: int, multi_level: bool, expected: int
) -> None:
    model = _meta_r101(num_classes=num_classes, multi_level=multi_level)
    assert count_params(model) == expected
    assert count_params(model.backbone) == 42_500_160


def test_deeplabv2_r101_conv_macs_at_512x1024_are_379_5g() -> None:
    """Spec figure = the multi-level net computing both heads. Our eval forward skips the aux head, so
    the figure is the eval count plus the aux head's count on the layer3 features (both with the
    project's counter, on meta tensors: no activation memory, well under a second)."""
    model = _meta_r101(num_classes=19, multi_level=True).eval()
    f3, f4 = model.backbone(torch.zeros(1, 3, 512, 1024, device="meta"))
    assert tuple(f3.shape[-2:]) == tuple(f4.shape[-2:]) == (65, 129)  # ceil-mode max-pool, output stride 8
    main_path, _ = count_macs_params(model, (1, 3, 512, 1024), mode="conv_linear")
    aux_head, _ = count_macs_params(model.aux_classifier, tuple(f3.shape), mode="conv_linear")
    assert aux_head == 4 * 1024 * 9 * 19 * 65 * 129
    total = main_path + aux_head
    assert abs(total - 379.5e9) / 379.5e9 < 0.005


# ---------------------------------------------------------------------------------------------- outputs


@pytest.mark.parametrize(("h", "w"), [(64, 128), (32, 64), (37, 50)])
def test_tiny_outputs_have_input_size_in_both_modes(h: int, w: int) -> None:
    torch.manual_seed(0)
    model = TinyDeepLabV2(num_classes=8)
    x = torch.randn(2, 3, h, w)
    main, aux = model.train()(x)
    assert main.shape == aux.shape == (2, 8, h, w)
    out = model.eval()(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 8, h, w)


def test_tiny_without_aux_returns_none_aux_in_training() -> None:
    main, aux = TinyDeepLabV2(aux=False).train()(torch.randn(1, 3, 32, 64))
    assert aux is None and main.shape == (1, 8, 32, 64)


def test_output_size_argument_sets_logit_size() -> None:
    out = TinyDeepLabV2().eval()(torch.randn(1, 3, 32, 64), output_size=(64, 128))
    assert out.shape == (1, 8, 64, 128)


def test_deeplabv2_r101_outputs_have_input_size_and_eval_returns_single_tensor() -> None:
    torch.manual_seed(0)
    model = deeplabv2_resnet101(num_classes=19, multi_level=True)
    x = torch.randn(1, 3, 33, 41)
    with torch.no_grad():
        main, aux = model.train()(x)
        assert main.shape == aux.shape == (1, 19, 33, 41)
        out = model.eval()(x)
    assert isinstance(out, torch.Tensor) and out.shape == (1, 19, 33, 41)
    single = _meta_r101(num_classes=16, multi_level=False).train()
    main, aux = single(torch.zeros(1, 3, 512, 1024, device="meta"))
    assert aux is None and main.shape == (1, 16, 512, 1024)
    assert model.align_corners is True  # the official code's choice (ssda_dual_mix.md §3.8)


# ---------------------------------------------------------------------------------------------- freeze_bn


def test_freeze_bn_keeps_bn_stats_and_affine_fixed_after_a_training_step() -> None:
    torch.manual_seed(0)
    model = deeplabv2_resnet101(num_classes=19, freeze_bn=True).train()
    assert model.training and all(not bn.training for bn in _bn_modules(model))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert all(not p.requires_grad for bn in _bn_modules(model) for p in bn.parameters())
    opt = torch.optim.SGD(trainable, lr=0.1, momentum=0.9)
    x, y = torch.randn(2, 3, 33, 33), torch.randint(0, 19, (2, 33, 33))
    seg_loss(model(x), y).backward()
    opt.step()
    after = model.state_dict()
    bn_keys = [k for k in before if ".bn" in k or "downsample.1" in k]
    assert bn_keys and all(torch.equal(before[k], after[k]) for k in bn_keys)
    assert not torch.equal(before["backbone.conv1.weight"], after["backbone.conv1.weight"])
    assert not torch.equal(before["classifier.convs.0.weight"], after["classifier.convs.0.weight"])


def test_without_freeze_bn_bn_trains_and_updates_running_stats() -> None:
    model = DeepLabV2ResNet(num_classes=3, layers=(1, 1, 1, 1), freeze_bn=False).train()
    assert all(bn.training and bn.weight.requires_grad for bn in _bn_modules(model))
    before = model.backbone.bn1.running_mean.clone()
    model(torch.randn(2, 3, 33, 33))
    assert not torch.equal(before, model.backbone.bn1.running_mean)


# ---------------------------------------------------------------------------------------------- weights


def test_weights_path_round_trips_a_saved_backbone_state(tmp_path: Path) -> None:
    torch.manual_seed(1)
    source = deeplabv2_resnet101(num_classes=19)
    state = source.backbone.state_dict()
    plain = tmp_path / "backbone.pt"
    torch.save(state, plain)
    torch.manual_seed(2)
    loaded = deeplabv2_resnet101(num_classes=16, weights_path=str(plain))
    for key, value in loaded.backbone.state_dict().items():
        assert torch.equal(value, state[key]), key
    # DataParallel-prefixed, nested, with an ImageNet fc head and no num_batches_tracked (Caffe conversion)
    wrapped = {f"module.{k}": v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    wrapped["module.fc.weight"] = torch.zeros(1000, 2048)
    nested = tmp_path / "nested.pth"
    torch.save({"state_dict": wrapped}, nested)
    again = deeplabv2_resnet101(num_classes=19, multi_level=False, weights_path=str(nested))
    assert torch.equal(again.backbone.layer4[2].conv3.weight, state["layer4.2.conv3.weight"])


def test_weights_path_error_names_file_and_missing_keys(tmp_path: Path) -> None:
    wrong = tmp_path / "tiny_weights.pt"
    torch.save(TinyDeepLabV2().state_dict(), wrong)
    with pytest.raises(ValueError, match="missing keys") as info:
        deeplabv2_resnet101(weights_path=str(wrong))
    message = str(info.value)
    assert str(wrong) in message and "conv1.weight" in message and "unexpected keys" in message
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        deeplabv2_resnet101(weights_path=str(tmp_path / "nowhere.pt"))


# ---------------------------------------------------------------------------------------------- factory, loss


def test_build_segmenter_builds_both_and_rejects_unknown_names() -> None:
    assert isinstance(build_segmenter("tiny_deeplabv2", 8, aux=False), TinyDeepLabV2)
    with torch.device("meta"):
        assert isinstance(build_segmenter("deeplabv2_r101", 19, multi_level=False), DeepLabV2ResNet)
    with pytest.raises(ValueError, match="deeplabv2_r101.*tiny_deeplabv2"):
        build_segmenter("deeplabv3", 8)


def test_seg_loss_with_all_labels_ignored_is_zero_finite_and_differentiable() -> None:
    model = TinyDeepLabV2().train()
    outputs = model(torch.randn(2, 3, 32, 64))
    loss = seg_loss(outputs, torch.full((2, 32, 64), 255, dtype=torch.uint8))
    assert torch.isfinite(loss) and loss.item() == 0.0
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_seg_loss_is_main_ce_plus_lambda_aux_ce() -> None:
    torch.manual_seed(0)
    main, aux = torch.randn(2, 4, 5, 6), torch.randn(2, 4, 5, 6)
    y = torch.randint(0, 4, (2, 5, 6))
    y[0, 0] = 255
    ce = nn.functional.cross_entropy
    expected = ce(main, y, ignore_index=255) + 0.1 * ce(aux, y, ignore_index=255)
    assert torch.allclose(seg_loss((main, aux), y), expected)
    assert torch.allclose(seg_loss((main, None), y), ce(main, y, ignore_index=255))
    assert torch.allclose(seg_loss(main, y, lambda_aux=0.5), ce(main, y, ignore_index=255))
