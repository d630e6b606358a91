"""Parameter validation of mtda_collab (the schema is checked before any node runs)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cvpapers.pipelines.mtda_collab.config import MtdaParams, preflight


def test_defaults_are_the_spec_embedded_setting() -> None:
    p = MtdaParams()
    assert p.data.targets == ["city", "fog", "night"] and p.data.source_style == "game"
    assert (p.train.iters_source, p.train.iters, p.ccl.lambda_con, p.ccl.lambda_w) == (300, 100, 0.5, 0.01)
    assert (
        p.model.name == "tiny_deeplabv2" and p.lab.reference == "random_image" and p.lab.redraw == "per_batch"
    )


@pytest.mark.parametrize(
    "data",
    [
        {"target_styles": ["city"]},
        {"target_styles": ["fog", "fog"]},
        {"source": "gta5", "real_targets": ["cityscapes"]},
    ],
)
def test_two_or_three_distinct_targets_are_required(data: dict) -> None:
    with pytest.raises(ValidationError, match="2 or 3 distinct targets"):
        MtdaParams.model_validate({"data": data})


@pytest.mark.parametrize(
    "bad",
    [
        {"expert": {"expert_uda": "lab_adv"}},
        {"ccl": {"student_batch_per_target": 9}},
        {"ccl": {"consistency_loss": "l2"}},
        {"lab": {"reference": "histogram"}},
        {"train": {"iters": 0}},
        {"unknown": 1},
    ],
)
def test_invalid_parameters_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        MtdaParams.model_validate(bad)


def test_missing_real_roots_fail_fast_naming_them(tmp_path) -> None:
    from cvpapers.engine.config import ParameterError

    p = MtdaParams.model_validate(
        {
            "data": {
                "source": "gta5",
                "real_targets": ["cityscapes", "mapillary"],
                "real_roots": {
                    "gta5": str(tmp_path),
                    "cityscapes": str(tmp_path),
                    "mapillary": str(tmp_path / "nope"),
                },
            }
        }
    )
    with pytest.raises(ParameterError, match=r"real_roots\.mapillary = .*nope"):
        preflight(p)
    preflight(MtdaParams())  # the embedded benchmark needs nothing
