"""MSCL's parameters: every knob validated at start, the paper settings' sources, and a missing dataset root
named before any node runs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cvpapers.pipelines.msda_collab.config import MsdaParams, preflight


def test_unknown_and_mistyped_keys_fail_with_their_names() -> None:
    with pytest.raises(ValidationError, match="lambda_colab"):
        MsdaParams.model_validate({"collab": {"lambda_colab": 0.5}})
    with pytest.raises(ValidationError, match="ensemble_mode"):
        MsdaParams.model_validate({"target": {"ensemble_mode": "median"}})
    with pytest.raises(ValidationError, match="distinct"):
        MsdaParams.model_validate({"data": {"source_styles": ["game", "game"]}})


def test_each_setting_trains_one_model_per_source_in_its_class_space() -> None:
    assert MsdaParams().data.sources == ("game", "synthetic")
    p = MsdaParams.model_validate({"data": {"source": "gta5_synscapes"}})
    assert p.data.sources == ("gta5", "synscapes") and p.data.protocol == "gta5"
    assert MsdaParams.model_validate({"data": {"source": "gta5_synthia"}}).data.protocol == "synthia"


def test_the_evaluation_chunk_is_the_loops() -> None:
    assert MsdaParams.model_validate(
        {"train": {"iters": 120, "eval_every": 50}, "collab": {"stage_a_iters": 40}}
    )


def test_preflight_names_every_missing_root(tmp_path) -> None:
    from cvpapers.engine.config import ParameterError

    (tmp_path / "GTA5").mkdir()
    p = MsdaParams.model_validate(
        {
            "data": {
                "source": "gta5_synscapes",
                "real_roots": {
                    "gta5": str(tmp_path / "GTA5"),
                    "synscapes": str(tmp_path / "none"),
                    "cityscapes": str(tmp_path / "cs"),
                },
            }
        }
    )
    with pytest.raises(ParameterError) as err:
        preflight(p)
    assert "real_roots.synscapes" in str(err.value) and "real_roots.cityscapes" in str(err.value)
    assert "real_roots.gta5" not in str(err.value)
    preflight(MsdaParams())  # embedded: nothing to check


@pytest.mark.parametrize(("source", "params"), [("gta5_synscapes", 44_601_560), ("gta5_synthia", 44_269_760)])
def test_the_paper_config_builds_one_deeplab_v2_r101_per_source_of_the_spec_size(
    source: str, params: int
) -> None:
    """Spec §4: DeepLab-v2 R101 multi-level, 44,601,560 parameters at 19 classes (44,269,760 at 16), through the
    one counter; the member checkpoint config lists one per source."""

    from cvpapers.engine.flops import count_macs_params
    from cvpapers.engine.run import RunContext
    from cvpapers.pipelines.msda_collab.arms import Arms
    from cvpapers.pipelines.msda_collab.collab import build_members
    from tests.conftest import conf_parameters

    values = conf_parameters("msda_collab", "paper")
    values["data"]["source"] = source
    p = MsdaParams.model_validate(values)
    arms = Arms(p, RunContext.start(p, "msda_collab"))
    config = arms.members_config()
    assert list(config["members"]) == list(p.data.sources)
    first = next(iter(config["members"].values()))
    model = build_members({"only": first})["only"]
    assert count_macs_params(model, (1, 3, 33, 33))[1] == params
