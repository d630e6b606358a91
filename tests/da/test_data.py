"""DA image sets: benchmark rows by (style, split), and arrays loaded from a manifest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cvpapers.da.data import benchmark_rows, load_arrays
from cvpapers.data.segmentation import TRAINID19_TO_16


def _manifest(tmp_path) -> pd.DataFrame:
    from cvpapers.data.street_scenes import write_street_split

    return pd.concat([write_street_split(tmp_path, "game", "train", 3, 16, 32, 0),
                      write_street_split(tmp_path, "city", "val", 2, 16, 32, 0)], ignore_index=True)


def test_benchmark_rows_pick_one_style_and_split_in_order_and_name_a_missing_one(tmp_path) -> None:
    manifest = _manifest(tmp_path)
    rows = benchmark_rows(manifest.iloc[::-1], "game", "train")
    assert list(rows["index"]) == [0, 1, 2]
    with pytest.raises(ValueError, match=r"da_benchmark\.counts\.city\.train > 0"):
        benchmark_rows(manifest, "city", "train")


def test_arrays_are_channel_last_with_ids_and_an_optional_label_map(tmp_path) -> None:
    rows = benchmark_rows(_manifest(tmp_path), "game", "train")
    arrays = load_arrays(rows)
    assert arrays["images"].shape == (3, 16, 32, 3) and arrays["labels"].shape == (3, 16, 32)
    assert list(arrays["ids"]) == [0, 1, 2]
    mapped = load_arrays(rows, label_map=TRAINID19_TO_16)
    np.testing.assert_array_equal(mapped["labels"], TRAINID19_TO_16[arrays["labels"]])
    assert load_arrays(rows, size=(8, 16))["images"].shape == (3, 8, 16, 3)


def test_real_inputs_preflight_names_the_missing_folder_and_weights_file(tmp_path) -> None:
    from cvpapers.da.data import require_real_inputs
    from cvpapers.engine.config import ParameterError

    (tmp_path / "gta5").mkdir()
    require_real_inputs("msda_collab", None, {"gta5": str(tmp_path / "gta5")})  # all there: no error
    with pytest.raises(ParameterError, match=r"msda_collab\.data\.real_roots\.cityscapes = .*nowhere"):
        require_real_inputs("msda_collab", None, {"gta5": str(tmp_path / "gta5"), "cityscapes": str(tmp_path / "nowhere")})
    with pytest.raises(ParameterError, match=r"mtda_collab\.model\.weights_path: .*w\.pth is not a file"):
        require_real_inputs("mtda_collab", str(tmp_path / "w.pth"), {})
