"""The supervised draw and step shared by the DA pipelines."""

from __future__ import annotations

import pytest
import torch

from cvpapers.da.batches import maybe_flip, supervised_draw, supervised_step
from cvpapers.models.segmentation import TinyDeepLabV2, seg_loss


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def test_a_draw_depends_only_on_its_generator() -> None:
    images = torch.arange(6, dtype=torch.uint8)[:, None, None, None].expand(6, 3, 4, 4).contiguous()
    labels = torch.arange(6, dtype=torch.uint8)[:, None, None].expand(6, 4, 4).contiguous()
    draw = supervised_draw(images, labels, 5, _identity, hflip=True)
    x1, y1 = draw(torch.Generator().manual_seed(3))
    x2, y2 = draw(torch.Generator().manual_seed(3))
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and y1.dtype == torch.int64
    assert torch.equal(x1[:, 0, 0, 0].long(), y1[:, 0, 0]), "each image keeps its own label"


def test_flipping_flips_image_and_label_together() -> None:
    x = torch.arange(2 * 3 * 2 * 4).reshape(2, 3, 2, 4)
    y = x[:, 0].clone()
    fx, fy = maybe_flip(x, y, True, torch.Generator().manual_seed(0))
    assert torch.equal(fx[:, 0], fy)
    assert maybe_flip(x, y, False, torch.Generator())[0] is x


def test_supervised_step_is_the_segmentation_loss() -> None:
    torch.manual_seed(0)
    model = TinyDeepLabV2(num_classes=3).train()
    x, y = torch.randn(2, 3, 16, 32), torch.randint(0, 3, (2, 16, 32))
    loss, stats = supervised_step(0.1)(model, (x, y))
    torch.manual_seed(0)
    assert loss.item() == pytest.approx(seg_loss(model(x), y, 0.1).item(), rel=1e-6)
    assert stats == {"loss": loss.item(), "n": 1}
