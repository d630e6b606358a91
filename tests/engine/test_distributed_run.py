"""Distributed training for real: ``torchrun --nproc_per_node 2`` with gloo on the CPU.

* a whole ``kedro run --pipelines dcff --env smoke`` on two processes makes one MLflow run (parent and one
  child per node, each curve logged once), both ranks end every training stage with the same weights, and
  a second launch with ``resume=true`` continues from rank 0's train state on both ranks;
* the loop under DDP (two forked processes): killed and resumed equals uninterrupted, ranks bit-identical
  (BatchNorm statistics included); ranks that disagree on their weights or on the epoch to resume from
  stop with the reason;
* a rank above 0 saves in-memory datasets only; files are rank 0's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from cvpapers.data.classification import TensorBatches
from cvpapers.engine import distributed
from cvpapers.engine.loop import FitConfig, LoopCallback, fit
from cvpapers.engine.optim import build_optimizer, build_scheduler
from cvpapers.engine.steps import classification_step
from tests.conftest import make_project

IN_STEP = re.compile(r"(\w+): 2 ranks in step, weight checksums (\S+) (\S+)")
RESUMED = re.compile(r"(\w+): resumed from \S+ at epoch (\d+)/(\d+)")


def _torchrun(project: Path, *args: str) -> str:
    """``torchrun --standalone --nproc_per_node 2 -m kedro run --pipelines dcff --env smoke <args>``."""
    torchrun = Path(sys.executable).with_name("torchrun")
    launcher = [str(torchrun)] if torchrun.is_file() else [sys.executable, "-m", "torch.distributed.run"]
    cmd = [*launcher, "--standalone", "--nproc_per_node", "2",
           "-m", "kedro", "run", "--pipelines", "dcff", "--env", "smoke", *args]
    # One thread per rank on 2 cores; a wide console so that no log line is wrapped.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "400"}
    proc = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{out[-8000:]}"
    return out


def _in_step(out: str) -> dict[str, float]:
    """Stage -> weight checksum, each stage's two ranks checked equal."""
    stages = {}
    for stage, rank0, rank1 in IN_STEP.findall(out):
        assert rank0 == rank1, f"{stage}: rank 0 and rank 1 hold other weights ({rank0} vs {rank1})"
        stages[stage] = float(rank0)
    assert stages, "no training stage reported its ranks in step:\n" + out[-4000:]
    return stages


def test_torchrun_two_ranks_one_mlflow_run_in_step_and_resume(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    project = make_project(tmp_path / "project")
    first = _in_step(_torchrun(project))

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name == "dcff"]
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1, "rank 1 opened no MLflow run of its own"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    names = [r.info.run_name for r in children]
    assert "prepare_data" in names and len(names) == len(set(names)) == len(runs) - 1, names
    curves = 0
    for child in children:
        for key in child.data.metrics:
            steps = [m.step for m in client.get_metric_history(child.info.run_id, key)]
            assert len(steps) == len(set(steps)), f"{key} logged twice per step: {steps}"
            curves += len(steps) > 1
    assert curves, "the training curves reached MLflow"
    # The train state and the catalog's files are on disk (rank 0's).
    states = sorted(p.stem for p in (project / "data" / "06_models").rglob("train_state/*.pt"))
    assert set(first) <= set(states), (first, states)
    assert list((project / "data" / "08_reporting" / "dcff" / "smoke").glob("*_metrics.json"))

    # Second launch on the same train state: every stage continues at its last epoch on both ranks.
    out = _torchrun(project, "--params", "dcff.resume=true")
    resumed = {stage: (int(done), int(total)) for stage, done, total in RESUMED.findall(out)}
    assert set(resumed) == set(first), (resumed, first)
    assert all(done == total for done, total in resumed.values()), resumed
    assert _in_step(out) == first, "resumed stages end with the weights the first launch trained"
    runs = client.search_runs([experiment.experiment_id])
    assert sum("mlflow.parentRunId" not in r.data.tags for r in runs) == 2


# ------------------------------------------------------------------------------------------------
# the loop under DDP, in two forked processes


class _Killed(Exception):
    pass


class _KillAt(LoopCallback):
    def __init__(self, epoch: int | None) -> None:
        self.epoch = epoch

    def on_epoch_start(self, epoch, model) -> None:
        if epoch == self.epoch:
            raise _Killed


