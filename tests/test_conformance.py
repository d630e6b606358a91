"""Conformance of every registered pipeline with the house rules (DESIGN.md), read from the declarations:
a pipeline added later gets these checks without editing this file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cvpapers.registry import declarations, registrations
from tests.conftest import REPO

REGISTERED = sorted(registrations())
DECLARED = sorted(declarations())
ENVS = sorted(p.name for p in (REPO / "conf").iterdir() if p.is_dir() and p.name not in ("base", "local"))
# Registered pipelines that run on generated data in the smoke environment (the paper variants need the
# real datasets and are checked by building and validating them instead).
SMOKE_RUNNABLE = sorted(n for n, r in registrations().items() if "smoke" in r.variant.envs)


def _params(env: str | None) -> dict:
    from kedro.config import OmegaConfigLoader

    from cvpapers.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(conf_source=str(REPO / "conf"), env=env or "local", **CONFIG_LOADER_ARGS)
    return loader["parameters"]


def _source_nodes(pipe) -> list:
    return [n for n in pipe.nodes if not [i for i in n.inputs if not i.startswith("params:")]]


@pytest.mark.parametrize("name", REGISTERED)
def test_declaration_builds_a_pipeline_named_after_it(name: str) -> None:
    reg = registrations()[name]
    pipe = reg.declaration.build(name)
    assert pipe.nodes, name
    own = {n.name for n in pipe.nodes}
    assert len(own) == len(pipe.nodes), f"{name}: node names repeat"
    # Every node that reads no dataset prepares the data: the DAG starts at `prepare_data`.
    for node in _source_nodes(pipe):
        assert node.name.split(".")[-1] == "prepare_data", f"{name}: source node '{node.name}'"


@pytest.mark.parametrize("name", DECLARED)
def test_base_parameters_equal_the_schema_defaults(name: str) -> None:
    declaration = declarations()[name]
    assert declaration.validate(_params(None).get(name)) == declaration.schema(), (
        f"conf/base/parameters_{name}.yml and {declaration.schema.__name__}'s defaults differ"
    )


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("name", DECLARED)
def test_every_environment_merges_and_validates(name: str, env: str) -> None:
    declarations()[name].validate(_params(env).get(name))


@pytest.mark.parametrize("name", REGISTERED)
def test_variant_environments_exist(name: str) -> None:
    for env in registrations()[name].variant.envs:
        assert env == "base" or (REPO / "conf" / env).is_dir(), f"{name} names the missing environment '{env}'"


def test_outputs_never_collide_between_registered_pipelines() -> None:
    """Every dataset a pipeline writes is named after it (or after a pipeline it includes), so two
    variants run one after the other keep both outputs; the catalog resolves them to distinct files."""
    from kedro.config import OmegaConfigLoader
    from kedro.io import DataCatalog

    from cvpapers.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(conf_source=str(REPO / "conf"), env="local", **CONFIG_LOADER_ARGS)
    catalog = DataCatalog.from_config(loader["catalog"])
    writers: dict[str, str] = {}
    for name, reg in registrations().items():
        allowed = (name, *reg.declaration.includes)
        for dataset in reg.declaration.build(name).all_outputs():
            owner = dataset.split(".")[0]
            assert owner in allowed, f"{name} writes '{dataset}', not named after it"
            if owner == name:
                assert writers.setdefault(dataset, name) == name
    paths: dict[str, str] = {}
    for dataset in writers:
        path = str(getattr(catalog.get(dataset), "_filepath", ""))
        if path:
            assert paths.setdefault(path, dataset) == dataset, f"{dataset} and {paths[path]} share {path}"


_KEY = re.compile(r"^[a-z0-9_.]+(/[A-Za-z0-9_.@-]+)+$")


@pytest.mark.parametrize("name", SMOKE_RUNNABLE)
def test_smoke_run_metrics_follow_the_vocabulary(name: str, smoke_project) -> None:
    """Metric prefix = node name; run-level `claim/` and `compare/` keys; one `claim/holds` per paper run; the
    run records how deterministic it was."""
    from mlflow.tracking import MlflowClient

    project: Path = smoke_project(name)
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(name)
    parents = [r for r in client.search_runs([experiment.experiment_id])
               if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    metrics = parents[0].data.metrics
    nodes = {n.name for n in registrations()[name].declaration.build(name).nodes}
    for key in metrics:
        assert _KEY.match(key), key
        prefix = key.split("/")[0]
        assert prefix in nodes or prefix in ("claim", "compare"), f"{name}: '{key}' is not under a node name"
    if registrations()[name].declaration.arxiv:
        assert metrics.get("claim/holds") in (0.0, 1.0), f"{name}: no claim/holds flag"
        assert [k for k in metrics if k.startswith("claim/") and k != "claim/holds"], f"{name}: no claim"
    # The smoke runs on a CPU: `deterministic: auto` resolves to the bitwise-reproducible path, no CUDA setting acts.
    assert parents[0].data.tags.get("deterministic") == "true", f"{name}: deterministic tag"
    assert parents[0].data.tags.get("accel") == "none", f"{name}: accel tag"
