"""Manifest format checks (cvpapers.data.manifest)."""

from __future__ import annotations

import pandas as pd
import pytest

from cvpapers.data.manifest import COLUMNS, read_manifest, validate_manifest, write_manifest


def _manifest() -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "path": ["a.png", "b.png", "batch", "batch"],
            "index": [-1, -1, 0, 1],
            "split": ["train", "train", "test", "test"],
            "label": [0, 1, 1, 0],
            "class_name": ["disc", "square", "square", "disc"],
        }
    )
    df.attrs["origin"] = "unit-test fixture"
    return df


def test_valid_manifest_passes_and_keeps_rows() -> None:
    out = validate_manifest(_manifest(), ["train", "test"])
    assert list(out.columns) == list(COLUMNS) and len(out) == 4


def test_missing_column_error_names_column_and_origin() -> None:
    with pytest.raises(ValueError, match=r"unit-test fixture.*\['label'\]"):
        validate_manifest(_manifest().drop(columns="label"))


def test_missing_split_error_names_split_and_origin() -> None:
    with pytest.raises(ValueError, match=r"unit-test fixture.*'val'"):
        validate_manifest(_manifest(), ["train", "val"])
    with pytest.raises(ValueError, match="my.csv"):
        validate_manifest(_manifest(), ["val"], origin="my.csv")


def test_unknown_split_and_inconsistent_class_names_are_rejected() -> None:
    df = _manifest()
    df.loc[0, "split"] = "dev"
    with pytest.raises(ValueError, match="dev"):
        validate_manifest(df)
    df = _manifest()
    df.loc[0, "class_name"] = "ring"
    with pytest.raises(ValueError, match="more than one class_name"):
        validate_manifest(df)


def test_csv_round_trip_preserves_values(tmp_path) -> None:
    path = write_manifest(_manifest(), tmp_path / "m.csv")
    back = read_manifest(path, ["train", "test"])
    pd.testing.assert_frame_equal(back, validate_manifest(_manifest()), check_like=False)
