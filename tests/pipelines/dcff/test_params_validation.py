"""Bad parameters fail when the run starts, naming the key, before any node does work."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cvpapers.engine.config import ParameterError
from cvpapers.pipelines.dcff import DECLARATION
from tests.conftest import run_kedro


def test_mistyped_value_names_the_key_and_the_value() -> None:
    with pytest.raises(ParameterError, match=r"dcff\.train\.lr: .*'abc'"):
        DECLARATION.validate({"train": {"lr": "abc"}})


def test_unknown_key_names_the_key_and_lists_allowed_ones() -> None:
    with pytest.raises(ParameterError, match=r"dcff\.train\.lrr: unknown key; allowed keys here: .*lr"):
        DECLARATION.validate({"train": {"lrr": 0.1}})


def test_cprate_must_fit_the_architecture() -> None:
    with pytest.raises(ParameterError, match=r"dcff\.model.*cprate"):
        DECLARATION.validate({"model": {"arch": "vgg16", "cprate": "[0.5]*6"}})


def test_base_and_paper_parameter_files_are_valid() -> None:
    import yaml

    from tests.conftest import REPO

    base = yaml.safe_load((REPO / "conf/base/parameters_dcff.yml").read_text())["dcff"]
    for env in ("smoke", "paper", "paper_imagenet", "benchmark"):
        override = yaml.safe_load((REPO / f"conf/{env}/parameters_dcff.yml").read_text())["dcff"]
        merged = {
            **base,
            **{k: ({**base[k], **v} if isinstance(v, dict) else v) for k, v in override.items()},
        }
        DECLARATION.validate(merged)
    DECLARATION.validate(base)


@pytest.mark.parametrize("params", [{"dcff.train.lr": "abc"}, {"dcff.train.not_a_key": 1}])
def test_kedro_run_with_bad_params_fails_fast_before_any_node(kedro_project: Path, params: dict) -> None:
    t0 = time.perf_counter()
    with pytest.raises(ParameterError, match=next(iter(params)).replace(".", r"\.")):
        run_kedro(kedro_project, "dcff", params=params)
    assert time.perf_counter() - t0 < 30
    assert not (kedro_project / "data" / "02_intermediate").exists(), "no node may have run"
