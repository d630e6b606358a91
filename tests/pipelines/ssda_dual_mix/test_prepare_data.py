"""`prepare_data` on real layouts: manifests checked file by file (SYNTHIA → Cityscapes reads Cityscapes in
SYNTHIA's 16-class space), a bad file named before any training, and each DAG refusing the other's data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cvpapers.da.streams import DAReader
from cvpapers.data.decode import BadSampleError
from cvpapers.data.segmentation import TRAINID19_TO_16, write_cityscapes_fixture, write_synthia_fixture
from cvpapers.pipelines.ssda_dual_mix.nodes import prepare_data

H, W = 8, 16


def _write(tmp_path: Path) -> dict:
    rng = np.random.default_rng(0)
    img = lambda n: rng.integers(0, 256, (n, H, W, 3), dtype=np.uint8)  # noqa: E731
    write_synthia_fixture(tmp_path / "synthia", img(3), np.full((3, H, W), 3, dtype=np.uint16))  # 3 = road
    write_cityscapes_fixture(tmp_path / "cs", "train", "aachen", img(4), np.full((4, H, W), 22, dtype=np.uint8))
    write_cityscapes_fixture(tmp_path / "cs", "val", "lindau", img(2), np.full((2, H, W), 26, dtype=np.uint8))
    return {"data": {"source": "synthia", "max_target_images": 3, "preprocess": {"crop": [H, W]},
                     "roots": {"synthia": str(tmp_path / "synthia"), "cityscapes": str(tmp_path / "cs")}},
            "pseudo": {"method": "histogram"}}


def test_synthia_setting_lists_source_pool_and_val_with_cityscapes_in_16_classes(tmp_path) -> None:
    params = _write(tmp_path)
    source, pool, val, metrics = prepare_data(params, streaming=True)
    assert metrics == {"n_source": 3.0, "n_target_pool": 3.0, "n_val": 2.0, "skipped_samples": 0.0}
    assert all(isinstance(t, pd.DataFrame) for t in (source, pool, val)), "manifests, not pixels"
    assert list(pool["id"]) == [0, 1, 2] and set(pool["dataset"]) == {"cityscapes16"}
    read = DAReader(16)
    assert (read(source.iloc[0])["mask"] == 0).all()  # SYNTHIA road → 0
    assert (read(pool.iloc[0])["mask"] == TRAINID19_TO_16[9]).all() and TRAINID19_TO_16[9] == 255  # terrain
    assert (read(val.iloc[1])["mask"] == TRAINID19_TO_16[13]).all() and TRAINID19_TO_16[13] == 12  # car


def test_a_bad_file_is_named_before_any_training_or_skipped_and_counted(tmp_path) -> None:
    params = _write(tmp_path)
    label = tmp_path / "cs/gtFine/val/lindau/lindau_000000_000020_gtFine_labelIds.png"
    label.write_bytes(label.read_bytes()[:-20])
    with pytest.raises(BadSampleError, match=r"lindau_000000_000020_gtFine_labelIds\.png: truncated"):
        prepare_data(params, streaming=True)
    skip = {**params, "data": {**params["data"], "on_bad_sample": "skip"}}
    _, _, val, metrics = prepare_data(skip, streaming=True)
    assert len(val) == 1 and metrics["skipped_samples"] == 1.0 and list(val["id"]) == [0]


def test_each_dag_refuses_the_other_kind_of_data(tmp_path) -> None:
    with pytest.raises(ValueError, match="ssda_dual_mix_paper"):
        prepare_data(_write(tmp_path), pd.DataFrame(), streaming=False)
    with pytest.raises(ValueError, match="the embedded benchmark runs as ssda_dual_mix"):
        prepare_data({}, streaming=True)
