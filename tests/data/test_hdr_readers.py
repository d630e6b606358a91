"""Kalantari and paper-RAW readers on fixtures written in the real layouts by the writers (fhdrnet.md §10)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cvpapers.data.hdr_formats import read_kalantari, read_raw_dataset, write_kalantari, write_raw_dataset
from cvpapers.data.hdr_scenes import HdrSceneConfig, exif_ratio, make_scenes, unpack_rggb


def _take(scenes: dict, idx: list[int]) -> dict:
    return {k: v[idx] for k, v in scenes.items()}


@pytest.fixture(scope="module")
def rgb_scenes() -> dict:
    return make_scenes(3, HdrSceneConfig(image_size=64), seed=17)


@pytest.fixture(scope="module")
def kalantari_root(tmp_path_factory: pytest.TempPathFactory, rgb_scenes: dict) -> Path:
    root = tmp_path_factory.mktemp("kalantari")
    write_kalantari(root, "Training", _take(rgb_scenes, [0, 1]))
    write_kalantari(root, "Test", _take(rgb_scenes, [2]), names=["PAPER_001"])
    return root


def _assert_rgb_round_trip(read: dict, written: dict) -> None:
    assert read["ldr"].shape == written["ldr"].shape and read["ldr"].dtype == np.float32
    np.testing.assert_allclose(read["ldr"], written["ldr"], rtol=0, atol=2 / 65535)
    np.testing.assert_array_equal(read["exposure"], written["exposure"])
    # RGBE: 8-bit mantissas with an exponent shared by the pixel's channels → ~1 % of its largest channel
    err = np.abs(read["hdr"] - written["hdr"]).max(axis=-1)
    assert np.all(err <= written["hdr"].max(axis=-1) / 128 + 1e-7)
    rel = np.abs(read["hdr"] - written["hdr"]).max() / written["hdr"].max()
    assert rel < 0.01
    assert read["mask"].shape == written["mask"].shape and not read["mask"].any()


def test_kalantari_round_trip_training_and_test(kalantari_root: Path, rgb_scenes: dict) -> None:
    train = read_kalantari(kalantari_root, "Training")
    assert train["names"] == ["001", "002"]
    _assert_rgb_round_trip(train, _take(rgb_scenes, [0, 1]))
    test = read_kalantari(kalantari_root, "Test")
    assert test["names"] == ["PAPER_001"]
    _assert_rgb_round_trip(test, _take(rgb_scenes, [2]))


def test_kalantari_files_follow_the_official_layout(kalantari_root: Path) -> None:
    import cv2

    scene = kalantari_root / "Training" / "001"
    tifs = sorted(p.name for p in scene.glob("*.tif"))
    assert len(tifs) == 3 and sorted({p.name for p in scene.iterdir()}) == sorted([*tifs, "exposure.txt", "HDRImg.hdr"])
    img = cv2.imread(str(scene / tifs[0]), cv2.IMREAD_UNCHANGED)
    assert img.dtype == np.uint16 and img.shape == (64, 64, 3)
    lines = (scene / "exposure.txt").read_text().split()
    assert lines[1] == "0.00" and lines[0] in ("-2.00", "-3.00") and float(lines[2]) == -float(lines[0])
    hdr = cv2.imread(str(scene / "HDRImg.hdr"), cv2.IMREAD_UNCHANGED)
    assert hdr.dtype == np.float32 and hdr.shape == (64, 64, 3)


def test_kalantari_grouped_test_folders_are_recursed(tmp_path: Path, rgb_scenes: dict) -> None:
    write_kalantari(tmp_path, "Test/PAPER", _take(rgb_scenes, [0, 1]), names=["BarbequeDay", "LadySitting"])
    write_kalantari(tmp_path, "Test/EXTRA", _take(rgb_scenes, [2]), names=["001"])
    test = read_kalantari(tmp_path, "Test")
    assert test["names"] == ["EXTRA/001", "PAPER/BarbequeDay", "PAPER/LadySitting"]
    _assert_rgb_round_trip(test, _take(rgb_scenes, [2, 0, 1]))


def test_kalantari_missing_split_names_the_path_and_layout(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"Training.*not found.*exposure\.txt"):
        read_kalantari(tmp_path, "Training")
    (tmp_path / "Training" / "001").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"no scene folders.*Training"):
        read_kalantari(tmp_path, "Training")


def test_kalantari_missing_files_and_wrong_counts_name_the_scene(tmp_path: Path, rgb_scenes: dict) -> None:
    (folder,) = write_kalantari(tmp_path, "Training", _take(rgb_scenes, [0]))
    (folder / "HDRImg.hdr").unlink()
    with pytest.raises(FileNotFoundError, match=r"001.HDRImg\.hdr"):
        read_kalantari(tmp_path, "Training")
    write_kalantari(tmp_path, "Training", _take(rgb_scenes, [0]))
    (folder / "exposure.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"001.exposure\.txt"):
        read_kalantari(tmp_path, "Training")
    write_kalantari(tmp_path, "Training", _take(rgb_scenes, [0]))
    next(folder.glob("*.tif")).unlink()
    with pytest.raises(ValueError, match=r"001 must hold exactly 3 TIFF"):
        read_kalantari(tmp_path, "Training")


def test_kalantari_split_with_mixed_sizes_fails_clearly(tmp_path: Path, rgb_scenes: dict) -> None:
    write_kalantari(tmp_path, "Training", _take(rgb_scenes, [0]), names=["001"])
    small = make_scenes(1, HdrSceneConfig(image_size=32), seed=1)
    write_kalantari(tmp_path, "Training", small, names=["002"])
    with pytest.raises(ValueError, match=r"'002'.*32×32.*'001'.*64×64.*one size"):
        read_kalantari(tmp_path, "Training")


# --- paper RAW layout ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw_scenes() -> dict:
    """Two RAW scenes cropped to a 16×24 packed (32×48 mosaic) size: non-square catches H/W mix-ups."""
    s = make_scenes(2, HdrSceneConfig(image_size=24), seed=5, domain="raw")
    s["ldr"], s["hdr"], s["mask"] = s["ldr"][:, :, :16], s["hdr"][:, :16], s["mask"][:, :16]
    return s


@pytest.fixture(scope="module")
def raw_root(tmp_path_factory: pytest.TempPathFactory, raw_scenes: dict) -> Path:
    root = tmp_path_factory.mktemp("raw")
    write_raw_dataset(root, raw_scenes, names=["20-12-03-05", "21-01-10-160"], test_names=["21-01-10-160"])
    return root


def test_raw_files_follow_the_official_layout(raw_root: Path, raw_scenes: dict) -> None:
    scene = raw_root / "20-12-03-05"
    assert sorted(p.name for p in scene.iterdir()) == sorted(
        ["im1.raw", "im2.raw", "im3.raw", "gt.raw", "im1.txt", "im2.txt", "im3.txt"])
    assert (scene / "im1.raw").stat().st_size == 32 * 48 * 2 and (scene / "gt.raw").stat().st_size == 32 * 48 * 4
    counts = np.fromfile(scene / "im3.raw", dtype=np.uint16).reshape(32, 48)
    assert counts.max() <= 2**14 - 1
    np.testing.assert_array_equal(counts, np.round(unpack_rggb(raw_scenes["ldr"][0, 2]) * (2**14 - 1)))
    exif = json.loads((scene / "im2.txt").read_text())
    assert set(exif) == {"iso", "exposure", "aperture"} and exif["exposure"] == raw_scenes["time"][0, 1]
    assert (raw_root / "test.lst").read_text().split() == ["21-01-10-160"]


@pytest.mark.parametrize("split,idx", [("train", 0), ("test", 1)])
def test_raw_round_trip_with_test_list_split(raw_root: Path, raw_scenes: dict, split: str, idx: int) -> None:
    read = read_raw_dataset(raw_root, 32, 48, split)  # type: ignore[arg-type]
    assert read["names"] == [["20-12-03-05", "21-01-10-160"][idx]]
    assert read["ldr"].shape == (1, 3, 16, 24, 4) and read["hdr"].shape == (1, 16, 24, 4)
    np.testing.assert_allclose(read["ldr"][0], raw_scenes["ldr"][idx], rtol=0, atol=1e-6)  # counts are exact
    np.testing.assert_array_equal(read["hdr"][0], raw_scenes["hdr"][idx])  # float32 stored bit-exactly
    for k in ("iso", "time", "aperture"):
        np.testing.assert_array_equal(read[k][0], raw_scenes[k][idx])
    np.testing.assert_allclose(read["exposure"][0], raw_scenes["exposure"][idx], rtol=1e-6)
    np.testing.assert_allclose(read["exposure"][0], exif_ratio(read["iso"], read["time"], read["aperture"])[0])
    assert read["mask"].shape == (1, 16, 24) and not read["mask"].any()


def test_raw_wrong_mosaic_size_names_file_and_sizes(raw_root: Path) -> None:
    with pytest.raises(ValueError, match=r"im1\.raw has 3072 bytes but a 48×34 uint16 mosaic needs 3264"):
        read_raw_dataset(raw_root, 48, 34, "train")
    with pytest.raises(ValueError, match=r"im1\.raw has 3072 bytes but a 3464×5216"):
        read_raw_dataset(raw_root, 3464, 5216, "train")


def test_raw_missing_root_list_or_scene_names_the_path(tmp_path: Path, raw_root: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope.*not found.*test\.lst"):
        read_raw_dataset(tmp_path / "nope", 32, 48, "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty.test\.lst not found"):
        read_raw_dataset(tmp_path / "empty", 32, 48, "test")
    lst = tmp_path / "other.lst"
    lst.write_text("20-12-03-05\nmissing-scene\n")
    with pytest.raises(FileNotFoundError, match=r"missing-scene"):
        read_raw_dataset(raw_root, 32, 48, "test", test_list=lst)
