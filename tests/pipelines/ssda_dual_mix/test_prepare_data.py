"""`prepare_data` on real layouts: SYNTHIA → Cityscapes puts every label in SYNTHIA's 16-class space."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cvpapers.data.segmentation import TRAINID19_TO_16, write_cityscapes_fixture, write_synthia_fixture
from cvpapers.pipelines.ssda_dual_mix.nodes import prepare_data

H, W = 8, 16


def test_synthia_setting_loads_source_pool_and_val_with_cityscapes_in_16_classes(tmp_path) -> None:
    rng = np.random.default_rng(0)
    img = lambda n: rng.integers(0, 256, (n, H, W, 3), dtype=np.uint8)  # noqa: E731
    write_synthia_fixture(tmp_path / "synthia", img(3), np.full((3, H, W), 3, dtype=np.uint16))  # 3 = road
    write_cityscapes_fixture(tmp_path / "cs", "train", "aachen", img(4), np.full((4, H, W), 22, dtype=np.uint8))
    write_cityscapes_fixture(tmp_path / "cs", "val", "lindau", img(2), np.full((2, H, W), 26, dtype=np.uint8))
    params = {"data": {"source": "synthia", "real_size": [H, W], "max_target_images": 3,
                       "roots": {"synthia": str(tmp_path / "synthia"), "cityscapes": str(tmp_path / "cs")}}}
    source, pool, val, metrics = prepare_data(pd.DataFrame(), params)
    assert metrics == {"n_source": 3.0, "n_target_pool": 3.0, "n_val": 2.0}
    assert source["images"].shape == (3, H, W, 3) and (source["labels"] == 0).all()  # SYNTHIA road → 0
    assert (pool["labels"] == TRAINID19_TO_16[9]).all() and TRAINID19_TO_16[9] == 255, "terrain is not trained"
    assert (val["labels"] == TRAINID19_TO_16[13]).all() and TRAINID19_TO_16[13] == 12  # car
    assert list(pool["ids"]) == [0, 1, 2]
