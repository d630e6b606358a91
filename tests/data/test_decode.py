"""Strict decoding: truncated, missing and corrupt files are errors naming the file; good files decode as
OpenCV/Pillow decode them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from cvpapers.data.decode import BadSampleError, check_label_ids, check_same_size, decode_image, open_pil


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif"])
def test_complete_files_decode_like_opencv_in_rgb(tmp_path: Path, image: np.ndarray, suffix: str) -> None:
    path = tmp_path / f"a{suffix}"
    Image.fromarray(image).save(path)
    ref = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(decode_image(path), ref)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif"])
def test_half_written_files_are_named_errors(tmp_path: Path, image: np.ndarray, suffix: str) -> None:
    path = tmp_path / f"a{suffix}"
    Image.fromarray(image).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadSampleError, match=str(path)):
        decode_image(path)
    if suffix != ".tif":
        with pytest.raises(BadSampleError, match="truncated"):
            open_pil(path)


def test_sixteen_bit_png_keeps_its_depth_and_channel_order(tmp_path: Path) -> None:
    raw = np.random.default_rng(1).integers(0, 65535, (8, 9, 3), dtype=np.uint16)
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), raw[:, :, ::-1])  # OpenCV writes BGR
    np.testing.assert_array_equal(decode_image(path, unchanged=True), raw)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(BadSampleError, match="file not found"):
        decode_image(tmp_path / "missing.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(BadSampleError, match="empty file"):
        decode_image(tmp_path / "empty.jpg")


def test_label_checks_name_the_problem() -> None:
    with pytest.raises(BadSampleError, match=r"label is 4×5 but its image img.png is 4×6"):
        check_same_size("img.png", (4, 6), "lab.png", (4, 5))
    labels = np.array([[0, 1, 255], [19, 2, 3]], dtype=np.uint8)
    check_label_ids("ok.png", np.minimum(labels, 18) * (labels != 255) + 255 * (labels == 255), 19)
    with pytest.raises(BadSampleError, match=r"class ids \[19\] outside 0..18"):
        check_label_ids("lab.png", labels, 19)
