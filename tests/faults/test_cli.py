"""Configuration mistakes are named, not buried: an unknown ``--env`` says so and lists the environments (it
used to end in an MLflow file-store exception); a parameter error prints the ``ParameterError`` lines (it used
to print ~170 lines of traceback first), the traceback going to cvpapers.log and, with ``--verbose``, to the
console."""

from __future__ import annotations

from pathlib import Path

import pytest

from cvpapers.cli import UnknownEnvironmentError, project_error
from tests.conftest import REPO, kedro_cli, make_project, run_kedro

ENVS = sorted(p.name for p in (REPO / "conf").iterdir() if p.is_dir() and p.name not in ("base", "local"))


def test_an_unknown_env_says_so_and_lists_the_environments(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    result = kedro_cli(project, "run", "--pipelines", "dcff", "--env", "smok")
    assert result.returncode == 2, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: Invalid value for '--env': no configuration environment 'smok' in "), error
    assert all(env in error.split("the environments are:")[1] for env in ENVS), error
    assert "Traceback" not in result.stderr + result.stdout
    assert "MlflowException" not in result.stderr + result.stdout
    assert not (project / "mlruns").exists() and not (project / "mlflow.db").exists()


def test_an_unknown_env_in_a_python_session_is_named_too(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    with pytest.raises(UnknownEnvironmentError, match=r"no configuration environment 'smok' in .*; the environments"
                                                      r" are: .*smoke"):
        run_kedro(project, "dcff", env="smok")


def test_a_parameter_error_prints_its_lines_and_logs_the_traceback(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    result = kedro_cli(project, "run", "--pipelines", "dcff", "--env", "smoke",
                       "--params", "dcff.train.lr=abc,dcff.train.epochs=-1")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "ParameterError: Invalid parameters for 'dcff' (2 problem(s)):",
        "  dcff.train.epochs: Input should be greater than or equal to 2 (got -1)",
        "  dcff.train.lr: Input should be a valid number, unable to parse string as a number (got 'abc')",
        "(the traceback is in cvpapers.log; `kedro run --verbose …` shows it here)",
    ]
    assert "Traceback" not in result.stdout
    log = (project / "cvpapers.log").read_text()
    assert "ERROR cvpapers.errors: the run stopped: Invalid parameters for 'dcff'" in log
    assert "Traceback (most recent call last)" in log and "raise ParameterError(" in log


def test_verbose_shows_the_traceback_on_the_console(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    result = kedro_cli(project, "run", "--pipelines", "dcff", "--env", "smoke", "--params", "dcff.train.lr=abc",
                       "--verbose", COLUMNS="200")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "ParameterError: Invalid parameters for 'dcff' (1 problem(s)):" in result.stderr


def test_only_the_projects_own_errors_lose_their_traceback() -> None:
    from cvpapers.engine.config import ParameterError
    from cvpapers.engine.loop import NonFiniteLossError, ResumeMismatchError

    assert all(project_error(e("x")) for e in (ParameterError, NonFiniteLossError, ResumeMismatchError,
                                                UnknownEnvironmentError))
    assert not any(project_error(e("x")) for e in (ValueError, KeyError, RuntimeError, FloatingPointError))
