"""Region-level mixing invariants (ssda_dual_mix.md §3.2, §9.3)."""

from __future__ import annotations

import pytest
import torch

from cvpapers.pipelines.ssda_dual_mix.mixing import AreaMode, box_masks, region_mix, sample_boxes

H, W = 64, 128


def _pair(n: int = 6, dtype: torch.dtype = torch.float32, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    if dtype == torch.uint8:
        x_t = torch.randint(0, 256, (n, 3, H, W), generator=gen, dtype=torch.uint8)
        x_s = torch.randint(0, 256, (n, 3, H, W), generator=gen, dtype=torch.uint8)
    else:
        x_t = torch.randn(n, 3, H, W, generator=gen).to(dtype)
        x_s = torch.randn(n, 3, H, W, generator=gen).to(dtype) + 10.0  # never equal to target
    y_t = torch.randint(0, 4, (n, H, W), generator=gen, dtype=torch.uint8)
    y_s = torch.randint(4, 8, (n, H, W), generator=gen, dtype=torch.uint8)  # disjoint from target ids
    return x_t, y_t, x_s, y_s


def test_zero_size_boxes_give_the_target_pair_unchanged() -> None:  # M ≡ 1
    x_t, y_t, x_s, y_s = _pair()
    boxes = sample_boxes(6, H, W, box_area=0.0, generator=torch.Generator().manual_seed(0))
    assert (boxes[:, 2:] == 0).all()
    x, y = region_mix(x_t, y_t, x_s, y_s, boxes)
    assert torch.equal(x, x_t) and torch.equal(y, y_t)


def test_full_size_boxes_give_the_source_pair_unchanged() -> None:  # M ≡ 0
    x_t, y_t, x_s, y_s = _pair()
    boxes = sample_boxes(6, H, W, box_area=1.0, aspect_range=(1.0, 1.0), generator=torch.Generator())
    assert torch.equal(boxes, torch.tensor([[0, 0, H, W]] * 6))
    x, y = region_mix(x_t, y_t, x_s, y_s, boxes)
    assert torch.equal(x, x_s) and torch.equal(y, y_s)


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_inside_the_box_is_source_exactly_outside_is_target_and_labels_follow_the_same_mask(
    dtype: torch.dtype,
) -> None:
    x_t, y_t, x_s, y_s = _pair(dtype=dtype, seed=1)
    boxes = sample_boxes(6, H, W, generator=torch.Generator().manual_seed(1))
    x, y = region_mix(x_t, y_t, x_s, y_s, boxes)
    assert x.dtype == dtype and y.dtype == torch.uint8
    for i, (top, left, h, w) in enumerate(boxes.tolist()):
        inside = torch.zeros(H, W, dtype=torch.bool)
        inside[top : top + h, left : left + w] = True
        assert torch.equal(x[i][:, inside], x_s[i][:, inside])
        assert torch.equal(x[i][:, ~inside], x_t[i][:, ~inside])
        assert torch.equal(y[i][inside], y_s[i][inside])
        assert torch.equal(y[i][~inside], y_t[i][~inside])
        # Source and target label ids are disjoint here, so the label mask *is* the image mask.
        assert torch.equal(y[i] >= 4, inside)


def test_box_masks_match_slicing_of_each_box() -> None:
    boxes = sample_boxes(20, H, W, area_mode="uniform", generator=torch.Generator().manual_seed(2))
    masks = box_masks(boxes, H, W)
    assert masks.shape == (20, H, W) and masks.dtype == torch.bool
    for mask, (top, left, h, w) in zip(masks, boxes.tolist(), strict=True):
        ref = torch.zeros(H, W, dtype=torch.bool)
        ref[top : top + h, left : left + w] = True
        assert torch.equal(mask, ref)


@pytest.mark.parametrize("box_area", [0.5, 0.25, 0.1])
def test_box_area_equals_box_area_within_one_row_and_column_of_rounding(box_area: float) -> None:
    boxes = sample_boxes(500, H, W, box_area=box_area, generator=torch.Generator().manual_seed(3))
    h, w = boxes[:, 2].double(), boxes[:, 3].double()
    # h, w are each within 0.5 of the exact real sizes, so |h·w − a·H·W| ≤ 0.5·(h + w) + 0.25.
    err = (h * w - box_area * H * W).abs()
    assert (err <= 0.5 * (h + w) + 0.25 + 1e-9).all()
    assert box_masks(boxes, H, W).sum(dim=(1, 2)).double().equal(h * w)


def test_uniform_area_mode_draws_areas_between_half_and_full_box_area() -> None:
    boxes = sample_boxes(
        500, H, W, box_area=0.5, area_mode="uniform", generator=torch.Generator().manual_seed(4)
    )
    frac = (boxes[:, 2] * boxes[:, 3]).double() / (H * W)
    slack = 0.5 * (H + W) / (H * W) + 1e-9
    assert (frac >= 0.25 - slack).all() and (frac <= 0.5 + slack).all()
    assert frac.min() < 0.3 and frac.max() > 0.45


def test_aspect_ratio_spans_the_log_uniform_range() -> None:
    boxes = sample_boxes(2000, H, W, generator=torch.Generator().manual_seed(5))
    rho = (boxes[:, 2].double() / H) / (boxes[:, 3].double() / W)  # relative h/w
    assert rho.min() > 0.5 * 0.9 and rho.max() < 2.0 * 1.1
    assert rho.min() < 0.6 and rho.max() > 1.7
    assert (torch.log(rho) > 0).double().mean().item() == pytest.approx(0.5, abs=0.05)


def test_boxes_lie_fully_inside_the_image() -> None:
    modes: tuple[AreaMode, ...] = ("fixed", "uniform")
    for mode in modes:
        gen = torch.Generator().manual_seed(6)
        boxes = sample_boxes(
            2000, H, W, box_area=0.9, area_mode=mode, aspect_range=(0.25, 4.0), generator=gen
        )
        top, left, h, w = boxes.unbind(1)
        assert (top >= 0).all() and (left >= 0).all() and (h >= 0).all() and (w >= 0).all()
        assert (top + h <= H).all() and (left + w <= W).all()
        # Positions vary: the corner is uniform over the feasible range, not pinned to 0.
        assert top.max() > 0 and left.max() > 0


def test_same_generator_seed_gives_the_same_boxes() -> None:
    a = sample_boxes(16, H, W, generator=torch.Generator().manual_seed(7))
    b = sample_boxes(16, H, W, generator=torch.Generator().manual_seed(7))
    c = sample_boxes(16, H, W, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == torch.int64 and a.shape == (16, 4)


def test_mismatched_shapes_and_bad_parameters_are_rejected() -> None:
    x_t, y_t, x_s, y_s = _pair()
    boxes = sample_boxes(6, H, W, generator=torch.Generator())
    with pytest.raises(ValueError):
        region_mix(x_t, y_t, x_s[:, :, :-1], y_s, boxes)
    with pytest.raises(ValueError):
        region_mix(x_t, y_t, x_s, y_s, boxes[:5])
    with pytest.raises(ValueError):
        sample_boxes(2, H, W, area_mode="gaussian", generator=torch.Generator())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        sample_boxes(2, H, W, box_area=1.5, generator=torch.Generator())


def test_the_file_backed_mixer_pastes_one_seeded_source_box_into_the_target_pair() -> None:
    import numpy as np

    from cvpapers.pipelines.ssda_dual_mix.mixing import RegionMixer

    x_t, y_t, x_s, y_s = _pair(1, torch.uint8, seed=3)
    target = {"image": x_t[0].permute(1, 2, 0).numpy(), "mask": y_t[0].numpy()}
    source = {"image": x_s[0].permute(1, 2, 0).numpy(), "mask": y_s[0].numpy()}
    mixer = RegionMixer(0.5, "fixed", (0.5, 2.0))
    out = mixer(target, source, seed=9)
    boxes = sample_boxes(1, H, W, 0.5, "fixed", (0.5, 2.0), generator=torch.Generator().manual_seed(9))
    x, y = region_mix(x_t, y_t, x_s, y_s, boxes)
    np.testing.assert_array_equal(out["image"], x[0].permute(1, 2, 0).numpy())
    np.testing.assert_array_equal(out["mask"], y[0].numpy())
    assert out["box"].tolist() == boxes[0].tolist()
    assert not np.array_equal(mixer(target, source, seed=10)["mask"], out["mask"])
