"""Manifest format of the classification pipelines.

Why a manifest: every pipeline's ``prepare_data`` node returns one table, whatever the source (generated
PNGs, CIFAR pickle batches, ImageNet class folders), and downstream nodes read samples only through it. The
table is saved by Kedro's CSV dataset, so the format is plain columns:

=============  =======  ======================================================================
column         dtype    meaning
=============  =======  ======================================================================
``path``       str      file holding the sample (image file or container such as a CIFAR batch)
``index``      int      ``-1`` for one file per image, else the row inside the container file
``split``      str      ``train``, ``test`` or ``val``
``label``      int      class index in ``[0, n_classes)``
``class_name`` str      human-readable class name (one name per label)
=============  =======  ======================================================================

``validate_manifest`` fails early with the column/split that is missing and where the table came from, so
a wrong data root is reported when the pipeline starts rather than in the middle of training.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

__all__ = ["COLUMNS", "SPLITS", "read_manifest", "validate_manifest", "write_manifest"]

COLUMNS: tuple[str, ...] = ("path", "index", "split", "label", "class_name")
SPLITS: tuple[str, ...] = ("train", "test", "val")


def _origin(df: pd.DataFrame, origin: str | None) -> str:
    return origin or str(df.attrs.get("origin", "<origin unknown>"))


def validate_manifest(
    df: pd.DataFrame, required_splits: Iterable[str] = (), origin: str | None = None
) -> pd.DataFrame:
    """Check the manifest's columns, values and required splits; return it with canonical dtypes.

    Args:
        df: the manifest table.
        required_splits: splits that must have at least one row (e.g. ``("train", "test")``).
        origin: where the table came from, for error messages; defaults to ``df.attrs["origin"]``
            (set by the writers in this package).

    Raises:
        ValueError: naming the missing column, the missing split, or the offending values, and the origin.
    """
    where = _origin(df, origin)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"manifest from {where} lacks column(s) {missing}; expected columns {list(COLUMNS)}, "
            f"got {list(df.columns)}"
        )
    if df[list(COLUMNS)].isna().any().any():
        bad = [c for c in COLUMNS if df[c].isna().any()]
        raise ValueError(f"manifest from {where} has empty values in column(s) {bad}")
    unknown = sorted(set(df["split"]) - set(SPLITS))
    if unknown:
        raise ValueError(f"manifest from {where} has unknown split(s) {unknown}; allowed: {list(SPLITS)}")
    for split in required_splits:
        if split not in SPLITS:
            raise ValueError(f"required split {split!r} is not a manifest split; allowed: {list(SPLITS)}")
        if not (df["split"] == split).any():
            present = sorted(set(df["split"]))
            raise ValueError(f"manifest from {where} has no rows for split {split!r}; splits present: {present}")
    for col in ("index", "label"):
        if not pd.api.types.is_integer_dtype(df[col]):
            raise ValueError(f"manifest from {where}: column {col!r} must be integer, got {df[col].dtype}")
    if (df["label"] < 0).any():
        raise ValueError(f"manifest from {where}: column 'label' has negative values")
    if (df["index"] < -1).any():
        raise ValueError(f"manifest from {where}: column 'index' must be -1 or a row number >= 0")
    names_per_label = df.groupby("label")["class_name"].nunique()
    if (names_per_label > 1).any():
        labels = names_per_label[names_per_label > 1].index.tolist()
        raise ValueError(f"manifest from {where}: label(s) {labels} map to more than one class_name")
    out = df.astype({"path": str, "index": "int64", "split": str, "label": "int64", "class_name": str})
    out.attrs["origin"] = where
    return out


def write_manifest(df: pd.DataFrame, path: str | Path) -> Path:
    """Write the manifest as CSV (columns in canonical order); Kedro's CSV dataset does this in pipelines."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    validate_manifest(df).loc[:, list(COLUMNS)].to_csv(path, index=False)
    return path


def read_manifest(path: str | Path, required_splits: Iterable[str] = ()) -> pd.DataFrame:
    """Read and validate a manifest CSV; ``path`` and ``class_name`` stay strings (no type guessing)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest CSV not found: {path}")
    df = pd.read_csv(path, dtype={"path": str, "split": str, "class_name": str}, keep_default_na=False)
    return validate_manifest(df, required_splits, origin=str(path))


def evaluation_split(manifest: pd.DataFrame) -> str:
    """The split a classifier is evaluated on: ``test`` when the manifest has one, else ``val`` (ImageNet)."""
    return "test" if (manifest["split"] == "test").any() else "val"
