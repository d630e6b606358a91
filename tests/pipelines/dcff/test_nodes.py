"""DCFF nodes on the real-data paths (fixtures in the real layouts) and the report's claim arithmetic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cvpapers.engine.config import ParameterError
from cvpapers.pipelines.dcff import nodes
from cvpapers.pipelines.dcff.config import DcffParams, preflight, validate


def _images(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), np.arange(n) % 3


def test_prepare_data_and_plan_on_a_cifar10_fixture(tmp_path: Path) -> None:
    from cvpapers.data.cifar import write_cifar10_fixture

    x, y = _images(20, 32, 0)
    xt, yt = _images(9, 32, 1)
    write_cifar10_fixture(tmp_path, x, y, xt, yt, n_batches=2)
    data = {"source": "cifar10", "root": str(tmp_path)}
    manifest, metrics, fig = nodes.prepare_data(data)
    assert metrics == {"data/n_train": 20.0, "data/n_test": 9.0, "data/n_classes": 3.0}
    plan, _, widths = nodes.plan_architecture(manifest, {"arch": "vgg_small", "cprate": "[0.5]*6"}, data)
    assert plan["num_classes"] == 3 and plan["input_size"] == [1, 3, 32, 32]
    _, loaded, _ = nodes._setup(manifest, data, {"batch_size": 8}, seed=0)
    xb, yb = next(iter(loaded.train.batches(0)))
    assert xb.shape == (8, 3, 32, 32) and yb.dtype.is_floating_point is False


def test_prepare_data_on_an_imagenet_fixture_of_mixed_image_sizes(tmp_path: Path) -> None:
    from cvpapers.data.imagefolder import write_imagefolder_fixture

    wnids = ["n01440764", "n01443537", "n01484850"]
    for split, size in (("ILSVRC2012_img_train", 40), ("val", 56)):
        x, y = _images(6, size, 2)
        write_imagefolder_fixture(tmp_path, x, y, wnids, split_dir=split)
    manifest, metrics, _ = nodes.prepare_data({"source": "imagenet", "root": str(tmp_path)})
    assert metrics["data/n_classes"] == 3.0 and set(manifest["split"]) == {"train", "val"}
    _, loaded, _ = nodes._setup(manifest, {"source": "imagenet", "root": str(tmp_path)}, {"batch_size": 4}, seed=0)
    xb, _ = next(iter(loaded.train.batches(0)))
    assert xb.shape == (4, 3, 224, 224)


def test_wrong_dataset_root_fails_before_any_node_with_the_expected_layout(tmp_path: Path) -> None:
    params = validate({"data": {"source": "cifar10", "root": str(tmp_path / "nowhere")}})
    with pytest.raises(ParameterError, match=r"dcff\.data\.root: .*nowhere/cifar-10-batches-py not found.*data_batch_1"):
        preflight(params)
    preflight(validate({}))  # embedded needs nothing on disk


@pytest.mark.parametrize(
    "bad, key",
    [
        ({"train": {"epochs": 1}}, r"dcff\.train\.epochs"),
        ({"device": "gpu"}, r"dcff\.device"),
        ({"seed": -1}, r"dcff\.seed"),
        ({"data": {"train_seed": 5, "test_seed": 5}}, r"dcff\.data.*test images repeat"),
        ({"fusion": {"T_start": 10.0, "T_end": 1.0}}, r"dcff\.fusion.*must exceed"),
        ({"model": {"cprate": "[0.95]*6"}}, r"dcff\.model.*keeps no filter"),
    ],
)
def test_invalid_settings_are_refused_with_their_key(bad: dict, key: str) -> None:
    with pytest.raises(ParameterError, match=key):
        validate(bad)


def test_report_claims_are_method_minus_baseline() -> None:
    plan = {"compact_macs": 1e6, "compact_params": 1e4, "full_macs": 4e6, "full_params": 4e4}
    arm = {"train_macs": 10e9, "train_time_s": 1.0}
    dcff = {f"dcff/{k}": v for k, v in arm.items()}
    l1 = {"l1/top1": 50.0, "l1/top1_last": 48.0, "l1/train_macs": 25e9, "l1/train_time_s": 2.0}
    compact = {"dcff/compact_top1": 70.0, "dcff/compact_top1_last": 69.0}
    table, _, _, metrics = nodes.report(plan, dcff, compact, {"export/max_abs_diff": 0.0}, l1,
                                        {"scratch/enabled": 0.0}, {"full/enabled": 0.0})
    assert metrics["claim/top1_gain_vs_l1"] == 20.0
    assert metrics["claim/top1_gain_vs_l1_last"] == 21.0
    assert metrics["claim/train_cost_ratio_vs_l1"] == pytest.approx(0.4)
    assert list(table["method"]) == ["DCFF", "L1 prune + fine-tune"]


def test_defaults_of_the_schema_equal_the_base_parameter_file() -> None:
    import yaml

    from tests.conftest import REPO

    base = yaml.safe_load((REPO / "conf/base/parameters_dcff.yml").read_text())["dcff"]
    assert validate(base) == DcffParams()
