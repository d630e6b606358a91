"""Checkpoint files under faults: a process killed with SIGKILL in the middle of writing one leaves the
previous checkpoint whole, and a damaged model checkpoint is refused naming the file and the remedy."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from cvpapers.engine.checkpoint import STALE_TEMP_S, CheckpointError, atomic_save, safe_load

# Writes version 0 (small), says "ready", then rewrites the file with ever newer 128 MB versions until killed.
_WRITER = textwrap.dedent("""
    import sys
    import torch
    from cvpapers.engine.checkpoint import atomic_save

    path = sys.argv[1]
    atomic_save({"version": 0, "w": torch.zeros(4)}, path)
    print("ready", flush=True)
    big = torch.empty(32, 1024, 1024)
    version = 0
    while True:
        version += 1
        big.fill_(version)
        atomic_save({"version": version, "w": big}, path)
""")


def test_kill_9_while_a_checkpoint_is_written_leaves_the_previous_one_loadable(tmp_path: Path) -> None:
    path = tmp_path / "dcff.pt"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 120
        partial: list[Path] = []
        while not partial:  # kill as soon as a temp file holds part of a new version
            assert time.monotonic() < deadline and proc.poll() is None, "the writer never started a big write"
            partial = [p for p in tmp_path.glob(".dcff.pt.*.tmp") if p.stat().st_size > (1 << 20)]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # The kill landed mid-write: a part-written temp file is left beside the checkpoint ...
    (leftover,) = list(tmp_path.glob(".dcff.pt.*.tmp"))
    assert leftover.stat().st_size < 32 * 1024 * 1024 * 4
    with pytest.raises(CheckpointError, match="truncated"):
        safe_load(leftover)
    # ... and the checkpoint itself is the last complete version, whole.
    state = safe_load(path)
    v = state["version"]
    assert torch.equal(state["w"], torch.zeros(4) if v == 0 else torch.full((32, 1024, 1024), float(v)))
    # The next save of that checkpoint clears the killed write's temp file once it is stale.
    atomic_save({"version": v + 1}, path)
    assert leftover.exists(), "a temp file still being written (recent) is never removed"
    old = time.time() - STALE_TEMP_S - 1
    os.utime(leftover, (old, old))
    atomic_save({"version": v + 2}, path)
    assert not leftover.exists() and safe_load(path) == {"version": v + 2}


def test_a_truncated_model_checkpoint_names_its_file_and_the_remedy(smoke_project, tmp_path: Path) -> None:
    """``export_compact`` loads ``fused.pt`` through the catalog (TorchCheckpointDataset → safe_load)."""
    from kedro.io import DatasetError

    from tests.conftest import make_project, run_in

    project = make_project(tmp_path / "project")
    shutil.copytree(smoke_project("dcff") / "data", project / "data")
    fused = project / "data/06_models/dcff/smoke/fused.pt"
    fused.write_bytes(fused.read_bytes()[:5000])
    with pytest.raises(DatasetError) as err:
        run_in(project, "dcff", node_names=["export_compact"])
    message = str(err.value)
    assert "cannot read the checkpoint data/06_models/dcff/smoke/fused.pt: the file is truncated (5000 bytes" in message
    assert "Delete it and re-run the node that writes it." in message
