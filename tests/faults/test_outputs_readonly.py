"""A read-only ``data/``: the run stops before any node with the folder named, why, and what to do."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cvpapers.io.datasets import OutputNotWritableError, check_outputs_writable
from tests.conftest import make_project, run_in


def _writable(folder: Path) -> bool:
    try:
        (folder / ".probe").touch()
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` made read-only for this process: ``chmod a-w``, and ``chattr +i`` where that is not enough
    (root ignores permission bits); skipped where neither works."""
    mode = folder.stat().st_mode
    folder.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    immutable = False
    try:
        if _writable(folder):
            immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        if _writable(folder):
            pytest.skip("cannot make a folder read-only here (root without chattr)")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(mode)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    project = make_project(tmp_path / "project")
    (project / "data").mkdir()
    return project


def test_the_check_names_the_read_only_folder_and_a_file_it_would_hold(project: Path, monkeypatch) -> None:
    from kedro.config import OmegaConfigLoader
    from kedro.io import DataCatalog

    from cvpapers import registry
    from cvpapers.settings import CONFIG_LOADER_ARGS

    monkeypatch.chdir(project)
    catalog = DataCatalog.from_config(OmegaConfigLoader("conf", env="smoke", **CONFIG_LOADER_ARGS)["catalog"])
    pipeline = registry.resolve("dcff").declaration.build("dcff")
    check_outputs_writable(catalog, pipeline, ["data/06_models/dcff/smoke/train_state"])  # writable: silent
    with read_only(project / "data"), pytest.raises(OutputNotWritableError) as err:
        check_outputs_writable(catalog, pipeline, ["data/06_models/dcff/smoke/train_state"])
    lines = str(err.value).splitlines()
    assert lines[0] == "cannot write this run's outputs; nothing has run yet:"
    assert lines[1].startswith("  data: not writable (")
    assert "the run writes data/02_intermediate/dcff/smoke/manifest.csv (dcff.manifest) and 25 more under it" in lines[1]
    assert lines[2].startswith("  Make those folders writable")
    assert os.listdir(project / "data") == []


def test_a_run_on_a_read_only_data_folder_stops_before_its_first_node(project: Path) -> None:
    with read_only(project / "data"), pytest.raises(OutputNotWritableError, match=r"\n  data: not writable \("):
        run_in(project, "dcff")
    assert os.listdir(project / "data") == [], "no node ran"
