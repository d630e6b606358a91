"""MI-AOD's parameters: files match the schema, bad values name their key, missing data fails early."""

from __future__ import annotations

import pytest
import yaml

from cvpapers.engine.config import ParameterError
from cvpapers.pipelines.mi_aod import DECLARATION
from cvpapers.pipelines.mi_aod.config import MiaodParams, al_budget, preflight
from tests.conftest import REPO

validate = DECLARATION.validate


def _merged(env: str) -> dict:
    base = yaml.safe_load((REPO / "conf/base/parameters_mi_aod.yml").read_text())["mi_aod"]
    over = yaml.safe_load((REPO / f"conf/{env}/parameters_mi_aod.yml").read_text())["mi_aod"]
    return {**base, **{k: ({**base[k], **v} if isinstance(v, dict) else v) for k, v in over.items()}}


def test_base_file_equals_schema_defaults_and_envs_are_valid() -> None:
    from tests.conftest import conf_parameters

    base = conf_parameters("mi_aod")  # as Kedro resolves it (checkpoint_dir reads conf/base/globals.yml)
    assert validate(base) == MiaodParams()
    for env in ("smoke", "paper"):
        validate(_merged(env))


@pytest.mark.parametrize("bad, key", [
    ({"train": {"lr": "x"}}, r"mi_aod\.train\.lr"),
    ({"model": {"backbone": "vgg"}}, r"mi_aod\.model\.backbone"),
    ({"miaod": {"k": 3}}, r"mi_aod\.miaod\.k: unknown key.*k_top"),
    ({"data": {"pool_regime_probs": {"easy": 0.5, "hard": 0.1}}}, r"sum to 1"),
    ({"data": {"image_size": 72}}, r"multiple of 16"),
    ({"model": {"anchor_sizes": [[16, 20, 25]]}}, r"anchor_sizes has 1 levels"),
    ({"model": {"norm": "frozen_bn"}}, r"resnet50_fpn only"),
])
def test_bad_parameters_name_their_key(bad: dict, key: str) -> None:
    with pytest.raises(ParameterError, match=key):
        validate(bad)


def test_missing_voc_devkit_fails_before_any_node_with_the_layout(tmp_path) -> None:
    with pytest.raises(ParameterError, match=r"VOC2007/ImageSets/Main/trainval\.txt.*not found.*JPEGImages"):
        preflight(validate({"data": {"source": "voc", "root": str(tmp_path)}}))


def test_missing_backbone_weights_fail_before_any_node(tmp_path) -> None:
    with pytest.raises(ParameterError, match="backbone_weights"):
        preflight(validate({"model": {"backbone": "resnet50_fpn", "anchor_sizes": None,
                                      "backbone_weights": str(tmp_path / "r50.pth")}}))


def test_budget_follows_the_code_and_refuses_a_pool_too_small_for_the_cycles() -> None:
    assert al_budget(16551, validate({"al": {"select_fraction": 0.025}}).al, 7) == (827, 413)
    with pytest.raises(ParameterError, match=r"5 cycles need 50 \+ 4 × 300"):
        al_budget(1000, validate({"al": {"select_fraction": 0.3}}).al, 5)
