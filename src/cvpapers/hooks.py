"""Project hooks: fail-fast parameter validation, per-pipeline MLflow experiments, child run per node.

kedro-mlflow (registered by entry point) opens one MLflow run per ``kedro run`` and logs the
``params:`` inputs into it. These hooks add what the project promises on top of that:

* ``PipelineSetupHook`` runs *before* kedro-mlflow's ``before_pipeline_run`` (``tryfirst``): it validates
  the parameters of every pipeline being run (so a typo fails in seconds, not mid-training) and points
  kedro-mlflow at an experiment named after the pipeline.
* ``BatchedParamsMlflowHook`` is kedro-mlflow's own hook (registered here instead of by its entry point)
  with one change: a node's ``params:`` inputs are written in one ``log_batch`` call, and keys already
  logged in the run are skipped. Per-key ``log_param`` costs ~35 ms on sqlite, which for a pipeline of
  17 nodes taking 60 parameters each is half a minute of a run.
* ``NodeRunTrackingHook`` tags the run, opens a nested child run per node, logs the node's wall time,
  peak memory and returned metrics (outputs whose name ends in ``metrics``), and closes the child run
  once the node's outputs are saved, so artifacts written by output datasets land in that child run.
* ``ConsoleHook`` writes what a person reads (``conf/logging.yml`` sends Kedro's own lines to ``cvpapers.log``):
  a line as each node starts, one as it ends with its headline metrics, and a summary at the end (the
  claims, where the reports and checkpoints are, the MLflow run's URL).
* ``DistributedHook`` makes ``torchrun --nproc_per_node N -m kedro run ...`` one run on N processes: it
  joins the process group, keeps every rank but 0 away from MLflow (``settings.py`` registers kedro-mlflow
  on rank 0 only), from the catalog's files and from the console, and keeps the ranks in step between nodes.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook

from cvpapers import registry
from cvpapers.engine import distributed, tracking
from cvpapers.engine.device import resolve_device, set_cpu_threads

log = logging.getLogger(__name__)
console = logging.getLogger("cvpapers.run")  # the console's lines (plain text: no rich markup)
_PLAIN = {"markup": False}
summary_log = logging.getLogger("cvpapers.summary")  # the run's summary, for cvpapers.log (printed as well)


def _requested(run_params: dict[str, Any]) -> list[str]:
    """The registered names of this run (``__default__`` resolved to the flagship)."""
    names = run_params.get("pipeline_names") or run_params.get("pipeline_name") or ["__default__"]
    if isinstance(names, str):
        names = [names]
    return [registry.resolve(n).name for n in names]


def _git_commit(project_path: Path) -> tuple[str, bool]:
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=project_path, capture_output=True, text=True, timeout=5
        )
        sha = proc.stdout.strip() if proc.returncode == 0 else ""
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=project_path, capture_output=True, text=True, timeout=5,
        ).stdout.strip()
        return sha or "unknown", bool(dirty)
    except (OSError, subprocess.SubprocessError):
        return "unknown", False


class PipelineSetupHook:
    def __init__(self) -> None:
        self._context: Any = None

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        # An unknown --env would otherwise load conf/base alone and fail later, far from the cause (MLflow's
        # file-store error); `kedro run` checks it before the session starts (cvpapers.cli), this covers
        # sessions created in Python.
        from cvpapers.cli import check_environment

        check_environment(context.env, getattr(context.config_loader, "conf_source", None))
        self._context = context

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        names = _requested(run_params)
        params = self._context.params if self._context is not None else {}
        for declaration in registry.declarations_to_validate(names):
            validated = declaration.validate(params.get(declaration.name))
            if declaration.preflight is not None:
                declaration.preflight(validated)
            set_cpu_threads(getattr(validated, "cpu_threads", None))
        if distributed.is_main_process():  # a read-only data/ is named before any node runs
            from cvpapers.io.datasets import check_outputs_writable

            check_outputs_writable(catalog, pipeline)
        mlflow_config = getattr(self._context, "mlflow", None)
        if mlflow_config is not None:
            # One experiment per registered pipeline, so the MLflow UI compares runs of one paper;
            # a variant (mi_aod_paper) gets its own: its runs are not comparable with the embedded ones.
            mlflow_config.tracking.experiment.name = "+".join(names)
            mlflow_config._set_experiment()
            experiment = getattr(mlflow_config.tracking.experiment, "_experiment", None)
            if experiment is not None:
                tracking.mark_experiment_kind(experiment.experiment_id)


class BatchedParamsMlflowHook(MlflowHook):
    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        self._logged_params: dict[str, str] = {}
        super().before_pipeline_run(run_params, pipeline, catalog)

    @hook_impl
    def before_node_run(self, node: Any, catalog: Any, inputs: dict[str, Any], is_async: bool) -> None:
        self._pending_params: dict[str, str] = {}
        super().before_node_run(node, catalog, inputs, is_async)  # fills _pending_params via _log_param
        pending, self._pending_params = self._pending_params, {}
        if not pending or self.run_id is None:
            return
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        new = {k: v for k, v in pending.items() if self._logged_params.get(k) != v}
        if new:
            MlflowClient().log_batch(self.run_id, params=[Param(k, v) for k, v in new.items()], synchronous=True)
            self._logged_params.update(new)

    def _log_param(self, name: str, value: Any) -> None:
        """Buffer the parameter for the node's batch; over-long values keep kedro-mlflow's own strategy
        (fail or tag), except ``truncate``, which is applied here."""
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

        text = str(value)
        if len(text) > MAX_PARAM_VAL_LENGTH and self.long_params_strategy != "truncate":
            return super()._log_param(name, value)
        self._pending_params[name] = text[:MAX_PARAM_VAL_LENGTH]


class _PeakRss:
    """Samples the process's resident memory in a thread: the peak while one node runs."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _read(self) -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * self._page
        except (OSError, ValueError, IndexError):
            return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._read())
            self._stop.wait(self.interval)

    def start(self) -> _PeakRss:
        self.peak = self._read()
        self._thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=1)
        return max(self.peak, self._read())


