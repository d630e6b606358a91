"""Kedro glue for predict: ``params:predict`` and the trained pipeline's own parameters in; the input manifest,
the predictions table and metrics out. The work lives in ``inputs.py`` (folder layouts, strict reading),
``apply.py`` (a model family on a batch), ``writers.py`` (files and contact sheet) and
:mod:`cvpapers.io.trained` (checkpoint, task family, preprocessing).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd

from cvpapers.pipelines.predict.config import PredictParams

log = logging.getLogger(__name__)


def _start(params: dict[str, Any], pipeline: str, model: str | None) -> tuple[PredictParams, Any, str]:
    """Validated parameters, the run context (device, threads) and the trained pipeline applied."""
    from cvpapers.engine.run import RunContext

    p = PredictParams.model_validate(params)
    return p, RunContext.start(p, pipeline), model or p.model


def _own(model_params: dict[str, Any], model: str | None, name: str) -> dict[str, Any] | None:
    """The trained pipeline's parameters: given directly to a variant, picked from all of them for `predict`."""
    return model_params if model else model_params.get(name)


def _fetch(p: PredictParams, run: Any) -> dict[str, Any]:
    """Where a checkpoint named by MLflow run is looked up and downloaded to (beside this run's own state)."""
    import mlflow

    return {
        "env_dir": p.env_dir,
        "tracking_uri": p.tracking_uri or mlflow.get_tracking_uri(),
        "download_dir": Path(run.checkpoint_dir).parent / "from_mlflow",
    }


def prepare_data(
    params: dict[str, Any], pipeline: str, model: str | None
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Check the checkpoint is a model of the right task, then list and check the input folder."""
    from cvpapers.engine.checkpoint import safe_load
    from cvpapers.io.trained import check_family, family_of, resolve_checkpoint
    from cvpapers.pipelines.predict.inputs import list_hdr_scenes, list_images

    p, run, name = _start(params, pipeline, model)
    path = resolve_checkpoint(p.checkpoint, name, **_fetch(p, run))
    check_family(safe_load(path), path, name, expected=pipeline)  # before reading any image
    folder = p.input_dir.replace("{model}", name)
    lister = list_hdr_scenes if family_of(name) == "hdr" else list_images
    manifest, bad = lister(folder, skip=p.on_bad_sample == "skip")
    for err in bad:
        log.warning("skipped bad input %s: %s", err.path, err.problem)
    return manifest, {"n_inputs": float(len(manifest)), "skipped_inputs": float(len(bad))}


def _samples(batch: dict[str, Any], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """A collated batch back into per-sample numpy dicts (stacked tensors or lists, as collate made them)."""
    n = len(batch["index"])
    return [
        {k: (batch[k][i].numpy() if hasattr(batch[k][i], "numpy") else batch[k][i]) for k in keys}
        for i in range(n)
    ]


def predict(
    manifest: pd.DataFrame,
    params: dict[str, Any],
    model_params: dict[str, Any],
    pipeline: str,
    model: str | None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Stream the folder through the trained model, writing each prediction and the contact sheet."""
    from cvpapers.data.streaming import ManifestDataset, SkipLog, stream
    from cvpapers.io.trained import load_trained
    from cvpapers.pipelines.predict import apply, inputs, writers

    p, run, name = _start(params, pipeline, model)
    trained = load_trained(
        name,
        p.checkpoint,
        _own(model_params, model, name),
        expected=pipeline,
        weights=p.weights,
        **_fetch(p, run),
    )
    out_dir = Path(p.output_dir.replace("{pipeline}", pipeline))
    writers.clear(out_dir, trained.family)
    hdr = trained.family == "hdr"
    dataset = ManifestDataset(
        manifest, inputs.read_scene if hdr else inputs.read_image, on_bad_sample=p.on_bad_sample
    )
    ctx = writers.WriteContext(trained.class_names, p.top_k, p.overlay_alpha, p.draw_score_thr, p.hdr_mu)
    write, rows, tiles, skips, t0 = writers.WRITERS[trained.family], [], [], SkipLog(), time.perf_counter()
    for batch in stream(dataset, p.batch_size, workers=p.workers, desc=pipeline, skips=skips):
        samples = _samples(batch, ("ldr", "exposure") if hdr else ("image",))
        for i, sample, result in zip(
            batch["index"].tolist(),
            samples,
            apply.apply_batch(trained, samples, run.device, p.top_k),
            strict=True,
        ):
            new_rows, tile = write(out_dir, manifest["name"].iloc[i], sample, result, ctx)
            rows.extend(new_rows)
            if len(tiles) < p.sheet_size:
                tiles.append(tile)
    seconds = time.perf_counter() - t0
    writers.write_contact_sheet(out_dir / "contact_sheet.png", tiles)
    writers.log_outputs(out_dir, trained.family)
    n = len(dataset) - len(skips.skipped)
    return pd.DataFrame(rows), {
        "n_predicted": float(n),
        "images_per_s": n / max(seconds, 1e-9),
        **skips.metrics(),
    }


def report(
    predictions: pd.DataFrame, params: dict[str, Any], pipeline: str, model: str | None
) -> tuple[pd.DataFrame, dict[str, float]]:
    """A summary of the predictions (per class counts and scores, or the mean of each measured column)."""
    from cvpapers.io.trained import family_of
    from cvpapers.pipelines.predict.summary import summarise

    _, _, name = _start(params, pipeline, model)
    return summarise(predictions, family_of(name))
