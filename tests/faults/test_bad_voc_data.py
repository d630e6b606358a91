"""Issue 11, row 1: a half-written JPEG in a VOC-layout dataset stops `kedro run` before any training,
naming the file (it used to train on an image of which 15 of 64 rows decoded, and exit 0)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cvpapers.data.decode import BadSampleError
from tests.conftest import run_kedro
from tests.pipelines.mi_aod.test_nodes import _devkit


def test_half_written_voc_jpeg_is_named_before_training(tmp_path: Path, kedro_project: Path) -> None:
    root = _devkit(tmp_path / "VOCdevkit")
    victim = sorted((root / "VOC2007" / "JPEGImages").glob("*.jpg"))[2]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadSampleError, match=rf"{victim}: truncated"):
        run_kedro(kedro_project, "mi_aod_paper", env="paper",
                  params={"mi_aod.data.root": str(root), "mi_aod.model.backbone": "tiny",
                          "mi_aod.model.backbone_weights": "null"})
    assert not list((kedro_project / "data" / "06_models").rglob("*.pt")), "nothing was trained"
