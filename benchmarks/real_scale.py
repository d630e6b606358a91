"""Peak memory and loader speed of the paper-data path at two dataset sizes: memory must not grow with N.

    .venv/bin/python benchmarks/real_scale.py                 # every family, N = 8 and 4N = 32
    .venv/bin/python benchmarks/real_scale.py --n 16 --families mi_aod

Each family module ``benchmarks/scale_<family>.py`` provides ``write(root, n)`` — a synthetic dataset in
the real on-disk layout at the paper's resolution, written by the project's fixture writers — and
``run(root) -> dict`` — the pipeline's data stage, a few training iterations and one evaluation pass on the
paper configuration (a CPU-sized model), returning at least ``images`` and ``loader_images_per_s``.
``write`` and ``run`` each get a fresh process, and the peak resident memory of ``run``'s process is
measured by the kernel (``wait4``), so the table compares what the pipeline itself holds. The table goes to
data/08_reporting/real_scale.{csv,md} and is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("ssda_dual_mix", "mi_aod", "fhdrnet")


def _child(family: str, call: str, root: Path, n: int, out: Path) -> tuple[float, float]:
    """Run ``scale_<family>.<call>`` in a new process; returns (peak RSS in MiB, wall seconds)."""
    code = (
        "import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
        f"import scale_{family} as m; r = m.{call}(Path(sys.argv[2]){', int(sys.argv[3])' if call == 'write' else ''}); "
        "Path(sys.argv[4]).write_text(json.dumps(r or {}))"
    )
    # A fixed mmap threshold keeps glibc from retaining freed image buffers differently from run to run
    # (±8 % of peak RSS otherwise, whatever N is).
    env = {**os.environ, "CVPAPERS_QUIET": "1", "PYTHONPATH": str(ROOT / "src"), "MALLOC_MMAP_THRESHOLD_": "1048576"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, str(ROOT / "benchmarks"), str(root), str(n), str(out)],
                            cwd=ROOT, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"scale_{family}.{call} failed (n={n})")
    return usage.ru_maxrss / 1024.0, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=8, help="the smaller dataset size; the larger is 4N")
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="real_scale_") as tmp:
        for family in args.families:
            for n in (args.n, 4 * args.n):
                root, out = Path(tmp) / f"{family}_{n}", Path(tmp) / f"{family}_{n}.json"
                _child(family, "write", root, n, out)
                rss, wall = _child(family, "run", root, n, out)
                result = json.loads(out.read_text())
                rows.append({"pipeline": family, "N": n, "peak_rss_mb": round(rss, 1), "wall_s": round(wall, 1),
                             **{k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}})
                print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    ratio = df.groupby("pipeline")["peak_rss_mb"].agg(lambda s: s.iloc[-1] / s.iloc[0])
    df["rss_ratio_4N_vs_N"] = df["pipeline"].map(ratio).round(3)
    out_dir = ROOT / "data/08_reporting"
    out_dir.mkdir(parents=True, exist_ok=True)
    df.to_csv(out_dir / "real_scale.csv", index=False)
    from cvpapers.io.datasets import to_markdown

    (out_dir / "real_scale.md").write_text(to_markdown(df) + "\n")
    print(to_markdown(df))


if __name__ == "__main__":
    main()
