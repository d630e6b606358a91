"""Strict decoding: a file that does not decode completely is an error naming the file and the problem.

Decoders are lenient by default: OpenCV fills the missing rows of a half-written JPEG with grey and only
prints "Premature end of JPEG file" on stderr, and Pillow's errors do not name the file. Every reader of
real data goes through these functions, so a corrupt sample stops the run (or is skipped, counted and
logged when the user sets ``data.on_bad_sample: skip``) instead of being trained on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# The last bytes a complete file of each kind ends with (JPEG: end-of-image marker; PNG: the IEND chunk).
_TRAILERS = {".jpg": b"\xff\xd9", ".jpeg": b"\xff\xd9", ".png": b"IEND\xaeB`\x82"}


class BadSampleError(ValueError):
    """A sample file that is missing, truncated or not decodable; ``path`` and ``problem`` say which and why."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


def read_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise BadSampleError(path, "file not found") from None
    except OSError as err:
        raise BadSampleError(path, f"cannot be read ({err.strerror or err})") from None


def _check_trailer(path: str | Path, size: int, tail: bytes) -> None:
    """The file is not empty and, for JPEG/PNG, ``tail`` (its last bytes) ends with the format's end marker."""
    if size == 0:
        raise BadSampleError(path, "empty file")
    trailer = _TRAILERS.get(Path(path).suffix.lower())
    # Some writers pad JPEGs with zeros after the end-of-image marker.
    if trailer is not None and not tail.rstrip(b"\x00").endswith(trailer):
        raise BadSampleError(path, f"truncated: it does not end with the {Path(path).suffix.lower()[1:].upper()} "
                                   "end marker (half-written or cut short)")


def check_complete(path: str | Path, data: bytes) -> None:
    """JPEG and PNG files must end with their trailer: a file cut short while being written does not."""
    _check_trailer(path, len(data), data)


def check_end_marker(path: str | Path) -> None:
    """:func:`check_complete` without reading the whole file (a preflight over many files): the file exists,
    is not empty and, for JPEG/PNG, its last bytes hold the format's end marker."""
    try:
        with Path(path).open("rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - 1024))
            tail = f.read()
    except FileNotFoundError:
        raise BadSampleError(path, "file not found") from None
    except OSError as err:
        raise BadSampleError(path, f"cannot be read ({err.strerror or err})") from None
    _check_trailer(path, size, tail)


def decode_image(path: str | Path, *, color: bool = True, unchanged: bool = False) -> np.ndarray:
    """An image file as an array, strictly: RGB ``uint8`` H×W×3 when ``color`` (JPEG/PNG/TIFF …), or the
    stored depth and channels when ``unchanged`` (16-bit PNG/TIFF; channels in file order, not BGR)."""
    import cv2

    data = read_bytes(path)
    check_complete(path, data)
    flags = cv2.IMREAD_UNCHANGED if unchanged else (cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flags | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise BadSampleError(path, "does not decode as an image (corrupt or not an image file)")
    if img.ndim == 3 and img.shape[2] in (3, 4):
        img = img[:, :, [2, 1, 0, 3][: img.shape[2]]]  # BGR(A) → RGB(A)
    return np.ascontiguousarray(img)


def open_pil(path: str | Path):  # -> PIL.Image.Image
    """A fully decoded Pillow image (palette kept), with the file named if it is truncated or corrupt."""
    import io

    from PIL import Image, UnidentifiedImageError

    data = read_bytes(path)
    check_complete(path, data)
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (OSError, UnidentifiedImageError, SyntaxError) as err:
        raise BadSampleError(path, f"does not decode ({err})") from None
    return img


def check_same_size(image_path: str | Path, image_hw: tuple[int, int], label_path: str | Path,
                    label_hw: tuple[int, int]) -> None:
    if tuple(image_hw) != tuple(label_hw):
        raise BadSampleError(label_path, f"label is {label_hw[0]}×{label_hw[1]} but its image {image_path} is "
                                         f"{image_hw[0]}×{image_hw[1]} (height×width)")


def check_label_ids(path: str | Path, labels: np.ndarray, n_classes: int, ignore: int = 255) -> None:
    """Every id is a class (< ``n_classes``) or the ignore value: anything else is a wrong mapping."""
    bad = np.unique(labels[(labels >= n_classes) & (labels != ignore)])
    if bad.size:
        raise BadSampleError(path, f"class ids {bad[:8].tolist()} outside 0..{n_classes - 1} (and ignore {ignore}); "
                                   "is the label mapping right for this dataset?")
