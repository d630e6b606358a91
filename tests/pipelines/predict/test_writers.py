"""What predictions look like on disk: VOC XML, colour masks, tone mapping, the contact sheet."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import cv2
import numpy as np

from cvpapers.pipelines.predict import writers

CTX = writers.WriteContext(class_names=("circle", "square"), draw_score_thr=0.5)


def test_voc_xml_holds_one_object_per_detection_with_one_based_corners() -> None:
    xml = writers.voc_xml(
        "a/img.png",
        (40, 60),
        np.float32([[0, 0, 10, 20], [5, 5, 6, 6]]),
        np.float32([0.9, 0.1]),
        np.int64([1, 0]),
        CTX,
    )
    root = ET.fromstring(xml)
    assert root.find("filename").text == "img.png" and root.find("size/width").text == "60"
    objects = root.findall("object")
    assert [o.find("name").text for o in objects] == ["square", "circle"]
    assert [int(objects[0].find(f"bndbox/{k}").text) for k in ("xmin", "ymin", "xmax", "ymax")] == [
        1,
        1,
        10,
        20,
    ]


def test_only_boxes_above_the_draw_threshold_are_drawn() -> None:
    image = np.zeros((30, 30, 3), np.uint8)
    drawn = writers.draw_boxes(image, np.float32([[2, 2, 20, 20]]), np.float32([0.4]), np.int64([0]), CTX)
    assert not drawn.any()
    drawn = writers.draw_boxes(image, np.float32([[2, 2, 20, 20]]), np.float32([0.6]), np.int64([0]), CTX)
    assert drawn.any() and not image.any()  # the input is left as it was


def test_segmentation_files_colour_each_class_and_keep_the_ids(tmp_path: Path) -> None:
    mask = np.array([[0, 1], [1, 0]], np.uint8)
    rows, tile = writers.write_segmentation(
        tmp_path, "x.jpg", {"image": np.zeros((2, 2, 3), np.float32)}, {"mask": mask, "confidence": 0.7}, CTX
    )
    colours = cv2.imread(str(tmp_path / "masks/x.png"))[..., ::-1]
    assert (colours[mask == 1] == writers.palette(2)[1]).all()
    assert (cv2.imread(str(tmp_path / "labels/x.png"), cv2.IMREAD_UNCHANGED) == mask).all()
    assert rows[0]["frac_square"] == 0.5 and tile.shape == (writers.THUMB, writers.THUMB, 3)


def test_palette_extends_past_the_benchmark_classes_with_distinct_colours() -> None:
    colours = writers.palette(30)
    assert colours.shape == (30, 3) and len({tuple(c) for c in colours}) == 30


def test_tone_mapping_is_monotone_and_fills_the_8_bit_range() -> None:
    ramp = np.linspace(0, 1, 50, dtype=np.float32)[None, :, None].repeat(3, 2)
    tone = writers.tone_map(ramp, 5000.0)
    assert tone[0, 0, 0] == 0 and tone[0, -1, 0] == 255 and (np.diff(tone[0, :, 0].astype(int)) >= 0).all()


def test_contact_sheet_is_a_grid_of_tiles() -> None:
    tiles = [writers.thumbnail(np.full((10, 30, 3), 100, np.uint8), "cap") for _ in range(5)]
    sheet = writers.contact_sheet(tiles, columns=4)
    assert sheet.shape == (2 * (writers.THUMB + 2) + 2, 4 * (writers.THUMB + 2) + 2, 3)
