"""The user's folder: natural layouts listed and checked before any model runs; every problem names its file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cvpapers.data.decode import BadSampleError
from cvpapers.pipelines.predict import inputs


def _png(path: Path, h: int = 8, w: int = 8, dtype: type = np.uint8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.zeros((h, w, 3), dtype))
    return path


def test_images_are_listed_recursively_sorted_by_relative_name_hidden_files_left_out(tmp_path: Path) -> None:
    for rel in ("b.png", "a/z.png", "a/c.png", ".hidden.png", ".cache/x.png"):
        _png(tmp_path / rel)
    table, bad = inputs.list_images(tmp_path)
    assert list(table["name"]) == ["a/c.png", "a/z.png", "b.png"] and not bad


def test_a_file_that_is_not_an_image_is_named(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(BadSampleError, match=r"notes\.txt: is not an image file"):
        inputs.list_images(tmp_path)


def test_a_missing_or_empty_folder_names_the_expected_layout(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope not found; expected .*one image per file"):
        inputs.list_images(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no images in"):
        inputs.list_images(tmp_path)


def test_a_cut_short_image_is_found_when_listing_or_skipped_on_request(tmp_path: Path) -> None:
    good = _png(tmp_path / "good.png")
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:-20])
    with pytest.raises(BadSampleError, match=r"cut\.png: truncated"):
        inputs.list_images(tmp_path)
    table, bad = inputs.list_images(tmp_path, skip=True)
    assert list(table["name"]) == ["good.png"] and [Path(b.path).name for b in bad] == ["cut.png"]


def test_images_are_read_as_unit_rgb_whatever_their_depth_and_channels(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    assert cv2.imwrite(str(path), np.full((4, 5), 65535, np.uint16))  # 16-bit grey
    image = inputs.read_image({"path": str(path)})["image"]
    assert image.shape == (4, 5, 3) and image.dtype == np.float32 and np.allclose(image, 1.0)


def _scene(folder: Path, n: int = 3, stops: str = "-2\n0\n2\n", size: int = 8) -> None:
    for k in range(n):
        _png(folder / f"e{k}.tif", size, size, np.uint16)
    if stops is not None:
        (folder / "exposure.txt").write_text(stops)


def test_hdr_scenes_are_folders_of_three_exposures_and_their_stops(tmp_path: Path) -> None:
    _scene(tmp_path / "s2")
    _scene(tmp_path / "s1")
    table, _ = inputs.list_hdr_scenes(tmp_path)
    assert list(table["name"]) == ["s1", "s2"] and list(table.iloc[0][list(inputs.EXPOSURES)]) == [-2, 0, 2]
    sample = inputs.read_scene(table.iloc[0].to_dict())
    assert sample["ldr"].shape == (3, 8, 8, 3) and sample["exposure"].tolist() == [-2, 0, 2]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: _scene(d / "s", n=2), r"s: must hold exactly 3 exposures"),
        (lambda d: _scene(d / "s", stops=None), r"exposure\.txt: file not found"),
        (lambda d: _scene(d / "s", stops="-2 0"), r"exposure\.txt: must hold 3 exposure biases"),
        (lambda d: _png(d / "loose.png"), r"loose\.png: is a file where a scene folder belongs"),
    ],
)
def test_a_wrong_hdr_layout_names_the_file(tmp_path: Path, make, message: str) -> None:
    make(tmp_path)
    with pytest.raises(BadSampleError, match=message):
        inputs.list_hdr_scenes(tmp_path)


def test_exposures_of_different_sizes_name_the_scene(tmp_path: Path) -> None:
    _scene(tmp_path / "s")
    _png(tmp_path / "s" / "e2.tif", 8, 9, np.uint16)
    row = inputs.list_hdr_scenes(tmp_path)[0].iloc[0].to_dict()
    with pytest.raises(BadSampleError, match="exposures differ in size"):
        inputs.read_scene(row)
