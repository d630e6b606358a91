"""Run the dcff base pipeline over several seeds / generator settings and tabulate the claim.

    .venv/bin/python benchmarks/dcff_seeds.py --seeds 0 1 2 [--params dcff.data.noise=0.12] [--env base]

Each run is a real `kedro run` (its own MLflow run in experiment `dcff`); the table of claim metrics
goes to data/08_reporting/dcff/benchmark_seeds.{csv,md} and is printed.
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
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--params", default="", help="extra --params for every run, e.g. dcff.data.noise=0.12")
    ap.add_argument("--env", default="base")
    ap.add_argument("--tag", default="", help="label for this setting in the table")
    args = ap.parse_args()

    kedro = str(Path(sys.executable).parent / "kedro")
    rows = []
    for seed in args.seeds:
        params = ",".join(p for p in [f"dcff.seed={seed}", args.params] if p)
        t0 = time.perf_counter()
        subprocess.run([kedro, "run", "--pipelines", "dcff", "--env", args.env, "--params", params],
                       cwd=ROOT, check=True, env={**os.environ, "CVPAPERS_QUIET": "1"},
                       stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        report = json.loads((ROOT / "data/08_reporting/dcff/report_metrics.json").read_text())
        table = pd.read_csv(ROOT / "data/08_reporting/dcff/results.csv").set_index("method")
        rows.append({
            "setting": args.tag or (args.params or "default"),
            "seed": seed,
            **{m: float(table.loc[m, "top1"]) for m in table.index},
            "gain_vs_l1": round(report["claim/top1_gain_vs_l1"], 2),
            "train_cost_ratio_vs_l1": round(report["claim/train_cost_ratio_vs_l1"], 3),
            "run_wall_s": round(wall, 1),
        })
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    out = ROOT / "data/08_reporting/dcff"
    name = "benchmark_seeds" + (f"_{args.tag}" if args.tag else "")
    df.to_csv(out / f"{name}.csv", index=False)
    from cvpapers.io.datasets import to_markdown

    (out / f"{name}.md").write_text(to_markdown(df) + "\n")
    print(to_markdown(df))


if __name__ == "__main__":
    main()
