from __future__ import annotations

import pytest
import yaml

from cvpapers.engine.config import ParameterError
from cvpapers.pipelines.ssda_dual_mix import DECLARATION
from cvpapers.pipelines.ssda_dual_mix.config import SsdaParams, preflight
from tests.conftest import REPO

validate = DECLARATION.validate


def _merged(env: str) -> dict:
    base = yaml.safe_load((REPO / "conf/base/parameters_ssda_dual_mix.yml").read_text())["ssda_dual_mix"]
    over = yaml.safe_load((REPO / f"conf/{env}/parameters_ssda_dual_mix.yml").read_text())["ssda_dual_mix"]
    return {**base, **{k: ({**base[k], **v} if isinstance(v, dict) else v) for k, v in over.items()}}


def test_base_file_equals_the_schema_defaults_and_every_env_is_valid() -> None:
    from tests.conftest import conf_parameters

    base = conf_parameters("ssda_dual_mix")  # as Kedro resolves it (checkpoint_dir reads conf/base/globals.yml)
    assert validate(base) == SsdaParams()
    for env in ("smoke", "paper"):
        validate(_merged(env))


@pytest.mark.parametrize("bad, key", [
    ({"student": {"lambda_kll": 1}}, r"ssda_dual_mix\.student\.lambda_kll: unknown key"),
    ({"train": {"lr": "fast"}}, r"ssda_dual_mix\.train\.lr"),
    ({"lab": {"reference": "mean"}}, r"ssda_dual_mix\.lab\.reference"),
    ({"n_labeled": 4}, r"ssda_dual_mix\.n_labeled: unknown key"),  # one spelling: labelled
])
def test_bad_parameters_name_their_key(bad: dict, key: str) -> None:
    with pytest.raises(ParameterError, match=key):
        validate(bad)


def test_real_data_roots_are_checked_before_any_node(tmp_path) -> None:
    p = validate({"data": {"source": "gta5", "roots": {"gta5": str(tmp_path / "GTA5"),
                                                        "cityscapes": str(tmp_path / "cs")}},
                  "pseudo": {"method": "histogram"}})
    with pytest.raises(ParameterError, match=r"data\.roots\.cityscapes = .*cs.*data\.roots\.gta5"):
        preflight(p)


@pytest.mark.parametrize("bad, message", [
    ({"pseudo": {"method": "exact"}}, r"pseudo\.method: exact needs every confidence .* use histogram"),
    ({"data": {"source": "gta5", "preprocess": {"crop": [800, 1024]}}}, r"crop \[800, 1024\] is larger than "
                                                                         r"data\.preprocess\.source_size\.gta5"),
    ({"eval": {"input_size": [256, 512], "window": [512, 512]}}, r"eval\.window"),
])
def test_real_data_settings_that_cannot_stream_are_refused_before_any_node(bad: dict, message: str) -> None:
    real = {"data": {"source": "gta5"}, "pseudo": {"method": "histogram"}}
    merged = {k: {**real.get(k, {}), **bad.get(k, {})} for k in {*real, *bad}}
    with pytest.raises(ParameterError, match=message):
        validate(merged)