def _acceleration_tags(device: Any, p: dict[str, Any]) -> dict[str, str]:
    """``deterministic`` as resolved for the device (``auto`` → true on CPU, false on CUDA) and the CUDA
    speed settings in effect (``accel``)."""
    from cvpapers.engine.config import CudaParams
    from cvpapers.engine.device import acceleration_for

    try:
        cuda = CudaParams.model_validate(p.get("cuda") or {})
    except ValueError:  # the validation hook names the bad key
        return {}
    return acceleration_for(device, p.get("deterministic", "auto"), cuda).tags()


class NodeRunTrackingHook:
    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._parent_id: str | None = None
        self._child_open = False
        self._pending: set[str] = set()
        self._t0 = 0.0
        self._rss: _PeakRss | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._project_path = Path(context.project_path)
        self._params = context.params

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        self._reset()
        # Under torchrun only rank 0 tracks (the other ranks have no MLflow run to begin with).
        self._parent_id = tracking.active_run_id() if distributed.is_main_process() else None
        if self._parent_id is None:
            return
        names = _requested(run_params)
        sha, dirty = _git_commit(self._project_path)
        tags: dict[str, Any] = {"pipeline": "+".join(names), "git_commit": sha, "git_dirty": dirty}
        for name in names:
            declaration = registry.resolve(name).declaration
            p = self._params.get(declaration.name) or {}
            tags["paper_arxiv"] = declaration.arxiv
            tags["paper_title"] = declaration.title
            tags["data_source"] = (p.get("data") or {}).get("source", "")
            device = resolve_device(p.get("device", "auto"))
            tags["device"] = str(device)
            tags.update(_acceleration_tags(device, p))
        tags["kedro_env"] = run_params.get("env") or "local"
        tags.update(tracking.process_tags())
        tracking.set_tags(tags, run_id=self._parent_id)
        resume = any(str((self._params.get(d.name) or {}).get("resume")).lower() in ("true", "1")
                     for d in registry.declarations_to_validate(names))
        closed, previous = tracking.close_killed_runs(self._parent_id, link=resume, env=tags["kedro_env"])
        for run_id in closed:
            console.info("MLflow: run %s was left RUNNING by a process that is gone; closed as KILLED", run_id,
                         extra=_PLAIN)
        if previous is not None:
            console.info("MLflow: this run resumes run %s (tag %s)", previous, tracking.RESUMED_FROM_TAG,
                         extra=_PLAIN)

    @hook_impl
    def before_node_run(self, node: Any, catalog: Any, inputs: dict[str, Any], is_async: bool) -> None:
        if self._parent_id is None:
            return
        import mlflow

        self._close_child()
        mlflow.start_run(run_name=node.name, nested=True, tags={"kedro_node": node.name})
        self._child_open = True
        self._pending = set(node.outputs)
        tracking.enter_node(node.name)
        self._t0 = time.perf_counter()
        self._rss = _PeakRss().start()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
        except ImportError:  # pragma: no cover
            pass

    @hook_impl
    def after_node_run(self, node: Any, catalog: Any, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        returned: dict[str, float] = {}
        for name, value in outputs.items():
            if name.endswith("metrics") and isinstance(value, dict):
                checked = tracking.check_metrics(value, f"node '{node.name}', output '{name}'")
                returned.update({tracking.metric_key(k, node.name): v for k, v in checked.items()})
        tracking.enter_node(None)
        if not self._child_open:
            return
        stats = {"node/wall_time_s": time.perf_counter() - self._t0}
        if self._rss is not None:
            stats["node/peak_rss_mb"] = self._rss.stop() / 2**20
            self._rss = None
        import torch

        if torch.cuda.is_available():
            stats["node/peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
        tracking.log_metrics({**stats, **returned})
        # The parent run carries each node's final numbers too, so the experiment table compares runs.
        tracking.log_metrics(
            {**returned, **{f"{node.name}/{k.split('/')[1]}": v for k, v in stats.items()}},
            run_id=self._parent_id,
        )
        if not self._pending:
            self._close_child()

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Any) -> None:
        if self._child_open:
            self._pending.discard(dataset_name)
            if not self._pending:
                self._close_child()

    @hook_impl
    def on_node_error(self, error: Exception, node: Any, catalog: Any, inputs: dict[str, Any], is_async: bool) -> None:
        if self._rss is not None:
            self._rss.stop()
            self._rss = None
        tracking.enter_node(None)
        self._close_child(status="FAILED")

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], run_result: Any, pipeline: Any, catalog: Any) -> None:
        self._close_child()

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        self._close_child(status="FAILED")

    def _close_child(self, status: str = "FINISHED") -> None:
        if not self._child_open:
            return
        import mlflow

        run = mlflow.active_run()
        if run is not None and run.info.run_id != self._parent_id:
            mlflow.end_run(status=status)
        self._child_open = False


