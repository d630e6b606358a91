"""What a prediction looks like on disk: label rows, colour masks and overlays, tone-mapped PNG and Radiance
``.hdr`` merges, boxes drawn and written as JSON and Pascal VOC XML, restored images, and the contact sheet.

``write_<family>(out_dir, name, sample, result, ctx)`` writes one image's files under ``out_dir`` (paths mirror
the input's relative name) and returns ``(rows, thumbnail)``: the rows of the predictions table and an 8-bit
RGB picture for the contact sheet.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import cv2
import numpy as np

THUMB = 128  # contact sheet tile side (px)


@dataclass(frozen=True)
class WriteContext:
    class_names: tuple[str, ...]
    top_k: int = 3
    overlay_alpha: float = 0.5
    draw_score_thr: float = 0.3
    hdr_mu: float = 5000.0


def _name(ctx: WriteContext, label: int) -> str:
    return ctx.class_names[label] if 0 <= label < len(ctx.class_names) else str(label)


def _to_u8(image: np.ndarray) -> np.ndarray:
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def _write_png(path: Path, rgb_u8: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb_u8[..., ::-1])):
        raise OSError(f"OpenCV could not write {path}")
    return path


def _out(out_dir: Path, kind: str, name: str, suffix: str) -> Path:
    return out_dir / kind / Path(name).with_suffix(suffix)


def thumbnail(rgb_u8: np.ndarray, caption: str = "") -> np.ndarray:
    """A THUMB×THUMB tile: the picture fitted (aspect kept) on black, ``caption`` along the bottom."""
    h, w = rgb_u8.shape[:2]
    s = THUMB / max(h, w)
    small = cv2.resize(
        rgb_u8,
        (max(1, round(w * s)), max(1, round(h * s))),
        interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_NEAREST,
    )
    tile = np.zeros((THUMB, THUMB, 3), np.uint8)
    top, left = (THUMB - small.shape[0]) // 2, (THUMB - small.shape[1]) // 2
    tile[top : top + small.shape[0], left : left + small.shape[1]] = small
    if caption:
        cv2.rectangle(tile, (0, THUMB - 14), (THUMB, THUMB), (0, 0, 0), -1)
        cv2.putText(
            tile,
            caption[:22],
            (2, THUMB - 3),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.35,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    return tile


def contact_sheet(tiles: Sequence[np.ndarray], columns: int = 4) -> np.ndarray:
    """Tiles in a grid (row-major), 2 px apart on white."""
    columns = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // columns)
    gap = 2
    sheet = np.full((rows * (THUMB + gap) + gap, columns * (THUMB + gap) + gap, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = gap + r * (THUMB + gap), gap + c * (THUMB + gap)
        sheet[y : y + THUMB, x : x + THUMB] = tile
    return sheet


def write_contact_sheet(path: Path, tiles: Sequence[np.ndarray]) -> Path | None:
    return _write_png(path, contact_sheet(tiles)) if tiles else None


# -- classification ------------------------------------------------------------------------------------------


def write_classification(
    out_dir: Path, name: str, sample: dict[str, Any], result: dict[str, Any], ctx: WriteContext
) -> tuple[list[dict[str, Any]], np.ndarray]:
    top = "; ".join(f"{_name(ctx, lab)}:{p:.4f}" for lab, p in result["top"])
    row = {
        "file": name,
        "label": result["label"],
        "class": _name(ctx, result["label"]),
        "score": result["score"],
        f"top{ctx.top_k}": top,
    }
    return [row], thumbnail(_to_u8(sample["image"]), f"{row['class']} {result['score']:.2f}")


# -- segmentation --------------------------------------------------------------------------------------------


def palette(n: int) -> np.ndarray:
    """n×3 uint8 colours: the street benchmark's Cityscapes colours first, then evenly spread hues."""
    from cvpapers.data.street_scenes import LABEL_COLORS

    base = np.asarray(LABEL_COLORS, np.uint8)[:, :3]
    if n <= len(base):
        return base[:n]
    hues = np.linspace(0, 179, n - len(base), endpoint=False).astype(np.uint8)
    extra = cv2.cvtColor(
        np.stack([hues, np.full_like(hues, 200), np.full_like(hues, 230)], 1)[None], cv2.COLOR_HSV2RGB
    )[0]
    return np.concatenate([base, extra])


