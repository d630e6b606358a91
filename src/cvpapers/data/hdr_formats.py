"""On-disk formats of the FHDRNet datasets: Kalantari (SIGGRAPH 2017) and the paper's Bayer-RAW set.

Spec: ``papers/fhdrnet.md`` §10 (layouts) and §11 (pitfalls). The writers export synthetic scenes from
:func:`cvpapers.data.hdr_scenes.make_scenes` in the real layouts; they are the fixture writers of the reader
tests, so the readers are exercised on the same byte formats as the real downloads. The readers return the
same keys as ``make_scenes`` (plus ``names``), so the pipelines treat real and synthetic scenes alike.

Why it is built like this:

- **Kalantari.** Scene folders hold three TIFFs sorted by name (short, reference, long), ``exposure.txt``
  (stops) and ``HDRImg.hdr`` (Radiance RGBE). LDRs are read *unchanged* — 16-bit / 65535 — for training and
  testing alike (the official training reads them as 8-bit, §11). The official download groups test scenes
  (``Test/PAPER/<scene>``, ``Test/EXTRA/<scene>``), so one level of grouping is recursed; the group stays in
  the scene name (``PAPER/<scene>``). Sizes are never hard-coded but must agree within a split (the arrays
  are stacked); a mismatch fails naming the scene.
- **RAW.** Headerless little-endian mosaics: ``im{1,2,3}.raw`` uint16 14-bit counts, ``gt.raw`` float32,
  ``im{1,2,3}.txt`` EXIF JSON; ``test.lst`` names the test scenes and every other scene folder is training.
  Headerless files carry no size, so the mosaic height/width are parameters (the official code hard-codes
  3464×5216) and a file whose byte size disagrees fails with both numbers.
- RGBE keeps an 8-bit mantissa per pixel with an exponent shared by the three channels, so a written
  ``HDRImg.hdr`` is exact to about 1/128 of the pixel's largest channel, not of each channel.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from cvpapers.data.hdr_scenes import exif_ratio, pack_rggb, unpack_rggb

__all__ = ["read_kalantari", "read_raw_dataset", "write_kalantari", "write_raw_dataset"]

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
    return any(p.suffix.lower() in _TIF_SUFFIXES for p in folder.iterdir() if p.is_file())


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


def _read_image(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"OpenCV could not read {path}")
    return img


def _read_kalantari_scene(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tifs = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _TIF_SUFFIXES)
    if len(tifs) != 3:
        raise ValueError(f"{folder} must hold exactly 3 TIFF exposures (short, medium, long), found "
                         f"{[p.name for p in tifs]}; expected layout: {KALANTARI_LAYOUT}")
    frames = []
    for p in tifs:
        img = _read_image(p)
        if img.ndim != 3 or img.shape[2] not in (3, 4):
            raise ValueError(f"{p} must be a 3-channel image, got shape {img.shape}")
        scale = {np.dtype(np.uint16): 65535.0, np.dtype(np.uint8): 255.0}.get(img.dtype)
        if scale is None:
            raise ValueError(f"{p}: expected a 16-bit (or 8-bit) TIFF, got dtype {img.dtype}")
        frames.append(img[..., 2::-1].astype(np.float32) / scale)  # BGR(A) → RGB
    exp_path = folder / "exposure.txt"
    if not exp_path.is_file():
        raise FileNotFoundError(f"missing {exp_path}; expected layout: {KALANTARI_LAYOUT}")
    try:
        stops = np.array([float(v) for v in exp_path.read_text().split()], dtype=np.float32)
    except ValueError as err:
        raise ValueError(f"{exp_path} must hold 3 numbers (exposure bias in stops): {err}") from None
    if stops.shape != (3,):
        raise ValueError(f"{exp_path} must hold 3 exposure values (stops), found {stops.tolist()}")
    hdr_path = folder / _HDR_NAME
    if not hdr_path.is_file():
        others = sorted(folder.glob("*.hdr"))
        if len(others) != 1:
            raise FileNotFoundError(f"missing {hdr_path}; expected layout: {KALANTARI_LAYOUT}")
        hdr_path = others[0]
    hdr = _read_image(hdr_path)
    if hdr.ndim != 3 or hdr.shape[2] != 3:
        raise ValueError(f"{hdr_path} must be a 3-channel Radiance HDR image, got shape {hdr.shape}")
    hdr = hdr[..., ::-1].astype(np.float32)
    shapes = {p.name: f.shape[:2] for p, f in zip(tifs, frames, strict=True)} | {hdr_path.name: hdr.shape[:2]}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"{folder}: exposures and HDR differ in size: {shapes}")
    return np.stack(frames), stops, hdr


def read_kalantari(root: str | Path, subdir: str) -> dict:
    """Read one split (``Training`` / ``Test``) of the Kalantari dataset in its official layout (§10).

    Returns ``ldr`` float32 ``(N, 3, H, W, 3)`` (16-bit TIFF / 65535, RGB), ``exposure`` float32 ``(N, 3)``
    stops, ``hdr`` float32 ``(N, H, W, 3)``, ``mask`` all False (the real data has no motion mask) and
    ``names`` (list of scene names, ``group/scene`` when grouped).
    """
    base = Path(root) / subdir
    if not base.is_dir():
        raise FileNotFoundError(f"Kalantari split folder {base} not found; expected layout: {KALANTARI_LAYOUT}")
    scene_dirs = _kalantari_scene_dirs(base)
    if not scene_dirs:
        raise FileNotFoundError(f"no scene folders with *.tif exposures under {base}; "
                                f"expected layout: {KALANTARI_LAYOUT}")
    ldrs, stops, hdrs, names = [], [], [], []
    for name, folder in scene_dirs:
        ldr, e, hdr = _read_kalantari_scene(folder)
        if ldrs and hdr.shape != hdrs[0].shape:
            raise ValueError(f"scene {name!r} in {base} is {hdr.shape[0]}×{hdr.shape[1]} but {names[0]!r} is "
                             f"{hdrs[0].shape[0]}×{hdrs[0].shape[1]}; all scenes of a split must share one size")
        ldrs.append(ldr)
        stops.append(e)
        hdrs.append(hdr)
        names.append(name)
    hdr_arr = np.stack(hdrs)
    return {"ldr": np.stack(ldrs), "exposure": np.stack(stops), "hdr": hdr_arr,
            "mask": np.zeros(hdr_arr.shape[:3], dtype=bool), "names": names}


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


def _read_mosaic(path: Path, height: int, width: int, dtype: str) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"missing {path}; expected layout: {RAW_LAYOUT}")
    expected = height * width * np.dtype(dtype).itemsize
    size = path.stat().st_size
    if size != expected:
        raise ValueError(f"{path} has {size} bytes but a {height}×{width} {np.dtype(dtype).name} mosaic needs "
                         f"{expected}; pass the mosaic height/width (the official data is 3464×5216)")
    return np.fromfile(path, dtype=dtype).reshape(height, width)


def _read_exif(path: Path) -> tuple[float, float, float]:
    if not path.is_file():
        raise FileNotFoundError(f"missing {path}; expected layout: {RAW_LAYOUT}")
    exif = json.loads(path.read_text())
    try:
        return float(exif["iso"]), float(exif["exposure"]), float(exif["aperture"])
    except KeyError as err:
        raise ValueError(f"{path} must hold JSON keys 'iso', 'exposure', 'aperture'; missing {err}") from None


def read_raw_dataset(root: str | Path, height: int, width: int, split: Literal["train", "test"],
                     raw_bits: int = 14, test_list: str | Path | None = None) -> dict:
    """Read one split of the paper's RAW dataset (§10); ``height``×``width`` is the mosaic size.

    ``test`` = the scenes named in ``test_list`` (default ``<root>/test.lst``), in that order; ``train`` = every
    other scene folder, sorted. Returns the RAW keys of ``make_scenes`` (``ldr`` packed counts / (2^bits − 1),
    ``exposure`` = EXIF ratios to frame 1, ``hdr`` packed GT, ``mask`` all False, ``iso``/``time``/``aperture``)
    plus ``names``.
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
        absent = [t for t in names if not (root / t).is_dir()]
        if absent:
            raise FileNotFoundError(f"test scenes {absent} listed in {lst} have no folder under {root}")
    else:
        # Scene folders are those holding any of the mosaics (a half-copied scene then fails loudly below).
        names = sorted(p.name for p in root.iterdir()
                       if p.is_dir() and p.name not in set(test_names)
                       and any((p / f).is_file() for f in ("im1.raw", "im2.raw", "im3.raw", "gt.raw")))
    if not names:
        raise FileNotFoundError(f"no {split} scenes under {root}; expected layout: {RAW_LAYOUT}")
    levels = float(2**raw_bits - 1)
    n, h, w = len(names), height // 2, width // 2
    out = {"ldr": np.empty((n, 3, h, w, 4), np.float32), "hdr": np.empty((n, h, w, 4), np.float32),
           "iso": np.empty((n, 3)), "time": np.empty((n, 3)), "aperture": np.empty((n, 3))}
    for k, name in enumerate(names):
        folder = root / name
        for i in range(3):
            counts = _read_mosaic(folder / f"im{i + 1}.raw", height, width, "<u2")
            out["ldr"][k, i] = pack_rggb(counts.astype(np.float32) / levels)
            out["iso"][k, i], out["time"][k, i], out["aperture"][k, i] = _read_exif(folder / f"im{i + 1}.txt")
        out["hdr"][k] = pack_rggb(_read_mosaic(folder / "gt.raw", height, width, "<f4"))
    out["exposure"] = exif_ratio(out["iso"], out["time"], out["aperture"]).astype(np.float32)
    out["mask"] = np.zeros((n, h, w), dtype=bool)
    return {**out, "names": names}
