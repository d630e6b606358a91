"""Run a pipeline's base configuration over several seeds / settings and tabulate its claims.

    .venv/bin/python benchmarks/seeds.py --pipeline dcff --seeds 0 1 2 3 4
    .venv/bin/python benchmarks/seeds.py --pipeline ssda_dual_mix --seeds 0 1 2 --params "da_benchmark.base_seed=7"

Each row is a real `kedro run --pipelines <pipeline> --params <pipeline>.seed=N,…` (its own MLflow run).
Columns: every method's score from the pipeline's `results.csv` (its first numeric column: top-1 for dcff,
mIoU for ssda_dual_mix; for mi_aod each arm's mAP at the last cycle), its `claim/*` metrics and the run's
wall time. The table goes to
data/08_reporting/<pipeline>/benchmark_seeds[_<tag>].{csv,md} and is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipeline", default="dcff")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--params", default="", help="extra --params for every run, e.g. dcff.data.noise=0.12")
    ap.add_argument("--env", default="base")
    ap.add_argument("--tag", default="", help="label for this setting in the table and file name")
    args = ap.parse_args()

    kedro = str(Path(sys.executable).parent / "kedro")
    out = ROOT / "data/08_reporting" / args.pipeline
    rows = []
    for seed in args.seeds:
        params = ",".join(p for p in [f"{args.pipeline}.seed={seed}", args.params] if p)
        t0 = time.perf_counter()
        subprocess.run([kedro, "run", "--pipelines", args.pipeline, "--env", args.env, "--params", params],
                       cwd=ROOT, check=True, env={**os.environ, "CVPAPERS_QUIET": "1"}, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        report = {k: v for f in out.glob("*_metrics.json") for k, v in json.loads(f.read_text()).items()
                  if k.startswith("claim/") and isinstance(v, int | float)}
        scores = {}
        if (out / "results.csv").is_file():  # one row per method (dcff, ssda_dual_mix, fhdrnet)
            table = pd.read_csv(out / "results.csv")
            score = table.select_dtypes("number").columns[0]
            scores = {str(m): float(v) for m, v in zip(table.iloc[:, 0], table[score], strict=True)}
        elif (out / "comparison.csv").is_file():  # one row per active-learning cycle (mi_aod): the last
            last = pd.read_csv(out / "comparison.csv").iloc[-1]
            scores = {f"last cycle {k}": float(v) for k, v in last.items() if "mAP" in str(k)}
        rows.append({
            "setting": args.tag or (args.params or "default"),
            "seed": seed,
            **scores,
            **{k.split("/", 1)[1]: round(v, 2) for k, v in report.items() if k.startswith("claim/")},
            "run_wall_s": round(wall, 1),
        })
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    name = "benchmark_seeds" + (f"_{args.tag}" if args.tag else "")
    df.to_csv(out / f"{name}.csv", index=False)
    from cvpapers.io.datasets import to_markdown

    (out / f"{name}.md").write_text(to_markdown(df) + "\n")
    print(to_markdown(df))


if __name__ == "__main__":
    main()
