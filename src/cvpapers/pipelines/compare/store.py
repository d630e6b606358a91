"""Read the MLflow store(s): the runs the charts need, with their parameters, metrics and table artifacts.

Layout (DESIGN.md "Tracking"): one experiment per registered pipeline, named after it; one parent run per
``kedro run`` (no ``mlflow.parentRunId`` tag) carrying every node's final numbers as ``<node>/<key>`` and the
parameters flattened (``dcff.data.noise``); a child run per node (tag ``kedro_node``) holding that node's
artifacts (``tables/<name>.csv``). Only FINISHED parent runs are read: a killed or failed run's numbers are
partial. What is not found (no store, no experiment, no finished run, no artifact) is recorded in the snapshot
with the reason, never raised.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd

from cvpapers.pipelines.compare.benchmarks import classification_benchmark, da_benchmark, sub_params
from cvpapers.pipelines.compare.config import CompareParams
from cvpapers.pipelines.compare.runs import digest, setting_labels, setting_of

_PAGE = 1000


def chart_pipelines(p: CompareParams) -> dict[str, str]:
    """Every pipeline a chart names, in the order named, with its chart (``frontier`` or ``da``)."""
    out: dict[str, str] = {}
    for source in [*p.frontier.metric_points, *p.frontier.table_points]:
        out.setdefault(source.pipeline, "frontier")
    for bars in p.da.bars:
        out.setdefault(bars.pipeline, "da")
    return out


def default_store() -> str:
    """The store of the running ``kedro run`` (kedro-mlflow set it from conf/base/mlflow.yml)."""
    import mlflow

    return mlflow.get_tracking_uri()


def _missing_sqlite(uri: str) -> bool:
    """An sqlite URI whose file does not exist (MLflow would create an empty store there)."""
    if not uri.startswith("sqlite:///"):
        return False
    return not Path(uri.removeprefix("sqlite:///")).is_file()


def collect(p: CompareParams, stores: list[str] | None = None) -> dict[str, Any]:
    """The snapshot the drawing nodes read: ``runs`` (the selected runs), ``missing`` (pipeline, reason)."""
    stores = stores or list(p.stores) or [default_store()]
    pipelines = chart_pipelines(p)
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in pipelines}
    reasons: dict[str, list[str]] = {name: [] for name in pipelines}
    store_notes: list[str] = []
    for uri in stores:
        if _missing_sqlite(uri):
            store_notes.append(f"no MLflow store at {uri}")
            continue
        for name in pipelines:
            runs, reason = _finished_parents(uri, name, p.kedro_env)
            found[name] += runs
            if reason:
                reasons[name].append(reason)
    selected, missing = [], []
    for name, runs in found.items():
        runs.sort(key=lambda r: r["start_time"], reverse=True)
        picked = runs[:1] if p.runs == "latest" else runs
        if not picked:
            missing.append(
                {
                    "pipeline": name,
                    "chart": pipelines[name],
                    "reason": "; ".join(reasons[name] or store_notes or ["no finished run"]),
                }
            )
        for run in picked:
            run["tables"] = _tables(run, p)
            selected.append(run)
    return {
        "stores": stores,
        "store_notes": store_notes,
        "mode": p.runs,
        "kedro_env": p.kedro_env,
        "pipelines": pipelines,
        "runs": selected,
        "missing": missing,
    }


def _finished_parents(uri: str, pipeline: str, env: str | None) -> tuple[list[dict[str, Any]], str]:
    """The FINISHED parent runs of ``pipeline``'s experiment (optionally of one Kedro env), or why none."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(pipeline)
    if experiment is None:
        return [], f"no experiment '{pipeline}' in {uri}"
    query = "attributes.status = 'FINISHED'" + (f" and tags.kedro_env = '{env}'" if env else "")
    runs = client.search_runs(
        [experiment.experiment_id], query, max_results=_PAGE, order_by=["attributes.start_time DESC"]
    )
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    if not parents:
        where = f" of env '{env}'" if env else ""
        return [], f"experiment '{pipeline}' has no finished run{where} in {uri}"
    return [_run_record(uri, pipeline, experiment.experiment_id, r) for r in parents], ""


def _run_record(uri: str, pipeline: str, experiment_id: str, run: Any) -> dict[str, Any]:
    params = dict(run.data.params)
    started = datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC)
    return {
        "pipeline": pipeline,
        "store": uri,
        "experiment": pipeline,
        "experiment_id": experiment_id,
        "run_id": run.info.run_id,
        "start_time": int(run.info.start_time),
        "start": started.strftime("%Y-%m-%d %H:%M:%S"),
        "status": run.info.status,
        "env": run.data.tags.get("kedro_env", ""),
        "seed": params.get(f"{pipeline}.seed", ""),
        "params": params,
        "metrics": dict(run.data.metrics),
    }


def _tables(run: dict[str, Any], p: CompareParams) -> dict[str, Any]:
    """The table artifacts the chart sources of this run's pipeline read: rows, or ``{"error": why}``."""
    out: dict[str, Any] = {}
    for source in p.frontier.table_points:
        if source.pipeline == run["pipeline"]:
            key = f"{source.node}:{source.artifact}"
            out.setdefault(key, _table_artifact(run, source.node, source.artifact))
    return out


