"""What a DA setting trains and what it reports: class names per source dataset and the validation scores.

Reporting protocols (``papers/ssda_dual_mix.md`` §3.8, §7):

* GTA5 → Cityscapes trains and reports the 19 Cityscapes classes;
* SYNTHIA → Cityscapes trains 16 classes and reports the mIoU over 13 of them (without wall, fence, pole),
  as the official evaluation does: ``val_miou`` is that 13-class number, the 16-class mean is kept beside
  it as ``val_miou_16``;
* the embedded benchmark (8 classes) reports all 8; pole is too thin to learn at 64×128, so the mean
  without it is logged beside as ``val_miou_7``.

Score keys are bare (``val_miou``, ``val_pixel_acc``, ``iou_<class>``): the project hook files them under the
node that returns them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

SOURCES: tuple[str, ...] = ("embedded", "gta5", "synthia")


def class_names(source: str) -> list[str]:
    """The classes a setting trains, in label order: the benchmark's 8, Cityscapes' 19 (GTA5), SYNTHIA's 16."""
    from cvpapers.data.segmentation import CLASSES_16, CLASSES_19
    from cvpapers.data.street_scenes import CLASS_NAMES

    if source not in SOURCES:
        raise ValueError(f"unknown DA source {source!r}; allowed: {', '.join(SOURCES)}")
    return list({"embedded": CLASS_NAMES, "gta5": CLASSES_19, "synthia": CLASSES_16}[source])


def label_colors(source: str) -> np.ndarray | None:
    """Colours of the label maps for plots (``None``: the embedded benchmark's own palette)."""
    from cvpapers.data.segmentation import trainid_colors

    return None if source == "embedded" else trainid_colors(len(class_names(source)))


def reported_classes(names: Sequence[str]) -> list[int]:
    """Indices of the classes the reported mIoU averages (SYNTHIA's 13 of 16; otherwise all)."""
    from cvpapers.data.segmentation import CLASSES_13_IN_16, CLASSES_16

    return list(CLASSES_13_IN_16) if tuple(names) == CLASSES_16 else list(range(len(names)))


def iou_key(name: str) -> str:
    """The metric key of one class's IoU (``iou_traffic_light``)."""
    return f"iou_{name.replace(' ', '_')}"


def val_scores(result: Mapping[str, Any], names: Sequence[str]) -> dict[str, float]:
    """The reported scores of an :func:`~cvpapers.metrics.segmentation.evaluate_segmenter` result."""
    from cvpapers.data.segmentation import CLASSES_16
    from cvpapers.data.street_scenes import CLASS_NAMES

    iou = list(result["iou"])
    out = {"val_miou": result["miou"], "val_pixel_acc": result["pixel_acc"]}
    out.update({iou_key(c): v for c, v in zip(names, iou, strict=True)})
    if tuple(names) == CLASSES_16:
        out["val_miou_16"] = result["miou"]
        out["val_miou"] = float(np.nanmean([iou[i] for i in reported_classes(names)]))
    elif tuple(names) == CLASS_NAMES:
        keep = [v for c, v in zip(names, iou, strict=True) if c != "pole" and v == v]
        out["val_miou_7"] = float(np.mean(keep)) if keep else float("nan")
    return out
