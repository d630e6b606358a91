"""Parameter validation (§7): sizes against the windows, the schedule's floor and warm-up, the paper env."""

from __future__ import annotations

import pytest

from cvpapers.engine.config import ParameterError
from cvpapers.pipelines.uformer import DECLARATION
from cvpapers.pipelines.uformer.config import TrainConfig, UformerParams, preflight


def test_defaults_validate_and_name_the_warmup_cosine_schedule() -> None:
    p = UformerParams()
    assert p.train.schedule_name() == "warmup_cosine:0:0.001"  # floor 1e-6 / lr 1e-3
    assert TrainConfig(min_lr=0).schedule_name() == "cosine", "no warm-up and no floor: today's cosine"
    assert TrainConfig(schedule="constant").schedule_name() == "constant"


@pytest.mark.parametrize(
    "bad",
    [
        {"data": {"image_size": 40}},  # not a multiple of 16
        {"data": {"image_size": 48}, "model": {"win_size": 5}},
        {"train": {"warmup_iters": 600}},
        {"train": {"min_lr": 1.0}},
        {"model": {"depths": [1, 1]}},
        {"ablations": ["no_such_ablation"]},
    ],
)
def test_inconsistent_parameters_are_rejected(bad: dict) -> None:
    with pytest.raises(ParameterError):
        DECLARATION.validate(bad)


def test_missing_real_root_fails_fast_naming_root_and_layout(tmp_path) -> None:
    p = UformerParams.model_validate(
        {"data": {"source": "sidd", "real_roots": {"sidd": str(tmp_path / "none")}}}
    )
    with pytest.raises(ParameterError, match=r"real_roots.sidd.*train.*input,groundtruth"):
        preflight(p)
    preflight(UformerParams())  # embedded: nothing to check
