"""Segmentation manifests → tensors, and the real datasets of the DA pipelines (GTA5, SYNTHIA, Cityscapes).

Spec: ``papers/ssda_dual_mix.md`` §10 (layouts and encodings) and §3.8 (class index sets). Why one module:
the embedded street scenes (:mod:`cvpapers.data.street_scenes`) and the real datasets reach the pipelines the
same way — a manifest table with ``path``/``label_path`` per sample — so a single loader turns any of them
into tensors, decoding each label file by its row's ``dataset`` column:

=============  ==========================================================================================
``dataset``    label file → trainIds
=============  ==========================================================================================
``embedded``   8-bit PNG, ids stored as they are (also used when the column is absent or empty)
``gta5``       8-bit PNG (palette mode in the real data: the palette *index* is the Cityscapes labelId)
``cityscapes`` 8-bit ``*_gtFine_labelIds.png``; labelId → 19 trainIds, everything else → 255
``synthia``    16-bit 3-channel PNG, SYNTHIA class id in the first (R) channel → 16-class trainIds
``cityscapes16`` Cityscapes labelIds read into SYNTHIA's 16-class space (SYNTHIA → Cityscapes)
``trainid``    8-bit PNG of trainIds written by the project (pseudo labels): ids as stored
=============  ==========================================================================================

Real files are decoded strictly (:mod:`cvpapers.data.decode`): a missing, truncated or undecodable file, a
label whose size differs from its image and a raw id the dataset's encoding does not define (a Cityscapes
labelId above 33, a SYNTHIA id above 22) are errors naming the file and the problem. For the streaming path
:func:`read_pair` reads one sample, :func:`resize_pair` applies the official code's resizing and
:func:`preflight_segmentation` checks a whole manifest cheaply (headers and end markers) before long work.

Pitfalls this module handles so callers do not have to: a palette PNG must be read as indices (converting it
to grey would turn labelIds into luminances); Pillow reads 16-bit RGB PNGs as 8-bit (keeping the high byte,
which is 0 for every SYNTHIA id), so SYNTHIA labels are decoded with OpenCV's unchanged-depth reader, whose
BGR order puts the first PNG channel at index 2. The fixture writers produce the exact real layouts and
encodings, so the readers are tested on files shaped like the datasets'.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

__all__ = [
    "CITYSCAPES_LABELID_TO_TRAINID",
    "RAW_ID_COUNT",
    "CLASSES_13_IN_16",
    "CLASSES_13_IN_19",
    "CLASSES_16",
    "CLASSES_16_IN_19",
    "CLASSES_19",
    "DATASETS",
    "MANIFEST_COLUMNS",
    "SYNTHIA_TO_TRAINID16",
    "TRAINID19_TO_16",
    "cityscapes_manifest",
    "decode_label",
    "gta5_manifest",
    "load_segmentation",
    "preflight_segmentation",
    "read_pair",
    "read_png16",
    "resize_pair",
    "synscapes_manifest",
    "synthia_manifest",
    "write_cityscapes_fixture",
    "write_gta5_fixture",
    "write_png16",
    "write_synscapes_fixture",
    "write_synthia_fixture",
]

IGNORE = 255
#: Columns of the real-data manifests (the embedded one has ``horizon`` instead of ``dataset``).
MANIFEST_COLUMNS: tuple[str, ...] = ("path", "label_path", "split", "domain", "index", "dataset")
#: Label encodings understood by :func:`load_segmentation` and :func:`read_pair`.
DATASETS: tuple[str, ...] = ("embedded", "gta5", "cityscapes", "synthia", "cityscapes16", "trainid", "synscapes", "idd", "mapillary")
#: How many raw ids each real encoding defines (Cityscapes labelIds 0–33, SYNTHIA class ids 0–22); a stored
#: value outside them (other than 255) means a wrong file or a wrong ``dataset``, not a class to ignore.
RAW_ID_COUNT: dict[str, int] = {"gta5": 34, "cityscapes": 34, "cityscapes16": 34, "synthia": 23, "synscapes": 34}

#: The 19 Cityscapes evaluation classes in trainId order.
CLASSES_19: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
)  # fmt: skip
#: Index sets of §3.8 (from the official ``eval.py``): the SYNTHIA 16 classes and the reported 13.
CLASSES_16_IN_19: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18)
CLASSES_13_IN_19: tuple[int, ...] = (0, 1, 2, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18)
CLASSES_13_IN_16: tuple[int, ...] = (0, 1, 2, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#: The 16 SYNTHIA-setting classes in their contiguous trainId order (19 minus terrain, truck, train).
CLASSES_16: tuple[str, ...] = tuple(CLASSES_19[i] for i in CLASSES_16_IN_19)


def _lut(pairs: Iterable[tuple[int, int]]) -> np.ndarray:
    lut = np.full(256, IGNORE, dtype=np.uint8)
    for src, dst in pairs:
        lut[src] = dst
    lut.setflags(write=False)
    return lut


#: Cityscapes labelId → trainId (official ``info.json``), 256-entry lookup; unmapped ids → 255.
CITYSCAPES_LABELID_TO_TRAINID: np.ndarray = _lut(
    zip((7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33), range(19), strict=True)
)
#: SYNTHIA class id → 16-class trainId (§10), 256-entry lookup; ids ≥ 256 are mapped to 255 by the decoder.
SYNTHIA_TO_TRAINID16: np.ndarray = _lut(
    zip((3, 4, 2, 21, 5, 7, 15, 9, 6, 1, 10, 17, 8, 19, 12, 11), range(16), strict=True)
)
#: 19-class trainId → 16-class trainId (drops terrain 9, truck 14, train 16 → 255), 256-entry lookup.
TRAINID19_TO_16: np.ndarray = _lut(zip(CLASSES_16_IN_19, range(16), strict=True))

# Cityscapes colours per labelId (labels.py), used as the GTA5 fixture palette so the fixture looks like
# the real files; readers use the palette index, never the colour.
_CITYSCAPES_COLORS: dict[int, tuple[int, int, int]] = {
    5: (111, 74, 0), 6: (81, 0, 81), 7: (128, 64, 128), 8: (244, 35, 232), 9: (250, 170, 160),
    10: (230, 150, 140), 11: (70, 70, 70), 12: (102, 102, 156), 13: (190, 153, 153), 14: (180, 165, 180),
    15: (150, 100, 100), 16: (150, 120, 90), 17: (153, 153, 153), 18: (153, 153, 153), 19: (250, 170, 30),
    20: (220, 220, 0), 21: (107, 142, 35), 22: (152, 251, 152), 23: (70, 130, 180), 24: (220, 20, 60),
    25: (255, 0, 0), 26: (0, 0, 142), 27: (0, 0, 70), 28: (0, 60, 100), 29: (0, 0, 90), 30: (0, 0, 110),
    31: (0, 80, 100), 32: (0, 0, 230), 33: (119, 11, 32),
}  # fmt: skip

_GTA5_LAYOUT = (
    "expected <root>/GTA5/images/00001.png … and <root>/GTA5/labels/00001.png (root = GTA5 or its parent)"
)
_SYNTHIA_LAYOUT = (
    "expected <root>/RAND_CITYSCAPES/RGB/0000000.png … and <root>/RAND_CITYSCAPES/GT/LABELS/0000000.png "
    "(root = RAND_CITYSCAPES or its parent)"
)
_CITYSCAPES_LAYOUT = (
    "expected <root>/leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png and "
    "<root>/gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png"
)


# --------------------------------------------------------------------------------------------------------
# 16-bit PNG (SYNTHIA labels)
# --------------------------------------------------------------------------------------------------------
def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def write_png16(path: str | Path, array: np.ndarray) -> Path:
    """Write a ``uint16`` H×W×3 array as a true 16-bit RGB PNG (big-endian samples, filter 0), numpy + zlib.

    Why not Pillow: it has no 48-bit RGB mode and would store 8 bits per channel. OpenCV and libpng read
    the result back unchanged (tested), which is what the SYNTHIA labels need.
    """
    arr = np.asarray(array)
    if arr.dtype != np.uint16 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"write_png16 expects uint16 H×W×3, got {arr.dtype} {arr.shape}")
    h, w = arr.shape[:2]
    rows = arr.astype(">u2").reshape(h, w * 3).view(np.uint8)
    raw = np.concatenate([np.zeros((h, 1), dtype=np.uint8), rows], axis=1).tobytes()  # filter byte 0 per row
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )
    return path


def read_png16(path: str | Path) -> np.ndarray:
    """Read a PNG at its stored depth, channels in file order (R, G, B[, A]); 2-D for single-channel files.

    Strict (:func:`cvpapers.data.decode.decode_image`, OpenCV's unchanged-depth decoder, a dependency of
    albumentations) because Pillow truncates 16-bit RGB to 8 bits; a missing or truncated file is a
    :class:`~cvpapers.data.decode.BadSampleError` naming it.
    """
    from cvpapers.data.decode import decode_image

    return decode_image(path, unchanged=True)


# --------------------------------------------------------------------------------------------------------
# label decoding and loading
# --------------------------------------------------------------------------------------------------------
def _read_index_png(path: str | Path) -> np.ndarray:
    """An 8-bit label PNG as stored values: palette indices for 'P' files (never converted to grey)."""
    from cvpapers.data.decode import BadSampleError, open_pil

    img = open_pil(path)
    if img.mode not in ("P", "L", "I", "I;16", "I;16B", "I;16L"):
        raise BadSampleError(path, f"label has mode {img.mode!r}; expected a single-channel id map")
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        arr = np.where((arr >= 0) & (arr < 256), arr, IGNORE).astype(np.uint8)
    return arr


def decode_label(path: str | Path, dataset: str = "embedded") -> np.ndarray:
    """Read one label file and return ``uint8`` H×W trainIds according to ``dataset`` (see module table).

    Raw ids the encoding does not define are a :class:`~cvpapers.data.decode.BadSampleError` naming the file.
    """
    from cvpapers.data.decode import check_label_ids

    dataset = _dataset_name(dataset)
    if dataset == "synthia":
        raw = read_png16(path)
        ids = (raw[:, :, 0] if raw.ndim == 3 else raw).astype(np.int64)
        check_label_ids(path, ids, RAW_ID_COUNT["synthia"], ignore=IGNORE)
        return SYNTHIA_TO_TRAINID16[np.minimum(ids, 255)]
    arr = _read_index_png(path)
    if dataset in RAW_ID_COUNT:
        check_label_ids(path, arr, RAW_ID_COUNT[dataset], ignore=IGNORE)
        trainids = CITYSCAPES_LABELID_TO_TRAINID[arr]
        return TRAINID19_TO_16[trainids] if dataset == "cityscapes16" else trainids
    return arr


def _dataset_name(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return "embedded"
    name = str(value).lower()
    if name not in DATASETS:
        raise ValueError(f"unknown label encoding dataset={value!r}; allowed: {list(DATASETS)}")
    return name


def load_segmentation(
    manifest: pd.DataFrame, size: tuple[int, int] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read every row's image and label into tensors: ``uint8`` N×3×H×W images and ``uint8`` N×H×W trainIds.

    Labels are decoded through the row's ``dataset`` column (``embedded`` when absent). With ``size = (H, W)``
    images are resized bilinearly and labels with nearest neighbour (so only valid ids and 255 appear);
    without it, every image must already have the same size as its label and as the other rows. Everything
    is held in memory: this is the embedded benchmark's loader; real datasets stream (:func:`read_pair`).
    """
    from cvpapers.data.decode import decode_image

    for col in ("path", "label_path"):
        if col not in manifest.columns:
            raise ValueError(f"segmentation manifest lacks column {col!r}; has {list(manifest.columns)}")
    datasets = manifest["dataset"] if "dataset" in manifest.columns else pd.Series([None] * len(manifest))
    if size is not None:
        h, w = (int(v) for v in size)
        if h <= 0 or w <= 0:
            raise ValueError(f"size must be positive (H, W), got {size}")
    images: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for img_path, lab_path, ds in zip(manifest["path"], manifest["label_path"], datasets, strict=True):
        if not Path(img_path).is_file():
            raise FileNotFoundError(f"image listed in the manifest not found: {img_path}")
        if not Path(lab_path).is_file():
            raise FileNotFoundError(f"label listed in the manifest not found: {lab_path} (image {img_path})")
        img = decode_image(img_path)
        lab = decode_label(lab_path, ds)
        if size is not None:
            img, lab = resize_pair(img, lab, (h, w), image_filter="bilinear")
        elif lab.shape != img.shape[:2]:
            raise ValueError(
                f"label {lab_path} is {lab.shape[1]}×{lab.shape[0]} but image {img_path} is "
                f"{img.shape[1]}×{img.shape[0]} (W×H); pass size=(H, W) to resize both"
            )
        images.append(img)
        labels.append(lab)
    if not images:
        hw = tuple(size) if size is not None else (0, 0)
        return torch.zeros((0, 3, *hw), dtype=torch.uint8), torch.zeros((0, *hw), dtype=torch.uint8)
    shapes = {a.shape for a in images}
    if len(shapes) > 1:
        raise ValueError(f"images have different sizes {sorted(shapes)[:4]}; pass size=(H, W) to resize them")
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(np.stack(labels))
    return x, y


