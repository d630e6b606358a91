"""PASCAL VOC on disk: writer (fixtures, ShapesDet export) and reader of the mi_aod real-data path.

Spec: ``papers/mi_aod.md`` §10. Layout::

    VOCdevkit/<year>/Annotations/<id>.xml
    VOCdevkit/<year>/ImageSets/Main/<split>.txt   # one id per line
    VOCdevkit/<year>/JPEGImages/<id>.jpg          # .png / .jpeg also accepted

Coordinates: VOC XML boxes are 1-based and inclusive; in memory boxes are ``[x1, y1, x2, y2]`` 0-based with
exclusive x2/y2 (the generator's convention), so ``x1 = xmin - 1, y1 = ymin - 1, x2 = xmax, y2 = ymax``.
Width and height are then ``xmax - xmin + 1`` pixels, as in the VOC devkit. Writing integer boxes and
reading them back is exact, so the reader is tested on generated data too.

Two ways to hand the records on:

* :func:`voc_manifest` — the file-backed path (real VOC): one row per image with its path, annotated size and
  boxes / labels / difficult flags serialised as JSON; :func:`manifest_ground_truth` gives the padded
  ground-truth arrays back, :func:`check_voc_images` is the preflight over the listed files (exists, header
  size = annotated size) and :func:`read_voc_image` decodes one image strictly (a half-written JPEG is an
  error naming the file, :mod:`cvpapers.data.decode`), for the streaming loaders.
* :func:`load_voc_arrays` — every image in memory, in the format of
  :func:`cvpapers.data.detection_shapes.generate_shapes_det` (``regime`` = −1 for real data), letterboxed into
  a square canvas (scaled so the longer side fits, pasted top-left, zero padding): the embedded benchmark's
  fast path.
"""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from cvpapers.data.decode import BadSampleError, check_end_marker, decode_image

__all__ = [
    "VOC_CLASSES",
    "VocRecord",
    "check_voc_images",
    "load_voc_arrays",
    "manifest_ground_truth",
    "read_voc",
    "read_voc_image",
    "voc_manifest",
    "write_voc",
]

log = logging.getLogger(__name__)

#: The 20 PASCAL VOC classes in the standard label order.
VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip

_LAYOUT = "expected layout: VOCdevkit/<year>/{Annotations,ImageSets/Main,JPEGImages}"
_IMAGE_EXTS = (".jpg", ".png", ".jpeg")


@dataclass(eq=False)
class VocRecord:
    """One annotated image; ``boxes`` are 0-based exclusive ``[x1, y1, x2, y2]`` in original pixels."""

    image_id: str
    year: str
    image_path: Path
    width: int
    height: int
    boxes: np.ndarray  # float32 G×4
    labels: np.ndarray  # int64 G
    difficult: np.ndarray  # bool G
    annotation_path: Path | None = None


# --------------------------------------------------------------------------------------------------------
# writing


def _text(parent: ET.Element, tag: str, value: object) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = str(value)
    return el


