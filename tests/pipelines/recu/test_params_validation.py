"""The parameters are checked when the run starts: unknown keys, wrong values and mismatched combinations
fail with the key's name; the base YAML equals the schema defaults (the conformance test) and every
environment validates."""

from __future__ import annotations

import pytest

from cvpapers.engine.config import ParameterError
from cvpapers.pipelines.recu import DECLARATION
from cvpapers.pipelines.recu.config import RecuParams
from tests.conftest import conf_parameters


def _with(**changes) -> dict:
    params = RecuParams().model_dump(mode="json")
    for dotted, value in changes.items():
        node = params
        *path, last = dotted.split("__")
        for key in path:
            node = node[key]
        node[last] = value
    return params


def test_defaults_are_the_spec_embedded_benchmark() -> None:
    p = RecuParams()
    assert (p.data.family, p.data.n_train, p.data.n_test, p.data.noise) == ("color_patches", 4000, 2000, None)
    assert p.data.normalisation.std == (0.25, 0.25, 0.25)
    assert (p.recu.tau_min, p.recu.tau_max) == (0.85, 0.99)
    assert (p.train.epochs >= 30, p.train.lr, p.train.weight_decay, p.train.schedule) == (
        True,
        0.1,
        5e-4,
        "cosine",
    )


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"train__epochs_total": 3}, "epochs_total"),
        ({"recu__tau_min": 0.995}, "tau_max"),
        ({"recu__tau_max": 1.0}, "tau_max"),
        ({"model__arch": "vgg_small"}, "arch"),
        ({"model__arch": "resnet18_imagenet_1w1a"}, "imagenet"),
        ({"data__family": "stripes"}, "family"),
        ({"model__tiny__widths": [16, 8, 32]}, "widths"),
        ({"data__normalisation": {"mean": [0.5, 0.5, 0.5], "std": [0.0, 0.25, 0.25]}}, "std"),
    ],
)
def test_bad_parameters_fail_naming_the_key(changes: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        DECLARATION.validate(_with(**changes))


@pytest.mark.parametrize("env", ["local", "smoke", "paper", "paper_imagenet"])
def test_every_environment_validates(env: str) -> None:
    p = DECLARATION.validate(conf_parameters("recu", env))
    if env == "paper":
        assert (p.data.source, p.model.arch, p.train.epochs, p.train.augment.shift_px) == (
            "cifar10",
            "resnet20_1w1a",
            600,
            4,
        )
        assert p.data.normalisation.mean == (0.485, 0.456, 0.406)  # the official code's ImageNet statistics
    if env == "paper_imagenet":
        assert (p.train.weight_decay_on, p.data.imagenet_crop_scale, p.data.imagenet_lighting) == (
            "conv_fc",
            (0.08, 1.25),
            0.1,
        )


def test_a_missing_dataset_root_fails_before_any_node(tmp_path) -> None:
    p = DECLARATION.validate(
        _with(data__source="cifar10", data__root=str(tmp_path / "nowhere"), model__arch="resnet20_1w1a")
    )
    with pytest.raises(ParameterError, match="recu.data.root.*cifar-10-batches-py"):
        DECLARATION.preflight(p)
