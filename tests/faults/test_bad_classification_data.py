"""Issue 11, rows 2–3: a half-written PNG and a truncated CIFAR batch stop a dcff run naming the file
(before training), or, with ``data.on_bad_sample: skip``, are left out, logged and counted."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from cvpapers.data.decode import BadSampleError
from tests.conftest import make_project, run_kedro


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture
def dcff_project(tmp_path: Path) -> Path:
    project = make_project(tmp_path / "project")
    cwd = os.getcwd()
    os.chdir(project)
    try:
        run_kedro(project, "dcff", node_names=["prepare_data"])
        yield project
    finally:
        os.chdir(cwd)


def test_half_written_png_is_named_before_training(dcff_project: Path) -> None:
    victim = sorted((dcff_project / "data/01_raw/dcff/smoke/train").rglob("*.png"))[3]
    _truncate(victim)
    with pytest.raises(BadSampleError, match=f"{victim.relative_to(dcff_project)}: truncated"):
        run_kedro(dcff_project, "dcff", from_nodes=["plan_architecture"])
    assert not list((dcff_project / "data/06_models").rglob("fused.pt"))


def test_half_written_png_is_skipped_and_counted_when_asked(dcff_project: Path) -> None:
    import json

    _truncate(sorted((dcff_project / "data/01_raw/dcff/smoke/test").rglob("*.png"))[0])
    run_kedro(dcff_project, "dcff", params={"dcff.data.on_bad_sample": "skip"}, from_nodes=["plan_architecture"],
              to_nodes=["train_dcff"])
    # The smoke environment writes its reports in a folder of its own (under data/08_reporting/dcff/).
    metrics = json.loads(next((dcff_project / "data/08_reporting/dcff").rglob("train_metrics.json")).read_text())
    assert metrics["skipped_samples"] == 1.0


def test_truncated_cifar_batch_is_named(tmp_path: Path, kedro_project: Path) -> None:
    from cvpapers.data.cifar import write_cifar10_fixture

    rng = np.random.default_rng(0)
    folder = write_cifar10_fixture(tmp_path / "cifar", rng.integers(0, 256, (50, 32, 32, 3), dtype=np.uint8),
                                   rng.integers(0, 10, 50), rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8),
                                   rng.integers(0, 10, 20))
    _truncate(folder / "data_batch_3")
    with pytest.raises(BadSampleError, match=r"data_batch_3: not a complete CIFAR batch .*truncated"):
        run_kedro(kedro_project, "dcff", params={"dcff.data.source": "cifar10", "dcff.data.root": str(tmp_path / "cifar")})