def write_voc(
    devkit_root: str | Path,
    data: dict[str, np.ndarray],
    class_names: Sequence[str],
    year: str = "VOC2007",
    split: str = "trainval",
    image_ext: str = "png",
) -> list[str]:
    """Write images, XML annotations and the split list of ``data`` (generator format) under ``devkit_root``.

    ``devkit_root`` is the ``VOCdevkit`` folder. Padding rows (label −1) are skipped; boxes are rounded to
    integers and written 1-based inclusive. The split file keeps the ids it had (in order) and appends the
    new ones, so writing the same ids twice does not duplicate them. Returns the ids written.
    """
    ext = image_ext.lower().lstrip(".")
    if ext not in ("png", "jpg", "jpeg"):
        raise ValueError(f"image_ext must be png, jpg or jpeg, got {image_ext!r}")
    for key in ("images", "boxes", "labels", "image_id"):
        if key not in data:
            raise ValueError(f"write_voc: data lacks key {key!r}; has {sorted(data)}")
    images, boxes, labels = data["images"], data["boxes"], data["labels"]
    difficult = data.get("difficult", np.zeros(labels.shape, dtype=bool))
    ids = [str(i) for i in data["image_id"]]
    if len(set(ids)) != len(ids):
        raise ValueError("write_voc: image_id values must be unique")
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"write_voc: images must be uint8 N×H×W×3, got {images.dtype} {images.shape}")
    if labels.size and labels.max() >= len(class_names):
        raise ValueError(f"write_voc: label {labels.max()} out of range for {len(class_names)} class names")

    base = Path(devkit_root) / year
    dirs = {name: base / name for name in ("Annotations", "JPEGImages", "ImageSets/Main")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    _, height, width, depth = images.shape
    for i, image_id in enumerate(ids):  # file IO is inherently per image
        filename = f"{image_id}.{ext}"
        if not cv2.imwrite(str(dirs["JPEGImages"] / filename), cv2.cvtColor(images[i], cv2.COLOR_RGB2BGR)):
            raise OSError(f"cv2 could not write {dirs['JPEGImages'] / filename}")
        root = ET.Element("annotation")
        _text(root, "folder", year)
        _text(root, "filename", filename)
        size = ET.SubElement(root, "size")
        for tag, value in (("width", width), ("height", height), ("depth", depth)):
            _text(size, tag, value)
        _text(root, "segmented", 0)
        keep = labels[i] >= 0
        coords = np.rint(boxes[i][keep]).astype(np.int64)
        for (x1, y1, x2, y2), cls, diff in zip(coords, labels[i][keep], difficult[i][keep], strict=True):
            obj = ET.SubElement(root, "object")
            _text(obj, "name", class_names[int(cls)])
            _text(obj, "pose", "Unspecified")
            _text(obj, "truncated", 0)
            _text(obj, "difficult", int(bool(diff)))
            bndbox = ET.SubElement(obj, "bndbox")
            for tag, value in (("xmin", x1 + 1), ("ymin", y1 + 1), ("xmax", x2), ("ymax", y2)):
                _text(bndbox, tag, int(value))
        ET.indent(root)
        ET.ElementTree(root).write(dirs["Annotations"] / f"{image_id}.xml", encoding="utf-8")

    split_file = dirs["ImageSets/Main"] / f"{split}.txt"
    existing = _read_ids(split_file) if split_file.is_file() else []
    seen = set(existing)
    merged = existing + [i for i in ids if i not in seen]
    split_file.write_text("".join(f"{i}\n" for i in merged))
    return ids


# --------------------------------------------------------------------------------------------------------
# reading


def _read_ids(path: Path) -> list[str]:
    # First token per line: the per-class lists (``<id> 1``) then read like the plain split lists.
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def _devkit(root: Path, years: Sequence[str]) -> Path:
    """``root`` itself or ``root/VOCdevkit``, whichever contains the first year folder."""
    for cand in (root, root / "VOCdevkit"):
        if years and (cand / years[0]).is_dir():
            return cand
    return root


def _child_text(el: ET.Element, tag: str, xml_path: Path) -> str:
    found = el.find(tag)
    if found is None or found.text is None or not found.text.strip():
        raise ValueError(f"{xml_path}: <{el.tag}> has no <{tag}>")
    return found.text.strip()


def _parse_xml(
    xml_path: Path, class_index: dict[str, int], class_names: Sequence[str]
) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{xml_path}: not a valid XML file ({exc})") from exc
    size = root.find("size")
    if size is None:
        raise ValueError(f"{xml_path}: <annotation> has no <size>")
    width, height = (
        int(float(_child_text(size, "width", xml_path))),
        int(float(_child_text(size, "height", xml_path))),
    )
    boxes, labels, difficult = [], [], []
    for obj in root.iter("object"):
        name = _child_text(obj, "name", xml_path)
        if name not in class_index:
            raise ValueError(f"{xml_path}: unknown class {name!r}; allowed: {list(class_names)}")
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise ValueError(f"{xml_path}: object {name!r} has no <bndbox>")
        # float(): some VOC2012 files write coordinates like "273.0".
        xmin, ymin, xmax, ymax = (
            float(_child_text(bndbox, t, xml_path)) for t in ("xmin", "ymin", "xmax", "ymax")
        )
        # Inclusive 1-based corners: xmax == xmin is a valid one-pixel-wide box.
        if xmax < xmin or ymax < ymin:
            raise ValueError(
                f"{xml_path}: malformed box of {name!r}: xmin={xmin:g} ymin={ymin:g} xmax={xmax:g} ymax={ymax:g} "
                "(need xmax >= xmin and ymax >= ymin)"
            )
        diff = obj.find("difficult")
        boxes.append((xmin - 1, ymin - 1, xmax, ymax))
        labels.append(class_index[name])
        difficult.append(diff is not None and diff.text is not None and int(float(diff.text)) == 1)
    return (
        width,
        height,
        np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        np.asarray(labels, dtype=np.int64),
        np.asarray(difficult, dtype=bool),
    )


def read_voc(
    devkit_root: str | Path,
    sets: Sequence[tuple[str, str]],
    class_names: Sequence[str] = VOC_CLASSES,
) -> list[VocRecord]:
    """Records of the ``(year, split)`` sets, in split-file order, set after set.

    ``devkit_root`` is the ``VOCdevkit`` folder (or its parent). ``[("VOC2007", "trainval"), ("VOC2012",
    "trainval")]`` gives the paper's pool order. All split files are checked before any XML is parsed.
    """
    if not sets:
        raise ValueError("read_voc needs at least one (year, split) pair")
    root = _devkit(Path(devkit_root), [year for year, _ in sets])
    id_lists = []
    for year, split in sets:
        year_dir = root / year
        if not year_dir.is_dir():
            raise FileNotFoundError(f"VOC year folder not found: {year_dir}; {_LAYOUT}")
        split_file = year_dir / "ImageSets" / "Main" / f"{split}.txt"
        if not split_file.is_file():
            raise FileNotFoundError(f"VOC split file not found: {split_file}; {_LAYOUT}")
        ids = _read_ids(split_file)
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"{split_file}: image id {dup!r} is listed twice")
        id_lists.append((year, ids))

    class_index = {name: k for k, name in enumerate(class_names)}
    records: list[VocRecord] = []
    for year, ids in id_lists:
        year_dir = root / year
        for image_id in ids:
            xml_path = year_dir / "Annotations" / f"{image_id}.xml"
            if not xml_path.is_file():
                raise FileNotFoundError(
                    f"VOC annotation not found: {xml_path} (id {image_id!r} of {year}); {_LAYOUT}"
                )
            image_path = next(
                (p for p in (year_dir / "JPEGImages" / f"{image_id}{e}" for e in _IMAGE_EXTS) if p.is_file()),
                None,
            )
            if image_path is None:
                raise FileNotFoundError(
                    f"VOC image not found: {year_dir / 'JPEGImages' / image_id}.jpg (also tried .png, .jpeg); {_LAYOUT}"
                )
            width, height, boxes, labels, difficult = _parse_xml(xml_path, class_index, class_names)
            records.append(VocRecord(image_id, year, image_path, width, height, boxes, labels, difficult,
                                     xml_path))
    return records


