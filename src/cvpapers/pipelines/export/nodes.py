"""Kedro glue for export: ``params:export`` and the trained pipeline's own parameters in; a sample of its test
set, the export report and metrics out. The work lives in :mod:`cvpapers.engine.export` (export and round trip),
``samples.py`` (the test sample), ``models.py`` (what each network needs before it exports) and
:mod:`cvpapers.io.trained` (checkpoint, task family).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cvpapers.pipelines.export.config import ExportParams


def _start(params: dict[str, Any], pipeline: str, model: str | None) -> tuple[ExportParams, Any, str]:
    """Validated parameters, the run context (device, threads) and the trained pipeline exported."""
    from cvpapers.engine.run import RunContext

    p = ExportParams.model_validate(params)
    return p, RunContext.start(p, pipeline), model or p.model


def _raw(model_params: dict[str, Any], model: str | None, name: str) -> dict[str, Any] | None:
    """The trained pipeline's parameters: given directly to a variant, picked from all of them for `export`."""
    return model_params if model else model_params.get(name)


def _own(model_params: dict[str, Any], model: str | None, name: str) -> Any:
    """The trained pipeline's parameters validated by its own schema."""
    from cvpapers.registry import declarations

    return declarations()[name].validate(_raw(model_params, model, name))


def _tracking_uri(p: ExportParams) -> str:
    import mlflow

    return p.tracking_uri or mlflow.get_tracking_uri()


def prepare_data(
    params: dict[str, Any], model_params: dict[str, Any], pipeline: str, model: str | None
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Check the checkpoint is a model of the right task, then read the first test inputs of its pipeline."""
    from cvpapers.engine.checkpoint import safe_load
    from cvpapers.io.trained import check_family, resolve_checkpoint
    from cvpapers.pipelines.export.samples import test_sample

    p, _, name = _start(params, pipeline, model)
    path = resolve_checkpoint(p.checkpoint, name, env_dir=p.env_dir, tracking_uri=_tracking_uri(p))
    check_family(safe_load(path), path, name, expected=pipeline)  # before reading the test set
    sample = test_sample(name, _own(model_params, model, name), p.env_dir, max_samples=p.max_samples)
    return sample, {
        "n_samples": float(len(sample["x0"])),
        "n_inputs": float(sum(k.startswith("x") for k in sample)),
    }


def _modules(
    name: str, trained: Any, sample: dict[str, np.ndarray], p: ExportParams, own: Any
) -> dict[str, Any]:
    from cvpapers.pipelines.export.models import exportable

    keys = None
    if name == "pss_net":
        from cvpapers.pipelines.export.samples import retained_subnets
        from cvpapers.pipelines.pss_net import space as sp

        keys = {f"retained_t{t}": k for t, k in retained_subnets(p.env_dir).items()}
        if p.pss_subnets == "retained_and_max":
            keys["max"] = sp.cfg_key(*sp.max_cfg(trained.module.space))
    calib_batch = own.eval.calib_batch_size if name == "pss_net" else 1
    return exportable(name, trained.module, sample, pss_keys=keys, calib_batch_size=calib_batch)


def export_models(
    sample: dict[str, np.ndarray],
    params: dict[str, Any],
    model_params: dict[str, Any],
    pipeline: str,
    model: str | None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Export every network of the trained model with each exporter and check each file against PyTorch."""
    import torch

    from cvpapers.engine import tracking
    from cvpapers.engine.export import export_report, to_numpy_batches
    from cvpapers.io.trained import load_trained

    p, _, name = _start(params, pipeline, model)
    own = _own(model_params, model, name)
    trained = load_trained(
        name,
        p.checkpoint,
        _raw(model_params, model, name),
        env_dir=p.env_dir,
        tracking_uri=_tracking_uri(p),
        expected=pipeline,
    )
    task = "classification" if trained.family == "classification" else "restoration"
    inputs = sorted((k for k in sample if k.startswith("x")), key=lambda k: int(k[1:]))
    batches = to_numpy_batches([sample[k] for k in inputs], p.batch_size)
    out_dir = Path(p.export_dir.replace("{pipeline}", pipeline))
    rows: list[dict[str, Any]] = []
    for label, module in _modules(name, trained, sample, p, own).items():
        checks = export_report(
            module,
            batches,
            out_dir / label,
            task,
            p.exporters,
            dynamic_batch=p.dynamic_batch,
            latency_runs=p.latency_runs,
            threads=torch.get_num_threads(),
            opset=p.opset,
        )
        for check in checks:
            if check.ok and check.file:
                tracking.log_artifact(out_dir / check.file, "exports")
            rows.append({"model": label, **check.row()})
    table = pd.DataFrame(rows)
    return table, _metrics(table)


def _metrics(table: pd.DataFrame) -> dict[str, float]:
    """Per model and runtime: ok, and for those that ran the error, agreement, size and latency."""
    out: dict[str, float] = {}
    for row in table.itertuples():
        key = f"{row.model}/{row.runtime}"
        out[f"{key}/ok"] = float(row.ok)
        if row.ok:
            out[f"{key}/dynamic_batch"] = float(row.dynamic_batch)
            for col in ("max_abs_err", "size_mb", "latency_ms"):
                out[f"{key}/{col}"] = float(getattr(row, col))
            out[f"{key}/{row.agreement_kind}"] = float(row.agreement)
    return out
