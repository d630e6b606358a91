"""CPU smoke test of ``benchmarks/step_speed.py`` (issue 12): every model's training step runs at smoke sizes."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "step_speed.py"


def _load():
    spec = importlib.util.spec_from_file_location("step_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("step_speed", module)
    spec.loader.exec_module(module)
    return module


def test_step_speed_smoke_cpu(tmp_path):
    step_speed = _load()
    rows = step_speed.main(["--sizes", "smoke", "--device", "cpu", "--steps", "2", "--warmup", "1",
                            "--out-dir", str(tmp_path)])
    assert [r["model"] for r in rows] == list(step_speed.MODELS)
    assert {r["precision"] for r in rows} == {"fp32"}  # CPU: fp32 only unless asked
    for r in rows:
        for key in ("img_per_s", "gflop_per_step", "tflop_per_s", "step_ms"):
            assert math.isfinite(r[key]) and r[key] > 0, (r["model"], key, r[key])
    assert (tmp_path / "step_speed.csv").read_text().count("\n") == len(rows) + 1
    assert "| dcff_fused |" in (tmp_path / "step_speed.md").read_text()


def test_step_speed_profile_counts_aten_calls_and_the_official_fhdrnet_runs(tmp_path):
    step_speed = _load()
    rows = step_speed.main(["--sizes", "smoke", "--device", "cpu", "--steps", "1", "--warmup", "0", "--profile",
                            "--models", "fhdrnet_bn", "fhdrnet_official", "--out-dir", str(tmp_path)])
    ours, official = rows
    assert ours["aten_calls_per_step"] > 50 and official["aten_calls_per_step"] > 50
    assert ours["gflop_per_step"] > 0 and official["gflop_per_step"] > 0
