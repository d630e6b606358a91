"""On-disk formats of the FHDRNet datasets: Kalantari (SIGGRAPH 2017) and the paper's Bayer-RAW set.

Spec: ``papers/fhdrnet.md`` §10 (layouts) and §11 (pitfalls). The writers export synthetic scenes from
:func:`cvpapers.data.hdr_scenes.make_scenes` in the real layouts; they are the fixture writers of the reader
tests and of ``benchmarks/scale_fhdrnet.py``, so the readers are exercised on the same byte formats as the
real downloads.

A dataset is read in two steps, so that no split is ever held in memory at once:

- **Manifest** (:func:`kalantari_manifest`, :func:`raw_manifest`): one row per scene folder — the three
  exposure files, the ground truth, the exposures (stops, or EXIF ratios for RAW), the image size — built
  from directory listings, the small text files and the image *headers* only. It is the preflight: a missing
  file, a TIFF whose image data lies past its end, a Radiance file whose run-length scanlines stop short, a
  RAW mosaic of the wrong byte count, exposures and ground truth of different sizes — each is a
  :class:`~cvpapers.data.decode.BadSampleError` naming the file and the problem, returned beside the good
  rows so the caller can stop (``on_bad_sample: error``) or drop and count the scene (``skip``).
- **Scene** (:func:`read_kalantari_scene`, :func:`read_raw_scene`): one manifest row → the arrays of
  ``make_scenes`` for one scene (``ldr`` (3, H, W, C), ``exposure`` (3,), ``hdr`` (H, W, C), ``mask``), decoded
  strictly (:mod:`cvpapers.data.decode`): a truncated or corrupt file is a ``BadSampleError`` naming it.

Why it is built like this:

- **Kalantari.** Scene folders hold three TIFFs sorted by name (short, reference, long), ``exposure.txt``
  (stops) and ``HDRImg.hdr`` (Radiance RGBE). LDRs are read *unchanged* — 16-bit / 65535 — for training and
  testing alike (the official training reads them as 8-bit, §11). The official download groups test scenes
  (``Test/PAPER/<scene>``, ``Test/EXTRA/<scene>``), so one level of grouping is recursed; the group stays in
  the scene name (``Test/PAPER/<scene>``). Sizes are never hard-coded (scenes are read one at a time, so a
  split may even mix sizes).
- **RAW.** Headerless little-endian mosaics: ``im{1,2,3}.raw`` uint16 14-bit counts, ``gt.raw`` float32,
  ``im{1,2,3}.txt`` EXIF JSON; ``test.lst`` names the test scenes and every other scene folder is training.
  Headerless files carry no size, so the mosaic height/width are parameters (the official code hard-codes
  3464×5216) and a file whose byte size disagrees fails with both numbers.
- RGBE keeps an 8-bit mantissa per pixel with an exponent shared by the three channels, so a written
  ``HDRImg.hdr`` is exact to about 1/128 of the pixel's largest channel, not of each channel.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import pandas as pd

from cvpapers.data.decode import BadSampleError, decode_image, read_bytes
from cvpapers.data.hdr_scenes import exif_ratio, pack_rggb, unpack_rggb

__all__ = ["KALANTARI_LAYOUT", "RAW_LAYOUT", "kalantari_manifest", "radiance_size", "raw_manifest",
           "read_kalantari_scene", "read_raw_scene", "tiff_size", "write_kalantari", "write_raw_dataset"]

KALANTARI_LAYOUT = (
    "<root>/<subdir>/<scene>/ (or <root>/<subdir>/<group>/<scene>/) holding three *.tif LDRs sorted "
    "short < medium < long, exposure.txt (3 lines of stops) and HDRImg.hdr"
)
RAW_LAYOUT = (
    "<root>/<scene>/ holding im1.raw im2.raw im3.raw (uint16 mosaics), gt.raw (float32 mosaic), "
    "im1.txt im2.txt im3.txt (JSON iso/exposure/aperture), and <root>/test.lst (one test scene per line)"
)
_TIF_SUFFIXES = (".tif", ".tiff")
_HDR_NAME = "HDRImg.hdr"
FRAMES = ("ldr_1", "ldr_2", "ldr_3")
EXPOSURES = ("exposure_1", "exposure_2", "exposure_3")


# ------------------------------------------------------------------------------------------------
# headers (the preflight reads these, never the pixels)
# ------------------------------------------------------------------------------------------------


def tiff_size(path: str | Path) -> tuple[int, int]:
    """(height, width) from a TIFF's header, after checking that every strip (or tile) of image data the
    header points to lies inside the file: a file cut short while being copied fails here, not mid-run."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise BadSampleError(path, "file not found")
    size = path.stat().st_size
    if size == 0:
        raise BadSampleError(path, "empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's "corrupt EXIF" warning: the error below says it better
            im = Image.open(path)
        with im:
            if im.format != "TIFF":
                raise BadSampleError(path, f"is a {im.format} file, not a TIFF")
            width, height = im.size
            tags = im.tag_v2
            offsets, counts = tags.get(273) or tags.get(324), tags.get(279) or tags.get(325)
    except (OSError, UnidentifiedImageError, SyntaxError) as err:
        raise BadSampleError(path, f"its TIFF header does not read ({err}): truncated or not a TIFF") from None
    if offsets and counts:
        offsets = offsets if isinstance(offsets, tuple) else (offsets,)
        counts = counts if isinstance(counts, tuple) else (counts,)
        end = max(int(o) + int(c) for o, c in zip(offsets, counts, strict=False))
        if end > size:
            raise BadSampleError(path, f"truncated: its image data ends at byte {end} but the file has {size} bytes")
    return height, width


def radiance_size(path: str | Path) -> tuple[int, int]:
    """(height, width) from a Radiance RGBE header, after checking that the file holds every scanline its
    header announces: the run-length scanlines OpenCV, MATLAB and Radiance write are walked (run headers
    only, no pixel is decoded), so a file cut short is found before any training; other encodings are left
    to the decoder."""
    path = Path(path)
    data = read_bytes(path)
    if not data.startswith(b"#?"):
        raise BadSampleError(path, "not a Radiance HDR file (no '#?RADIANCE' signature)")
    blank = data.find(b"\n\n", 0, 65536)
    line_end = data.find(b"\n", blank + 2, 65536) if blank >= 0 else -1
    fields = data[blank + 2:line_end].split() if line_end >= 0 else []
    if len(fields) != 4 or fields[0] not in (b"-Y", b"+Y") or fields[2] not in (b"+X", b"-X"):
        raise BadSampleError(path, "truncated or unsupported Radiance header (no '-Y <height> +X <width>' line)")
    height, width = int(fields[1]), int(fields[3])
    problem = _rle_problem(data, line_end + 1, height, width)
    if problem:
        raise BadSampleError(path, problem)
    return height, width


def _rle_problem(data: bytes, pos: int, height: int, width: int) -> str:
    """Why the new-style run-length scanlines from ``pos`` are incomplete or corrupt ('' when they are whole)."""
    n = len(data)
    for y in range(height):
        if pos + 4 > n:
            return f"truncated: the pixel data ends in scanline {y} of {height}"
        if data[pos:pos + 2] != b"\x02\x02" or (data[pos + 2] << 8 | data[pos + 3]) != width:
            return "" if y == 0 else f"corrupt: scanline {y} of {height} has no run-length header"
        pos += 4
        for _ in range(4):  # R, G, B, E planes
            x = 0
            while x < width:
                if pos >= n:
                    return f"truncated: the pixel data ends in scanline {y} of {height}"
                count = data[pos]
                if count > 128:
                    x, pos = x + count - 128, pos + 2
                elif count:
                    x, pos = x + count, pos + 1 + count
                else:
                    return f"corrupt: an empty run in scanline {y} of {height}"
            if x != width:
                return f"corrupt: scanline {y} of {height} overruns its {width} pixels"
    return f"truncated: the pixel data ends in scanline {height - 1} of {height}" if pos > n else ""


# ------------------------------------------------------------------------------------------------
# Kalantari
# ------------------------------------------------------------------------------------------------


def _stop_text(e: float) -> str:
    """Stops as Kalantari writes them (``-2.00``) when that is exact, else full precision."""
    return f"{e:.2f}" if float(f"{e:.2f}") == e else repr(float(e))


def write_kalantari(root: str | Path, subdir: str, scenes: dict[str, np.ndarray],
                    names: Sequence[str] | None = None) -> list[Path]:
    """Write RGB scenes as ``<root>/<subdir>/<name>/``: 3 × 16-bit TIFF, ``exposure.txt``, ``HDRImg.hdr``.

    TIFF names follow the camera-file style of the dataset (``262A0898.tif`` …) so that sorting by name gives
    short < medium < long. Returns the scene folders written.
    """
    ldr, hdr, exposure = scenes["ldr"], scenes["hdr"], np.asarray(scenes["exposure"], dtype=np.float64)
    if ldr.ndim != 5 or ldr.shape[1] != 3 or ldr.shape[-1] != 3:
        raise ValueError(f"Kalantari scenes need RGB ldr of shape (N, 3, H, W, 3), got {ldr.shape}")
    n = len(ldr)
    names = [f"{k + 1:03d}" for k in range(n)] if names is None else list(names)
    if len(names) != n or len(set(names)) != n:
        raise ValueError(f"need {n} distinct scene names, got {names}")
    folders = []
    for k, name in enumerate(names):
        folder = Path(root) / subdir / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(3):
            img = np.round(np.clip(ldr[k, i], 0.0, 1.0) * 65535.0).astype(np.uint16)
            path = folder / f"262A{898 + 3 * k + i:04d}.tif"
            if not cv2.imwrite(str(path), np.ascontiguousarray(img[..., ::-1])):
                raise OSError(f"OpenCV could not write {path}")
        (folder / "exposure.txt").write_text("\n".join(_stop_text(e) for e in exposure[k]) + "\n")
        path = folder / _HDR_NAME
        if not cv2.imwrite(str(path), np.ascontiguousarray(hdr[k][..., ::-1], dtype=np.float32)):
            raise OSError(f"OpenCV could not write {path}")
        folders.append(folder)
    return folders


def _is_kalantari_scene(folder: Path) -> bool:
    """A scene folder holds exposures, ``exposure.txt`` or a ``.hdr`` (a folder of folders is a group)."""
    return any(p.suffix.lower() in (*_TIF_SUFFIXES, ".hdr") or p.name == "exposure.txt"
               for p in folder.iterdir() if p.is_file())


def _kalantari_scene_dirs(base: Path) -> list[tuple[str, Path]]:
    """Scene folders directly under ``base`` or one group level below, as (name, path), sorted by name."""
    found: list[tuple[str, Path]] = []
    for child in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if _is_kalantari_scene(child):
            found.append((child.name, child))
            continue
        for grand in sorted(p for p in child.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if _is_kalantari_scene(grand):
                found.append((f"{child.name}/{grand.name}", grand))
    return found


def _read_stops(path: Path) -> list[float]:
    if not path.is_file():
        raise BadSampleError(path, f"file not found; expected layout: {KALANTARI_LAYOUT}")
    try:
        stops = [float(v) for v in path.read_text().split()]
    except (ValueError, UnicodeDecodeError) as err:
        raise BadSampleError(path, f"must hold 3 numbers (exposure bias in stops): {err}") from None
    if len(stops) != 3:
        raise BadSampleError(path, f"must hold 3 exposure values (stops), found {stops}")
    return stops


def _kalantari_row(name: str, folder: Path) -> dict:
    """One scene's manifest row from its listing, ``exposure.txt`` and the image headers."""
    tifs = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _TIF_SUFFIXES)
    if len(tifs) != 3:
        raise BadSampleError(folder, f"must hold exactly 3 TIFF exposures (short, medium, long), found "
                                     f"{[p.name for p in tifs]}; expected layout: {KALANTARI_LAYOUT}")
    stops = _read_stops(folder / "exposure.txt")
    hdr = folder / _HDR_NAME
    if not hdr.is_file():
        others = sorted(folder.glob("*.hdr"))
        if len(others) != 1:
            raise BadSampleError(hdr, f"file not found; expected layout: {KALANTARI_LAYOUT}")
        hdr = others[0]
    sizes = {p: tiff_size(p) for p in tifs} | {hdr: radiance_size(hdr)}
    if len(set(sizes.values())) != 1:
        listed = ", ".join(f"{p.name} {h}×{w}" for p, (h, w) in sizes.items())
        raise BadSampleError(folder, f"exposures and ground truth differ in size (height×width): {listed}")
    height, width = sizes[hdr]
    return {"name": name, "folder": str(folder), **{f: str(p) for f, p in zip(FRAMES, tifs, strict=True)},
            "hdr": str(hdr), **dict(zip(EXPOSURES, stops, strict=True)), "height": height, "width": width}


def kalantari_manifest(root: str | Path, subdir: str) -> tuple[pd.DataFrame, list[BadSampleError]]:
    """The scenes of one split (``Training`` / ``Test``) of the Kalantari dataset in its official layout (§10).

    Returns the manifest — ``name`` (``<subdir>/<scene>``, ``<subdir>/<group>/<scene>`` when grouped),
    ``folder``, ``ldr_1..3`` (TIFF paths, short → long), ``hdr``, ``exposure_1..3`` (stops), ``height``,
    ``width`` — and the scenes that failed the preflight (their files are named in the errors). A missing
    split folder, or one without any scene, raises ``FileNotFoundError`` with the expected layout.
    """
    base = Path(root) / subdir
    if not base.is_dir():
        raise FileNotFoundError(f"Kalantari split folder {base} not found; expected layout: {KALANTARI_LAYOUT}")
    scene_dirs = _kalantari_scene_dirs(base)
    if not scene_dirs:
        raise FileNotFoundError(f"no scene folders with *.tif exposures under {base}; "
                                f"expected layout: {KALANTARI_LAYOUT}")
    rows, bad = [], []
    for name, folder in scene_dirs:
        try:
            rows.append(_kalantari_row(f"{subdir}/{name}", folder))
        except BadSampleError as err:
            bad.append(err)
    return pd.DataFrame(rows, columns=["name", "folder", *FRAMES, "hdr", *EXPOSURES, "height", "width"]), bad


def _check_size(path: str, img: np.ndarray, row: Mapping) -> None:
    if img.shape[:2] != (int(row["height"]), int(row["width"])):
        raise BadSampleError(path, f"is {img.shape[0]}×{img.shape[1]} but the manifest lists its scene as "
                                   f"{int(row['height'])}×{int(row['width'])} (height×width); was it replaced?")


def read_kalantari_scene(row: Mapping) -> dict[str, np.ndarray]:
    """One scene of a :func:`kalantari_manifest` row, decoded strictly: ``ldr`` float32 (3, H, W, 3) (16-bit
    TIFF / 65535, RGB), ``exposure`` float32 (3,) stops, ``hdr`` float32 (H, W, 3), ``mask`` all False (the
    real data has no motion mask)."""
    frames = []
    for key in FRAMES:
        path = row[key]
        img = decode_image(path, unchanged=True)  # RGB(A), stored depth
        if img.ndim != 3 or img.shape[2] not in (3, 4):
            raise BadSampleError(path, f"must be a 3-channel image, got shape {img.shape}")
        scale = {np.dtype(np.uint16): 65535.0, np.dtype(np.uint8): 255.0}.get(img.dtype)
        if scale is None:
            raise BadSampleError(path, f"expected a 16-bit (or 8-bit) TIFF, got dtype {img.dtype}")
        _check_size(path, img, row)
        frames.append(img[..., :3].astype(np.float32) / scale)
    hdr = decode_image(row["hdr"], unchanged=True)
    if hdr.ndim != 3 or hdr.shape[2] != 3 or hdr.dtype != np.float32:
        raise BadSampleError(row["hdr"], f"must be a 3-channel Radiance HDR image, got {hdr.dtype} {hdr.shape}")
    _check_size(row["hdr"], hdr, row)
    return {"ldr": np.stack(frames), "exposure": np.array([row[e] for e in EXPOSURES], dtype=np.float32),
            "hdr": hdr, "mask": np.zeros(hdr.shape[:2], dtype=bool)}


# ------------------------------------------------------------------------------------------------
# paper RAW dataset
# ------------------------------------------------------------------------------------------------


def write_raw_dataset(root: str | Path, scenes: dict[str, np.ndarray], names: Sequence[str],
                      test_names: Sequence[str], raw_bits: int = 14) -> list[Path]:
    """Write packed RAW scenes in the official layout (§10) and ``<root>/test.lst``; returns the scene folders.

    Frames are unpacked to RGGB mosaics and stored as little-endian uint16 counts (``round(r·(2^bits − 1))``),
    the ground truth as a float32 mosaic, the EXIF as JSON ``{"iso", "exposure", "aperture"}``.
    """
    ldr, hdr = scenes["ldr"], scenes["hdr"]
    missing = [k for k in ("iso", "time", "aperture") if k not in scenes]
    if missing:
        raise ValueError(f"RAW scenes need EXIF arrays {missing} (make_scenes(..., domain='raw') provides them)")
    if ldr.ndim != 5 or ldr.shape[1] != 3 or ldr.shape[-1] != 4:
        raise ValueError(f"RAW scenes need packed ldr of shape (N, 3, h, w, 4), got {ldr.shape}")
    n, names, test_names = len(ldr), list(names), list(test_names)
    if len(names) != n or len(set(names)) != n:
        raise ValueError(f"need {n} distinct scene names, got {names}")
    unknown = sorted(set(test_names) - set(names))
    if unknown:
        raise ValueError(f"test_names {unknown} are not among the scene names {names}")
    levels = 2**raw_bits - 1
    root = Path(root)
    folders = []
    for k, name in enumerate(names):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(3):
            counts = np.round(np.clip(unpack_rggb(ldr[k, i]), 0.0, 1.0) * levels).astype("<u2")
            counts.tofile(folder / f"im{i + 1}.raw")
            exif = {"iso": float(scenes["iso"][k, i]), "exposure": float(scenes["time"][k, i]),
                    "aperture": float(scenes["aperture"][k, i])}
            (folder / f"im{i + 1}.txt").write_text(json.dumps(exif))
        unpack_rggb(hdr[k]).astype("<f4").tofile(folder / "gt.raw")
        folders.append(folder)
    (root / "test.lst").write_text("".join(f"{t}\n" for t in test_names))
    return folders


def _mosaic_bytes(path: Path, height: int, width: int, dtype: str) -> None:
    """The byte count of a headerless mosaic, from ``stat`` alone."""
    if not path.is_file():
        raise BadSampleError(path, f"file not found; expected layout: {RAW_LAYOUT}")
    expected = height * width * np.dtype(dtype).itemsize
    size = path.stat().st_size
    if size != expected:
        raise BadSampleError(path, f"has {size} bytes but a {height}×{width} {np.dtype(dtype).name} mosaic needs "
                                   f"{expected}; pass the mosaic height/width (the official data is 3464×5216)")


def _read_mosaic(path: str, height: int, width: int, dtype: str) -> np.ndarray:
    data = read_bytes(path)
    expected = height * width * np.dtype(dtype).itemsize
    if len(data) != expected:
        raise BadSampleError(path, f"has {len(data)} bytes but a {height}×{width} {np.dtype(dtype).name} mosaic "
                                   f"needs {expected} (truncated, or not this dataset's mosaic size)")
    return np.frombuffer(data, dtype=dtype).reshape(height, width)


def _read_exif(path: Path) -> tuple[float, float, float]:
    if not path.is_file():
        raise BadSampleError(path, f"file not found; expected layout: {RAW_LAYOUT}")
    try:
        exif = json.loads(path.read_text())
        return float(exif["iso"]), float(exif["exposure"]), float(exif["aperture"])
    except KeyError as err:
        raise BadSampleError(path, f"must hold JSON keys 'iso', 'exposure', 'aperture'; missing {err}") from None
    except (ValueError, TypeError, UnicodeDecodeError) as err:
        raise BadSampleError(path, f"is not EXIF JSON with numbers for iso/exposure/aperture ({err})") from None


def _raw_row(root: Path, name: str, height: int, width: int, listed_in: Path | None) -> dict:
    folder = root / name
    if not folder.is_dir():
        raise BadSampleError(folder, f"scene listed in {listed_in} has no folder")
    frames = [folder / f"im{i}.raw" for i in (1, 2, 3)]
    for path in frames:
        _mosaic_bytes(path, height, width, "<u2")
    _mosaic_bytes(folder / "gt.raw", height, width, "<f4")
    exif = np.array([_read_exif(folder / f"im{i}.txt") for i in (1, 2, 3)])  # (3 frames, iso/time/aperture)
    ratio = exif_ratio(exif[:, 0], exif[:, 1], exif[:, 2])
    return {"name": name, "folder": str(folder), **{f: str(p) for f, p in zip(FRAMES, frames, strict=True)},
            "hdr": str(folder / "gt.raw"), **{e: float(r) for e, r in zip(EXPOSURES, ratio, strict=True)},
            **{f"{k}_{i + 1}": float(exif[i, j]) for j, k in enumerate(("iso", "time", "aperture")) for i in range(3)},
            "height": height // 2, "width": width // 2}


def raw_manifest(root: str | Path, height: int, width: int, split: Literal["train", "test"],
                 test_list: str | Path | None = None) -> tuple[pd.DataFrame, list[BadSampleError]]:
    """The scenes of one split of the paper's RAW dataset (§10); ``height``×``width`` is the mosaic size.

    ``test`` = the scenes named in ``test_list`` (default ``<root>/test.lst``), in that order; ``train`` = every
    other scene folder, sorted. Returns the manifest — ``name``, ``folder``, ``ldr_1..3``, ``hdr`` (``gt.raw``),
    ``exposure_1..3`` (EXIF ratios to frame 1), ``iso_i``/``time_i``/``aperture_i``, ``height``/``width`` of
    the packed planes (half the mosaic's) — and the scenes that failed the preflight (byte counts, EXIF).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if height <= 0 or width <= 0 or height % 2 or width % 2:
        raise ValueError(f"mosaic height/width must be positive and even, got {height}×{width}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"RAW dataset root {root} not found; expected layout: {RAW_LAYOUT}")
    lst = Path(test_list) if test_list is not None else root / "test.lst"
    if not lst.is_file():
        raise FileNotFoundError(f"test list {lst} not found; expected layout: {RAW_LAYOUT}")
    test_names = [line.strip() for line in lst.read_text().splitlines() if line.strip()]
    if split == "test":
        names = test_names
    else:
        # Scene folders are those holding any of the mosaics (a half-copied scene then fails its preflight).
        names = sorted(p.name for p in root.iterdir()
                       if p.is_dir() and p.name not in set(test_names)
                       and any((p / f).is_file() for f in ("im1.raw", "im2.raw", "im3.raw", "gt.raw")))
    if not names:
        raise FileNotFoundError(f"no {split} scenes under {root}; expected layout: {RAW_LAYOUT}")
    rows, bad = [], []
    for name in names:
        try:
            rows.append(_raw_row(root, name, height, width, lst))
        except BadSampleError as err:
            bad.append(err)
    return pd.DataFrame(rows), bad


def read_raw_scene(row: Mapping, raw_bits: int = 14) -> dict[str, np.ndarray]:
    """One scene of a :func:`raw_manifest` row: ``ldr`` float32 packed (3, h, w, 4) counts / (2^bits − 1),
    ``exposure`` float32 (3,) EXIF ratios, ``hdr`` packed float32 (h, w, 4), ``mask`` all False. A mosaic of
    the wrong byte count (truncated) is a ``BadSampleError`` naming it."""
    levels = float(2**raw_bits - 1)
    height, width = 2 * int(row["height"]), 2 * int(row["width"])
    ldr = np.stack([pack_rggb(_read_mosaic(row[f], height, width, "<u2").astype(np.float32) / levels)
                    for f in FRAMES])
    hdr = pack_rggb(_read_mosaic(row["hdr"], height, width, "<f4")).astype(np.float32)
    return {"ldr": ldr, "exposure": np.array([row[e] for e in EXPOSURES], dtype=np.float32),
            "hdr": hdr, "mask": np.zeros(hdr.shape[:2], dtype=bool)}
