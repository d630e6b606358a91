"""Shared fixtures. Tests never write into the repository's data/ or mlflow.db: pipeline runs happen
in a temporary copy of the project's configuration, with its own data/ and sqlite MLflow store."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

for _var, _value in {
    "KEDRO_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "NO_ALBUMENTATIONS_UPDATE": "1",
    "CVPAPERS_QUIET": "1",
}.items():
    os.environ.setdefault(_var, _value)

REPO = Path(__file__).resolve().parents[1]


def make_project(dest: Path) -> Path:
    """A runnable copy of the project (conf + pyproject; the package itself is installed)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")
    shutil.copytree(REPO / "conf", dest / "conf", ignore=shutil.ignore_patterns("local"))
    (dest / "conf" / "local").mkdir(exist_ok=True)
    (dest / "src").mkdir(exist_ok=True)  # Kedro checks it exists; the package itself is installed
    # An absolute store per project: MLflow caches sqlite stores by URI, so a relative URI would reach
    # the first project's file when several sessions run in one test process.
    mlflow_yml = dest / "conf" / "base" / "mlflow.yml"
    text = mlflow_yml.read_text()
    assert "sqlite:///mlflow.db" in text
    mlflow_yml.write_text(text.replace("sqlite:///mlflow.db", f"sqlite:///{dest / 'mlflow.db'}"))
    return dest


def conf_parameters(name: str, env: str = "local") -> dict:
    """``name``'s parameters as Kedro merges and resolves them for ``env`` (``${globals:…}`` included)."""
    from kedro.config import OmegaConfigLoader

    from cvpapers.settings import CONFIG_LOADER_ARGS

    return OmegaConfigLoader(conf_source=str(REPO / "conf"), env=env, **CONFIG_LOADER_ARGS)["parameters"][name]


def run_kedro(project: Path, pipeline: str, env: str = "smoke", params: dict | None = None,
              **slicing: list[str]) -> dict:
    """Run a pipeline through a real KedroSession, as `kedro run` does.

    ``params`` takes `--params` style dotted keys ({"dcff.train.lr": "abc"}), nested the way the CLI does;
    ``slicing`` takes ``node_names``, ``from_nodes`` or ``to_nodes`` as `--nodes`/`--from-nodes`/`--to-nodes`.
    """
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from omegaconf import OmegaConf

    runtime = OmegaConf.to_container(OmegaConf.from_dotlist([f"{k}={v}" for k, v in (params or {}).items()]))
    _end_leftover_runs()
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=env, runtime_params=runtime) as session:
        return session.run(pipeline_names=[pipeline], **slicing)


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op torch thread for every test: on 2-core machines more threads oversubscribe (measured
    3–14× slower), and the pipelines themselves run with cpu_threads: 1."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run_in(project: Path, *pipelines: str, params: dict | None = None, env: str = "smoke",
           **slicing: list[str]) -> Path:
    """Run the given pipelines one after another inside ``project`` (smoke env unless ``env``), as from its root."""
    import os

    cwd = os.getcwd()
    os.chdir(project)
    try:
        for name in pipelines:
            run_kedro(project, name, env=env, params=params, **slicing)
    finally:
        os.chdir(cwd)
    return project


def kedro_cli(project: Path, *args: str, timeout: float = 300, **env: str):
    """``kedro <args>`` as a user types it in ``project``'s root, in a fresh process (its console, exit code
    and cvpapers.log); returns the ``subprocess.CompletedProcess`` (text stdout/stderr)."""
    import subprocess
    import sys

    kedro = Path(sys.executable).parent / "kedro"
    return subprocess.run([str(kedro), *args], cwd=project, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env})


def _end_leftover_runs() -> None:
    """A `kedro run` starts in a fresh process; a session here must not inherit a run that an
    interrupted session (KeyboardInterrupt skips Kedro's error hooks) left active."""
    import mlflow
    from mlflow.tracking import MlflowClient

    # A finished session can leave its (already FINISHED) run on the fluent stack: keep that status.
    while (run := mlflow.active_run()) is not None:
        status = MlflowClient().get_run(run.info.run_id).info.status
        mlflow.end_run(status="KILLED" if status == "RUNNING" else status)


@pytest.fixture
def kedro_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = make_project(tmp_path / "project")
    monkeypatch.chdir(project)
    yield project
    _end_leftover_runs()


_SMOKE_PROJECTS: dict[str, Path] = {}


@pytest.fixture(scope="session")
def smoke_project(tmp_path_factory: pytest.TempPathFactory):
    """``smoke_project(*names)``: a project in which ``kedro run --pipelines <name> --env smoke`` has run once
    this session for each name, one after another (so variants are seen side by side); the pipelines' own
    smoke tests and the conformance tests share these runs instead of repeating them."""

    def get(*names: str) -> Path:
        if names[0] not in _SMOKE_PROJECTS:
            import torch

            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                project = make_project(tmp_path_factory.mktemp(f"smoke_{names[0]}") / "project")
                run_in(project, *names)
                _SMOKE_PROJECTS.update(dict.fromkeys(names, project))
            finally:
                torch.set_num_threads(threads)
                _end_leftover_runs()
        assert all(_SMOKE_PROJECTS.get(n) == _SMOKE_PROJECTS[names[0]] for n in names), names
        return _SMOKE_PROJECTS[names[0]]

    return get
