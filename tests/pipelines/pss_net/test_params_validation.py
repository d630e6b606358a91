"""Bad parameters fail when the run starts, naming the key; every environment's file validates."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cvpapers.engine.config import ParameterError
from cvpapers.pipelines.pss_net import DECLARATION
from tests.conftest import conf_parameters, run_kedro


def test_mistyped_value_names_the_key_and_the_value() -> None:
    with pytest.raises(ParameterError, match=r"pss_net\.pss\.pool_size: .*'many'"):
        DECLARATION.validate({"pss": {"pool_size": "many"}})


def test_unknown_key_names_the_key_and_lists_allowed_ones() -> None:
    with pytest.raises(
        ParameterError, match=r"pss_net\.space\.flops_stepp: unknown key; allowed keys here: .*flops_step"
    ):
        DECLARATION.validate({"space": {"flops_stepp": 1.0}})


@pytest.mark.parametrize(
    ("section", "value", "what"),
    [
        ("space", {"width_mult_range": [0.8, 0.5]}, "width_mult_range"),
        ("space", {"resolutions": [24, 32, 28]}, "resolutions"),
        ("model", {"base_channels": [16, 32], "strides": [1]}, "base_channels"),
    ],
)
def test_inconsistent_values_are_refused(section: str, value: dict, what: str) -> None:
    with pytest.raises(ParameterError, match=what):
        DECLARATION.validate({section: value})


@pytest.mark.parametrize("env", ["local", "smoke", "benchmark", "paper", "paper_mbv2"])
def test_every_environment_validates(env: str) -> None:
    p = DECLARATION.validate(conf_parameters("pss_net", env))
    if env.startswith("paper"):
        assert p.data.source == "imagenet" and p.data.normalisation is None and p.train.epochs == 250
        assert p.space.flops_range == ((110, 570) if env == "paper" else (70, 300))


def test_a_missing_imagenet_root_fails_before_any_node_naming_root_and_layout(tmp_path: Path) -> None:
    p = DECLARATION.validate({"data": {"source": "imagenet", "root": str(tmp_path / "nowhere")}})
    with pytest.raises(ParameterError, match=r"pss_net\.data\.root: .*nowhere/train.*<wnid>"):
        DECLARATION.preflight(p)


def test_kedro_run_with_bad_params_fails_fast_before_any_node(kedro_project: Path) -> None:
    t0 = time.perf_counter()
    with pytest.raises(ParameterError, match=r"pss_net\.train\.lr"):
        run_kedro(kedro_project, "pss_net", params={"pss_net.train.lr": "abc"})
    assert time.perf_counter() - t0 < 30
    assert not (kedro_project / "data" / "02_intermediate").exists(), "no node may have run"
