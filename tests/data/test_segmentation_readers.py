"""Real-format segmentation readers (ssda_dual_mix.md §10) on fixtures in the exact layouts and encodings."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cvpapers.data.decode import BadSampleError
from cvpapers.data.segmentation import (
    CITYSCAPES_LABELID_TO_TRAINID,
    CLASSES_13_IN_16,
    CLASSES_13_IN_19,
    CLASSES_16,
    CLASSES_16_IN_19,
    CLASSES_19,
    MANIFEST_COLUMNS,
    SYNTHIA_TO_TRAINID16,
    TRAINID19_TO_16,
    cityscapes_manifest,
    decode_label,
    gta5_manifest,
    load_segmentation,
    preflight_segmentation,
    read_pair,
    read_png16,
    resize_pair,
    synthia_manifest,
    write_cityscapes_fixture,
    write_gta5_fixture,
    write_png16,
    write_street_fixture,
    write_synthia_fixture,
)
from cvpapers.data.streaming import ManifestDataset, SkipLog, stream
from cvpapers.data.street_scenes import write_street_split

# The spec's tables, written out independently of the module's lookups.
CITYSCAPES_SPEC = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
                   26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}  # fmt: skip
SYNTHIA_SPEC = {3: 0, 4: 1, 2: 2, 21: 3, 5: 4, 7: 5, 15: 6, 9: 7, 6: 8, 1: 9, 10: 10, 17: 11, 8: 12, 19: 13,
                12: 14, 11: 15}  # fmt: skip
H, W = 16, 32


def _expected(ids: np.ndarray, table: dict[int, int]) -> np.ndarray:
    out = np.full(ids.shape, 255, dtype=np.uint8)
    for src, dst in table.items():
        out[ids == src] = dst
    return out


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, H, W, 3), dtype=np.uint8)


def _cityscapes_ids(n: int, seed: int) -> np.ndarray:
    # Every labelId 0–33 (mapped and unmapped) appears, in blocks so that nearest resizing keeps them.
    rng = np.random.default_rng(seed)
    blocks = rng.permutation(np.tile(np.arange(34), 2))[: n * 8].reshape(n, 2, 4)
    return np.kron(blocks, np.ones((H // 2, W // 4), dtype=np.int64)).astype(np.uint8)


def test_lookup_tables_match_the_spec() -> None:
    for label_id in range(256):
        assert CITYSCAPES_LABELID_TO_TRAINID[label_id] == CITYSCAPES_SPEC.get(label_id, 255)
        assert SYNTHIA_TO_TRAINID16[label_id] == SYNTHIA_SPEC.get(label_id, 255)
    assert [TRAINID19_TO_16[t] for t in (9, 14, 16, 255)] == [255, 255, 255, 255]
    assert [TRAINID19_TO_16[t] for t in CLASSES_16_IN_19] == list(range(16))
    assert len(CLASSES_19) == 19 and CLASSES_19[10] == "sky" and CLASSES_19[18] == "bicycle"
    assert len(CLASSES_16) == 16 and {"terrain", "truck", "train"}.isdisjoint(CLASSES_16)
    assert CLASSES_16_IN_19 == (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18)
    assert CLASSES_13_IN_19 == (0, 1, 2, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18)
    # the 13 classes are the same whether indexed in 19- or 16-class space
    assert tuple(CLASSES_16_IN_19.index(c) for c in CLASSES_13_IN_19) == CLASSES_13_IN_16
    # SYNTHIA's 16-class order is the 19-class order minus terrain, truck, train
    assert all(CLASSES_16[t] == CLASSES_19[CLASSES_16_IN_19[t]] for t in range(16))


def test_gta5_reader_returns_19_trainids_with_255_for_unmapped_labelids(tmp_path) -> None:
    images, ids = _images(3, 0), _cityscapes_ids(3, 1)
    write_gta5_fixture(tmp_path, images, ids)
    with Image.open(tmp_path / "GTA5" / "labels" / "00001.png") as lab:
        assert lab.mode == "P"  # palette PNG like the real files
    df = gta5_manifest(tmp_path)
    assert list(df.columns) == list(MANIFEST_COLUMNS) and len(df) == 3
    assert set(df["split"]) == {"train"} and set(df["dataset"]) == {"gta5"} and set(df["domain"]) == {"gta5"}
    assert df["path"].iloc[0].endswith("GTA5/images/00001.png")
    pd.testing.assert_frame_equal(df, gta5_manifest(tmp_path / "GTA5"))  # root = GTA5 or its parent
    x, y = load_segmentation(df)
    assert x.shape == (3, 3, H, W) and np.array_equal(x.permute(0, 2, 3, 1).numpy(), images)
    assert np.array_equal(y.numpy(), _expected(ids, CITYSCAPES_SPEC))
    assert (y == 255).any() and set(np.unique(y.numpy())) - {255} <= set(range(19))


def test_synthia_reader_takes_channel_0_of_a_16_bit_png_to_16_trainids(tmp_path) -> None:
    rng = np.random.default_rng(2)
    images = _images(2, 3)
    ids = rng.integers(0, 23, (2, H, W)).astype(np.uint16)
    ids[0, 0, :4] = (0, 13, 22, 0)  # SYNTHIA ids without a 16-class trainId (void, parking, lanemarking) → 255
    inst = rng.integers(257, 60000, (2, H, W)).astype(np.uint16)  # a wrong-channel read would see these
    write_synthia_fixture(tmp_path, images, ids, inst)
    label_file = tmp_path / "RAND_CITYSCAPES" / "GT" / "LABELS" / "0000000.png"
    header = label_file.read_bytes()[:33]
    width, height, depth, colour_type = struct.unpack(">IIBB", header[16:26])
    assert (width, height, depth, colour_type) == (W, H, 16, 2)  # true 16-bit RGB
    # two standard readers agree with the stored values: OpenCV (full depth) and Pillow (high byte)
    raw = read_png16(label_file)
    assert (
        raw.dtype == np.uint16
        and np.array_equal(raw[:, :, 0], ids[0])
        and np.array_equal(raw[:, :, 1], inst[0])
    )
    with Image.open(label_file) as im:
        assert np.array_equal(np.asarray(im)[:, :, 0], (ids[0] >> 8).astype(np.uint8))
    df = synthia_manifest(tmp_path)
    pd.testing.assert_frame_equal(df, synthia_manifest(tmp_path / "RAND_CITYSCAPES"))
    assert set(df["dataset"]) == {"synthia"} and len(df) == 2
    x, y = load_segmentation(df)
    assert np.array_equal(x.permute(0, 2, 3, 1).numpy(), images)
    assert np.array_equal(y.numpy(), _expected(ids.astype(np.int64), SYNTHIA_SPEC))
    assert y[0, 0, :4].tolist() == [255, 255, 255, 255]


def test_png16_writer_round_trips_full_range(tmp_path) -> None:
    arr = np.random.default_rng(4).integers(0, 65536, (5, 7, 3)).astype(np.uint16)
    assert np.array_equal(read_png16(write_png16(tmp_path / "x.png", arr)), arr)


def test_cityscapes_reader_pairs_splits_and_cities_and_maps_labelids(tmp_path) -> None:
    train_img, train_ids = _images(2, 5), _cityscapes_ids(2, 6)
    val_img, val_ids = _images(1, 7), _cityscapes_ids(1, 8)
    write_cityscapes_fixture(tmp_path, "train", "aachen", train_img, train_ids)
    write_cityscapes_fixture(tmp_path, "val", "frankfurt", val_img, val_ids)
    assert (tmp_path / "gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png").is_file()
    df = cityscapes_manifest(tmp_path)
    assert df["split"].tolist() == ["train", "train", "val"] and df["index"].tolist() == [0, 1, 0]
    assert df["path"].iloc[0].endswith("leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png")
    assert set(df["dataset"]) == {"cityscapes"}
    x, y = load_segmentation(df)
    assert np.array_equal(y.numpy(), _expected(np.concatenate([train_ids, val_ids]), CITYSCAPES_SPEC))
    assert np.array_equal(x.permute(0, 2, 3, 1).numpy(), np.concatenate([train_img, val_img]))
    assert cityscapes_manifest(tmp_path, splits=("val",))["split"].tolist() == ["val"]


def test_resizing_uses_nearest_labels_so_only_valid_ids_appear(tmp_path) -> None:
    images, ids = _images(2, 9), _cityscapes_ids(2, 10)
    write_cityscapes_fixture(tmp_path, "val", "lindau", images, ids)
    df = cityscapes_manifest(tmp_path, splits=("val",))
    for size in [(8, 16), (24, 40), (7, 13)]:
        x, y = load_segmentation(df, size=size)
        assert x.shape == (2, 3, *size) and y.shape == (2, *size) and y.dtype == x.dtype
        full = _expected(ids, CITYSCAPES_SPEC)
        for k in range(2):
            assert set(np.unique(y[k].numpy())) <= set(np.unique(full[k]))
    # bilinear images stay within the original value range and close to a smooth downscale
    flat = np.full((1, H, W, 3), 77, dtype=np.uint8)
    write_cityscapes_fixture(tmp_path / "flat", "val", "ulm", flat, ids[:1])
    x, _ = load_segmentation(cityscapes_manifest(tmp_path / "flat", splits=("val",)), size=(5, 9))
    assert (x == 77).all()


def test_mixed_manifest_decodes_each_row_by_its_dataset(tmp_path) -> None:
    emb = write_street_split(tmp_path / "emb", "city", "val", 2, H, W)
    write_cityscapes_fixture(tmp_path / "cs", "val", "ulm", _images(1, 11), _cityscapes_ids(1, 12))
    both = pd.concat([emb, cityscapes_manifest(tmp_path / "cs", splits=("val",))], ignore_index=True)
    assert both["dataset"].isna().sum() == 2  # embedded rows have no dataset column → ids as stored
    _, y = load_segmentation(both)
    assert y[:2].max() < 8 and (y[2] == 255).any()


def test_different_image_sizes_need_a_size(tmp_path) -> None:
    write_gta5_fixture(tmp_path, _images(1, 13), _cityscapes_ids(1, 14))
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "GTA5" / "images" / "00002.png")
    Image.fromarray(np.full((20, 30), 7, np.uint8)).save(tmp_path / "GTA5" / "labels" / "00002.png")
    df = gta5_manifest(tmp_path)
    with pytest.raises(ValueError, match="size"):
        load_segmentation(df)
    x, y = load_segmentation(df, size=(10, 20))
    assert x.shape == (2, 3, 10, 20) and (y[1] == 0).all()


def test_missing_roots_and_folders_are_named_with_the_expected_layout(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"GTA5.*images.*expected"):
        gta5_manifest(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"RAND_CITYSCAPES.*expected"):
        synthia_manifest(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"leftImg8bit.*expected"):
        cityscapes_manifest(tmp_path)
    write_cityscapes_fixture(tmp_path, "train", "aachen", _images(1, 15), _cityscapes_ids(1, 16))
    with pytest.raises(FileNotFoundError, match=r"gtFine[/\\]val"):
        (tmp_path / "leftImg8bit" / "val").mkdir()
        cityscapes_manifest(tmp_path)
    write_synthia_fixture(tmp_path / "s", _images(1, 17), np.ones((1, H, W), np.uint16))
    (tmp_path / "s" / "RAND_CITYSCAPES" / "GT" / "LABELS" / "0000000.png").unlink()
    (tmp_path / "s" / "RAND_CITYSCAPES" / "GT" / "LABELS").rmdir()
    with pytest.raises(FileNotFoundError, match=r"GT[/\\]LABELS"):
        synthia_manifest(tmp_path / "s")


def test_an_image_without_label_is_an_error_naming_the_image(tmp_path) -> None:
    write_gta5_fixture(tmp_path, _images(2, 18), _cityscapes_ids(2, 19))
    (tmp_path / "GTA5" / "labels" / "00002.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"images[/\\]00002\.png"):
        gta5_manifest(tmp_path)
    write_cityscapes_fixture(tmp_path / "cs", "val", "bonn", _images(1, 20), _cityscapes_ids(1, 21))
    (tmp_path / "cs/gtFine/val/bonn/bonn_000000_000019_gtFine_labelIds.png").unlink()
    with pytest.raises(FileNotFoundError, match="bonn_000000_000019_leftImg8bit.png"):
        cityscapes_manifest(tmp_path / "cs", splits=("val",))


def test_loader_names_a_missing_file_and_rejects_unknown_encodings(tmp_path) -> None:
    df = write_street_split(tmp_path, "game", "train", 2, H, W)
    gone = df.copy()
    gone.loc[1, "label_path"] = str(tmp_path / "missing_label.png")
    with pytest.raises(FileNotFoundError, match="missing_label.png"):
        load_segmentation(gone)
    bad = df.assign(dataset="kitti")
    with pytest.raises(ValueError, match="kitti"):
        load_segmentation(bad)


# -- one sample at a time: the streaming path's reader, its named errors and the preflight ----------------------

def _read_row(row) -> dict:
    image, label = read_pair(row["path"], row["label_path"], row["dataset"], 19)
    return {"image": image, "mask": label}


def test_real_layouts_stream_through_the_manifest_dataset_as_trainids(tmp_path) -> None:
    write_street_fixture(tmp_path, "gta5", 3, (40, 72), seed=1)
    write_street_fixture(tmp_path / "cs", "cityscapes", 2, (32, 64), split="val", city="ulm", seed=2)
    for df in (gta5_manifest(tmp_path), cityscapes_manifest(tmp_path / "cs", splits=("val",))):
        batches = list(stream(ManifestDataset(df, _read_row), batch_size=2))
        x = np.concatenate([b["image"].numpy() for b in batches])
        y = np.concatenate([b["mask"].numpy() for b in batches])
        ref_x, ref_y = load_segmentation(df)  # the in-memory loader reads the same pixels
        np.testing.assert_array_equal(x, ref_x.permute(0, 2, 3, 1).numpy())
        np.testing.assert_array_equal(y, ref_y.numpy())
        # street classes written as labelIds come back as their Cityscapes trainIds
        assert set(np.unique(y)) <= {0, 1, 2, 10, 8, 13, 11, 5}


def test_synthia_streams_16_class_ids_and_cityscapes16_reads_cityscapes_in_that_space(tmp_path) -> None:
    write_street_fixture(tmp_path, "synthia", 2, (24, 40), seed=3)
    image, label = read_pair(*synthia_manifest(tmp_path).iloc[0][["path", "label_path", "dataset"]])
    assert image.shape == (24, 40, 3) and set(np.unique(label)) <= {0, 1, 2, 9, 8, 12, 10, 5}
    ids = _cityscapes_ids(1, 30)
    write_cityscapes_fixture(tmp_path / "cs", "val", "ulm", _images(1, 31), ids)
    lab_path = next((tmp_path / "cs/gtFine/val/ulm").glob("*.png"))
    np.testing.assert_array_equal(decode_label(lab_path, "cityscapes16"),
                                  TRAINID19_TO_16[_expected(ids[0], CITYSCAPES_SPEC)])


def test_label_size_class_ids_and_truncation_are_named_errors(tmp_path) -> None:
    write_cityscapes_fixture(tmp_path, "val", "ulm", _images(1, 32), _cityscapes_ids(1, 33))
    row = cityscapes_manifest(tmp_path, splits=("val",)).iloc[0]
    Image.fromarray(np.full((H, W + 2), 7, np.uint8)).save(row["label_path"])
    with pytest.raises(BadSampleError, match=r"gtFine_labelIds\.png: label is 16×34 but its image .* is 16×32"):
        read_pair(row["path"], row["label_path"], "cityscapes")
    Image.fromarray(np.full((H, W), 40, np.uint8)).save(row["label_path"])  # no Cityscapes labelId is 40
    with pytest.raises(BadSampleError, match=r"labelIds\.png: class ids \[40\] outside 0\.\.33"):
        read_pair(row["path"], row["label_path"], "cityscapes")
    Image.fromarray(np.full((H, W), 19, np.uint8)).save(row["label_path"])  # a trainId map of another setting
    with pytest.raises(BadSampleError, match=r"class ids \[19\] outside 0\.\.18"):
        read_pair(row["path"], row["label_path"], "trainid", 19)
    ids = np.full((1, H, W), 3, np.uint16)
    ids[0, 0, 0] = 300
    write_synthia_fixture(tmp_path / "s", _images(1, 34), ids)
    srow = synthia_manifest(tmp_path / "s").iloc[0]
    with pytest.raises(BadSampleError, match=r"LABELS.0000000\.png: class ids \[300\] outside 0\.\.22"):
        read_pair(srow["path"], srow["label_path"], "synthia")
    Path(row["path"]).write_bytes(Path(row["path"]).read_bytes()[:-40])
    with pytest.raises(BadSampleError, match=r"leftImg8bit\.png: truncated"):
        read_pair(row["path"], None)


def test_resize_pair_is_bicubic_for_images_and_nearest_for_labels() -> None:
    image, label = _images(1, 35)[0], _cityscapes_ids(1, 36)[0]
    x, y = resize_pair(image, label, (8, 12))
    ref = np.asarray(Image.fromarray(image).resize((12, 8), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(x, ref)
    assert y.shape == (8, 12) and set(np.unique(y)) <= set(np.unique(label))
    assert resize_pair(image, label, (H, W))[0] is image  # no work at the size already


def test_preflight_names_missing_truncated_and_mismatched_files_before_any_decoding(tmp_path) -> None:
    write_street_fixture(tmp_path, "gta5", 4, (20, 36), seed=4)
    df = gta5_manifest(tmp_path)
    kept, bad = preflight_segmentation(df)
    assert len(kept) == 4 and bad == {}
    Path(df["path"][1]).unlink()
    Path(df["label_path"][2]).write_bytes(Path(df["label_path"][2]).read_bytes()[:-30])
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(df["label_path"][3])
    with pytest.raises(BadSampleError, match=r"images.00002\.png: file not found \(and 2 more problem"):
        preflight_segmentation(df)
    kept, bad = preflight_segmentation(df, on_bad_sample="skip")
    assert kept["path"].tolist() == [df["path"][0]]
    assert bad[df["path"][1]] == "file not found" and "truncated" in bad[df["label_path"][2]]
    assert bad[df["label_path"][3]].startswith("label is 20×30 but its image")


def test_a_bad_sample_is_skipped_and_counted_when_asked(tmp_path) -> None:
    write_street_fixture(tmp_path, "gta5", 3, (20, 36), seed=5)
    df = gta5_manifest(tmp_path)
    Path(df["path"][1]).write_bytes(b"not a png at all IEND\xaeB`\x82")
    with pytest.raises(BadSampleError, match="00002.png"):
        list(stream(ManifestDataset(df, _read_row)))
    skips = SkipLog()
    seen = [int(i) for b in stream(ManifestDataset(df, _read_row, on_bad_sample="skip"), skips=skips)
            for i in b["index"]]
    assert seen == [0, 2] and skips.metrics() == {"skipped_samples": 1.0}


# -- IDD and Mapillary Vistas (mtda_collab.md §10; layouts from recollection) ---------------------------------------

def _scenes(n: int, h: int = 12, w: int = 20, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_idd_reader_pairs_frames_and_maps_level3_ids_to_trainids(tmp_path) -> None:
    from cvpapers.da.data import load_arrays
    from cvpapers.data.segmentation import (
        IDD_LEVEL3_TO_TRAINID,
        idd_label_lut,
        idd_manifest,
        write_idd_fixture,
    )

    ids = np.zeros((2, 12, 20), dtype=np.uint8)
    ids[0, :3], ids[0, 3:6], ids[0, 6:9], ids[0, 9:] = 0, 24, 13, 255  # road, vegetation, curb (no class), void
    ids[1, :, :10], ids[1, :, 10:] = 9, 25  # car, sky
    write_idd_fixture(tmp_path, "train", "seq0", _scenes(2), ids)
    write_idd_fixture(tmp_path, "val", "seq1", _scenes(1, seed=1), ids[:1])
    df = idd_manifest(tmp_path)
    assert list(df.columns) == list(MANIFEST_COLUMNS) and df["split"].tolist() == ["train", "train", "val"]
    assert set(df["dataset"]) == {"idd"}
    out = load_arrays(df[df["split"] == "train"], (6, 10), idd_label_lut())
    assert out["images"].shape == (2, 6, 10, 3) and out["labels"].shape == (2, 6, 10)
    assert set(np.unique(out["labels"][0])) == {0, 8, 255}, "curb and void have no class: 255"
    assert set(np.unique(out["labels"][1])) == {13, 10}
    assert IDD_LEVEL3_TO_TRAINID[20] == 5 and max(IDD_LEVEL3_TO_TRAINID.values()) < 19


def test_idd_reader_takes_a_mapping_file_and_another_label_suffix(tmp_path) -> None:
    import json

    from cvpapers.data.segmentation import idd_label_lut, idd_manifest, write_idd_fixture

    write_idd_fixture(tmp_path, "train", "s", _scenes(1), np.full((1, 12, 20), 3, np.uint8), "_gtFine_labelids.png")
    write_idd_fixture(tmp_path, "val", "s", _scenes(1), np.full((1, 12, 20), 3, np.uint8), "_gtFine_labelids.png")
    df = idd_manifest(tmp_path, label_suffix="_gtFine_labelids.png")
    assert df["label_path"][0].endswith("000000_gtFine_labelids.png")
    (tmp_path / "map.json").write_text(json.dumps({"3": 1, "7": 6}))
    lut = idd_label_lut(tmp_path / "map.json")
    assert lut[3] == 1 and lut[7] == 6 and lut[0] == 255
    with pytest.raises(FileNotFoundError, match="leftImg8bit"):
        idd_manifest(tmp_path / "nowhere")


def test_mapillary_reader_maps_class_indices_by_name_through_config(tmp_path) -> None:
    from cvpapers.da.data import load_arrays
    from cvpapers.data.segmentation import mapillary_label_lut, mapillary_manifest, write_mapillary_fixture

    names = ["animal--bird", "construction--flat--road", "nature--sky", "object--vehicle--car", "void--unlabeled"]
    ids = np.zeros((2, 12, 20), dtype=np.uint8)
    ids[0, :6], ids[0, 6:] = 1, 2  # road, sky
    ids[1, :, :10], ids[1, :, 10:] = 3, 0  # car, bird (no class)
    write_mapillary_fixture(tmp_path, "training", _scenes(2), ids, names)
    write_mapillary_fixture(tmp_path, "validation", _scenes(1), ids[:1], names)
    df = mapillary_manifest(tmp_path)
    assert df["split"].tolist() == ["train", "train", "val"] and df["path"][0].endswith(".jpg")
    lut = mapillary_label_lut(tmp_path)
    assert lut[:5].tolist() == [255, 0, 10, 13, 255]
    out = load_arrays(df[df["split"] == "train"], (24, 40), lut)  # jpg images of any size are resized
    assert out["images"].shape == (2, 24, 40, 3)
    assert set(np.unique(out["labels"][0])) == {0, 10} and set(np.unique(out["labels"][1])) == {13, 255}
    with pytest.raises(FileNotFoundError, match="config"):
        mapillary_label_lut(tmp_path, "missing.json")


def test_synscapes_reader_pairs_numbered_files_in_numeric_order_and_decodes_labelids(tmp_path) -> None:
    """msda_collab spec §10: ``Synscapes/img/rgb/<n>.png`` ↔ ``img/class/<n>.png`` (Cityscapes labelIds), n from 1
    without padding; the folders are parameters because the layout is recalled."""
    from cvpapers.data.segmentation import synscapes_manifest, write_synscapes_fixture

    ids = np.zeros((11, 12, 20), dtype=np.uint8)
    ids[:, :6], ids[:, 6:] = 7, 26  # road, car
    ids[1, 0, 0] = 0  # unlabeled → 255
    write_synscapes_fixture(tmp_path, _scenes(11), ids)
    df = synscapes_manifest(tmp_path)
    assert [Path(p).name for p in df["path"]][:3] == ["1.png", "2.png", "3.png"] and Path(df["path"][9]).name == "10.png"
    assert (df["dataset"] == "synscapes").all() and list(df.columns) == list(MANIFEST_COLUMNS)
    assert synscapes_manifest(tmp_path / "Synscapes").equals(df)  # the root itself or its parent
    label = decode_label(df["label_path"][1], "synscapes")
    assert label[0, 0] == 255 and label[1, 0] == 0 and label[11, 0] == 13
    write_synscapes_fixture(tmp_path / "alt", _scenes(1), ids[:1], "rgb", "class")
    assert len(synscapes_manifest(tmp_path / "alt", "rgb", "class")) == 1
    with pytest.raises(FileNotFoundError, match="img/rgb"):
        synscapes_manifest(tmp_path / "alt")
