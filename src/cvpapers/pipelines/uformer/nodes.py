"""Kedro glue for Uformer: data → arch check ∥ UNet-8 ∥ UNet-10 ∥ Uformer-nano (∥ ablations) → evaluation on the
test set → claims. ``pipeline`` (the registered name, for the train-state folder) is bound by the pipeline.
The method lives in the room: ``networks``, ``loss``, ``training``, ``evaluation``, ``arch``, ``claims``,
``sets``, ``figures``. Embedded sets travel as ``.npz`` arrays; a real dataset travels as its manifest (the
arrays are empty) and is read pair by pair where it is used. Networks travel as checkpoints naming their builder.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cvpapers.engine.run import RunContext
from cvpapers.pipelines.uformer.config import UformerParams

Arrays = dict[str, np.ndarray]
Ckpt = dict[str, Any]


def _params(params: dict[str, Any]) -> UformerParams:
    from cvpapers.pipelines.uformer import DECLARATION

    return DECLARATION.validate(params)  # type: ignore[return-value]


def _start(params: dict[str, Any], pipeline: str) -> tuple[UformerParams, RunContext]:
    p = _params(params)
    return p, RunContext.start(p, pipeline)


def arch_check(_manifest: pd.DataFrame, params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, float]]:
    """Table E through the one counter on ``meta`` tensors; fails if a figure deviates (§9 check 1). (It reads
    the manifest only to run after ``prepare_data``, the DAG's one source.)"""
    from cvpapers.pipelines.uformer.arch import arch_rows

    p = _params(params)
    rows = arch_rows(p.arch_check.variants, p.arch_check.input_size)
    size = p.arch_check.input_size
    metrics = {
        f"{r['model']}/{k}": float(r[k]) for r in rows for k in ("params", f"gmacs{size}") if r[k] == r[k]
    }
    return pd.DataFrame(rows), metrics


def prepare_data(params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, float]]:
    """Embedded: generate the clean PNGs of every split and list them; real: list the (degraded, clean) pairs."""
    from cvpapers.pipelines.uformer.sets import embedded_manifest, real_manifest

    p = _params(params)
    manifest = embedded_manifest(p.data, p.seed) if p.data.source == "embedded" else real_manifest(p.data)
    return manifest, {f"{s}_images": float((manifest["split"] == s).sum()) for s in ("train", "val", "test")}


def select_data(
    manifest: pd.DataFrame, params: dict[str, Any]
) -> tuple[Arrays, Arrays, Arrays, dict[str, float], Any]:
    """Embedded: clean training images, fixed degraded val / test sets, input PSNR per σ and a montage.
    Real: nothing to hold in memory (empty arrays; pairs are read where used)."""
    import torch

    from cvpapers.metrics.hdr import psnr
    from cvpapers.pipelines.uformer import figures
    from cvpapers.pipelines.uformer.sets import load_embedded

    p = _params(params)
    if p.data.source != "embedded":
        return {}, {}, {}, {"real_pairs": float(len(manifest))}, figures.pairs_montage(manifest)
    train, val, test = load_embedded(manifest, p.data, p.seed)
    clean = torch.from_numpy(test["clean"]).float() / 255
    values = psnr(torch.from_numpy(test["noisy"]), clean).numpy()
    metrics = {f"input_psnr/sigma{s:g}": float(values[test["sigma"] == s].mean()) for s in p.data.test_sigmas}
    return train, val, test, metrics, figures.montage(test)


def _train(
    key: str,
    train: Arrays,
    val: Arrays,
    manifest: pd.DataFrame,
    params: dict[str, Any],
    pipeline: str,
) -> tuple[Ckpt, dict[str, float], pd.DataFrame]:
    """The same loss, optimiser, schedule, budget, batches and seed for every network: only the model differs."""
    from cvpapers.engine.checkpoint import model_checkpoint
    from cvpapers.pipelines.uformer import training
    from cvpapers.pipelines.uformer.models import model_config, training_data
    from cvpapers.pipelines.uformer.networks import build_restoration_model

    p, run = _start(params, pipeline)
    config = model_config(key, p)
    if config is None:  # a baseline or ablation switched off: a skipped stub
        return {}, {"skipped": 1.0}, pd.DataFrame({"iteration": []})
    run.seed_everything("init", key)
    model = build_restoration_model(**config)
    data, digest = training_data(train, val, manifest, p, run.device)
    model, metrics, history = training.fit_network(
        model,
        data,
        p.train,
        stage=key,
        device=run.device,
        seed=run.seed("batches"),
        checkpoint_path=run.checkpoint_path(key),
        resume=run.resume,
        fingerprint={"model": config, "train": p.train.model_dump(), "seed": p.seed, "data": digest},
    )
    return model_checkpoint(model, config, build_restoration_model), metrics, history


def train_model(
    train: Arrays, val: Arrays, manifest: pd.DataFrame, params: dict[str, Any], pipeline: str, key: str
) -> tuple[Ckpt, dict[str, float], pd.DataFrame]:
    """One network of the comparison (``key``: unet, unet_matched, uformer or abl_<ablation>)."""
    return _train(key, train, val, manifest, params, pipeline)


def evaluate(
    test: Arrays,
    manifest: pd.DataFrame,
    params: dict[str, Any],
    pipeline: str,
    **inputs: Any,
) -> tuple[pd.DataFrame, pd.DataFrame, Any, Any, dict[str, float]]:
    """Every trained network on the test set: results table, per-image table, samples, curves, metrics."""
    from cvpapers.pipelines.uformer.reporting import evaluate_all

    p, run = _start(params, pipeline)
    return evaluate_all(test, manifest, p, run.device, inputs)


def check_claims(test_metrics: dict[str, float], params: dict[str, Any]) -> dict[str, float]:
    """Uformer − UNet-8 (the claim), − UNet-10 and the ablations (compare), and the run's ``claim/holds``."""
    from cvpapers.pipelines.uformer.claims import claims

    p = _params(params)
    return claims(test_metrics, p.data.test_sigmas if p.data.source == "embedded" else (), p.ablations)
