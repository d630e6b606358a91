"""PASCAL VOC writer / reader (cvpapers.data.voc, mi_aod §10), tested on generated and hand-written files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cvpapers.data.detection_shapes import CLASS_NAMES, generate_shapes_det
from cvpapers.data.voc import VOC_CLASSES, load_voc_arrays, read_voc, write_voc

PROBS = {"easy": 0.4, "hard": 0.4, "clutter": 0.2}


def _xml(filename: str, width: int, height: int, objects: list[tuple[str, int, int, int, int, int]]) -> str:
    objs = "".join(
        f"<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated>"
        f"<difficult>{diff}</difficult><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax>"
        f"<ymax>{y2}</ymax></bndbox></object>"
        for name, x1, y1, x2, y2, diff in objects
    )
    return (
        f"<annotation><folder>VOC2007</folder><filename>{filename}</filename><size><width>{width}</width>"
        f"<height>{height}</height><depth>3</depth></size>{objs}</annotation>"
    )


def _write_by_hand(
    root: Path, year: str, image_id: str, image: np.ndarray, objects: list, split: str = "trainval"
) -> None:
    """One VOC image + annotation written without write_voc (JPEGImages as .jpg, like the real data)."""
    base = root / "VOCdevkit" / year
    for sub in ("Annotations", "ImageSets/Main", "JPEGImages"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    h, w = image.shape[:2]
    (base / "Annotations" / f"{image_id}.xml").write_text(_xml(f"{image_id}.jpg", w, h, objects))
    cv2.imwrite(str(base / "JPEGImages" / f"{image_id}.jpg"), np.ascontiguousarray(image[..., ::-1]))
    with open(base / "ImageSets" / "Main" / f"{split}.txt", "a") as f:
        f.write(f"{image_id}\n")


def test_voc_classes_are_the_20_standard_names_in_order() -> None:
    assert len(VOC_CLASSES) == 20 and VOC_CLASSES[0] == "aeroplane" and VOC_CLASSES[-1] == "tvmonitor"
    assert VOC_CLASSES.index("person") == 14


def test_generated_data_round_trips_exactly_through_png_voc(tmp_path: Path) -> None:
    data = generate_shapes_det(12, seed=1, regime_probs=PROBS, image_size=96)
    devkit = tmp_path / "VOCdevkit"
    ids = write_voc(devkit, data, CLASS_NAMES)
    assert ids == list(data["image_id"])
    records = read_voc(devkit, [("VOC2007", "trainval")], class_names=CLASS_NAMES)
    assert [r.image_id for r in records] == ids and all(r.image_path.suffix == ".png" for r in records)
    back = load_voc_arrays(records, image_size=96)
    assert back["images"].tobytes() == data["images"].tobytes()
    for key in ("boxes", "labels", "difficult"):
        assert back[key].dtype == data[key].dtype and np.array_equal(back[key], data[key]), key
    assert np.array_equal(back["image_id"], data["image_id"])
    assert (back["regime"] == -1).all() and (back["scale"] == 1).all()
    assert (back["orig_size"] == 96).all()


def test_written_xml_is_one_based_inclusive(tmp_path: Path) -> None:
    data = generate_shapes_det(1, seed=0, regime_probs={"easy": 1.0}, image_size=64)
    write_voc(tmp_path / "VOCdevkit", data, CLASS_NAMES, year="VOC2007", split="test", image_ext="jpg")
    text = (tmp_path / "VOCdevkit/VOC2007/Annotations/000000.xml").read_text()
    x1, y1, x2, y2 = data["boxes"][0, 0].astype(int)
    assert f"<xmin>{x1 + 1}</xmin>" in text and f"<ymin>{y1 + 1}</ymin>" in text
    assert f"<xmax>{x2}</xmax>" in text and f"<ymax>{y2}</ymax>" in text
    assert "<filename>000000.jpg</filename>" in text and "<width>64</width>" in text
    assert (tmp_path / "VOCdevkit/VOC2007/JPEGImages/000000.jpg").is_file()
    assert (tmp_path / "VOCdevkit/VOC2007/ImageSets/Main/test.txt").read_text() == "000000\n"


def test_writing_the_same_ids_twice_does_not_duplicate_split_entries(tmp_path: Path) -> None:
    data = generate_shapes_det(3, seed=0, regime_probs=PROBS, image_size=32)
    write_voc(tmp_path, data, CLASS_NAMES)
    more = generate_shapes_det(5, seed=0, regime_probs=PROBS, image_size=32)
    write_voc(tmp_path, more, CLASS_NAMES)
    lines = (tmp_path / "VOC2007/ImageSets/Main/trainval.txt").read_text().split()
    assert lines == [f"{i:06d}" for i in range(5)]


def test_sets_are_read_in_order_voc07_then_voc12(tmp_path: Path) -> None:
    img = np.full((20, 30, 3), 128, dtype=np.uint8)
    for image_id in ("000009", "000005"):  # split-file order, not sorted order
        _write_by_hand(tmp_path, "VOC2007", image_id, img, [("dog", 1, 1, 10, 10, 0)])
    for image_id in ("2008_000008", "2008_000002"):
        _write_by_hand(tmp_path, "VOC2012", image_id, img, [("cat", 1, 1, 10, 10, 0)])
    records = read_voc(tmp_path, [("VOC2007", "trainval"), ("VOC2012", "trainval")])  # parent of VOCdevkit
    assert [(r.year, r.image_id) for r in records] == [
        ("VOC2007", "000009"),
        ("VOC2007", "000005"),
        ("VOC2012", "2008_000008"),
        ("VOC2012", "2008_000002"),
    ]
    dog, cat = VOC_CLASSES.index("dog"), VOC_CLASSES.index("cat")
    assert [int(r.labels[0]) for r in records] == [dog, dog, cat, cat]
    assert load_voc_arrays(records, 30)["image_id"].tolist() == [r.image_id for r in records]


def test_hand_written_xml_converts_to_zero_based_exclusive_and_reads_difficult(tmp_path: Path) -> None:
    img = np.zeros((50, 60, 3), dtype=np.uint8)
    objects = [("person", 1, 1, 60, 50, 0), ("car", 11, 21, 30, 40, 1)]
    _write_by_hand(tmp_path, "VOC2007", "000005", img, objects)
    (rec,) = read_voc(tmp_path / "VOCdevkit", [("VOC2007", "trainval")])
    assert rec.width == 60 and rec.height == 50 and rec.image_path.name == "000005.jpg"
    assert rec.boxes.dtype == np.float32
    np.testing.assert_array_equal(rec.boxes, [[0, 0, 60, 50], [10, 20, 30, 40]])
    np.testing.assert_array_equal(rec.labels, [VOC_CLASSES.index("person"), VOC_CLASSES.index("car")])
    np.testing.assert_array_equal(rec.difficult, [False, True])


def test_letterbox_of_non_square_image_scales_image_and_boxes(tmp_path: Path) -> None:
    """An 80×40 (w×h) image at image_size 40: scale 0.5, pasted top-left, bottom half zero."""
    img = np.zeros((40, 80, 3), dtype=np.uint8)
    img[:, :, 0] = 200
    _write_by_hand(tmp_path, "VOC2007", "000001", img, [("bird", 11, 1, 50, 20, 0)])
    wide = tmp_path / "VOCdevkit/VOC2007/JPEGImages/000001.jpg"
    # Lossless copy as .png; the .jpg is removed because it would be found first.
    cv2.imwrite(str(wide.with_suffix(".png")), np.ascontiguousarray(img[..., ::-1]))
    wide.unlink()
    records = read_voc(tmp_path, [("VOC2007", "trainval")])
    assert records[0].image_path.suffix == ".png"
    d = load_voc_arrays(records, image_size=40)
    assert d["images"].shape == (1, 40, 40, 3)
    assert d["scale"][0] == np.float32(0.5) and d["orig_size"].tolist() == [[40, 80]]
    np.testing.assert_allclose(d["boxes"][0, 0], [5.0, 0.0, 25.0, 10.0])
    assert (d["images"][0, :20, :, 0] == 200).all() and (d["images"][0, 20:] == 0).all()
    # Portrait: 40 wide × 80 high → pasted on the left, right half zero.
    tall = np.ascontiguousarray(img.transpose(1, 0, 2))
    _write_by_hand(tmp_path, "VOC2007", "000002", tall, [("bird", 1, 11, 20, 50, 0)], split="tall")
    d = load_voc_arrays(read_voc(tmp_path, [("VOC2007", "tall")]), image_size=40)
    assert (d["images"][0, :, 20:] == 0).all() and d["images"][0, :, :20, 0].min() > 190
    np.testing.assert_allclose(d["boxes"][0, 0], [0.0, 5.0, 10.0, 25.0])


def test_padding_rows_for_images_with_fewer_boxes(tmp_path: Path) -> None:
    img = np.zeros((10, 10, 3), dtype=np.uint8)
    _write_by_hand(tmp_path, "VOC2007", "a", img, [("cow", 1, 1, 5, 5, 0), ("cow", 2, 2, 9, 9, 0)])
    _write_by_hand(tmp_path, "VOC2007", "b", img, [])
    d = load_voc_arrays(read_voc(tmp_path, [("VOC2007", "trainval")]), image_size=10)
    assert d["labels"].tolist() == [[9, 9], [-1, -1]] and (d["boxes"][1] == 0).all()


def test_missing_year_folder_names_path_and_layout(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"VOC2012.*VOCdevkit/<year>/\{Annotations"):
        read_voc(tmp_path, [("VOC2012", "trainval")])


def test_missing_split_file_is_reported_before_parsing(tmp_path: Path) -> None:
    _write_by_hand(tmp_path, "VOC2007", "000001", np.zeros((8, 8, 3), np.uint8), [])
    (tmp_path / "VOCdevkit/VOC2007/Annotations/000001.xml").write_text("not xml")  # would fail if parsed
    with pytest.raises(FileNotFoundError, match=r"ImageSets/Main/test\.txt"):
        read_voc(tmp_path, [("VOC2007", "trainval"), ("VOC2007", "test")])


def test_missing_annotation_or_image_names_the_file(tmp_path: Path) -> None:
    _write_by_hand(tmp_path, "VOC2007", "000001", np.zeros((8, 8, 3), np.uint8), [])
    base = tmp_path / "VOCdevkit/VOC2007"
    (base / "ImageSets/Main/trainval.txt").write_text("000001\n000002\n")
    with pytest.raises(FileNotFoundError, match=r"Annotations/000002\.xml"):
        read_voc(tmp_path, [("VOC2007", "trainval")])
    (base / "Annotations/000002.xml").write_text(_xml("000002.jpg", 8, 8, []))
    with pytest.raises(FileNotFoundError, match=r"JPEGImages/000002\.jpg"):
        read_voc(tmp_path, [("VOC2007", "trainval")])


def test_unknown_class_names_xml_class_and_allowed_names(tmp_path: Path) -> None:
    _write_by_hand(tmp_path, "VOC2007", "000007", np.zeros((8, 8, 3), np.uint8), [("unicorn", 1, 1, 4, 4, 0)])
    with pytest.raises(ValueError, match=r"000007\.xml.*'unicorn'.*aeroplane"):
        read_voc(tmp_path, [("VOC2007", "trainval")])


def test_malformed_box_names_the_xml(tmp_path: Path) -> None:
    _write_by_hand(tmp_path, "VOC2007", "000003", np.zeros((8, 8, 3), np.uint8), [("dog", 5, 1, 4, 4, 0)])
    with pytest.raises(ValueError, match=r"000003\.xml: malformed box of 'dog'"):
        read_voc(tmp_path, [("VOC2007", "trainval")])


def test_a_one_pixel_wide_box_is_valid_in_inclusive_coordinates(tmp_path: Path) -> None:
    _write_by_hand(tmp_path, "VOC2007", "000005", np.zeros((8, 8, 3), np.uint8), [("dog", 5, 1, 5, 4, 0)])
    (record,) = read_voc(tmp_path, [("VOC2007", "trainval")])
    assert record.boxes.tolist() == [[4, 0, 5, 4]]


def test_image_size_disagreeing_with_annotation_is_reported(tmp_path: Path) -> None:
    _write_by_hand(tmp_path, "VOC2007", "000004", np.zeros((8, 8, 3), np.uint8), [])
    xml = tmp_path / "VOCdevkit/VOC2007/Annotations/000004.xml"
    xml.write_text(_xml("000004.jpg", 16, 8, []))
    records = read_voc(tmp_path, [("VOC2007", "trainval")])
    with pytest.raises(ValueError, match=r"000004\.jpg: image is 8×8 but its annotation says 16×8"):
        load_voc_arrays(records, 8)


# ------------------------------------------------------------------ the file-backed path: manifests, streaming


def test_manifest_round_trips_the_annotations_through_csv(tmp_path: Path) -> None:
    import pandas as pd

    from cvpapers.data.voc import manifest_ground_truth, voc_manifest

    data = generate_shapes_det(6, seed=3, regime_probs=PROBS, image_size=48)
    data["difficult"] = np.zeros_like(data["labels"], dtype=bool)
    data["difficult"][1, 0] = True
    write_voc(tmp_path, data, CLASS_NAMES, image_ext="jpg")
    records = read_voc(tmp_path, [("VOC2007", "trainval")], class_names=CLASS_NAMES)
    voc_manifest(records, "pool").to_csv(tmp_path / "manifest.csv", index=False)
    rows = pd.read_csv(tmp_path / "manifest.csv")
    assert rows["split"].eq("pool").all() and rows["annotation_path"].str.endswith(".xml").all()
    gt = manifest_ground_truth(rows)
    memory = load_voc_arrays(records, image_size=48)  # the in-memory path's annotations, at scale 1
    for key in ("boxes", "labels", "difficult"):
        assert np.array_equal(gt[key], memory[key]), key
    assert gt["difficult"][1, 0] and gt["height"].tolist() == [48] * 6


def test_voc_samples_stream_through_the_manifest_and_a_truncated_jpeg_is_named(tmp_path: Path) -> None:
    from cvpapers.data.decode import BadSampleError
    from cvpapers.data.streaming import ManifestDataset, SkipLog, stream
    from cvpapers.data.voc import read_voc_image, voc_manifest

    img = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    for i in range(5):
        _write_by_hand(tmp_path, "VOC2007", f"00000{i}", img, [("dog", 1, 1, 10, 10, 0)])
    rows = voc_manifest(read_voc(tmp_path, [("VOC2007", "trainval")]), "pool")
    read = lambda row: {"image": read_voc_image(row)}  # noqa: E731
    batches = list(stream(ManifestDataset(rows, read), batch_size=2))
    assert [b["index"].tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    assert batches[0]["image"].shape == (2, 30, 40, 3)  # decoded as RGB at the annotated size
    np.testing.assert_allclose(batches[0]["image"][0].float().mean(), img.mean(), atol=2)  # JPEG, nearly lossless
    path = Path(rows.loc[3, "image_path"])
    path.write_bytes(path.read_bytes()[:-100])  # half-written: cv2.imread would fill it grey
    with pytest.raises(BadSampleError, match=f"{path}: truncated"):
        list(stream(ManifestDataset(rows, read), batch_size=2))
    with pytest.raises(BadSampleError, match=f"{path}: truncated"):
        load_voc_arrays(read_voc(tmp_path, [("VOC2007", "trainval")]), 40)
    skips = SkipLog()
    kept = [i for b in stream(ManifestDataset(rows, read, on_bad_sample="skip"), 2, skips=skips)
            for i in b["index"].tolist()]
    assert kept == [0, 1, 2, 4] and skips.metrics() == {"skipped_samples": 1.0}


def test_preflight_lists_every_unusable_image_or_returns_them_when_skipping(tmp_path: Path) -> None:
    from cvpapers.data.decode import BadSampleError
    from cvpapers.data.voc import check_voc_images, voc_manifest

    img = np.zeros((8, 8, 3), np.uint8)
    for i in range(3):
        _write_by_hand(tmp_path, "VOC2007", f"00000{i}", img, [])
    rows = voc_manifest(read_voc(tmp_path, [("VOC2007", "trainval")]), "pool")
    assert check_voc_images(rows) == []
    Path(rows.loc[0, "image_path"]).write_bytes(b"garbage")
    cv2.imwrite(rows.loc[2, "image_path"], np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(BadSampleError, match=r"2 of 3 listed images(.|\n)*000000\.jpg: not an image(.|\n)*"
                                             r"000002\.jpg: image is 9×8 but its annotation says 8×8"):
        check_voc_images(rows)
    assert [p.path for p in check_voc_images(rows, "skip")] == [rows.loc[0, "image_path"], rows.loc[2, "image_path"]]