def _table_artifact(run: dict[str, Any], node: str, artifact: str) -> Any:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=run["store"])
    query = f"tags.mlflow.parentRunId = '{run['run_id']}' and tags.kedro_node = '{node}'"
    children = client.search_runs([run["experiment_id"]], query, max_results=10)
    if not children:
        return {"error": f"no child run of node '{node}'"}
    local = _local_dir(children[0].info.artifact_uri)
    try:
        if local is not None:  # the usual local store: read in place
            table = pd.read_csv(local / artifact)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                table = pd.read_csv(client.download_artifacts(children[0].info.run_id, artifact, tmp))
    except (MlflowException, OSError, ValueError) as err:
        return {"error": f"artifact {artifact} of node '{node}' not readable ({type(err).__name__})"}
    return table.astype(object).where(table.notna(), None).to_dict("records")


def _local_dir(uri: str) -> Path | None:
    """The folder of a local artifact URI (a path or ``file://``), else None (a remote store downloads)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    return None


def messages(snapshot: dict[str, Any]) -> list[str]:
    """What a person should know before reading the charts: empty store, missing pipelines."""
    out = list(snapshot.get("store_notes", []))
    if not snapshot["runs"]:
        out.append(
            f"no finished run of {', '.join(snapshot['pipelines'])} in {', '.join(snapshot['stores'])}: "
            "the charts are empty. Run the papers first, e.g. `kedro run --pipelines dcff`, then "
            "`kedro run --pipelines compare`"
        )
    out += [f"{m['pipeline']} not drawn: {m['reason']}" for m in snapshot["missing"]]
    return out


def run_benchmark(run: dict[str, Any], chart: str, p: CompareParams) -> tuple[str, str, dict[str, Any]]:
    """The benchmark a run measured on, by the chart its pipeline is drawn in."""
    if chart == "da":
        return da_benchmark(run["params"], p.da.benchmark_prefix, p.da.ignore)
    return classification_benchmark(run["params"], run["pipeline"])


def run_setting(run: dict[str, Any], p: CompareParams) -> str:
    return digest(setting_of(run["params"], p.ignore_params))


def data_params(run: dict[str, Any], chart: str, p: CompareParams) -> str:
    """The run's data parameters as ``key=value, …`` (where the files are and how they load left out)."""
    prefix = p.da.benchmark_prefix if chart == "da" else f"{run['pipeline']}.data."
    data = {k: v for k, v in sub_params(run["params"], prefix).items() if k not in ("root", "workers")}
    return ", ".join(f"{k}={v}" for k, v in sorted(data.items()))


def run_setting_labels(snapshot: dict[str, Any], p: CompareParams) -> dict[str, str]:
    """Readable names of the settings (per pipeline, the parameters in which its settings differ)."""
    out: dict[str, str] = {}
    for name in {r["pipeline"] for r in snapshot["runs"]}:
        settings = {
            run_setting(r, p): setting_of(r["params"], p.ignore_params)
            for r in snapshot["runs"]
            if r["pipeline"] == name
        }
        out.update(setting_labels(settings))
    return out


def run_columns(run: dict[str, Any], chart: str, p: CompareParams, labels: dict[str, str]) -> dict[str, Any]:
    """What every chart row of ``run`` carries: its benchmark, setting and the run behind it."""
    bench_id, bench, _ = run_benchmark(run, chart, p)
    setting = run_setting(run, p)
    return {
        "benchmark": bench_id,
        "benchmark_description": bench,
        "pipeline": run["pipeline"],
        "setting": setting,
        "data_params": data_params(run, chart, p),
        "setting_label": labels.get(setting, ""),
        **{k: run[k] for k in ("experiment", "run_id", "start", "seed", "env")},
    }


def runs_table(snapshot: dict[str, Any], p: CompareParams) -> pd.DataFrame:
    """One row per selected run (experiment, run id, start, seed, env, benchmark, data parameters), and one
    per pipeline not found, with the reason."""
    rows = []
    for run in snapshot["runs"]:
        chart = snapshot["pipelines"].get(run["pipeline"], "frontier")
        bench_id, bench, _ = run_benchmark(run, chart, p)
        rows.append(
            {
                "pipeline": run["pipeline"],
                "chart": chart,
                "status": "selected",
                "experiment": run["experiment"],
                "run_id": run["run_id"],
                "start": run["start"],
                "seed": run["seed"],
                "env": run["env"],
                "setting": run_setting(run, p),
                "benchmark": bench_id,
                "benchmark_description": bench,
                "data_params": data_params(run, chart, p),
                "store": run["store"],
            }
        )
    for m in snapshot["missing"]:
        rows.append({"pipeline": m["pipeline"], "chart": m["chart"], "status": f"missing: {m['reason']}"})
    columns = [
        "pipeline",
        "chart",
        "status",
        "experiment",
        "run_id",
        "start",
        "seed",
        "env",
        "setting",
        "benchmark",
        "benchmark_description",
        "data_params",
        "store",
    ]
    return pd.DataFrame(rows, columns=columns).fillna("")


def snapshot_metrics(snapshot: dict[str, Any]) -> dict[str, float]:
    found = {r["pipeline"] for r in snapshot["runs"]}
    return {
        "n_runs": float(len(snapshot["runs"])),
        "n_pipelines_found": float(len(found)),
        "n_pipelines_missing": float(len(snapshot["missing"])),
    }