# --------------------------------------------------------------------------------------------------------
# one sample at a time (the streaming path), and the checks before a long run
# --------------------------------------------------------------------------------------------------------
def read_pair(image_path: str | Path, label_path: str | Path | None = None, dataset: object = None,
              n_classes: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """One sample, strictly: RGB ``uint8`` H×W×3 and its ``uint8`` H×W trainIds (``None`` without a label).

    Errors (:class:`~cvpapers.data.decode.BadSampleError`, naming the file): a missing, truncated or corrupt
    file; a label of another size than its image; a raw id outside the dataset's encoding; with
    ``n_classes``, a decoded class id outside ``0..n_classes-1`` (and 255) — a label map of another setting.
    """
    from cvpapers.data.decode import check_label_ids, check_same_size, decode_image

    image = decode_image(image_path)
    if label_path is None:
        return image, None
    label = decode_label(label_path, dataset)  # type: ignore[arg-type]
    check_same_size(image_path, image.shape[:2], label_path, label.shape)
    if n_classes is not None:
        check_label_ids(label_path, label, n_classes, ignore=IGNORE)
    return image, label


_FILTERS = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


def resize_image(image: np.ndarray, size: tuple[int, int], image_filter: str = "bicubic") -> np.ndarray:
    """``uint8`` H×W×3 → ``size`` (H, W) with Pillow's filter (a no-op at that size already)."""
    h, w = (int(v) for v in size)
    if image.shape[:2] == (h, w):
        return image
    return np.asarray(Image.fromarray(image).resize((w, h), _FILTERS[image_filter]))


def resize_label(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resizing of an id map (only ids already present, and 255, come out)."""
    h, w = (int(v) for v in size)
    if label.shape == (h, w):
        return label
    return np.asarray(Image.fromarray(label).resize((w, h), Image.Resampling.NEAREST))


def resize_pair(image: np.ndarray, label: np.ndarray | None, size: tuple[int, int],
                image_filter: str = "bicubic") -> tuple[np.ndarray, np.ndarray | None]:
    """Image and label to ``size`` (H, W): the DDM/ADVENT code's resizing — Pillow bicubic for the image,
    nearest for the label. Kept as the official code does it rather than albumentations' ``Resize``
    (OpenCV's bicubic has no antialiasing when shrinking, so its pixels differ from Pillow's)."""
    return resize_image(image, size, image_filter), None if label is None else resize_label(label, size)


def _header_problem(path: str) -> tuple[str, tuple[int, int] | None]:
    """(problem or "", (H, W) from the header): existence, the end marker and the header; nothing is decoded."""
    from cvpapers.data.decode import BadSampleError, check_end_marker

    try:
        check_end_marker(path)
        with Image.open(path) as img:
            return "", (img.height, img.width)
    except BadSampleError as err:
        return err.problem, None
    except (OSError, SyntaxError, ValueError) as err:
        return f"does not open as an image ({err})", None


def preflight_segmentation(rows: pd.DataFrame, label_columns: Iterable[str] = ("label_path",),
                           on_bad_sample: str = "error", desc: str = "checking files") -> tuple[pd.DataFrame, dict[str, str]]:
    """Before long work: every file a manifest lists exists, ends with its format's end marker and opens, and
    every label's size (read from its header) equals its image's — cheap (no pixel is decoded).

    ``error``: the first problem raises :class:`~cvpapers.data.decode.BadSampleError` naming the file (and how
    many more problems there are); ``skip``: rows with a problem are left out. Returns the kept rows and the
    skipped ``{path: problem}``. Columns of ``label_columns`` absent from ``rows`` (or empty cells) are skipped.
    """
    from cvpapers.data.decode import BadSampleError
    from cvpapers.engine.progress import progress

    cols = [c for c in label_columns if c in rows.columns]
    bad: dict[str, str] = {}
    keep = np.ones(len(rows), dtype=bool)
    for i, rec in enumerate(progress(rows.to_dict("records"), total=len(rows), desc=desc, unit="img")):
        problem, hw = _header_problem(str(rec["path"]))
        where = str(rec["path"])
        for col in cols:
            value = rec[col]
            if problem or not isinstance(value, str) or not value:
                continue
            lab_problem, lab_hw = _header_problem(value)
            if lab_problem or lab_hw != hw:
                where = value
                problem = lab_problem or (f"label is {lab_hw[0]}×{lab_hw[1]} but its image {rec['path']} is "  # type: ignore[index]
                                          f"{hw[0]}×{hw[1]} (height×width)")  # type: ignore[index]
        if problem:
            bad[where] = problem
            keep[i] = False
    if bad and on_bad_sample != "skip":
        (path, problem), more = next(iter(bad.items())), len(bad) - 1
        raise BadSampleError(path, problem + (f" (and {more} more problem(s) in this manifest; "
                                              "data.on_bad_sample: skip leaves them out)" if more else ""))
    return rows[keep].reset_index(drop=True), bad


# --------------------------------------------------------------------------------------------------------
# manifests of the real datasets
# --------------------------------------------------------------------------------------------------------
def _pick_root(root: str | Path, folder: str, marker: str, layout: str) -> Path:
    """``root`` itself when it holds ``marker``, else ``root/folder``; a clear error when neither does."""
    root = Path(root)
    if (root / marker).is_dir():
        return root
    if (root / folder / marker).is_dir():
        return root / folder
    raise FileNotFoundError(
        f"{folder} folder not found: neither {root / folder / marker} nor {root / marker} exists; {layout}"
    )


def _paired_rows(
    images: list[Path], label_for: dict[Path, Path], split: str, domain: str, dataset: str
) -> pd.DataFrame:
    missing = [img for img in images if not label_for[img].is_file()]
    if missing:
        first = missing[0]
        raise FileNotFoundError(
            f"label missing for image {first} (expected {label_for[first]}); "
            f"{len(missing)} image(s) without a label in total"
        )
    return pd.DataFrame(
        {
            "path": pd.Series([p.as_posix() for p in images], dtype=object),
            "label_path": pd.Series([label_for[p].as_posix() for p in images], dtype=object),
            "split": split,
            "domain": domain,
            "index": np.arange(len(images), dtype=np.int64),
            "dataset": dataset,
        },
        columns=list(MANIFEST_COLUMNS),
    )


def _pngs(folder: Path, layout: str, pattern: str = "*.png") -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"folder not found: {folder}; {layout}")
    files = sorted(p for p in folder.glob(pattern) if p.is_file())
    if not files:
        raise FileNotFoundError(f"no {pattern} files in {folder}; {layout}")
    return files


def gta5_manifest(root: str | Path) -> pd.DataFrame:
    """GTA5: every ``GTA5/images/*.png`` with its ``GTA5/labels/<same name>`` (all images are training data)."""
    base = _pick_root(root, "GTA5", "images", _GTA5_LAYOUT)
    images = _pngs(base / "images", _GTA5_LAYOUT)
    if not (base / "labels").is_dir():
        raise FileNotFoundError(f"folder not found: {base / 'labels'}; {_GTA5_LAYOUT}")
    df = _paired_rows(images, {p: base / "labels" / p.name for p in images}, "train", "gta5", "gta5")
    df.attrs["origin"] = f"GTA5 at {base}"
    return df


def synthia_manifest(root: str | Path) -> pd.DataFrame:
    """SYNTHIA-RAND-CITYSCAPES: ``RGB/*.png`` with ``GT/LABELS/<same name>`` (16-bit ids, all training data)."""
    base = _pick_root(root, "RAND_CITYSCAPES", "RGB", _SYNTHIA_LAYOUT)
    images = _pngs(base / "RGB", _SYNTHIA_LAYOUT)
    lab_dir = base / "GT" / "LABELS"
    if not lab_dir.is_dir():
        raise FileNotFoundError(f"folder not found: {lab_dir}; {_SYNTHIA_LAYOUT}")
    df = _paired_rows(images, {p: lab_dir / p.name for p in images}, "train", "synthia", "synthia")
    df.attrs["origin"] = f"SYNTHIA-RAND-CITYSCAPES at {base}"
    return df


def synscapes_manifest(root: str | Path, image_dir: str = "img/rgb", label_dir: str = "img/class") -> pd.DataFrame:
    """Synscapes: ``<image_dir>/<n>.png`` with ``<label_dir>/<n>.png`` (8-bit Cityscapes labelIds), all training
    data, sorted numerically (1, 2, …, 10, not 1, 10, 2). The layout is recalled, not checked against a real copy
    (msda_collab spec §10), hence the folder parameters; ``root`` is ``Synscapes`` or its parent."""
    layout = (f"expected <root>/Synscapes/{image_dir}/1.png … and <root>/Synscapes/{label_dir}/1.png "
              "(root = Synscapes or its parent; the folders are parameters)")
    base = _pick_root(root, "Synscapes", image_dir, layout)
    images = _pngs(base / image_dir, layout)
    images = sorted(images, key=lambda p: (int(p.stem) if p.stem.isdigit() else float("inf"), p.name))
    if not (base / label_dir).is_dir():
        raise FileNotFoundError(f"folder not found: {base / label_dir}; {layout}")
    df = _paired_rows(images, {p: base / label_dir / p.name for p in images}, "train", "synscapes", "synscapes")
    df.attrs["origin"] = f"Synscapes at {base}"
    return df


def cityscapes_manifest(root: str | Path, splits: Iterable[str] = ("train", "val")) -> pd.DataFrame:
    """Cityscapes fine annotations: ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` ↔ ``*_gtFine_labelIds.png``.

    Rows are sorted by city then file name within each split (the order of the official lists);
    ``index`` counts within the split.
    """
    root = Path(root)
    for sub in ("leftImg8bit", "gtFine"):
        if not (root / sub).is_dir():
            raise FileNotFoundError(f"folder not found: {root / sub}; {_CITYSCAPES_LAYOUT}")
    suffix = "_leftImg8bit.png"
    frames = []
    for split in splits:
        img_root, lab_root = root / "leftImg8bit" / split, root / "gtFine" / split
        for folder in (img_root, lab_root):
            if not folder.is_dir():
                raise FileNotFoundError(f"split folder not found: {folder}; {_CITYSCAPES_LAYOUT}")
        images = sorted(p for p in img_root.glob(f"*/*{suffix}") if p.is_file())
        if not images:
            raise FileNotFoundError(f"no <city>/*{suffix} files in {img_root}; {_CITYSCAPES_LAYOUT}")
        label_for = {
            p: lab_root / p.parent.name / (p.name[: -len(suffix)] + "_gtFine_labelIds.png") for p in images
        }
        frames.append(_paired_rows(images, label_for, split, "cityscapes", "cityscapes"))
    if not frames:
        raise ValueError("cityscapes_manifest needs at least one split")
    df = pd.concat(frames, ignore_index=True)
    df.attrs["origin"] = f"Cityscapes at {root}"
    return df


# --------------------------------------------------------------------------------------------------------
# fixture writers (the real layouts and encodings, tiny)
# --------------------------------------------------------------------------------------------------------
def _check_pairs(images: np.ndarray, labels: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = np.asarray(images), np.asarray(labels)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
        raise ValueError(f"images must be uint8 N×H×W×3, got {images.dtype} {images.shape}")
    if labels.shape != images.shape[:3]:
        raise ValueError(f"{what} must be N×H×W matching the images {images.shape[:3]}, got {labels.shape}")
    return images, labels


def _gta5_palette() -> list[int]:
    pal = np.zeros((256, 3), dtype=np.uint8)
    for label_id, rgb in _CITYSCAPES_COLORS.items():
        pal[label_id] = rgb
    return pal.ravel().tolist()


def write_gta5_fixture(root: str | Path, images: np.ndarray, label_ids: np.ndarray, compress_level: int = 6,
                       ) -> list[Path]:
    """Write ``<root>/GTA5/images/00001.png …`` and palette-mode ('P') label PNGs holding Cityscapes labelIds.

    Returns the image paths. Numbering starts at 00001 like the real dataset. ``compress_level`` (zlib, 0–9)
    only trades file size for writing time (1 writes paper-sized scale fixtures four times faster).
    """
    images, label_ids = _check_pairs(images, label_ids, "label_ids")
    if label_ids.min(initial=0) < 0 or label_ids.max(initial=0) > 255:
        raise ValueError("GTA5 labelIds must lie in 0..255")
    base = Path(root) / "GTA5"
    (base / "images").mkdir(parents=True, exist_ok=True)
    (base / "labels").mkdir(parents=True, exist_ok=True)
    palette = _gta5_palette()
    out = []
    for i, (img, lab) in enumerate(zip(images, label_ids.astype(np.uint8), strict=True), start=1):
        Image.fromarray(img).save(base / "images" / f"{i:05d}.png", compress_level=compress_level)
        pimg = Image.fromarray(lab)
        pimg.putpalette(palette)  # 'L' → 'P': the stored values stay the labelIds
        pimg.save(base / "labels" / f"{i:05d}.png", compress_level=compress_level)
        out.append(base / "images" / f"{i:05d}.png")
    return out


def write_synthia_fixture(
    root: str | Path, images: np.ndarray, synthia_ids: np.ndarray, instance_ids: np.ndarray | None = None
) -> list[Path]:
    """Write ``<root>/RAND_CITYSCAPES/RGB/0000000.png …`` and 16-bit RGB ``GT/LABELS`` PNGs.

    The SYNTHIA class id goes in channel 0; channel 1 holds ``instance_ids`` (zeros when not given), as in
    the real files, so a reader that picks the wrong channel fails the tests. Returns the image paths.
    """
    images, synthia_ids = _check_pairs(images, synthia_ids, "synthia_ids")
    if instance_ids is None:
        instance_ids = np.zeros_like(synthia_ids)
    base = Path(root) / "RAND_CITYSCAPES"
    (base / "RGB").mkdir(parents=True, exist_ok=True)
    out = []
    for i, (img, ids, inst) in enumerate(zip(images, synthia_ids, np.asarray(instance_ids), strict=True)):
        Image.fromarray(img).save(base / "RGB" / f"{i:07d}.png")
        gt = np.zeros((*ids.shape, 3), dtype=np.uint16)
        gt[:, :, 0] = ids
        gt[:, :, 1] = inst
        write_png16(base / "GT" / "LABELS" / f"{i:07d}.png", gt)
        out.append(base / "RGB" / f"{i:07d}.png")
    return out


def write_synscapes_fixture(root: str | Path, images: np.ndarray, label_ids: np.ndarray, image_dir: str = "img/rgb",
                            label_dir: str = "img/class") -> list[Path]:
    """Write ``<root>/Synscapes/<image_dir>/1.png …`` (numbered from 1, no padding) and 8-bit single-channel
    label PNGs holding Cityscapes labelIds. Returns the image paths."""
    images, label_ids = _check_pairs(images, label_ids, "label_ids")
    base = Path(root) / "Synscapes"
    (base / image_dir).mkdir(parents=True, exist_ok=True)
    (base / label_dir).mkdir(parents=True, exist_ok=True)
    out = []
    for i, (img, lab) in enumerate(zip(images, label_ids.astype(np.uint8), strict=True), start=1):
        Image.fromarray(img).save(base / image_dir / f"{i}.png")
        Image.fromarray(lab).save(base / label_dir / f"{i}.png")
        out.append(base / image_dir / f"{i}.png")
    return out


def write_cityscapes_fixture(
    root: str | Path, split: str, city: str, images: np.ndarray, label_ids: np.ndarray, compress_level: int = 6
) -> list[Path]:
    """Write ``leftImg8bit/<split>/<city>/<city>_000000_<frame>_leftImg8bit.png`` and 8-bit labelId PNGs.

    Frame numbers are 000019, 000020, … (any six digits are valid). Returns the image paths.
    """
    images, label_ids = _check_pairs(images, label_ids, "label_ids")
    img_dir = Path(root) / "leftImg8bit" / split / city
    lab_dir = Path(root) / "gtFine" / split / city
    img_dir.mkdir(parents=True, exist_ok=True)
    lab_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for k, (img, lab) in enumerate(zip(images, label_ids.astype(np.uint8), strict=True)):
        stem = f"{city}_000000_{19 + k:06d}"
        Image.fromarray(img).save(img_dir / f"{stem}_leftImg8bit.png", compress_level=compress_level)
        Image.fromarray(lab).save(lab_dir / f"{stem}_gtFine_labelIds.png", compress_level=compress_level)
        out.append(img_dir / f"{stem}_leftImg8bit.png")
    return out


def trainid_colors(n_classes: int = 19) -> np.ndarray:
    """Cityscapes colours of the 19 trainIds (or of SYNTHIA's 16-class subset), for overlays."""
    colors = np.zeros((19, 3), dtype=np.uint8)
    for label_id, rgb in _CITYSCAPES_COLORS.items():
        train_id = int(CITYSCAPES_LABELID_TO_TRAINID[label_id])
        if train_id != 255:
            colors[train_id] = rgb
    return colors if n_classes == 19 else colors[list(CLASSES_16_IN_19)]


#: The embedded benchmark's 8 classes (road, sidewalk, building, sky, vegetation, car, person, pole) as raw ids
#: of the real encodings, so generated scenes can be written as GTA5/Cityscapes labelIds or SYNTHIA ids.
STREET_TO_LABELID: tuple[int, ...] = (7, 8, 11, 23, 21, 26, 24, 17)
STREET_TO_SYNTHIA: tuple[int, ...] = (3, 4, 2, 1, 6, 8, 10, 7)


def write_street_fixture(root: str | Path, dataset: str, n: int, size: tuple[int, int], split: str = "train",
                         city: str = "aachen", seed: int = 0, base_size: tuple[int, int] = (64, 128),
                         compress_level: int = 6) -> list[Path]:
    """``n`` procedural street scenes written in a real dataset's layout and label encoding (``gta5``,
    ``synthia`` or ``cityscapes``) at ``size`` (H, W) — e.g. GTA5's 1052×1914 or Cityscapes' 1024×2048 for
    scale tests. Scenes are rendered at ``base_size`` (the benchmark generator) and enlarged (image bilinear,
    labels nearest), so the files compress like photographs rather than noise. Returns the image paths."""
    from cvpapers.data.street_scenes import generate_style

    style = {"gta5": "game", "synthia": "synthetic", "cityscapes": "city"}[dataset]
    images, labels, _ = generate_style(style, "train" if split == "train" else "val", n, *base_size, base_seed=seed)
    h, w = (int(v) for v in size)
    big = np.stack([np.asarray(Image.fromarray(im).resize((w, h), Image.Resampling.BILINEAR)) for im in images])
    ids = np.asarray(STREET_TO_SYNTHIA if dataset == "synthia" else STREET_TO_LABELID)[labels]
    big_ids = np.stack([np.asarray(Image.fromarray(lab.astype(np.uint8)).resize((w, h), Image.Resampling.NEAREST))
                        for lab in ids])
    if dataset == "gta5":
        return write_gta5_fixture(root, big, big_ids, compress_level)
    if dataset == "synthia":
        return write_synthia_fixture(root, big, big_ids.astype(np.uint16))
    return write_cityscapes_fixture(root, split, city, big, big_ids, compress_level)


# --------------------------------------------------------------------------------------------------------
# IDD and Mapillary Vistas (mtda_collab's second targets; layouts from recollection, papers/mtda_collab.md §10)
# --------------------------------------------------------------------------------------------------------
# Their rows carry ``dataset = idd | mapillary``: the label file's stored ids are returned as they are, and the
# caller maps them to training classes with a lookup table (:func:`idd_label_lut`, :func:`mapillary_label_lut`,
# e.g. ``cvpapers.da.data.load_arrays(rows, size, label_map=lut)``), because the mapping is a parameter.
_IDD_LAYOUT = ("expected IDD (segmentation) as <root>/leftImg8bit/{train,val}/<seq>/<frame>_leftImg8bit.png and "
               "<root>/gtFine/{train,val}/<seq>/<frame><label_suffix> (label PNGs made from the polygon JSONs by "
               "the IDD toolkit)")
_MAPILLARY_LAYOUT = ("expected Mapillary Vistas as <root>/{training,validation}/images/<key>.jpg, "
                     "<root>/{training,validation}/<labels_dir>/<key>.png (palette PNG, class index) and "
                     "<root>/config.json listing the labels")

#: IDD level-3 ids (26 classes, recollection of the IDD toolkit's ``labels.py``) → Cityscapes trainIds; the
#: classes without a Cityscapes counterpart (drivable fallback, non-drivable fallback, autorickshaw, vehicle
#: fallback, curb, guard rail, billboard, obs-str-bar fallback, bridge) → 255. Not verified against CCL.
IDD_LEVEL3_TO_TRAINID: dict[int, int] = {0: 0, 2: 1, 4: 11, 5: 12, 6: 17, 7: 18, 9: 13, 10: 14, 11: 15, 14: 3,
                                         15: 4, 18: 7, 19: 6, 20: 5, 22: 2, 24: 8, 25: 10}
#: Mapillary Vistas v1.2 label names (``config.json``) → Cityscapes trainIds (recollection; others → 255).
MAPILLARY_NAME_TO_TRAINID: dict[str, int] = {
    "construction--flat--road": 0, "construction--flat--sidewalk": 1, "construction--structure--building": 2,
    "construction--barrier--wall": 3, "construction--barrier--fence": 4, "object--support--pole": 5,
    "object--support--utility-pole": 5, "object--traffic-light": 6, "object--traffic-sign--front": 7,
    "nature--vegetation": 8, "nature--terrain": 9, "nature--sky": 10, "human--person": 11,
    "human--rider--bicyclist": 12, "human--rider--motorcyclist": 12, "human--rider--other-rider": 12,
    "object--vehicle--car": 13, "object--vehicle--truck": 14, "object--vehicle--bus": 15,
    "object--vehicle--on-rails": 16, "object--vehicle--motorcycle": 17, "object--vehicle--bicycle": 18,
}


def _json_table(path: str | Path | None, default: dict) -> dict:
    import json

    if path is None:
        return dict(default)
    if not Path(path).is_file():
        raise FileNotFoundError(f"label mapping file not found: {path} (a JSON object: stored id or name → class)")
    return {k: int(v) for k, v in json.loads(Path(path).read_text()).items()}


def idd_label_lut(mapping: str | Path | None = None) -> np.ndarray:
    """256-entry lookup from IDD's stored label ids to training classes (unknown → 255): the built-in
    level-3 → 19 table, or a JSON ``{"<id>": class}`` file."""
    return _lut((int(k), v) for k, v in _json_table(mapping, IDD_LEVEL3_TO_TRAINID).items())


def mapillary_label_lut(root: str | Path, config: str = "config.json", mapping: str | Path | None = None,
                        ) -> np.ndarray:
    """256-entry lookup from Mapillary class indices to training classes: the index of each label is its position
    in ``<root>/<config>``'s ``labels`` list, mapped by ``name`` (built-in table, or a JSON ``{"<name>": class}``)."""
    import json

    cfg = Path(root) / config
    if not cfg.is_file():
        raise FileNotFoundError(f"Mapillary label config not found: {cfg}; {_MAPILLARY_LAYOUT}")
    table = _json_table(mapping, MAPILLARY_NAME_TO_TRAINID)
    names = [lab["name"] for lab in json.loads(cfg.read_text())["labels"]]
    return _lut((i, table[n]) for i, n in enumerate(names) if n in table)


def idd_manifest(root: str | Path, splits: Iterable[str] = ("train", "val"),
                 label_suffix: str = "_gtFine_labellevel3Ids.png") -> pd.DataFrame:
    """IDD segmentation: ``leftImg8bit/<split>/<seq>/<frame>_leftImg8bit.png`` ↔ ``gtFine/<split>/<seq>/<frame>
    <label_suffix>``; sorted by sequence then frame within each split (``index`` counts within the split)."""
    root, suffix, frames = Path(root), "_leftImg8bit.png", []
    for split in splits:
        img_root, lab_root = root / "leftImg8bit" / split, root / "gtFine" / split
        for folder in (img_root, lab_root):
            if not folder.is_dir():
                raise FileNotFoundError(f"split folder not found: {folder}; {_IDD_LAYOUT}")
        images = sorted(p for p in img_root.glob(f"*/*{suffix}") if p.is_file())
        if not images:
            raise FileNotFoundError(f"no <seq>/*{suffix} files in {img_root}; {_IDD_LAYOUT}")
        label_for = {p: lab_root / p.parent.name / (p.name[: -len(suffix)] + label_suffix) for p in images}
        frames.append(_paired_rows(images, label_for, split, "idd", "idd"))
    df = pd.concat(frames, ignore_index=True)
    df.attrs["origin"] = f"IDD at {root}"
    return df


def mapillary_manifest(root: str | Path, splits: Iterable[str] = ("training", "validation"),
                       labels_dir: str = "labels") -> pd.DataFrame:
    """Mapillary Vistas: ``<split>/images/<key>.jpg`` ↔ ``<split>/<labels_dir>/<key>.png``; ``split`` is written
    as ``train`` / ``val`` (``training`` / ``validation`` on disk). Images vary in size: resize on loading."""
    root, frames = Path(root), []
    for split in splits:
        img_dir, lab_dir = root / split / "images", root / split / labels_dir
        images = _pngs(img_dir, _MAPILLARY_LAYOUT, "*.jpg")
        if not lab_dir.is_dir():
            raise FileNotFoundError(f"folder not found: {lab_dir}; {_MAPILLARY_LAYOUT}")
        name = {"training": "train", "validation": "val"}.get(split, split)
        frames.append(_paired_rows(images, {p: lab_dir / (p.stem + ".png") for p in images}, name, "mapillary",
                                   "mapillary"))
    df = pd.concat(frames, ignore_index=True)
    df.attrs["origin"] = f"Mapillary Vistas at {root}"
    return df


def write_idd_fixture(root: str | Path, split: str, seq: str, images: np.ndarray, level_ids: np.ndarray,
                      label_suffix: str = "_gtFine_labellevel3Ids.png") -> list[Path]:
    """Write ``leftImg8bit/<split>/<seq>/<frame>_leftImg8bit.png`` and 8-bit ``<frame><label_suffix>`` id PNGs
    (frames 000000, 000001 …). Returns the image paths."""
    images, level_ids = _check_pairs(images, level_ids, "level_ids")
    img_dir, lab_dir = Path(root) / "leftImg8bit" / split / seq, Path(root) / "gtFine" / split / seq
    img_dir.mkdir(parents=True, exist_ok=True)
    lab_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for k, (img, lab) in enumerate(zip(images, level_ids.astype(np.uint8), strict=True)):
        Image.fromarray(img).save(img_dir / f"{k:06d}_leftImg8bit.png")
        Image.fromarray(lab).save(lab_dir / f"{k:06d}{label_suffix}")
        out.append(img_dir / f"{k:06d}_leftImg8bit.png")
    return out


def write_mapillary_fixture(root: str | Path, split: str, images: np.ndarray, class_ids: np.ndarray,
                            label_names: Iterable[str] = tuple(MAPILLARY_NAME_TO_TRAINID)) -> list[Path]:
    """Write ``<split>/images/<key>.jpg``, palette ``<split>/labels/<key>.png`` (class index) and
    ``config.json`` (``labels``: ``name``, ``readable``, ``color``) at ``root``. Returns the image paths."""
    import json

    images, class_ids = _check_pairs(images, class_ids, "class_ids")
    names = list(label_names)
    root = Path(root)
    (root / split / "images").mkdir(parents=True, exist_ok=True)
    (root / split / "labels").mkdir(parents=True, exist_ok=True)
    colors = trainid_colors(19)
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[: len(names)] = np.resize(colors, (len(names), 3))
    (root / "config.json").write_text(json.dumps({"labels": [
        {"name": n, "readable": n.split("--")[-1], "color": palette[i].tolist()} for i, n in enumerate(names)]}))
    out = []
    for k, (img, lab) in enumerate(zip(images, class_ids.astype(np.uint8), strict=True)):
        key = f"key{k:04d}"
        Image.fromarray(img).save(root / split / "images" / f"{key}.jpg", quality=95)
        pimg = Image.fromarray(lab)
        pimg.putpalette(palette.ravel().tolist())
        pimg.save(root / split / "labels" / f"{key}.png")
        out.append(root / split / "images" / f"{key}.jpg")
    return out