def _fit(ckpt: Path, resume: bool = False, kill_at: int | None = None):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (96, 1, 4, 4), dtype=torch.uint8, generator=g)
    labels = (images.float().mean(dim=(1, 2, 3)) > 127.5).long()
    train = TensorBatches(images, labels, 8, (0.5,), (0.25,), shuffle=True, seed=0, augment={"hflip": True},
                          rank=distributed.rank(), world_size=distributed.world_size())
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
    opt = build_optimizer(model.parameters(), "sgd", lr=0.1, momentum=0.9, weight_decay=1e-4)
    sched = build_scheduler(opt, len(train), "step", 4, milestones=[2], gamma=0.1)
    cfg = FitConfig(stage="toy", epochs=4, checkpoint_path=ckpt, resume=resume, fingerprint={"lr": 0.1},
                    track_best="train_acc")
    result = fit(model, train, classification_step, opt, sched, cfg, torch.device("cpu"), callbacks=[_KillAt(kill_at)])
    return model, result


def _ddp_worker(rank: int, world: int, store: str, out: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        full, full_result = _fit(Path(out) / "full.pt")
        try:
            _fit(Path(out) / "cut.pt", kill_at=2)
            raise AssertionError("the run was not killed")
        except _Killed:
            pass
        resumed, resumed_result = _fit(Path(out) / "cut.pt", resume=True)
        # Ranks that disagree stop on every rank, with the reason, instead of waiting on each other.
        full_state = {k: v.clone() for k, v in full.state_dict().items()}
        caught = []
        with torch.no_grad():
            full[1].weight[0, 0] += rank * 1e-6
        for check in (lambda: distributed.check_in_step(full, "toy"),
                      lambda: distributed.agree(rank, "the epoch to resume from")):
            try:
                check()
            except distributed.RanksOutOfStepError as e:
                caught.append(str(e))
        torch.save({"full": full_state, "resumed": resumed.state_dict(),
                    "iters": len(resumed_result.history), "resumed_from": resumed_result.resumed_from,
                    "loss": [h["train_loss"] for h in full_result.history],
                    "resumed_loss": [h["train_loss"] for h in resumed_result.history], "caught": caught},
                   Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_loop_under_ddp_resumes_like_an_uninterrupted_run_on_every_rank(tmp_path: Path) -> None:
    import torch._dynamo  # noqa: F401  (DDP's first construction imports it: once here, not in each worker)
    import torch.multiprocessing as mp

    # Forked, not spawned: the workers start in milliseconds instead of importing torch again.
    mp.start_processes(_ddp_worker, args=(2, str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True,
                       start_method="fork")
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["resumed_from"] == 2 and r0["iters"] == 4
    for key in ("full", "resumed"):
        for name, value in r0[key].items():  # the same bits on both ranks, BatchNorm statistics included
            assert torch.equal(value, r1[key][name]), f"{key}: rank 1's {name} differs from rank 0's"
    for name, value in r0["full"].items():
        assert torch.allclose(value.float(), r0["resumed"][name].float()), f"resumed {name} differs"
    assert r0["resumed_loss"] == pytest.approx(r0["loss"]) and r0["loss"] == r1["loss"]
    for r in (r0, r1):
        assert len(r["caught"]) == 2, r["caught"]
        assert "toy: ranks [1] hold other weights than rank 0" in r["caught"][0]
        assert "the epoch to resume from differs across ranks: [0, 1]" in r["caught"][1]


# ------------------------------------------------------------------------------------------------
# catalog guard


def test_a_rank_above_0_saves_in_memory_datasets_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kedro.io import DataCatalog, MemoryDataset
    from kedro_datasets.json import JSONDataset

    from cvpapers.hooks import DistributedHook

    def catalog() -> DataCatalog:
        return DataCatalog({"memory": MemoryDataset(), "file": JSONDataset(filepath=str(tmp_path / "f.json"))})

    main = catalog()
    DistributedHook().after_catalog_created(main)  # rank 0: untouched
    main.save("file", {"a": 1})
    assert (tmp_path / "f.json").is_file()
    (tmp_path / "f.json").unlink()

    monkeypatch.setattr(distributed, "rank", lambda: 1)
    other = catalog()
    DistributedHook().after_catalog_created(other)
    other.save("memory", 1)
    other.save("file", {"a": 1})
    other.save("not_declared", 2)  # Kedro's default: a MemoryDataset
    assert other.load("memory") == 1 and other.load("not_declared") == 2
    assert not (tmp_path / "f.json").exists(), "a rank above 0 leaves the files to rank 0"
