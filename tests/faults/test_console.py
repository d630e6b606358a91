"""A console a person can read: a smoke run used to print ~180 lines (every "Loading data from params:…",
Kedro's multi-line "Running node: x: f([…]) -> […]", five third-party deprecation warnings) and nothing at
the end said where the results are. Now: a line as each node starts and one as it ends with its headline
metrics, and a summary (claims, reports, checkpoints, the MLflow run's page); the rest is in cvpapers.log."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from cvpapers.hooks import headline, number
from tests.conftest import kedro_cli, make_project


def test_a_smoke_run_prints_under_40_lines_and_ends_with_the_summary(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    result = kedro_cli(project, "run", "--pipelines", "dcff", "--env", "smoke", COLUMNS="80")
    assert result.returncode == 0, result.stderr
    lines = (result.stdout + result.stderr).rstrip("\n").splitlines()
    assert len(lines) < 40, "\n".join(lines)
    console = "\n".join(lines)
    for noise in ("Running node:", "Loading data from", "Saving data to", "Warning", "Completed 1 out of",
                  "Creating initial MLflow database tables", "Using 'conf/logging.yml'"):
        assert noise not in console, noise
    assert re.search(r"\[5/9\] train_dcff done in [0-9.]+ s: top1 ", console), console
    with sqlite3.connect(project / "mlflow.db") as con:
        (run_id, experiment), = con.execute(
            "SELECT run_uuid, experiment_id FROM runs WHERE name = 'dcff' AND status = 'FINISHED'").fetchall()
    summary = lines[-6:]
    assert re.fullmatch(r"dcff finished in [0-9.]+ s: claim/holds = [01] \(the claim (holds|does not hold) in this "
                        r"run\)", summary[0]), summary
    assert re.fullmatch(r"  claim/top1_gain_vs_l1 +-?[0-9.]+", summary[1]), summary
    assert summary[3:5] == ["  reports      data/08_reporting/dcff/smoke/", "  checkpoints  data/06_models/dcff/smoke/"]
    assert summary[5] == (f"  MLflow run   http://127.0.0.1:5000/#/experiments/{experiment}/runs/{run_id}  "
                          "(`make mlflow-ui` serves it)")
    assert (project / "data/08_reporting/dcff/smoke/results.md").is_file()
    log = (project / "cvpapers.log").read_text()  # nothing is lost: Kedro's lines and the warnings are here
    assert "Running node: train_dcff" in log and "Loading data from params:dcff" in log and "py.warnings" in log
    assert "dcff finished in" in log


def test_headline_metrics_of_a_node() -> None:
    assert headline({"top1": 9.0, "top1_last": 9.0, "top1_best": 9.0, "best_epoch": 1.0, "train_macs": 2.78e8,
                     "train_time_s": 0.1, "frozen_layers_final": 6.0}) == "top1 9 · train_macs 278M · frozen_layers_final 6"
    assert headline({"compare/x": 1.0, "claim/gain": -1.0, "claim/holds": 0.0}) == "claim/holds 0 · claim/gain -1"
    assert headline({"enabled": 0.0}) == "skipped (disabled)"
    assert headline({}) == ""


@pytest.mark.parametrize(("value", "text"), [(200.0, "200"), (0.74468, "0.7447"), (659936.0, "659.9k"),
                                             (2499520.0, "2.5M"), (6.319e9, "6.319G"), (-1.0, "-1")])
def test_numbers_read_at_a_glance(value: float, text: str) -> None:
    assert number(value) == text


def test_one_progress_bar_per_training_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop asks for a bar per epoch ("<stage> <epoch>/<epochs>"); a stage shows one bar over all its
    iterations, erased when the stage ends."""
    from cvpapers.engine import progress

    monkeypatch.setattr(progress, "quiet", lambda: False)
    bars = []
    for epoch in (1, 2, 3):
        for _ in progress.progress(range(4), total=4, desc=f"stage_a {epoch}/3"):
            bars.append(progress._stage.bar)
    assert len({id(b) for b in bars}) == 1 and bars[0].total == 12 and bars[0].n == 12
    assert progress._stage is None  # closed after the last epoch
    # A resumed stage starts part-way; a stage stopped by an error leaves no bar behind.
    with pytest.raises(FloatingPointError):
        for i in progress.progress(range(4), total=4, desc="stage_b 2/3"):
            assert progress._stage.bar.total == 12 and progress._stage.bar.n == 4 + i
            if i == 1:
                raise FloatingPointError
    progress.close_bars()
    assert progress._stage is None
