"""How a paper pipeline declares itself, once, in its package's ``__init__``.

The declaration is the single source the project reads: ``pipeline_registry`` registers the pipeline and
its variants from it, the validation hook validates the parameters with its schema before any node runs,
the MLflow tags name its paper, and the conformance tests check every declared pipeline. A pipeline
without a declaration, or a declaration without a schema, cannot be registered.

No Kedro import here: the builder is named as ``"module:function"`` and imported only when the pipeline
is built, so the paper's algorithm stays usable as a plain library.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cvpapers.engine.config import RunParams, StrictModel, validate_params

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Variant:
    """A registered pipeline built from the same package with other builder options (rounds, cycles,
    arms, domain). ``envs`` are the configuration environments it is meant for (``paper``): the
    conformance test merges and validates the parameters of each."""

    name: str
    changes: str
    options: Mapping[str, Any] = field(default_factory=dict)
    envs: tuple[str, ...] = ("base",)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"variant name {self.name!r} must be lower_snake_case")
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))


@dataclass(frozen=True)
class Declaration:
    name: str                       # package, parameter key and base pipeline name
    title: str
    arxiv: str                      # "" for the shared benchmarks that are not a paper
    family: str
    schema: type[StrictModel]
    builder: str                    # "cvpapers.pipelines.<name>.pipeline:create_pipeline"
    variants: tuple[Variant, ...] = ()
    includes: tuple[str, ...] = ()  # declared pipelines whose nodes (and parameters) this one uses
    preflight: Callable[[Any], None] | None = None  # machine checks (dataset roots) before any node
    base_envs: tuple[str, ...] = ("base", "smoke")

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"pipeline name {self.name!r} must be lower_snake_case")
        if not (isinstance(self.schema, type) and issubclass(self.schema, StrictModel)):
            raise TypeError(f"pipeline '{self.name}': schema must be a StrictModel subclass, got {self.schema!r}")
        if ":" not in self.builder:
            raise ValueError(f"pipeline '{self.name}': builder must be 'module:function', got {self.builder!r}")
        names = [self.name, *(v.name for v in self.variants)]
        if len(set(names)) != len(names):
            raise ValueError(f"pipeline '{self.name}': registered names repeat: {names}")

    @property
    def runs_training(self) -> bool:
        """Whether its schema carries the run fields (seed, device, resume …)."""
        return issubclass(self.schema, RunParams)

    def registered(self) -> dict[str, Variant]:
        """Every pipeline name this package registers: its own (the embedded base run) and its variants."""
        base = Variant(self.name, "the embedded benchmark (conf/base)", envs=self.base_envs)
        return {base.name: base, **{v.name: v for v in self.variants}}

    def validate(self, values: Any) -> StrictModel:
        return validate_params(self.schema, values, self.name)

    def build(self, registered_name: str) -> Any:
        """The Kedro pipeline registered as ``registered_name``: its datasets are named after it."""
        module, function = self.builder.split(":")
        create = getattr(importlib.import_module(module), function)
        return create(name=registered_name, **self.registered()[registered_name].options)