_BOOKKEEPING = ("_last", "_best", "time_s", "epoch", "epochs")


def headline(metrics: dict[str, float], n: int = 3) -> str:
    """A node's key numbers for its console line: its claims (``claim/holds`` first) if it reports any, else
    its first ``n`` metrics in the order the node returns them, leaving out bookkeeping (``*_last``,
    ``*_best``, times, epoch counts)."""
    claims = sorted((k for k in metrics if k.startswith("claim/")), key=lambda k: (k != "claim/holds", k))
    if claims:
        keys = claims[:n]
    elif metrics.get("enabled") == 0.0:
        return "skipped (disabled)"
    else:
        keys = [k for k in metrics if k != "enabled" and not k.endswith(_BOOKKEEPING)][:n]
    return " · ".join(f"{k} {number(metrics[k])}" for k in keys)


def number(value: float) -> str:
    """4 significant digits, thousands as k/M/G: ``10``, ``0.7446``, ``659.9k``, ``631.9M``."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.4g}{suffix}"
    return f"{value:.4g}"


class ConsoleHook:
    """What a person reads on the console: a line as each node starts, one as it ends with its headline
    metrics (:func:`headline`), and a summary when the run ends: the claims, where the reports and
    checkpoints are, and the MLflow run's page. ``conf/logging.yml`` keeps Kedro's own per-node, per-dataset
    and start-up lines in ``cvpapers.log``."""

    def __init__(self) -> None:
        self._context: Any = None
        self._started: dict[str, tuple[int, float]] = {}

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._context = context

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        self._names = "+".join(_requested(run_params))
        self._env = run_params.get("env") or "local"
        self._total, self._count = len(pipeline.nodes), 0
        self._started = {}
        self._claims: dict[str, float] = {}
        self._t0 = time.perf_counter()
        self._run_id = tracking.active_run_id() if distributed.is_main_process() else None
        self._experiment_id = None
        if self._run_id is not None:
            import mlflow

            self._experiment_id = mlflow.active_run().info.experiment_id
        console.info("%s (env %s): %d nodes", self._names, self._env, self._total, extra=_PLAIN)

    @hook_impl
    def before_node_run(self, node: Any, catalog: Any, inputs: dict[str, Any], is_async: bool) -> None:
        self._count += 1
        self._started[node.name] = (self._count, time.perf_counter())
        console.info("%s %s …", self._step(node.name), node.name, extra=_PLAIN)

    @hook_impl
    def after_node_run(self, node: Any, catalog: Any, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        metrics: dict[str, float] = {}
        for name, value in outputs.items():
            if name.endswith("metrics") and isinstance(value, dict):
                metrics.update({k: float(v) for k, v in value.items()
                                if isinstance(v, int | float) and not isinstance(v, bool)})
        self._claims.update({k: v for k, v in metrics.items() if k.startswith("claim/")})
        numbers = headline(metrics)
        console.info("%s %s done in %s%s", self._step(node.name), node.name, self._elapsed(node.name),
                     f": {numbers}" if numbers else "", extra=_PLAIN)

    @hook_impl
    def on_node_error(self, error: Exception, node: Any, catalog: Any, inputs: dict[str, Any], is_async: bool) -> None:
        from cvpapers.engine.progress import close_bars

        close_bars()
        console.error("%s %s failed after %s (%s)", self._step(node.name), node.name, self._elapsed(node.name),
                      type(error).__name__, extra=_PLAIN)

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], run_result: Any, pipeline: Any, catalog: Any) -> None:
        if not distributed.is_main_process():
            return
        lines = self.summary(pipeline, catalog)
        # Printed as plain lines (a terminal wraps the URL without breaking it); the log file gets it too.
        summary_log.info("\n".join(lines))
        print("\n".join(lines), flush=True)

    def summary(self, pipeline: Any, catalog: Any) -> list[str]:
        lines = [f"{self._names} finished in {time.perf_counter() - self._t0:.1f} s"]
        if self._claims:
            holds = self._claims.get("claim/holds")
            if holds is not None:
                lines[0] += f": claim/holds = {holds:g} (the claim {'holds' if holds else 'does not hold'} in this run)"
            width = max(len(k) for k in self._claims)
            lines += [f"  {k:<{width}}  {number(v)}" for k, v in sorted(self._claims.items()) if k != "claim/holds"]
        folders = _output_folders(pipeline, catalog, Path(self._context.project_path) if self._context else Path.cwd())
        for label, layer in (("reports", "08_reporting"), ("checkpoints", "06_models")):
            if folders.get(layer):
                lines.append(f"  {label:<12} {', '.join(folders[layer])}")
        if self._run_id is not None:
            ui = getattr(getattr(self._context, "mlflow", None), "ui", None)
            url = tracking.ui_url(getattr(ui, "host", "127.0.0.1"), getattr(ui, "port", 5000),
                                  self._experiment_id, self._run_id)
            lines.append(f"  {'MLflow run':<12} {url}  (`make mlflow-ui` serves it)")
        return lines

    def _step(self, node: str) -> str:
        return f"[{self._started.get(node, (self._count, 0.0))[0]}/{self._total}]"

    def _elapsed(self, node: str) -> str:
        seconds = time.perf_counter() - self._started.get(node, (0, time.perf_counter()))[1]
        return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _output_folders(pipeline: Any, catalog: Any, project: Path) -> dict[str, list[str]]:
    """The folders the pipeline's file outputs went to, by data layer folder (``08_reporting`` …), relative
    to the project, a folder inside another listed one left out."""
    by_layer: dict[str, set[Path]] = {}
    for name in pipeline.all_outputs():
        try:
            dataset = catalog.get(name)
        except Exception:  # noqa: BLE001 — a summary never fails a finished run
            continue
        path = getattr(dataset, "_filepath", None)
        if path is None:
            continue
        folder = Path(str(path)).parent
        layer = next((part for part in folder.parts if part[:2].isdigit() and part[2:3] == "_"), None)
        if layer is not None:
            by_layer.setdefault(layer, set()).add(folder)
    out: dict[str, list[str]] = {}
    for layer, folders in by_layer.items():
        top = sorted(f for f in folders if not any(o != f and o in f.parents for o in folders))
        out[layer] = [f"{f.relative_to(project) if f.is_relative_to(project) else f}/" for f in top]
    return out


class DistributedHook:
    """One ``kedro run`` on the N processes ``torchrun`` starts; nothing at all in a single-process run.

    Every rank computes every node (the training nodes share their batches through the engine's loop);
    rank 0 alone tracks, logs and writes:

    * the process group is joined as the session starts (gloo on CPU, NCCL on GPUs, one GPU per
      ``LOCAL_RANK``) and left when the pipeline ends;
    * on ranks > 0 the catalog saves in-memory datasets only: files are rank 0's, and a rank > 0 loads
      the file rank 0 wrote, so every rank continues from the same data;
    * a barrier before each node's inputs are loaded (Kedro saves a node's outputs after
      ``after_node_run``, just before the next node loads), so no rank reads a file rank 0 is still
      writing;
    * data preparation (nodes named ``prepare_data``, which write their files themselves and read them
      back) runs one rank after another, rank 0 first, so no rank reads a file another is rewriting;
    * ranks > 0 log warnings and errors only, and show no progress bars.

    Supported with Kedro's default ``SequentialRunner``: the ranks must run the nodes in the same order.
    """

    SERIAL_NODES = ("prepare_data",)

    def __init__(self) -> None:
        self._loading_for: str | None = None
        self._lock = threading.Lock()  # `kedro run --async` loads a node's inputs from several threads

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        if not distributed.init_from_env():
            return
        if not distributed.is_main_process():
            logging.disable(logging.INFO)  # one console: rank 0's

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        if distributed.is_main_process():
            return
        save = catalog.save

        def save_in_memory_only(ds_name: str, data: Any) -> None:
            if _in_memory(catalog.get(ds_name, fallback_to_runtime_pattern=True)):
                save(ds_name, data)

        catalog.save = save_in_memory_only

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        self._loading_for = None
        runner = str(run_params.get("runner") or "SequentialRunner")
        if distributed.is_distributed() and "SequentialRunner" not in runner:
            raise ValueError(f"under torchrun the ranks must run the nodes in one order: use the default "
                             f"SequentialRunner, not {runner}")

    @hook_impl
    def before_dataset_loaded(self, dataset_name: str, node: Any) -> None:
        with self._lock:
            if node is not None and node.name != self._loading_for:
                self._loading_for = node.name
                distributed.barrier()

    @hook_impl
    def before_node_run(self, node: Any, catalog: Any, inputs: dict[str, Any], is_async: bool) -> None:
        self._loading_for = None
        if self._serial(node):
            for _ in range(distributed.rank()):  # rank r starts when ranks 0..r-1 have finished
                distributed.barrier()

    @hook_impl(trylast=True)
    def after_node_run(self, node: Any, catalog: Any, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        if self._serial(node):
            for _ in range(distributed.world_size() - 1 - distributed.rank()):
                distributed.barrier()

    @hook_impl(trylast=True)
    def after_pipeline_run(self, run_params: dict[str, Any], run_result: Any, pipeline: Any, catalog: Any) -> None:
        distributed.barrier()  # rank 0 has written and tracked everything
        distributed.destroy()

    @hook_impl(trylast=True)
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        distributed.destroy()  # no barrier: the other ranks may be anywhere; torchrun stops them

    def _serial(self, node: Any) -> bool:
        return distributed.is_distributed() and node.name.rsplit(".", 1)[-1] in self.SERIAL_NODES


def _in_memory(dataset: Any) -> bool:
    """Kedro's MemoryDataset and its kin (``_EPHEMERAL``); a CachedDataset also writes its file."""
    from kedro.io import CachedDataset

    return bool(getattr(dataset, "_EPHEMERAL", False)) and not isinstance(dataset, CachedDataset)
