"""Resume that a user cannot get wrong: a damaged or foreign train state is refused naming the file, the one
setting that differs and the command that retrains that stage alone; a smoke run's train state never
meets a base run's, so a killed base run resumes after a smoke run and keeps its finished stages."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cvpapers.engine.loop import ResumeMismatchError
from tests.conftest import make_project, run_in

STATE = "data/06_models/dcff/smoke/train_state/dcff.pt"


def _copy_of_smoke_run(smoke_project, dest: Path) -> Path:
    """A project holding what `kedro run --pipelines dcff --env smoke` left (its data/, copied)."""
    project = make_project(dest)
    shutil.copytree(smoke_project("dcff") / "data", project / "data")
    return project


def _refusal(project: Path, **params: str) -> list[str]:
    with pytest.raises(ResumeMismatchError) as err:
        run_in(project, "dcff", params={"dcff.resume": "true", **params}, node_names=["train_dcff"])
    return str(err.value).splitlines()


def test_a_truncated_train_state_is_refused_with_its_path_and_the_file_to_delete(smoke_project, tmp_path) -> None:
    project = _copy_of_smoke_run(smoke_project, tmp_path / "project")
    state = project / STATE
    state.write_bytes(state.read_bytes()[:4096])
    assert _refusal(project) == [
        f"dcff: cannot resume from {STATE}: the file is truncated (4096 bytes; the end of its zip archive is missing)",
        "  To retrain this stage alone, delete that file and run again with resume=true (the stages already "
        "finished keep their train state and are not retrained):",
        f"    rm {STATE}",
    ]


def test_a_foreign_train_state_names_the_setting_that_differs(smoke_project, tmp_path) -> None:
    """dcff's stage lr is train.lr scaled to the batch (32 / 256), so one changed setting shows as the key the
    user typed and the lr the stage ran with."""
    project = _copy_of_smoke_run(smoke_project, tmp_path / "project")
    lines = _refusal(project, **{"dcff.train.lr": "0.01"})
    assert lines[0] == f"dcff: cannot resume from {STATE}: it was written with other settings:"
    assert sorted(lines[1:3]) == sorted([
        "    train.lr: 0.1 (checkpoint) vs 0.01 (now)",
        "    lr: 0.0125 (checkpoint) vs 0.00125 (now)",
    ])
    assert lines[3].startswith("  Run with the checkpoint's values to continue it. To retrain this stage alone")
    assert lines[4:] == [f"    rm {STATE}"]


# A base run as small as smoke but not equal to it (other train-set size), so a smoke checkpoint would be
# refused as foreign if the two environments shared a train state, as they did.
_TINY_BASE = """\
dcff:
  data: {n_train: 240, n_test: 200}
  train: {epochs: 2, eval_batch_size: 200}
"""


def _files(root: Path, inside: str | None) -> dict[str, tuple[int, int]]:
    """(mtime, size) of the files of data/*/dcff/ that belong to the base run (inside=None) or to ``inside``."""
    out = {}
    for layer in root.glob("data/0[2-8]_*/dcff"):
        for p in layer.rglob("*"):
            rel = p.relative_to(layer).as_posix()
            if p.is_file() and (rel.startswith(f"{inside}/") if inside else not rel.startswith("smoke/")):
                out[str(p.relative_to(root))] = (p.stat().st_mtime_ns, p.stat().st_size)
    return out


@pytest.fixture(scope="module")
def base_after_smoke(smoke_project, tmp_path_factory) -> dict:
    """Smoke run; then a base run killed as its dcff stage starts; then the base run again with resume=true."""
    from cvpapers.engine import loop

    project = _copy_of_smoke_run(smoke_project, tmp_path_factory.mktemp("envs") / "project")
    (project / "conf/local/parameters_dcff.yml").write_text(_TINY_BASE)
    smoke_before = _files(project, "smoke")

    def killed(iterable, *args, desc: str = "", **kwargs):
        if desc.startswith("dcff 1/"):
            raise KeyboardInterrupt("killed as the dcff stage starts")
        return original(iterable, *args, desc=desc, **kwargs)

    original = loop.progress
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(loop, "progress", killed)
        with pytest.raises(KeyboardInterrupt):
            run_in(project, "dcff", env="local")
    states = project / "data/06_models/dcff/train_state"
    finished = {p.name: p.stat().st_mtime_ns for p in states.glob("*.pt")}
    run_in(project, "dcff", env="local", params={"dcff.resume": "true"})
    return {"project": project, "smoke_before": smoke_before, "smoke_after": _files(project, "smoke"),
            "finished": finished, "states": states,
            "restarted": {n: (states / n).stat().st_mtime_ns for n in finished}}


def test_a_killed_base_run_resumes_after_a_smoke_run_and_keeps_its_finished_stages(base_after_smoke) -> None:
    project, states = base_after_smoke["project"], base_after_smoke["states"]
    finished = base_after_smoke["finished"]
    assert set(finished) == {"l1_pretrain.pt", "l1_finetune.pt", "scratch.pt"}, "killed before its dcff stage"
    # The resumed run finished; its finished stages were not retrained (their train state was not rewritten).
    assert (project / "data/08_reporting/dcff/results.md").is_file()
    assert (states / "dcff.pt").is_file()
    assert base_after_smoke["restarted"] == finished
    # Neither base run touched the smoke run's files.
    assert base_after_smoke["smoke_after"] == base_after_smoke["smoke_before"]


def test_a_smoke_run_after_a_base_run_leaves_the_base_reports_alone(base_after_smoke) -> None:
    project = base_after_smoke["project"]
    base = _files(project, None)
    assert {"data/08_reporting/dcff/results.md", "data/06_models/dcff/train_state/dcff.pt"} <= set(base)
    smoke_report = project / "data/08_reporting/dcff/smoke/results.md"
    before = smoke_report.stat().st_mtime_ns
    run_in(project, "dcff")
    assert _files(project, None) == base
    assert smoke_report.stat().st_mtime_ns != before, "the smoke run wrote its own report"
