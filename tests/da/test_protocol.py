"""The DA evaluation protocol: classes per setting, SYNTHIA's 13-of-16 mIoU, the embedded mean without pole."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cvpapers.da import protocol
from cvpapers.data.segmentation import CLASSES_13_IN_16, CLASSES_16, CLASSES_19
from cvpapers.data.street_scenes import CLASS_NAMES


def test_each_setting_trains_its_own_classes() -> None:
    assert protocol.class_names("embedded") == list(CLASS_NAMES)
    assert protocol.class_names("gta5") == list(CLASSES_19)
    assert protocol.class_names("synthia") == list(CLASSES_16)
    assert protocol.label_colors("embedded") is None and protocol.label_colors("gta5").shape == (19, 3)
    with pytest.raises(ValueError, match="unknown DA source"):
        protocol.class_names("mapillary")


def test_synthia_reports_the_mean_over_13_classes_and_keeps_the_16_class_mean_beside_it() -> None:
    iou = [float(i) for i in range(16)]
    scores = protocol.val_scores({"miou": 7.5, "pixel_acc": 90.0, "iou": iou}, CLASSES_16)
    assert scores["val_miou_16"] == 7.5
    assert scores["val_miou"] == pytest.approx(np.mean([iou[i] for i in CLASSES_13_IN_16]))
    assert {"wall", "fence", "pole"} == {CLASSES_16[i] for i in range(16) if i not in CLASSES_13_IN_16}
    assert protocol.reported_classes(CLASSES_16) == list(CLASSES_13_IN_16)
    assert scores["iou_traffic_light"] == 6.0, "class keys carry no spaces"


def test_embedded_scores_add_the_mean_without_pole_and_skip_absent_classes() -> None:
    iou = [50.0, 40.0, float("nan"), 30.0, 20.0, 10.0, 0.0, 0.0]
    scores = protocol.val_scores({"miou": 25.0, "pixel_acc": 80.0, "iou": iou}, CLASS_NAMES)
    assert scores["val_miou"] == 25.0 and scores["val_pixel_acc"] == 80.0
    assert scores["val_miou_7"] == pytest.approx(np.mean([50, 40, 30, 20, 10, 0]))
    assert math.isnan(scores["iou_building"])
    assert protocol.reported_classes(CLASS_NAMES) == list(range(8))


def test_gta5_reports_all_19_classes() -> None:
    scores = protocol.val_scores({"miou": 42.0, "pixel_acc": 1.0, "iou": [42.0] * 19}, CLASSES_19)
    assert scores["val_miou"] == 42.0 and "val_miou_7" not in scores and "val_miou_16" not in scores
