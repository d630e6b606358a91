"""The user's folder in the task's natural layout: listed and checked up front, then read one batch at a time.

Layouts (what a user has, not what a benchmark ships):

* classification, segmentation, detection, restoration — **one image per file** (PNG, JPEG, TIFF, BMP, WebP),
  in the folder or its subfolders; the name is the path relative to the folder;
* HDR merge — **one folder per scene** holding its three exposures (sorted by name: short, reference, long; 8- or
  16-bit) and ``exposure.txt`` with three exposure biases in stops, as the Kalantari reader expects
  (:mod:`cvpapers.data.hdr_formats`); no ground truth is needed.

Listing reads directory entries and the last bytes of each file (a cut-short JPEG/PNG is found before any model
runs, :func:`~cvpapers.data.decode.check_end_marker`); pixels are decoded strictly only when a batch needs them
(:func:`~cvpapers.data.decode.decode_image`), so a folder of 10,000 images costs the memory of one batch. A file
that does not decode is a :class:`~cvpapers.data.decode.BadSampleError` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cvpapers.data.decode import BadSampleError, check_end_marker, decode_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
IMAGE_LAYOUT = f"<input_dir>/[<subfolders>/]<image> — one image per file ({', '.join(IMAGE_SUFFIXES)})"
HDR_LAYOUT = (
    "<input_dir>/<scene>/ holding 3 exposures (short < reference < long by file name; "
    f"{', '.join(IMAGE_SUFFIXES)}) and exposure.txt (3 exposure biases in stops, one per line)"
)
FRAMES = ("ldr_1", "ldr_2", "ldr_3")
EXPOSURES = ("exposure_1", "exposure_2", "exposure_3")


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _require_folder(folder: Path, layout: str) -> None:
    if not folder.is_dir():
        raise FileNotFoundError(f"input folder {folder} not found; expected {layout}. Set predict.input_dir.")


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: str | Path, skip: bool = False) -> tuple[pd.DataFrame, list[BadSampleError]]:
    """One row per image (``name``: path relative to ``folder``, ``path``), sorted; any other file or an empty
    folder raises naming it; a cut-short image raises too, or with ``skip`` is left out and returned."""
    folder = Path(folder)
    _require_folder(folder, IMAGE_LAYOUT)
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and _visible(p) and all(_visible(q) for q in p.relative_to(folder).parents)
    )
    others = [p for p in files if not _is_image(p)]
    if others:
        raise BadSampleError(
            others[0], f"is not an image file ({len(others)} such in {folder}); expected {IMAGE_LAYOUT}"
        )
    if not files:
        raise FileNotFoundError(f"no images in {folder}; expected {IMAGE_LAYOUT}")
    good, bad = [], []
    for path in files:
        try:
            check_end_marker(path)
            good.append(path)
        except BadSampleError as err:
            if not skip:
                raise
            bad.append(err)
    return pd.DataFrame(
        {"name": [p.relative_to(folder).as_posix() for p in good], "path": [str(p) for p in good]}
    ), bad


def _read_stops(path: Path) -> list[float]:
    if not path.is_file():
        raise BadSampleError(path, f"file not found; expected {HDR_LAYOUT}")
    try:
        stops = [float(v) for v in path.read_text().split()]
    except (ValueError, UnicodeDecodeError) as err:
        raise BadSampleError(path, f"must hold 3 numbers (exposure biases in stops): {err}") from None
    if len(stops) != 3:
        raise BadSampleError(path, f"must hold 3 exposure biases (stops), found {stops}")
    return stops


def list_hdr_scenes(folder: str | Path, skip: bool = False) -> tuple[pd.DataFrame, list[BadSampleError]]:
    """One row per scene folder: ``name``, ``folder``, ``ldr_1..3`` (short → long), ``exposure_1..3`` (stops);
    a file where a scene folder belongs raises naming it, and so does a scene without 3 exposures or
    ``exposure.txt``, or with a cut-short exposure (with ``skip`` that scene is left out and returned)."""
    folder = Path(folder)
    _require_folder(folder, HDR_LAYOUT)
    loose = sorted(p for p in folder.iterdir() if p.is_file() and _visible(p))
    if loose:
        raise BadSampleError(loose[0], f"is a file where a scene folder belongs; expected {HDR_LAYOUT}")
    rows, bad = [], []
    for scene in sorted(p for p in folder.iterdir() if p.is_dir() and _visible(p)):
        try:
            rows.append(_scene_row(scene))
        except BadSampleError as err:
            if not skip:
                raise
            bad.append(err)
    if not rows and not bad:
        raise FileNotFoundError(f"no scene folders in {folder}; expected {HDR_LAYOUT}")
    return pd.DataFrame(rows, columns=["name", "folder", *FRAMES, *EXPOSURES]), bad


def _scene_row(scene: Path) -> dict[str, Any]:
    frames = sorted(p for p in scene.iterdir() if p.is_file() and _is_image(p))
    if len(frames) != 3:
        raise BadSampleError(
            scene, f"must hold exactly 3 exposures, found {[p.name for p in frames]}; expected {HDR_LAYOUT}"
        )
    for path in frames:
        check_end_marker(path)
    stops = _read_stops(scene / "exposure.txt")
    return {
        "name": scene.name,
        "folder": str(scene),
        **{f: str(p) for f, p in zip(FRAMES, frames, strict=True)},
        **dict(zip(EXPOSURES, stops, strict=True)),
    }


def to_unit_rgb(path: str, img: np.ndarray) -> np.ndarray:
    """A decoded image (any depth, grey/RGB/RGBA) as float32 RGB H×W×3 in [0, 1]."""
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(img.dtype)
    if scale is None:
        raise BadSampleError(path, f"expected an 8- or 16-bit image, got {img.dtype}")
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] not in (1, 3, 4):
        raise BadSampleError(path, f"expected a grey, RGB or RGBA image, got {img.shape[2]} channels")
    img = img[..., :3] if img.shape[2] >= 3 else np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img, dtype=np.float32) / np.float32(scale)


def read_image(row: Mapping[str, Any]) -> dict[str, Any]:
    """One image row → ``{"image": float32 H×W×3 in [0, 1]}`` (strict decode; 16-bit kept)."""
    return {"image": to_unit_rgb(row["path"], decode_image(row["path"], unchanged=True))}


def read_scene(row: Mapping[str, Any]) -> dict[str, Any]:
    """One HDR scene row → ``{"ldr": float32 (3, H, W, 3) in [0, 1], "exposure": (3,) stops}``."""
    frames = [to_unit_rgb(row[f], decode_image(row[f], unchanged=True)) for f in FRAMES]
    sizes = {f.shape[:2] for f in frames}
    if len(sizes) != 1:
        raise BadSampleError(row["folder"], f"its exposures differ in size (height, width): {sorted(sizes)}")
    return {"ldr": np.stack(frames), "exposure": np.array([row[e] for e in EXPOSURES], dtype=np.float32)}
