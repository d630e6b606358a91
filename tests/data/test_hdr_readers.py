"""Kalantari and paper-RAW readers on fixtures written in the real layouts by the writers (fhdrnet.md §10),
read the way the pipelines read them: a manifest (the preflight: listings, small text files, headers) and
then scene by scene through the streaming path (ManifestDataset + stream), decoded strictly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cvpapers.data.decode import BadSampleError
from cvpapers.data.hdr_formats import (
    kalantari_manifest,
    radiance_size,
    raw_manifest,
    read_kalantari_scene,
    read_raw_scene,
    tiff_size,
    write_kalantari,
    write_raw_dataset,
)
from cvpapers.data.hdr_scenes import HdrSceneConfig, exif_ratio, make_scenes, unpack_rggb
from cvpapers.data.streaming import ManifestDataset, SkipLog, stream


def _take(scenes: dict, idx: list[int]) -> dict:
    return {k: v[idx] for k, v in scenes.items()}


def _streamed(rows, read, on_bad_sample: str = "error", skips: SkipLog | None = None) -> dict:
    """Every scene of ``rows`` through ``stream`` (batch 1, as the pipelines evaluate), stacked again."""
    batches = list(stream(ManifestDataset(rows, read, on_bad_sample=on_bad_sample), 1, skips=skips))
    return {k: np.concatenate([b[k].numpy() for b in batches]) for k in ("ldr", "exposure", "hdr", "mask")}


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


def test_kalantari_round_trip_training_and_test_through_the_stream(kalantari_root: Path, rgb_scenes: dict) -> None:
    train, bad = kalantari_manifest(kalantari_root, "Training")
    assert not bad and list(train["name"]) == ["Training/001", "Training/002"]
    assert list(train[["height", "width"]].itertuples(index=False, name=None)) == [(64, 64), (64, 64)]
    _assert_rgb_round_trip(_streamed(train, read_kalantari_scene), _take(rgb_scenes, [0, 1]))
    test, bad = kalantari_manifest(kalantari_root, "Test")
    assert not bad and list(test["name"]) == ["Test/PAPER_001"]
    _assert_rgb_round_trip(_streamed(test, read_kalantari_scene), _take(rgb_scenes, [2]))


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
    assert tiff_size(scene / tifs[0]) == (64, 64) and radiance_size(scene / "HDRImg.hdr") == (64, 64)


def test_kalantari_grouped_test_folders_are_recursed(tmp_path: Path, rgb_scenes: dict) -> None:
    write_kalantari(tmp_path, "Test/PAPER", _take(rgb_scenes, [0, 1]), names=["BarbequeDay", "LadySitting"])
    write_kalantari(tmp_path, "Test/EXTRA", _take(rgb_scenes, [2]), names=["001"])
    test, bad = kalantari_manifest(tmp_path, "Test")
    assert not bad and list(test["name"]) == ["Test/EXTRA/001", "Test/PAPER/BarbequeDay", "Test/PAPER/LadySitting"]
    _assert_rgb_round_trip(_streamed(test, read_kalantari_scene), _take(rgb_scenes, [2, 0, 1]))


def test_kalantari_missing_split_names_the_path_and_layout(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"Training.*not found.*exposure\.txt"):
        kalantari_manifest(tmp_path, "Training")
    (tmp_path / "Training" / "001").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"no scene folders.*Training"):
        kalantari_manifest(tmp_path, "Training")


def _problems(root: Path) -> list[str]:
    rows, bad = kalantari_manifest(root, "Training")
    assert rows.empty
    return [str(e) for e in bad]


def test_kalantari_preflight_names_missing_files_and_wrong_counts(tmp_path: Path, rgb_scenes: dict) -> None:
    (folder,) = write_kalantari(tmp_path, "Training", _take(rgb_scenes, [0]))
    (folder / "HDRImg.hdr").unlink()
    assert _problems(tmp_path) == [f"{folder / 'HDRImg.hdr'}: file not found; expected layout: " + _layout()]
    write_kalantari(tmp_path, "Training", _take(rgb_scenes, [0]))
    (folder / "exposure.txt").unlink()
    assert _problems(tmp_path)[0].startswith(f"{folder / 'exposure.txt'}: file not found")
    write_kalantari(tmp_path, "Training", _take(rgb_scenes, [0]))
    (folder / "exposure.txt").write_text("-2\n0\n")
    assert "must hold 3 exposure values" in _problems(tmp_path)[0]
    write_kalantari(tmp_path, "Training", _take(rgb_scenes, [0]))
    next(folder.glob("*.tif")).unlink()
    assert _problems(tmp_path)[0].startswith(f"{folder}: must hold exactly 3 TIFF")


def _layout() -> str:
    from cvpapers.data.hdr_formats import KALANTARI_LAYOUT

    return KALANTARI_LAYOUT


def _truncate(path: Path, keep: float = 0.6) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_kalantari_preflight_catches_truncated_tiff_and_hdr_and_size_mismatch(tmp_path: Path, rgb_scenes: dict) -> None:
    (folder,) = write_kalantari(tmp_path, "Training", _take(rgb_scenes, [0]))
    tif = sorted(folder.glob("*.tif"))[1]
    _truncate(tif)
    (problem,) = _problems(tmp_path)
    assert problem.startswith(f"{tif}: ") and ("truncated" in problem or "does not read" in problem)
    write_kalantari(tmp_path, "Training", _take(rgb_scenes, [0]))
    _truncate(folder / "HDRImg.hdr", 0.3)
    (problem,) = _problems(tmp_path)
    assert problem.startswith(f"{folder / 'HDRImg.hdr'}: truncated")
    write_kalantari(tmp_path, "Training", _take(rgb_scenes, [0]))
    small = make_scenes(1, HdrSceneConfig(image_size=32), seed=1)
    write_kalantari(tmp_path / "other", "x", small)
    (folder / "HDRImg.hdr").write_bytes((tmp_path / "other/x/001/HDRImg.hdr").read_bytes())
    (problem,) = _problems(tmp_path)
    assert problem.startswith(f"{folder}: exposures and ground truth differ in size") and "HDRImg.hdr 32×32" in problem


def test_a_tiff_whose_strips_lie_past_its_end_fails_the_preflight(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "x.tif"  # Pillow writes the directory first, then the strips: a cut keeps the header
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(path)
    assert tiff_size(path) == (40, 60)
    size = path.stat().st_size
    _truncate(path, 0.9)
    with pytest.raises(BadSampleError, match=rf"x\.tif: truncated: its image data ends at byte {size} but the file"):
        tiff_size(path)


def test_a_split_may_mix_scene_sizes(tmp_path: Path, rgb_scenes: dict) -> None:
    write_kalantari(tmp_path, "Training", _take(rgb_scenes, [0]), names=["001"])
    write_kalantari(tmp_path, "Training", make_scenes(1, HdrSceneConfig(image_size=32), seed=1), names=["002"])
    rows, bad = kalantari_manifest(tmp_path, "Training")
    assert not bad and list(rows["height"]) == [64, 32]
    assert [b["hdr"].shape[1] for b in stream(ManifestDataset(rows, read_kalantari_scene), 1)] == [64, 32]


def test_a_file_damaged_after_the_preflight_is_named_or_skipped_and_counted(tmp_path: Path, rgb_scenes: dict) -> None:
    folders = write_kalantari(tmp_path, "Training", _take(rgb_scenes, [0, 1]))
    rows, bad = kalantari_manifest(tmp_path, "Training")
    assert not bad
    hdr = folders[1] / "HDRImg.hdr"
    _truncate(hdr, 0.9)  # past the preflight: the decoder finds it
    with pytest.raises(BadSampleError, match=rf"{hdr}: does not decode"):
        _streamed(rows, read_kalantari_scene)
    skips = SkipLog()
    read = _streamed(rows, read_kalantari_scene, "skip", skips)
    assert len(read["hdr"]) == 1 and skips.metrics() == {"skipped_samples": 1.0} and str(hdr) in skips.skipped
    tif = sorted(folders[0].glob("*.tif"))[2]
    tif.write_bytes(b"")
    with pytest.raises(BadSampleError, match=rf"{tif}: empty file"):
        read_kalantari_scene(rows.iloc[0])
    tif.unlink()
    with pytest.raises(BadSampleError, match=rf"{tif}: file not found"):
        read_kalantari_scene(rows.iloc[0])


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
    rows, bad = raw_manifest(raw_root, 32, 48, split)  # type: ignore[arg-type]
    assert not bad and list(rows["name"]) == [["20-12-03-05", "21-01-10-160"][idx]]
    assert (rows.loc[0, "height"], rows.loc[0, "width"]) == (16, 24)
    for k, col in (("iso", "iso"), ("time", "time"), ("aperture", "aperture")):
        np.testing.assert_array_equal(rows.loc[0, [f"{col}_{i}" for i in (1, 2, 3)]].to_numpy(float), raw_scenes[k][idx])
    read = _streamed(rows, read_raw_scene)
    assert read["ldr"].shape == (1, 3, 16, 24, 4) and read["hdr"].shape == (1, 16, 24, 4)
    np.testing.assert_allclose(read["ldr"][0], raw_scenes["ldr"][idx], rtol=0, atol=1e-6)  # counts are exact
    np.testing.assert_array_equal(read["hdr"][0], raw_scenes["hdr"][idx])  # float32 stored bit-exactly
    np.testing.assert_allclose(read["exposure"][0], raw_scenes["exposure"][idx], rtol=1e-6)
    ratio = exif_ratio(raw_scenes["iso"][idx], raw_scenes["time"][idx], raw_scenes["aperture"][idx])
    np.testing.assert_allclose(read["exposure"][0], ratio, rtol=1e-6)
    assert read["mask"].shape == (1, 16, 24) and not read["mask"].any()


def test_raw_wrong_mosaic_size_names_file_and_sizes(raw_root: Path) -> None:
    rows, bad = raw_manifest(raw_root, 48, 34, "train")
    assert rows.empty and str(bad[0]) == (f"{raw_root / '20-12-03-05' / 'im1.raw'}: has 3072 bytes but a 48×34 uint16 "
                                          "mosaic needs 3264; pass the mosaic height/width (the official data is "
                                          "3464×5216)")
    _, bad = raw_manifest(raw_root, 3464, 5216, "train")
    assert "im1.raw: has 3072 bytes but a 3464×5216" in str(bad[0])


def test_raw_truncated_mosaic_after_the_preflight_is_named(tmp_path: Path, raw_scenes: dict) -> None:
    write_raw_dataset(tmp_path, raw_scenes, names=["a", "b"], test_names=["b"])
    rows, bad = raw_manifest(tmp_path, 32, 48, "train")
    assert not bad
    _truncate(tmp_path / "a" / "gt.raw", 0.5)
    with pytest.raises(BadSampleError, match=r"a.gt\.raw: has 3072 bytes but a 32×48 float32 mosaic needs 6144"):
        _streamed(rows, read_raw_scene)


def test_raw_missing_root_list_scene_or_exif_names_the_path(tmp_path: Path, raw_root: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope.*not found.*test\.lst"):
        raw_manifest(tmp_path / "nope", 32, 48, "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty.test\.lst not found"):
        raw_manifest(tmp_path / "empty", 32, 48, "test")
    lst = tmp_path / "other.lst"
    lst.write_text("20-12-03-05\nmissing-scene\n")
    rows, bad = raw_manifest(raw_root, 32, 48, "test", test_list=lst)
    assert list(rows["name"]) == ["20-12-03-05"]
    assert [str(e) for e in bad] == [f"{raw_root / 'missing-scene'}: scene listed in {lst} has no folder"]
    broken = tmp_path / "broken"
    write_raw_dataset(broken, make_scenes(1, HdrSceneConfig(image_size=8), seed=1, domain="raw"), ["s"], ["s"])
    (broken / "s" / "im2.txt").write_text('{"iso": 100}')
    _, bad = raw_manifest(broken, 16, 16, "test")
    assert str(bad[0]) == f"{broken / 's' / 'im2.txt'}: must hold JSON keys 'iso', 'exposure', 'aperture'; missing 'exposure'"
