"""CIFAR-10 in its python pickle layout: reader, manifest builder and fixture writer (dcff §10).

Layout (what ``torchvision.datasets.CIFAR10(root, download=False)`` reads)::

    <root>/cifar-10-batches-py/data_batch_1 … data_batch_5   train batches
    <root>/cifar-10-batches-py/test_batch                    test batch
    <root>/cifar-10-batches-py/batches.meta                  {'label_names': [...], ...}

Each batch is a pickled dict with ``data`` (uint8 N×3072: the R, G and B planes of a 32×32 image, each
row-major) and ``labels`` (list of ints). The original files are Python 2 pickles whose keys load as
``b'data'`` under ``encoding='bytes'`` and as ``'data'`` under ``encoding='latin1'`` (torchvision's
choice, also ours); both key forms are accepted.

Why a restricted unpickler: pickles can run code on load. Batches are loaded with an unpickler that only
resolves the few numpy names an array needs, so a tampered file fails instead of executing.

The writer accepts any square image size so that the embedded 16×16 benchmark can be exported in this
layout too (torchvision itself only reads 32×32).
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "BASE_FOLDER",
    "CIFAR10_CLASS_NAMES",
    "cifar10_manifest",
    "read_cifar_batch",
    "read_cifar_meta",
    "write_cifar10_fixture",
]

BASE_FOLDER = "cifar-10-batches-py"
CIFAR10_CLASS_NAMES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_LAYOUT = (
    "expected the CIFAR-10 python layout <root>/cifar-10-batches-py/{data_batch_1..5, test_batch, "
    "batches.meta} (pickled dicts with 'data' uint8 N×3072 and 'labels'), as extracted from "
    "cifar-10-python.tar.gz"
)
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
}


class _Refused(pickle.UnpicklingError):
    """A pickle that names code to run: never a CIFAR batch."""


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the numpy names needed to rebuild arrays."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise _Refused(f"refusing to load global {module}.{name} from a CIFAR batch")


def _load_pickle(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR file not found: {path}; {_LAYOUT}")
    from cvpapers.data.decode import BadSampleError

    try:
        with path.open("rb") as f:
            obj = _ArrayUnpickler(f, encoding="latin1").load()
    except _Refused as err:
        raise BadSampleError(path, str(err)) from None
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError) as err:
        # A batch cut short while copying ends mid-pickle ("pickle data was truncated").
        raise BadSampleError(path, f"not a complete CIFAR batch ({type(err).__name__}: {err}); {_LAYOUT}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a pickled dict, got {type(obj).__name__}; {_LAYOUT}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch file → (uint8 images N×H×W×3, int64 labels N); H = W = sqrt(row length / 3)."""
    path = Path(path)
    entry = _load_pickle(path)
    if "data" not in entry or not ({"labels", "fine_labels"} & set(entry)):
        raise ValueError(f"{path}: batch dict lacks 'data' or 'labels' (keys: {sorted(entry)}); {_LAYOUT}")
    data = np.asarray(entry["data"], dtype=np.uint8)
    labels = np.asarray(entry.get("labels", entry.get("fine_labels")), dtype=np.int64)
    side = int(round((data.shape[1] / 3) ** 0.5)) if data.ndim == 2 else 0
    if data.ndim != 2 or 3 * side * side != data.shape[1] or len(labels) != len(data):
        raise ValueError(
            f"{path}: 'data' must be N×(3·S·S) with one label per row, got {data.shape} and {len(labels)} labels"
        )
    images = data.reshape(-1, 3, side, side).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def read_cifar_meta(root: str | Path) -> tuple[str, ...]:
    """Class names from ``batches.meta`` (``label_names``)."""
    meta = _load_pickle(Path(root) / BASE_FOLDER / "batches.meta")
    names = meta.get("label_names")
    if names is None:
        raise ValueError(f"{Path(root) / BASE_FOLDER / 'batches.meta'} lacks 'label_names'; {_LAYOUT}")
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


def _train_batches(folder: Path, n_train_batches: int | None) -> list[Path]:
    if n_train_batches is not None:
        return [folder / f"data_batch_{k}" for k in range(1, n_train_batches + 1)]
    found = sorted(
        int(m.group(1)) for p in folder.iterdir() if (m := re.fullmatch(r"data_batch_(\d+)", p.name))
    )
    if found != list(range(1, len(found) + 1)) or not found:
        raise FileNotFoundError(
            f"train batches in {folder} must be data_batch_1..k without gaps, found {found}; {_LAYOUT}"
        )
    return [folder / f"data_batch_{k}" for k in found]


