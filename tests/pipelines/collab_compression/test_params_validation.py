"""Bad parameters fail when the run starts, naming the key; a missing dataset or weights file fails in
preflight, naming what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from cvpapers.engine.config import ParameterError
from cvpapers.pipelines.collab_compression import DECLARATION
from cvpapers.pipelines.collab_compression.config import preflight
from tests.conftest import run_kedro


def test_mistyped_value_names_the_key() -> None:
    with pytest.raises(ParameterError, match=r"collab_compression\.compress\.com_ratio"):
        DECLARATION.validate({"compress": {"com_ratio": "half"}})


@pytest.mark.parametrize(
    "section, values",
    [
        ("compress", {"com_ratio": 0.97}),
        ("compress", {"gcro_slope": "steep"}),
        ("model", {"arch": "vgg16"}),
        ("finetune", {"lr_milestones_frac": [0.5, 1.5]}),
        ("compress", {"unknown": 1}),
    ],
)
def test_out_of_range_or_unknown_values_are_refused(section: str, values: dict) -> None:
    with pytest.raises(ParameterError, match=rf"collab_compression\.{section}\."):
        DECLARATION.validate({section: values})


def test_defaults_are_the_spec_values() -> None:
    p = DECLARATION.validate({})
    assert (p.compress.com_ratio, p.compress.com_gamma, p.compress.step_frac) == (0.5, 0.9, 0.05)
    assert (p.compress.layer_cap, p.compress.solver_cap) == (0.95, 0.9)
    assert (p.pretrain.epochs, p.finetune.epochs, p.finetune.grad_clip, p.data.n_train) == (20, 10, 1.0, 3000)


def test_missing_cifar_root_and_weights_fail_in_preflight(tmp_path: Path) -> None:
    p = DECLARATION.validate({"data": {"source": "cifar10", "root": str(tmp_path)}})
    with pytest.raises(ParameterError, match="cifar-10-batches-py"):
        preflight(p)
    (tmp_path / "cifar-10-batches-py").mkdir()
    p = DECLARATION.validate(
        {
            "data": {"source": "cifar10", "root": str(tmp_path)},
            "model": {"arch": "resnet56", "weights_path": str(tmp_path / "resnet56.pth")},
        }
    )
    with pytest.raises(ParameterError, match="resnet56.pth not found"):
        preflight(p)


def test_kedro_run_with_bad_params_fails_before_any_node(kedro_project: Path) -> None:
    with pytest.raises(ParameterError, match=r"collab_compression\.finetune\.lr"):
        run_kedro(kedro_project, "collab_compression", params={"collab_compression.finetune.lr": "abc"})
    assert not (kedro_project / "data" / "02_intermediate").exists(), "no node may have run"