# --------------------------------------------------------------------------------------------------------
# manifests (the file-backed path)


def voc_manifest(records: Sequence[VocRecord], split: str) -> pd.DataFrame:
    """One row per record: ``split``, ``index`` (position in ``records``), ``image_id``, ``year``,
    ``image_path``, ``annotation_path``, annotated ``width``/``height``, ``n_objects`` and the annotations as
    JSON lists (``boxes``: 0-based exclusive ``[x1, y1, x2, y2]``, ``labels``, ``difficult`` as 0/1), so the
    CSV round-trips them exactly."""
    return pd.DataFrame([{
        "split": split, "index": i, "image_id": r.image_id, "year": r.year, "image_path": str(r.image_path),
        "annotation_path": str(r.annotation_path or ""), "width": int(r.width), "height": int(r.height),
        "n_objects": len(r.labels), "boxes": json.dumps(r.boxes.astype(float).tolist()),
        "labels": json.dumps(r.labels.astype(int).tolist()), "difficult": json.dumps(r.difficult.astype(int).tolist()),
    } for i, r in enumerate(records)])


def row_annotations(row: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes float32 G×4, labels int64 G, difficult bool G) of one manifest row."""
    boxes = np.asarray(json.loads(row["boxes"]), dtype=np.float32).reshape(-1, 4)
    labels = np.asarray(json.loads(row["labels"]), dtype=np.int64).reshape(-1)
    difficult = np.asarray(json.loads(row["difficult"]), dtype=bool).reshape(-1)
    return boxes, labels, difficult


def manifest_ground_truth(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """The annotations of manifest ``rows`` as padded arrays, in original pixel coordinates (no images):
    ``boxes`` (N, G, 4), ``labels`` (N, G) with −1 padding, ``difficult``, ``image_id``, ``image_path``,
    ``height``, ``width``. Small even for the whole VOC pool (G ≈ 40: a few MB)."""
    parsed = [row_annotations(r) for r in rows.to_dict("records")]
    n, g = len(parsed), max([1, *(len(p[1]) for p in parsed)])
    boxes = np.zeros((n, g, 4), dtype=np.float32)
    labels = np.full((n, g), -1, dtype=np.int64)
    difficult = np.zeros((n, g), dtype=bool)
    for i, (b, lab, d) in enumerate(parsed):
        boxes[i, : len(lab)], labels[i, : len(lab)], difficult[i, : len(lab)] = b, lab, d
    return {"boxes": boxes, "labels": labels, "difficult": difficult,
            "image_id": rows["image_id"].astype(str).to_numpy(), "image_path": rows["image_path"].astype(str).to_numpy(),
            "height": rows["height"].to_numpy(np.int64), "width": rows["width"].to_numpy(np.int64)}


def _size_problem(image_hw: tuple[int, int], row: Mapping[str, Any]) -> str | None:
    h, w = image_hw
    if (h, w) == (int(row["height"]), int(row["width"])):
        return None
    xml = row.get("annotation_path") or "its annotation"
    return f"image is {w}×{h} but its annotation says {int(row['width'])}×{int(row['height'])} (width×height; {xml})"


def check_voc_images(rows: pd.DataFrame, on_bad_sample: str = "error", max_listed: int = 10) -> list[BadSampleError]:
    """Preflight before any long work: every listed image exists, ends with its format's end marker (a
    half-written JPEG does not; only the file's last bytes are read) and its header size (Pillow reads only the
    header) is the annotated size. With ``on_bad_sample="error"`` the problems (the first ``max_listed``
    named, file and problem) are one error; with ``"skip"`` they are logged and returned, and the readers skip
    those samples when they meet them."""
    from PIL import Image, UnidentifiedImageError

    problems: list[BadSampleError] = []
    for row in rows.to_dict("records"):
        path = row["image_path"]
        try:
            with Image.open(path) as img:
                w, h = img.size
            check_end_marker(path)
        except FileNotFoundError:
            problems.append(BadSampleError(path, "file not found"))
            continue
        except BadSampleError as err:
            problems.append(err)
            continue
        except (OSError, UnidentifiedImageError) as err:
            problems.append(BadSampleError(path, f"not an image ({err})"))
            continue
        size = _size_problem((h, w), row)
        if size is not None:
            problems.append(BadSampleError(path, size))
    if problems:
        listed = "\n  ".join(str(p) for p in problems[:max_listed])
        more = f"\n  … and {len(problems) - max_listed} more" if len(problems) > max_listed else ""
        if on_bad_sample != "skip":
            raise BadSampleError(problems[0].path, f"{len(problems)} of {len(rows)} listed images are unusable "
                                                   f"(data.on_bad_sample: skip leaves them out):\n  {listed}{more}")
        log.warning("%d of %d listed images are unusable and will be skipped:\n  %s%s", len(problems), len(rows),
                    listed, more)
    return problems


def read_voc_image(row: Mapping[str, Any]) -> np.ndarray:
    """The RGB image of a manifest row, decoded strictly; a file that is truncated, corrupt or not of the
    annotated size is a :class:`~cvpapers.data.decode.BadSampleError` naming it."""
    image = decode_image(row["image_path"])
    size = _size_problem(image.shape[:2], row)
    if size is not None:
        raise BadSampleError(row["image_path"], size)
    return image


def load_voc_arrays(records: Sequence[VocRecord], image_size: int) -> dict[str, np.ndarray]:
    """Read and letterbox ``records`` into the generator's array format (plus ``scale`` and ``orig_size``).

    Each image (RGB) is scaled by ``image_size / max(h, w)`` (``cv2.INTER_LINEAR``; no resize at scale 1),
    pasted top-left on a zero ``image_size``² canvas; its boxes are scaled by the same factor.
    ``orig_size`` is (h, w). Holds all images in memory: N·image_size²·3 bytes.
    """
    if image_size < 1:
        raise ValueError(f"image_size must be >= 1, got {image_size}")
    n = len(records)
    g = max([1, *(len(r.labels) for r in records)])
    images = np.zeros((n, image_size, image_size, 3), dtype=np.uint8)
    boxes = np.zeros((n, g, 4), dtype=np.float32)
    labels = np.full((n, g), -1, dtype=np.int64)
    difficult = np.zeros((n, g), dtype=bool)
    scale = np.empty(n, dtype=np.float32)
    orig_size = np.empty((n, 2), dtype=np.int32)
    for i, rec in enumerate(records):  # image decoding is inherently per file
        # Strict: a truncated file is an error naming it (cv2.imread would fill the missing rows grey).
        # Boxes refer to the annotated size; a mismatch means the image and its XML do not belong together.
        rgb = read_voc_image({"image_path": str(rec.image_path), "height": rec.height, "width": rec.width,
                              "annotation_path": str(rec.annotation_path or "")})
        h, w = rgb.shape[:2]
        s = image_size / max(h, w)
        if s != 1:
            size = (min(image_size, max(1, round(w * s))), min(image_size, max(1, round(h * s))))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
        images[i, : rgb.shape[0], : rgb.shape[1]] = rgb
        k = len(rec.labels)
        boxes[i, :k] = rec.boxes * np.float32(s)
        labels[i, :k] = rec.labels
        difficult[i, :k] = rec.difficult
        scale[i], orig_size[i] = s, (h, w)
    ids = [r.image_id for r in records]
    return {
        "images": images,
        "boxes": boxes,
        "labels": labels,
        "difficult": difficult,
        "regime": np.full(n, -1, dtype=np.int8),
        "image_id": np.array(ids, dtype=f"<U{max([1, *(len(i) for i in ids)])}"),
        "scale": scale,
        "orig_size": orig_size,
    }