def write_segmentation(
    out_dir: Path, name: str, sample: dict[str, Any], result: dict[str, Any], ctx: WriteContext
) -> tuple[list[dict[str, Any]], np.ndarray]:
    mask = result["mask"]
    colours = palette(max(len(ctx.class_names), int(mask.max()) + 1))[mask]  # one gather, no pixel loop
    image = _to_u8(sample["image"])
    overlay = np.round((1 - ctx.overlay_alpha) * image + ctx.overlay_alpha * colours).astype(np.uint8)
    label_path = _out(out_dir, "labels", name, ".png")  # the raw class ids too: a label map other tools read
    label_path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(label_path), mask):
        raise OSError(f"OpenCV could not write {label_path}")
    mask_path = _write_png(_out(out_dir, "masks", name, ".png"), colours)
    overlay_path = _write_png(_out(out_dir, "overlays", name, ".png"), overlay)
    fractions = np.bincount(mask.ravel(), minlength=len(ctx.class_names)) / mask.size
    row = {
        "file": name,
        "mask": mask_path.relative_to(out_dir).as_posix(),
        "overlay": overlay_path.relative_to(out_dir).as_posix(),
        "confidence": result["confidence"],
        **{f"frac_{_name(ctx, c)}": float(f) for c, f in enumerate(fractions)},
    }
    return [row], thumbnail(overlay, Path(name).stem)


# -- HDR -----------------------------------------------------------------------------------------------------


def tone_map(hdr: np.ndarray, mu: float) -> np.ndarray:
    """μ-law tone mapping (the papers' display and PSNR-μ curve) of linear HDR in [0, 1] → 8-bit RGB."""
    return _to_u8(np.log1p(mu * np.clip(hdr, 0.0, None)) / np.log1p(mu))


def write_hdr(
    out_dir: Path, name: str, sample: dict[str, Any], result: dict[str, Any], ctx: WriteContext
) -> tuple[list[dict[str, Any]], np.ndarray]:
    hdr = result["hdr"]
    hdr_path = _out(out_dir, "hdr", name, ".hdr")
    hdr_path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(
        str(hdr_path), np.ascontiguousarray(hdr[..., ::-1], dtype=np.float32)
    ):  # Radiance RGBE
        raise OSError(f"OpenCV could not write {hdr_path}")
    tone = tone_map(hdr, ctx.hdr_mu)
    png_path = _write_png(_out(out_dir, "tonemapped", name, ".png"), tone)
    row = {
        "scene": name,
        "hdr": hdr_path.relative_to(out_dir).as_posix(),
        "tonemapped": png_path.relative_to(out_dir).as_posix(),
        "height": hdr.shape[0],
        "width": hdr.shape[1],
        "max_radiance": float(hdr.max()),
        "mean_radiance": float(hdr.mean()),
    }
    return [row], thumbnail(tone, name)


# -- detection -----------------------------------------------------------------------------------------------


