from __future__ import annotations

import pytest
import yaml

from cvpapers.engine.config import ParameterError
from cvpapers.pipelines.fhdrnet import DECLARATION
from cvpapers.pipelines.fhdrnet.config import SCENE_KNOBS, FhdrnetParams, preflight
from tests.conftest import REPO


def test_base_file_equals_schema_defaults_and_envs_are_valid() -> None:
    from tests.conftest import conf_parameters

    base = conf_parameters("fhdrnet")  # as Kedro resolves it (checkpoint_dir reads conf/base/globals.yml)
    assert DECLARATION.validate(base) == FhdrnetParams()
    for env in ("smoke", "benchmark", "paper"):
        over = yaml.safe_load((REPO / f"conf/{env}/parameters_fhdrnet.yml").read_text())["fhdrnet"]
        DECLARATION.validate({**base, **{k: ({**base[k], **v} if isinstance(v, dict) else v) for k, v in over.items()}})


def test_data_knobs_are_the_generator_fields() -> None:
    from dataclasses import fields

    from cvpapers.data.hdr_scenes import HdrSceneConfig

    assert set(SCENE_KNOBS) <= {f.name for f in fields(HdrSceneConfig)}
    HdrSceneConfig(**FhdrnetParams().data.scene_knobs())


@pytest.mark.parametrize("bad, key", [
    ({"data": {"image_size": 60}}, r"fhdrnet\.data.*divisible by 8"),
    ({"data": {"source": "synthetic"}}, r"fhdrnet\.data\.source"),
    ({"data_source": "kalantari"}, r"fhdrnet\.data_source: unknown key"),
    ({"train": {"iterations": 5}}, r"fhdrnet\.train\.iterations: unknown key"),
    ({"train": {"lr": "x"}}, r"fhdrnet\.train\.lr"),
    ({"model": {"nff": 3}}, r"fhdrnet\.model\.nff: unknown key"),
])
def test_bad_parameters_name_their_key(bad: dict, key: str) -> None:
    with pytest.raises(ParameterError, match=key):
        DECLARATION.validate(bad)


def test_missing_dataset_fails_before_any_node_with_the_layout(tmp_path) -> None:
    with pytest.raises(ParameterError, match=r"fhdrnet\.data\.root: .*Training.*not found.*HDRImg\.hdr"):
        preflight(DECLARATION.validate({"data": {"source": "kalantari", "root": str(tmp_path)}}))