def cifar10_manifest(root: str | Path, n_train_batches: int | None = None) -> pd.DataFrame:
    """Manifest rows pointing into the batch files (``index`` = row inside the batch).

    Args:
        root: the folder containing ``cifar-10-batches-py``.
        n_train_batches: require exactly ``data_batch_1..n``; ``None`` takes all present (1..k, no gaps),
            so the 2-batch test fixture and the full 5-batch dataset read alike.
    """
    root = Path(root)
    folder = root / BASE_FOLDER
    if not folder.is_dir():
        raise FileNotFoundError(f"CIFAR-10 folder not found: {folder}; {_LAYOUT}")
    names = read_cifar_meta(root)
    files = [(p, "train") for p in _train_batches(folder, n_train_batches)] + [(folder / "test_batch", "test")]
    parts = []
    for path, split in files:
        _, labels = read_cifar_batch(path)
        if len(labels) and labels.max() >= len(names):
            raise ValueError(f"{path}: label {labels.max()} has no name in batches.meta ({len(names)} names)")
        parts.append(
            pd.DataFrame(
                {
                    "path": path.as_posix(),
                    "index": np.arange(len(labels), dtype=np.int64),
                    "split": split,
                    "label": labels,
                    "class_name": [names[c] for c in labels],
                }
            )
        )
    df = pd.concat(parts, ignore_index=True)
    df.attrs["origin"] = f"CIFAR-10 pickle batches in {folder.as_posix()}"
    return df


def _dump(obj: dict[str, Any], path: Path) -> None:
    # Protocol 4 stores bytes natively; str keys load as str under latin1 (torchvision) like Python 2 files.
    with path.open("wb") as f:
        pickle.dump(obj, f, protocol=4)


def write_cifar10_fixture(
    root: str | Path,
    images: np.ndarray,
    labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    n_batches: int = 5,
    class_names: Sequence[str] = CIFAR10_CLASS_NAMES,
) -> Path:
    """Write train/test images in the exact CIFAR-10 python layout; return the ``cifar-10-batches-py`` folder.

    Args:
        root: parent folder (created).
        images, labels: train set, uint8 N×S×S×3 and ints; split into ``n_batches`` consecutive batches
            ``data_batch_1..n_batches`` (np.array_split sizes).
        test_images, test_labels: written to ``test_batch``.
        n_batches: number of train batch files (5 in the real dataset; torchvision requires 5).
        class_names: written to ``batches.meta`` as ``label_names``.
    """
    folder = Path(root) / BASE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)

    def batch(x: np.ndarray, y: np.ndarray, label: str, names: list[str]) -> dict[str, Any]:
        x = np.asarray(x)
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[3] != 3 or x.shape[1] != x.shape[2]:
            raise ValueError(f"images must be uint8 N×S×S×3, got {x.dtype} {x.shape}")
        data = np.ascontiguousarray(x.transpose(0, 3, 1, 2).reshape(len(x), -1))  # R, G, B planes
        return {
            "batch_label": label,
            "labels": [int(v) for v in np.asarray(y)],
            "data": data,
            "filenames": names,
        }

    if n_batches < 1:
        raise ValueError(f"n_batches must be >= 1, got {n_batches}")
    chunks = np.array_split(np.arange(len(images)), n_batches)
    for k, idx in enumerate(chunks, start=1):
        names = [f"train_{i:05d}.png" for i in idx]
        _dump(batch(images[idx], np.asarray(labels)[idx], f"training batch {k} of {n_batches}", names),
              folder / f"data_batch_{k}")
    test_names = [f"test_{i:05d}.png" for i in range(len(test_images))]
    _dump(batch(test_images, test_labels, "testing batch 1 of 1", test_names), folder / "test_batch")
    side = int(np.asarray(images).shape[1]) if len(images) else 32
    _dump(
        {
            "num_cases_per_batch": int(max((len(c) for c in chunks), default=0)),
            "label_names": list(class_names),
            "num_vis": 3 * side * side,
        },
        folder / "batches.meta",
    )
    return folder
