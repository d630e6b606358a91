"""ImageNet-style class folders: manifest builder and JPEG fixture writer (dcff §10).

Layout (what the official code and ``torchvision.datasets.ImageFolder`` read)::

    <root>/ILSVRC2012_img_train/<wnid>/<wnid>_<n>.JPEG
    <root>/val/<wnid>/*.JPEG            (val already sorted into class folders)

Class index = position of the wnid in the sorted list of the **train** folder's class folders (ImageFolder's
rule), and the val folders must use the same wnids, so labels agree across splits. Why a manifest rather
than ImageFolder directly: the pipelines read every source through the same table (see ``manifest.py``);
:class:`cvpapers.data.classification.ImageFileDataset` streams the rows with torchvision transforms.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

__all__ = ["IMG_EXTENSIONS", "imagefolder_manifest", "write_imagefolder_fixture"]

#: Accepted image suffixes (compared lower-case), as torchvision's ImageFolder.
IMG_EXTENSIONS: tuple[str, ...] = (".jpeg", ".jpg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
_LAYOUT = "expected ImageNet class folders <root>/<split_dir>/<wnid>/*.JPEG (one folder per class)"


def _class_dirs(split_root: Path) -> list[str]:
    if not split_root.is_dir():
        raise FileNotFoundError(f"split folder not found: {split_root}; {_LAYOUT}")
    names = sorted(e.name for e in os.scandir(split_root) if e.is_dir())
    if not names:
        raise FileNotFoundError(f"no class folders in {split_root}; {_LAYOUT}")
    return names


def _split_rows(split_root: Path, split: str, class_index: dict[str, int]) -> pd.DataFrame:
    wnids = _class_dirs(split_root)
    unknown = sorted(set(wnids) - set(class_index))
    if unknown:
        raise ValueError(
            f"class folders {unknown[:5]}{'…' if len(unknown) > 5 else ''} in {split_root} are not train "
            f"classes; val classes must be a subset of the train wnids"
        )
    paths: list[str] = []
    labels: list[int] = []
    names: list[str] = []
    empty: list[str] = []
    for wnid in wnids:  # os.scandir: one directory read per class, fast on 1.28 M files
        files = sorted(
            e.path for e in os.scandir(split_root / wnid)
            if e.is_file() and os.path.splitext(e.name)[1].lower() in IMG_EXTENSIONS
        )
        if not files:
            empty.append(wnid)
            continue
        paths += [Path(p).as_posix() for p in files]
        labels += [class_index[wnid]] * len(files)
        names += [wnid] * len(files)
    if empty:
        raise FileNotFoundError(
            f"class folder(s) without images {[str(split_root / w) for w in empty[:5]]}"
            f"{' …' if len(empty) > 5 else ''} (accepted suffixes {IMG_EXTENSIONS}); {_LAYOUT}"
        )
    return pd.DataFrame(
        {
            "path": pd.Series(paths, dtype=object),
            "index": np.full(len(paths), -1, dtype=np.int64),
            "split": split,
            "label": np.asarray(labels, dtype=np.int64),
            "class_name": pd.Series(names, dtype=object),
        }
    )


def imagefolder_manifest(
    root: str | Path, train_dir: str = "ILSVRC2012_img_train", val_dir: str = "val"
) -> pd.DataFrame:
    """Manifest of ``<root>/<train_dir>`` (split ``train``) and ``<root>/<val_dir>`` (split ``val``).

    Raises:
        FileNotFoundError: the root, a split folder, or a class folder's images are missing (paths named).
        ValueError: val has class folders that train lacks.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"ImageNet root not found: {root}; {_LAYOUT}")
    wnids = _class_dirs(root / train_dir)
    class_index = {w: i for i, w in enumerate(wnids)}
    df = pd.concat(
        [_split_rows(root / train_dir, "train", class_index), _split_rows(root / val_dir, "val", class_index)],
        ignore_index=True,
    )
    df.attrs["origin"] = f"image class folders {root / train_dir} and {root / val_dir}"
    return df


def write_imagefolder_fixture(
    root: str | Path,
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    split_dir: str = "ILSVRC2012_img_train",
    quality: int = 95,
) -> list[Path]:
    """Write uint8 N×H×W×3 images as ``<root>/<split_dir>/<wnid>/<wnid>_<n>.JPEG``; return the paths.

    ``class_names[label]`` is the wnid folder. Call once per split (``split_dir="val"`` for validation).
    JPEG is lossy, so read-back pixels are close to, not equal to, ``images``.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
        raise ValueError(f"images must be uint8 N×H×W×3, got {images.dtype} {images.shape}")
    labels = np.asarray(labels)
    out: list[Path] = []
    counters: dict[str, int] = {}
    for img, lab in zip(images, labels, strict=True):  # file IO is per image
        wnid = class_names[int(lab)]
        folder = Path(root) / split_dir / wnid
        folder.mkdir(parents=True, exist_ok=True)
        k = counters.get(wnid, 0)
        counters[wnid] = k + 1
        path = folder / f"{wnid}_{k}.JPEG"
        Image.fromarray(img).save(path, format="JPEG", quality=quality)
        out.append(path)
    return out
