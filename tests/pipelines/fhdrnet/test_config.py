from __future__ import annotations

import pytest
import yaml

from cvpapers.engine.config import ParameterError
from cvpapers.pipelines.fhdrnet.config import FhdrnetParams, preflight, validate
from tests.conftest import REPO


def test_base_file_equals_schema_defaults_and_envs_are_valid() -> None:
    base = yaml.safe_load((REPO / "conf/base/parameters_fhdrnet.yml").read_text())["fhdrnet"]
    assert validate(base) == FhdrnetParams()
    for env in ("smoke", "paper"):
        over = yaml.safe_load((REPO / f"conf/{env}/parameters_fhdrnet.yml").read_text())["fhdrnet"]
        validate({**base, **{k: ({**base[k], **v} if isinstance(v, dict) else v) for k, v in over.items()}})


@pytest.mark.parametrize("bad, key", [
    ({"data": {"image_size": 60}}, r"fhdrnet\.data.*divisible by 8"),
    ({"train": {"lr": "x"}}, r"fhdrnet\.train\.lr"),
    ({"model": {"nff": 3}}, r"fhdrnet\.model\.nff: unknown key"),
])
def test_bad_parameters_name_their_key(bad: dict, key: str) -> None:
    with pytest.raises(ParameterError, match=key):
        validate(bad)


def test_missing_dataset_fails_before_any_node_with_the_layout(tmp_path) -> None:
    with pytest.raises(ParameterError, match=r"Training.*not found.*HDRImg\.hdr"):
        preflight(validate({"data_source": "kalantari", "real_data": {"root": str(tmp_path)}}))
