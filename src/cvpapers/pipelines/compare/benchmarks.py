"""Which test set a run measured on, from its logged parameters: two runs share a benchmark only when
these are equal, and only then do their points share a chart panel.

Classification: the test images are fixed by the source, and for the embedded generator by the family's
preset resolved with the run's overrides (image size, classes, noise, rotation) and the test seed, plus the
number of test images. The training data (``n_train``, ``train_seed``) and the input normalisation belong to
the method's recipe, not to the benchmark: they are recorded in the runs table, not compared here.
Street scenes: every ``da_benchmark.*`` parameter but where the files go.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from cvpapers.pipelines.compare.runs import digest, parse_value


def sub_params(params: Mapping[str, str], prefix: str) -> dict[str, Any]:
    """The parameters under ``prefix`` (``dcff.data.``), keys without it, values parsed."""
    return {k[len(prefix) :]: parse_value(v) for k, v in params.items() if k.startswith(prefix)}


def classification_benchmark(params: Mapping[str, str], package: str) -> tuple[str, str, dict[str, Any]]:
    """(id, description, identity) of the test set behind a classification run of ``package``."""
    from cvpapers.data.classification_source import ClassificationDataConfig

    defaults = {name: f.default for name, f in ClassificationDataConfig.model_fields.items()}
    data = {**defaults, **sub_params(params, f"{package}.data.")}
    source = data.get("source")
    if source != "embedded":
        val_dir = data.get("imagenet_val_dir") if source == "imagenet" else None
        identity = {"source": source, "root": data.get("root"), "val_dir": val_dir}
        return digest(identity), f"{source} at {data.get('root')}", identity
    identity = {"source": "embedded", "n_test": data.get("n_test"), "test_set": _resolved_generator(data)}
    noise = identity["test_set"].get("noise", data.get("noise"))
    description = (
        f"{data.get('family')} {data.get('image_size')} px, {data.get('n_classes')} classes, "
        f"noise {noise}, test seed {data.get('test_seed')}, {data.get('n_test')} test images"
    )
    return digest(identity), description, identity


def _resolved_generator(data: Mapping[str, Any]) -> dict[str, Any]:
    """The generator configuration of the test split as ``prepare_classification_data`` builds it (null
    noise/rotate = the family preset's); the raw keys if it cannot be resolved (an unknown family)."""
    from cvpapers.data.shapes import ShapesConfig

    overrides = {k: data[k] for k in ("noise", "rotate") if data.get(k) is not None}
    try:
        cfg = ShapesConfig.preset(
            str(data.get("family")),
            image_size=data.get("image_size"),
            n_classes=data.get("n_classes"),
            **overrides,
            seed=data.get("test_seed"),
        )
    except (ValueError, TypeError):
        keys = ("family", "image_size", "n_classes", "noise", "rotate", "test_seed")
        return {k: data.get(k) for k in keys}
    return dataclasses.asdict(cfg)


def da_benchmark(
    params: Mapping[str, str], prefix: str, ignore: Sequence[str]
) -> tuple[str, str, dict[str, Any]]:
    """(id, description, identity) of the street-scene benchmark a DA run read."""
    identity = {k: v for k, v in sub_params(params, prefix).items() if f"{prefix}{k}" not in ignore}
    if not identity:
        return "none", f"no {prefix.rstrip('.')} parameters logged", identity
    size = f"{identity.get('height')}×{identity.get('width')}"
    return digest(identity), f"{prefix.rstrip('.')} {size}, base seed {identity.get('base_seed')}", identity
