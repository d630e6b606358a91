"""detection_grid: panels of images with GT / predicted boxes (papers/mi_aod.md §7 figures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cvpapers.engine.plots import _plt, detection_grid

CLASSES = ["square", "circle", "triangle"]


def test_one_axis_per_image_with_boxes_text_and_captions(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 32, 48, 3), dtype=np.uint8)
    panels = [
        {
            "gt_boxes": np.array([[2.0, 3.0, 20.0, 25.0]]), "gt_labels": np.array([0]),
            "boxes": np.array([[1.0, 2.0, 21.0, 24.0], [30.0, 5.0, 45.0, 30.0]]),
            "labels": np.array([0, 2]), "scores": np.array([0.87, 0.4]), "caption": "U=0.031 · hard",
        },
        {"boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0]]), "labels": torch.tensor([1])},  # no scores
        {"gt_boxes": np.zeros((0, 4)), "gt_labels": np.zeros(0, dtype=np.int64),
         "boxes": np.zeros((0, 4)), "labels": np.zeros(0, dtype=np.int64), "scores": np.zeros(0)},
        {},
        {"boxes": np.array([[0.0, 0.0, 5.0, 5.0]]), "labels": np.array([7]), "scores": np.array([0.5])},
    ]
    fig = detection_grid(images, panels, CLASSES, ncols=3, title="cycle 1")
    try:
        assert len(fig.axes) == 5  # the sixth grid cell is removed
        assert all(len(ax.images) == 1 for ax in fig.axes)
        assert tuple(fig.get_size_inches()) == pytest.approx((6.0, 2 * 2.2 + 0.3))  # caption row + title
        first = fig.axes[0]
        assert len(first.patches) == 3  # 1 GT + 2 predictions
        assert first.patches[0].get_linestyle() == "-" and first.patches[1].get_linestyle() == "--"
        assert [t.get_text() for t in first.texts] == ["square 0.87", "triangle 0.40"]
        assert first.get_xlabel() == "U=0.031 · hard"
        assert [t.get_text() for t in fig.axes[1].texts] == ["circle"]
        assert len(fig.axes[2].patches) == 0 and len(fig.axes[3].patches) == 0
        assert [t.get_text() for t in fig.axes[4].texts] == ["7 0.50"]  # unknown class → its index
        out = tmp_path / "grid.png"
        fig.savefig(out, dpi=60)
        assert out.stat().st_size > 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        _plt().close(fig)
    assert not _plt().fignum_exists(fig.number)


def test_single_image_and_panel_count_mismatch() -> None:
    images = np.zeros((1, 16, 16, 3), dtype=np.uint8)
    fig = detection_grid(images, [{}], CLASSES)
    assert len(fig.axes) == 1 and tuple(fig.get_size_inches()) == pytest.approx((2.0, 2.0))
    _plt().close(fig)
    with pytest.raises(ValueError, match="1 images but 2 panels"):
        detection_grid(images, [{}, {}], CLASSES)
