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
    base = yaml.safe_load((REPO / "conf/base/parameters_ssda_dual_mix.yml").read_text())["ssda_dual_mix"]
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
                                                        "cityscapes": str(tmp_path / "cs")}}})
    with pytest.raises(ParameterError, match=r"data\.roots\.cityscapes = .*cs.*data\.roots\.gta5"):
        preflight(p)
