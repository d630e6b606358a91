"""The real-data path on fixtures in the real layouts: GTA5 → Cityscapes + IDD (and Mapillary) decoded into the
19 Cityscapes classes and held in memory at ``data.real_size``; conf/paper builds the single-level DeepLab-v2."""

from __future__ import annotations

import numpy as np

from cvpapers.data.segmentation import write_idd_fixture, write_mapillary_fixture, write_street_fixture
from cvpapers.pipelines.mtda_collab.nodes import prepare_data


def _roots(tmp_path) -> dict:
    write_street_fixture(tmp_path / "gta", "gta5", 3, (20, 40))
    for split in ("train", "val"):
        write_street_fixture(tmp_path / "cs", "cityscapes", 2, (20, 40), split=split)
    rng = np.random.default_rng(0)
    for split, seq in (("train", "a"), ("val", "b")):
        write_idd_fixture(
            tmp_path / "idd",
            split,
            seq,
            rng.integers(0, 256, (2, 20, 40, 3), dtype=np.uint8),
            np.tile(np.array([0, 24, 13, 25], dtype=np.uint8).repeat(10), (2, 20, 1)),
        )
    names = ["construction--flat--road", "nature--sky", "animal--bird"]
    for split in ("training", "validation"):
        write_mapillary_fixture(
            tmp_path / "mp",
            split,
            rng.integers(0, 256, (2, 30, 50, 3), dtype=np.uint8),
            np.tile(np.array([0, 1, 2], dtype=np.uint8).repeat(17)[:50], (2, 30, 1)),
            names,
        )
    return {
        "gta5": str(tmp_path / "gta"),
        "cityscapes": str(tmp_path / "cs"),
        "idd": str(tmp_path / "idd"),
        "mapillary": str(tmp_path / "mp"),
    }


def test_gta5_to_cityscapes_idd_and_mapillary_in_memory(tmp_path) -> None:
    params = {
        "data": {
            "source": "gta5",
            "real_targets": ["cityscapes", "idd", "mapillary"],
            "real_roots": _roots(tmp_path),
            "real_size": [16, 32],
        }
    }
    source, train, val, metrics = prepare_data(params)
    assert source["images"].shape == (3, 16, 32, 3) and set(np.unique(source["labels"])) <= set(range(19))
    assert train["domains"].tolist() == ["cityscapes", "idd", "mapillary"]
    assert metrics["n_train/idd"] == 2 and metrics["n_val/mapillary"] == 2
    assert "labels" not in train and train["hidden_labels"].shape == (6, 16, 32)
    idd = train["hidden_labels"][train["domain"] == 1]
    assert set(np.unique(idd)) == {0, 8, 255, 10}, "IDD level-3 road/vegetation/curb/sky → 0/8/255/10"
    mp = val["labels"][val["domain"] == 2]
    assert set(np.unique(mp)) == {0, 10, 255}, "Mapillary by name; a class without a counterpart → 255"


def test_synthia_setting_decodes_every_target_into_16_classes(tmp_path) -> None:
    roots = _roots(tmp_path)
    write_street_fixture(tmp_path / "syn", "synthia", 2, (20, 40))
    params = {
        "data": {
            "source": "synthia",
            "real_targets": ["cityscapes", "idd"],
            "real_roots": {**roots, "synthia": str(tmp_path / "syn")},
            "real_size": [16, 32],
        }
    }
    _, train, val, _ = prepare_data(params)
    for labels in (train["hidden_labels"], val["labels"]):
        assert set(np.unique(labels)) <= set(range(16)) | {255}


def test_paper_environment_configures_the_single_level_deeplab_v2() -> None:
    """The single-level DeepLab-v2 R101 of this config has 43,901,068 parameters at C = 19
    (asserted by tests/models/test_segmentation.py; not rebuilt here)."""
    from cvpapers.da.segmenter import segmenter_config
    from cvpapers.pipelines.mtda_collab.config import MtdaParams
    from tests.conftest import conf_parameters

    p = MtdaParams.model_validate(conf_parameters("mtda_collab", "paper"))
    assert (p.data.source, p.data.real_targets, p.expert.init) == ("gta5", ["cityscapes", "idd"], "initial")
    assert segmenter_config(p.model, 19) == {
        "name": "deeplabv2_r101",
        "num_classes": 19,
        "multi_level": False,
        "weights_path": None,
    }
    assert (p.train.optimizer, p.train.lr, p.train.batch_size, p.model.input_norm) == (
        "sgd",
        2.5e-4,
        1,
        "caffe",
    )
