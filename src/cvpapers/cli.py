"""The project's ``kedro run``: Kedro's own command (same options), with two additions.

* An unknown ``--env`` (or ``KEDRO_ENV``) stops before the session starts, naming the environments that
  exist under ``conf/``; Kedro alone would load ``conf/base`` and fail later with an unrelated error.
* An error the project raises on purpose (an exception class defined in ``cvpapers``: a parameter error, a
  NaN loss, a refused checkpoint, an undecodable file …) prints its message, not a traceback; the traceback
  goes to ``cvpapers.log`` and, with ``--verbose``, to the console too. Any other error (a bug) keeps its
  traceback.

Kedro loads the ``cli`` group of ``<package>.cli`` and lets its commands override the built-in ones.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run

BASE_ENV, DEFAULT_ENV = "base", "local"


class UnknownEnvironmentError(ValueError):
    """A configuration environment that has no folder under the configuration source."""


def environments(conf_source: str | Path) -> list[str]:
    """The configuration environments: the folders of ``conf_source`` (``local`` always, as Kedro's default)."""
    found = {p.name for p in Path(conf_source).iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    return sorted(found | {DEFAULT_ENV})


def check_environment(env: str | None, conf_source: str | Path | None) -> None:
    """Raise :class:`UnknownEnvironmentError` if ``env`` is not a folder of ``conf_source`` (a folder;
    a packaged configuration archive is not checked)."""
    if not env or env == DEFAULT_ENV or conf_source is None or not Path(conf_source).is_dir():
        return
    if not (Path(conf_source) / env).is_dir():
        known = [e for e in environments(conf_source) if e != BASE_ENV]
        raise UnknownEnvironmentError(
            f"no configuration environment '{env}' in {conf_source}; the environments are: {', '.join(known)} "
            f"(conf/{BASE_ENV} is always read first)"
        )


def project_error(error: BaseException) -> bool:
    """Whether ``error`` is one the project raises on purpose: its class (or a base) is defined in cvpapers."""
    return any(cls.__module__.split(".")[0] == "cvpapers" for cls in type(error).__mro__)


@click.group(name="cvpapers")
def cli() -> None:
    """cvpapers' commands (they override Kedro's of the same name)."""


@cli.command(name="run", params=list(kedro_run.params), help=kedro_run.help, short_help=kedro_run.short_help,
             context_settings=kedro_run.context_settings)
@click.option("--verbose", "-v", is_flag=True, help="Show the full traceback of an error (always in cvpapers.log).")
@click.pass_obj
def run(metadata: Any, verbose: bool, **kwargs: Any) -> Any:
    conf_source = kwargs.get("conf_source")
    if conf_source is None and metadata is not None:
        from kedro.framework.project import settings

        conf_source = Path(metadata.project_path) / settings.CONF_SOURCE
    try:
        check_environment(kwargs.get("env") or os.environ.get("KEDRO_ENV"), conf_source)
    except UnknownEnvironmentError as err:
        raise click.BadParameter(str(err), param_hint="'--env'") from None
    try:
        return kedro_run.callback(**kwargs)
    except Exception as err:
        if verbose or not project_error(err):
            raise
        logging.getLogger("cvpapers.errors").error("the run stopped: %s", err, exc_info=True)
        click.secho(f"{type(err).__name__}: {err}", fg="red", err=True)
        click.secho("(the traceback is in cvpapers.log; `kedro run --verbose …` shows it here)", fg="bright_black",
                    err=True)
        raise SystemExit(1) from None
