"""Each environment keeps its own outputs: for every registered pipeline, the files its catalog writes and its
train-state folder differ between `conf/base` (and the default `local`), `--env smoke`, `--env paper` and
every other environment, as Kedro's own config loader resolves them; the base run's paths are the README's."""

from __future__ import annotations

from itertools import combinations

import pytest

from cvpapers.registry import registrations
from tests.conftest import REPO

ENVS = ["local", *sorted(p.name for p in (REPO / "conf").iterdir() if p.is_dir() and p.name not in ("base", "local"))]


def _written(env: str) -> dict[str, set[str]]:
    """Per registered pipeline: the local files its outputs go to and its train-state folder, in ``env``."""
    from kedro.config import OmegaConfigLoader
    from kedro.io import DataCatalog

    from cvpapers.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(conf_source=str(REPO / "conf"), env=env, **CONFIG_LOADER_ARGS)
    catalog, params = DataCatalog.from_config(loader["catalog"]), loader["parameters"]
    out = {}
    for name, reg in registrations().items():
        files = {str(getattr(catalog.get(d), "_filepath", "")) for d in reg.declaration.build(name).all_outputs()}
        state = (params.get(reg.declaration.name) or {}).get("checkpoint_dir")
        out[name] = (files - {""}) | ({state.format(pipeline=name) + "/"} if state else set())
    return out


@pytest.fixture(scope="module")
def written() -> dict[str, dict[str, set[str]]]:
    return {env: _written(env) for env in ENVS}


@pytest.mark.parametrize("env", ENVS[1:])
def test_every_environment_names_its_own_folder(env: str) -> None:
    from omegaconf import OmegaConf

    path = REPO / "conf" / env / "globals.yml"
    assert path.is_file(), f"conf/{env}/globals.yml is missing: its runs would write into the base run's files"
    assert OmegaConf.load(path).get("env_dir") == f"/{env}", f"conf/{env}/globals.yml: env_dir must be /{env}"


def test_base_outputs_keep_the_documented_paths(written) -> None:
    base = written["local"]
    assert "data/08_reporting/dcff/results.csv" in base["dcff"]
    assert "data/06_models/dcff/train_state/" in base["dcff"]
    for name, files in base.items():
        for f in files:
            parts = f.split("/")
            assert parts[0] == "data" and len(parts) in (4, 5) and parts[2] in (name, *registrations()[name].declaration.includes), f


@pytest.mark.parametrize("env", ENVS[1:])
def test_an_environment_writes_under_its_own_folder(written, env: str) -> None:
    for name, files in written[env].items():
        for f in files:
            assert f.split("/")[3] == env, f"{name} in --env {env} writes {f}"


@pytest.mark.parametrize(("a", "b"), list(combinations(ENVS, 2)))
def test_no_file_is_written_by_two_environments(written, a: str, b: str) -> None:
    for name in written[a]:
        shared = written[a][name] & written[b][name]
        assert not shared, f"{name}: --env {a} and --env {b} both write {sorted(shared)[:3]}"