def voc_xml(
    name: str,
    hw: tuple[int, int],
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    ctx: WriteContext,
) -> str:
    """Pascal VOC annotation of the detections (1-based integer pixel corners, as VOC stores them; the score
    goes in an extra ``<score>`` element that VOC readers ignore)."""
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = Path(name).name
    size = ET.SubElement(root, "size")
    for tag, value in (("width", hw[1]), ("height", hw[0]), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    for box, score, label in zip(boxes, scores, labels, strict=True):
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = _name(ctx, int(label))
        ET.SubElement(obj, "score").text = f"{float(score):.4f}"
        ET.SubElement(obj, "difficult").text = "0"
        bnd = ET.SubElement(obj, "bndbox")
        x1, y1, x2, y2 = box
        for tag, v in (("xmin", x1 + 1), ("ymin", y1 + 1), ("xmax", x2), ("ymax", y2)):
            ET.SubElement(bnd, tag).text = str(int(round(float(v))))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


def draw_boxes(
    image_u8: np.ndarray, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, ctx: WriteContext
) -> np.ndarray:
    out = np.ascontiguousarray(image_u8.copy())
    colours = palette(max(len(ctx.class_names), int(labels.max(initial=0)) + 1))
    thick = max(1, round(max(out.shape[:2]) / 200))
    for box, score, label in zip(boxes, scores, labels, strict=True):
        if score < ctx.draw_score_thr:
            continue
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        colour = tuple(int(c) for c in colours[int(label)])
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick)
        cv2.putText(
            out,
            f"{_name(ctx, int(label))} {score:.2f}",
            (x1, max(8, y1 - 2)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.3 * thick,
            colour,
            1,
            cv2.LINE_AA,
        )
    return out


def write_detection(
    out_dir: Path, name: str, sample: dict[str, Any], result: dict[str, Any], ctx: WriteContext
) -> tuple[list[dict[str, Any]], np.ndarray]:
    image = _to_u8(sample["image"])
    boxes, scores, labels = result["boxes"], result["scores"], result["labels"]
    drawn = _write_png(_out(out_dir, "boxes", name, ".png"), draw_boxes(image, boxes, scores, labels, ctx))
    dets = [
        {"class": _name(ctx, int(lab)), "label": int(lab), "score": float(s), "box": [float(v) for v in b]}
        for b, s, lab in zip(boxes, scores, labels, strict=True)
    ]
    json_path = _out(out_dir, "json", name, ".json")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(
        json.dumps(
            {"file": name, "height": image.shape[0], "width": image.shape[1], "detections": dets}, indent=1
        )
    )
    xml_path = _out(out_dir, "voc", name, ".xml")
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    xml_path.write_text(voc_xml(name, image.shape[:2], boxes, scores, labels, ctx))
    rows = [
        {
            "file": name,
            "class": d["class"],
            "score": d["score"],
            "x1": d["box"][0],
            "y1": d["box"][1],
            "x2": d["box"][2],
            "y2": d["box"][3],
            "drawn": drawn.relative_to(out_dir).as_posix(),
        }
        for d in dets
    ]
    if not rows:  # the image is listed even without a detection
        rows = [
            {
                "file": name,
                "class": "",
                "score": float("nan"),
                "x1": float("nan"),
                "y1": float("nan"),
                "x2": float("nan"),
                "y2": float("nan"),
                "drawn": drawn.relative_to(out_dir).as_posix(),
            }
        ]
    n_drawn = int((scores >= ctx.draw_score_thr).sum())
    return rows, thumbnail(cv2.imread(str(drawn))[..., ::-1], f"{Path(name).stem} {n_drawn} boxes")


# -- restoration ---------------------------------------------------------------------------------------------


def write_restoration(
    out_dir: Path, name: str, sample: dict[str, Any], result: dict[str, Any], ctx: WriteContext
) -> tuple[list[dict[str, Any]], np.ndarray]:
    restored = _to_u8(result["restored"])
    path = _write_png(_out(out_dir, "restored", name, ".png"), restored)
    change = float(np.abs(result["restored"] - sample["image"]).mean())
    row = {
        "file": name,
        "restored": path.relative_to(out_dir).as_posix(),
        "height": restored.shape[0],
        "width": restored.shape[1],
        "mean_abs_change": change,
    }
    side_by_side = np.concatenate([_to_u8(sample["image"]), restored], axis=1)  # input | restored
    return [row], thumbnail(side_by_side, Path(name).stem)


#: The folders each family writes under the output folder (cleared before a run, so no stale file remains).
OUTPUT_KINDS = {
    "classification": (),
    "segmentation": ("labels", "masks", "overlays"),
    "hdr": ("hdr", "tonemapped"),
    "detection": ("boxes", "json", "voc"),
    "restoration": ("restored",),
}

WRITERS = {
    "classification": write_classification,
    "segmentation": write_segmentation,
    "hdr": write_hdr,
    "detection": write_detection,
    "restoration": write_restoration,
}


def clear(out_dir: Path, family: str) -> None:
    """Remove what an earlier run of this family wrote (its folders and the contact sheet), nothing else."""
    import shutil

    for kind in OUTPUT_KINDS[family]:
        shutil.rmtree(out_dir / kind, ignore_errors=True)
    (out_dir / "contact_sheet.png").unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)


def log_outputs(out_dir: Path, family: str) -> None:
    """Attach the written folders and the contact sheet to the node's MLflow run (``predictions/…``)."""
    from cvpapers.engine import tracking

    run_id = tracking.active_run_id()
    if run_id is None:
        return
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    for kind in OUTPUT_KINDS[family]:
        if (out_dir / kind).is_dir():
            client.log_artifacts(run_id, str(out_dir / kind), f"predictions/{kind}")
    if (out_dir / "contact_sheet.png").is_file():
        client.log_artifact(run_id, str(out_dir / "contact_sheet.png"), "predictions")
