"""Region-level domain mixing of DDM (``papers/ssda_dual_mix.md`` §3.2, Eq. 1).

``x^rl = M ⊙ x^t + (1 − M) ⊙ x^s`` with ``M = 0`` inside one rectangle and ``1`` elsewhere: a
**source** box is pasted into a **target** image at the same location, and the labels are mixed
with exactly the same mask (§11 pitfalls: not the reverse, not a different mask). The box size is
not given by the paper; the default follows French et al.'s CutMix for segmentation: a fixed area
fraction and a log-uniform aspect ratio, the box fully inside the image.

Boxes are drawn from an explicit ``torch.Generator`` so a training loop's mixing is reproducible
independently of other random draws (augmentation, dropout, pairing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

AreaMode = Literal["fixed", "uniform"]
_AREA_MODES: tuple[str, ...] = ("fixed", "uniform")


def sample_boxes(
    n: int,
    height: int,
    width: int,
    box_area: float = 0.5,
    area_mode: AreaMode = "fixed",
    aspect_range: tuple[float, float] = (0.5, 2.0),
    *,
    generator: torch.Generator,
) -> Tensor:
    """Draw ``n`` boxes → int64 ``n×4`` rows ``(top, left, h, w)``, each fully inside ``height×width``.

    Area fraction ``a = box_area`` (``fixed``) or ``a ~ U(box_area/2, box_area)`` (``uniform``; the
    spec's [0.25, 0.5] at the default 0.5). Aspect ratio relative to the image's
    ``ρ = exp(U(ln lo, ln hi))`` (log-uniform, so ρ and 1/ρ are equally likely);
    ``h = round(H·sqrt(a·ρ))``, ``w = round(W·sqrt(a/ρ))`` clipped to the image, hence ``h·w ≈ a·H·W``
    up to one row/column of rounding (less if clipped). The top-left corner is uniform over the
    positions that keep the box inside. ``box_area = 0`` gives empty boxes (pure target) and
    ``box_area = 1`` with ``aspect_range = (1, 1)`` the full image (pure source).
    """
    if area_mode not in _AREA_MODES:
        raise ValueError(f"area_mode must be one of {_AREA_MODES}, got {area_mode!r}")
    if not 0.0 <= box_area <= 1.0:
        raise ValueError(f"box_area must lie in [0, 1], got {box_area}")
    lo, hi = (float(v) for v in aspect_range)
    if not 0.0 < lo <= hi:
        raise ValueError(f"aspect_range must satisfy 0 < lo <= hi, got {aspect_range}")
    if n < 0 or height <= 0 or width <= 0:
        raise ValueError(f"need n >= 0 and a positive image size, got n={n}, {height}×{width}")
    u = torch.rand(n, 4, generator=generator, dtype=torch.float64)
    if area_mode == "fixed":
        area = torch.full((n,), float(box_area), dtype=torch.float64)
    else:
        area = box_area * (0.5 + 0.5 * u[:, 0])
    rho = torch.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * u[:, 1])
    h = torch.round(height * torch.sqrt(area * rho)).long().clamp(0, height)
    w = torch.round(width * torch.sqrt(area / rho)).long().clamp(0, width)
    # floor(U·(H − h + 1)) is uniform on {0, …, H − h}; the clamp only guards U's upper end.
    top = torch.minimum(torch.floor(u[:, 2] * (height - h + 1)).long(), height - h)
    left = torch.minimum(torch.floor(u[:, 3] * (width - w + 1)).long(), width - w)
    return torch.stack((top, left, h, w), dim=1)


def box_masks(boxes: Tensor, height: int, width: int) -> Tensor:
    """Bool ``n×H×W`` masks, True inside each box (the pixels that come from the source image).

    Built as the outer AND of a row mask and a column mask, so it is one broadcast, no loop.
    """
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be n×4 (top, left, h, w), got shape {tuple(boxes.shape)}")
    top, left, h, w = (v[:, None] for v in boxes.long().unbind(1))
    rows = torch.arange(height, device=boxes.device)[None, :]
    cols = torch.arange(width, device=boxes.device)[None, :]
    in_rows = (rows >= top) & (rows < top + h)
    in_cols = (cols >= left) & (cols < left + w)
    return in_rows[:, :, None] & in_cols[:, None, :]


def region_mix(
    x_target: Tensor,
    y_target: Tensor,
    x_source: Tensor,
    y_source: Tensor,
    boxes: Tensor,
) -> tuple[Tensor, Tensor]:
    """Eq. 1: paste each source box into its target image; labels mixed with the same mask.

    Images ``N×C×H×W`` (any dtype: uint8 or normalised float), labels ``N×H×W``; pair ``i`` of the
    batch uses ``boxes[i]``. Implemented as a selection (``torch.where``), not ``M·x_t + (1−M)·x_s``
    arithmetic, so pixels inside are bit-identical to the source and outside to the target, and
    uint8 labels never pass through floats.
    """
    if x_target.shape != x_source.shape or x_target.ndim != 4:
        raise ValueError(
            f"images must both be N×C×H×W of one shape, got {tuple(x_target.shape)} and {tuple(x_source.shape)}"
        )
    n, _, height, width = x_target.shape
    if y_target.shape != (n, height, width) or y_source.shape != (n, height, width):
        raise ValueError(
            f"labels must be N×H×W = {(n, height, width)}, got {tuple(y_target.shape)} and {tuple(y_source.shape)}"
        )
    if boxes.shape[0] != n:
        raise ValueError(f"need one box per pair: {n} pairs, {boxes.shape[0]} boxes")
    from_source = box_masks(boxes.to(x_target.device), height, width)
    x_mixed = torch.where(from_source[:, None], x_source, x_target)
    y_mixed = torch.where(from_source, y_source, y_target)
    return x_mixed, y_mixed


@dataclass(frozen=True)
class RegionMixer:
    """Eq. 1 on one (target, source) pair of file-backed samples (``{"image": H×W×3, "mask": H×W}`` uint8 of one
    size, already cropped): one box drawn from the pair's seed, the source box pasted into the target image and
    labels mixed alike — what :func:`cvpapers.pipelines.ssda_dual_mix.training.region_mixed_draw` does to a
    batch, done per pair in the DataLoader worker (the ``combine`` of a :class:`~cvpapers.da.streams.PairDataset`)."""

    box_area: float = 0.5
    area_mode: AreaMode = "fixed"
    aspect_range: tuple[float, float] = (0.5, 2.0)

    def __call__(self, target: dict[str, Any], source: dict[str, Any], seed: int) -> dict[str, Any]:
        h, w = target["image"].shape[:2]
        g = torch.Generator().manual_seed(int(seed))
        boxes = sample_boxes(1, h, w, self.box_area, self.area_mode, tuple(self.aspect_range), generator=g)
        t = lambda a: torch.from_numpy(np.array(a))  # noqa: E731 - a writable copy (crops are read-only views)
        x, y = region_mix(t(target["image"]).permute(2, 0, 1)[None], t(target["mask"])[None],
                          t(source["image"]).permute(2, 0, 1)[None], t(source["mask"])[None], boxes)
        return {"image": x[0].permute(1, 2, 0).contiguous().numpy(), "mask": y[0].numpy(), "box": boxes[0].numpy()}
