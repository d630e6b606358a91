"""A pipeline's claims over seeds and settings, from its MLflow runs: the README's claim tables.

    .venv/bin/python benchmarks/seeds.py run --pipeline dcff --seeds 0 1 2 3 4
    .venv/bin/python benchmarks/seeds.py run --pipeline ssda_dual_mix --seeds 0 1 2 \\
        --params "da_benchmark.base_seed=7" --tag city7
    .venv/bin/python benchmarks/seeds.py table --pipeline dcff            # no new runs: tabulate the store

`run` makes one real `kedro run --pipelines <pipeline> --params <package>.seed=N,…` per seed (each its own
MLflow run, tagged `seeds_setting=<tag>`), then tabulates. `table` reads the runs of the pipeline's
experiment in mlflow.db that carry a `seeds_setting` tag (or `--tag`). Columns: the setting, the seed,
every `claim/*` metric (method − baseline: positive = the paper's claim holds; `claim/holds` is the
pipeline's one rule), `compare/*` with `--compare`, any metric matching `--columns REGEX`, and the run's
wall time; then the mean and standard deviation of each setting. The table goes to
data/08_reporting/<pipeline>/benchmark_seeds[_<tag>].{csv,md} and is printed. The Kedro project is this
repository, or the directory named by the environment variable CVPAPERS_PROJECT.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(os.environ.get("CVPAPERS_PROJECT", Path(__file__).resolve().parents[1]))
TAG = "seeds_setting"


def _client():
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{ROOT / 'mlflow.db'}")


def _parent_runs(client, pipeline: str) -> list:
    experiment = client.get_experiment_by_name(pipeline)
    if experiment is None:
        sys.exit(f"no MLflow experiment '{pipeline}' in {ROOT / 'mlflow.db'}: run the pipeline first")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    return [r for r in runs if "mlflow.parentRunId" not in r.data.tags]


def run_seeds(pipeline: str, package: str, seeds: list[int], params: str, env: str, tag: str) -> None:
    kedro = str(Path(sys.executable).parent / "kedro")
    client = _client() if (ROOT / "mlflow.db").exists() else None
    for seed in seeds:
        extra = ",".join(p for p in [f"{package}.seed={seed}", params] if p)
        subprocess.run([kedro, "run", "--pipelines", pipeline, "--env", env, "--params", extra],
                       cwd=ROOT, check=True, env={**os.environ, "CVPAPERS_QUIET": "1"}, stdout=subprocess.DEVNULL)
        client = client or _client()
        newest = _parent_runs(client, pipeline)[-1]
        client.set_tag(newest.info.run_id, TAG, tag)
        client.set_tag(newest.info.run_id, "seeds_params", params)
        print(f"seed {seed}: run {newest.info.run_id} tagged {TAG}={tag}", flush=True)


def table(pipeline: str, package: str, tag: str | None, compare: bool, columns: str | None) -> pd.DataFrame:
    keep = re.compile(columns) if columns else None
    rows = []
    for run in _parent_runs(_client(), pipeline):
        setting = run.data.tags.get(TAG)
        if setting is None or (tag is not None and setting != tag) or run.info.status != "FINISHED":
            continue
        metrics = run.data.metrics
        picked = {k: v for k, v in metrics.items()
                  if k.startswith("claim/") or (compare and k.startswith("compare/")) or (keep and keep.search(k))}
        rows.append({"setting": setting, "seed": run.data.params.get(f"{package}.seed", "?"),
                     **dict(sorted(picked.items())),
                     "run_wall_s": (run.info.end_time - run.info.start_time) / 1000.0})
    if not rows:
        sys.exit(f"no finished run of '{pipeline}' tagged {TAG}" + (f"={tag}" if tag else ""))
    df = pd.DataFrame(rows)
    numeric = df.select_dtypes("number").columns
    summary = []
    for setting, group in df.groupby("setting", sort=False):
        summary.append({"setting": setting, "seed": "mean", **group[numeric].mean().to_dict()})
        summary.append({"setting": setting, "seed": "std", **group[numeric].std(ddof=1).to_dict()})
    return pd.concat([df, pd.DataFrame(summary)], ignore_index=True).round(3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["run", "table"])
    ap.add_argument("--pipeline", default="dcff", help="a registered pipeline (variants too)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--params", default="", help="extra --params for every run, e.g. dcff.data.noise=0.12")
    ap.add_argument("--env", default="base")
    ap.add_argument("--tag", default=None, help="label of this setting (run: default 'default')")
    ap.add_argument("--compare", action="store_true", help="add the compare/* metrics")
    ap.add_argument("--columns", default=None, help="regex of further metric keys to tabulate")
    args = ap.parse_args()

    from cvpapers.registry import resolve

    package = resolve(args.pipeline).declaration.name  # parameters live under the package's key
    if args.command == "run":
        args.tag = args.tag or "default"
        run_seeds(args.pipeline, package, args.seeds, args.params, args.env, args.tag)
    df = table(args.pipeline, package, args.tag, args.compare, args.columns)
    out = ROOT / "data/08_reporting" / args.pipeline
    out.mkdir(parents=True, exist_ok=True)
    name = "benchmark_seeds" + (f"_{args.tag}" if args.tag else "")
    df.to_csv(out / f"{name}.csv", index=False)
    from cvpapers.io.datasets import to_markdown

    (out / f"{name}.md").write_text(to_markdown(df) + "\n")
    print(to_markdown(df))


if __name__ == "__main__":
    main()
