"""DCFF nodes on the real-data paths (fixtures in the real layouts), the report's claim arithmetic and the
one rule for ``claim/holds``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cvpapers.engine.config import ParameterError
from cvpapers.pipelines.dcff import DECLARATION, nodes
from cvpapers.pipelines.dcff.claims import claim_holds
from cvpapers.pipelines.dcff.config import DcffParams, preflight


def _images(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), np.arange(n) % 3


def test_prepare_data_and_plan_on_a_cifar10_fixture(tmp_path: Path) -> None:
    from cvpapers.data.cifar import write_cifar10_fixture

    x, y = _images(20, 32, 0)
    xt, yt = _images(9, 32, 1)
    write_cifar10_fixture(tmp_path, x, y, xt, yt, n_batches=2)
    params = {"data": {"source": "cifar10", "root": str(tmp_path)}, "train": {"batch_size": 8}}
    manifest, metrics, fig = nodes.prepare_data(params)
    assert metrics == {"n_train": 20.0, "n_test": 9.0, "n_classes": 3.0}
    plan, plan_metrics, widths = nodes.plan_architecture(manifest, params)
    assert plan["num_classes"] == 3 and plan["input_size"] == [1, 3, 32, 32]
    assert all("/" not in k for k in plan_metrics) and list(widths.columns) == ["layer", "c", "rate", "m"]
    p, run = nodes._start(params, "dcff")
    trainer = nodes._trainer(manifest, p, run)
    xb, yb = next(iter(trainer.data.train.batches(0)))
    assert xb.shape == (8, 3, 32, 32) and yb.dtype.is_floating_point is False
    assert trainer.checkpoint_dir == Path("data/06_models/dcff/train_state")


def test_run_context_names_the_registered_pipeline_in_the_checkpoint_dir() -> None:
    p, run = nodes._start({}, "dcff_other")
    assert run.checkpoint_path("dcff") == Path("data/06_models/dcff_other/train_state/dcff.pt")


def test_wrong_dataset_root_fails_before_any_node_with_the_expected_layout(tmp_path: Path) -> None:
    params = DECLARATION.validate({"data": {"source": "cifar10", "root": str(tmp_path / "nowhere")}})
    with pytest.raises(
        ParameterError, match=r"dcff\.data\.root: .*nowhere/cifar-10-batches-py not found.*data_batch_1"
    ):
        preflight(params)
    preflight(DECLARATION.validate({}))  # embedded needs nothing on disk


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
        DECLARATION.validate(bad)


def _report(dcff_top1: float = 70.0, l1_top1: float = 50.0, scratch: dict | None = None):
    plan = {
        "compact_macs": 1e6,
        "compact_params": 1e4,
        "full_macs": 4e6,
        "full_params": 4e4,
        "num_classes": 10,
    }
    dcff = {"top1": 60.0, "top1_last": 59.0, "train_macs": 10e9, "train_time_s": 1.0}
    l1 = {"top1": l1_top1, "top1_last": l1_top1 - 2, "train_macs": 25e9, "train_time_s": 2.0}
    compact = {"top1": dcff_top1, "top1_last": dcff_top1 - 1}
    history = pd.DataFrame({"epoch": [0, 1], "test_acc": [40.0, 60.0]})
    empty = pd.DataFrame(columns=["epoch", "test_acc"])
    return nodes.report(
        plan,
        dcff,
        compact,
        {"max_abs_diff": 0.0},
        l1,
        scratch or {"enabled": 0.0},
        {"enabled": 0.0},
        history,
        history,
        empty,
        empty,
    )


def test_report_claims_are_method_minus_baseline_and_ratios_are_comparisons() -> None:
    table, _, _, metrics = _report()
    assert metrics["claim/top1_gain_vs_l1"] == 20.0
    assert metrics["claim/top1_gain_vs_l1_last"] == 21.0
    assert metrics["compare/train_cost_ratio_vs_l1"] == pytest.approx(0.4)
    assert metrics["claim/holds"] == 1.0
    assert metrics["dcff_top1"] == 70.0 and metrics["l1_top1"] == 50.0
    assert all(isinstance(v, float) for v in metrics.values())
    assert list(table["method"]) == ["DCFF", "L1 prune + fine-tune"]
    assert table["train_cost_vs_l1"].tolist() == pytest.approx([0.4, 1.0])


def test_scratch_comparison_is_reported_not_claimed() -> None:
    scratch = {"enabled": 1.0, "top1": 72.0, "top1_last": 71.0, "train_macs": 10e9, "train_time_s": 1.0}
    table, _, _, metrics = _report(scratch=scratch)
    assert metrics["compare/top1_gain_vs_scratch"] == -2.0
    assert not [k for k in metrics if k.startswith("claim/") and "scratch" in k]
    assert len(table) == 3


@pytest.mark.parametrize(
    "gain, ratio, dcff_top1, l1_top1, holds",
    [
        (20.0, 0.4, 70.0, 50.0, True),
        (-1.0, 0.4, 49.0, 50.0, False),  # DCFF below the baseline
        (20.0, 1.2, 70.0, 50.0, False),  # but more expensive to train
        (1.0, 0.4, 11.0, 10.0, False),  # neither model learned: a tie of untrained nets never holds
        (15.0, 0.4, 25.0, 10.0, False),  # the baseline learned nothing
    ],
)
def test_claim_holds_is_one_rule(
    gain: float, ratio: float, dcff_top1: float, l1_top1: float, holds: bool
) -> None:
    assert claim_holds(gain, ratio, dcff_top1, l1_top1, num_classes=10) is holds


def test_a_model_that_learned_nothing_never_holds_the_claim_in_the_report() -> None:
    _, _, _, metrics = _report(dcff_top1=15.0, l1_top1=9.0)
    assert metrics["claim/top1_gain_vs_l1"] > 0 and metrics["claim/holds"] == 0.0


def test_defaults_of_the_schema_equal_the_base_parameter_file() -> None:
    from tests.conftest import conf_parameters

    base = conf_parameters("dcff")  # as Kedro resolves it (checkpoint_dir reads conf/base/globals.yml)
    assert DECLARATION.validate(base) == DcffParams()
