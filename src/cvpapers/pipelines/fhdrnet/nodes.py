"""Kedro glue for FHDRNet: scenes → network inputs → classical merges, AHDRNet, FHDRNet w/o HF, FHDRNet →
evaluation on the test scenes → claims. ``domain`` (rgb | raw) and ``pipeline`` (the registered name, for
the train-state folder) are bound by the pipeline. The method lives in the room: ``networks``, ``training``,
``inference``, ``evaluation``, ``claims``, ``scenes``, ``streams`` (the real scenes, read lazily), ``figures``,
``curves`` (validation curves and their plateau).

The embedded scene and input sets travel as ``.npz`` dicts (the manifest is empty); a real dataset travels
as its manifest (one row per scene folder, ``split`` train / val / test; the ``.npz`` sets are empty) and
is read scene by scene where it is used. Networks travel as checkpoints that name their builder.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from cvpapers.engine.run import RunContext
from cvpapers.pipelines.fhdrnet.config import FhdrnetParams

Arrays = dict[str, np.ndarray]


def _params(params: dict[str, Any]) -> FhdrnetParams:
    from cvpapers.pipelines.fhdrnet import DECLARATION

    return DECLARATION.validate(params)  # type: ignore[return-value]


def _start(params: dict[str, Any], pipeline: str) -> tuple[FhdrnetParams, RunContext]:
    p = _params(params)
    return p, RunContext.start(p, pipeline)


def prepare_data(params: dict[str, Any], domain: str) -> tuple[Arrays, Arrays, Arrays, pd.DataFrame, dict[str, float], Any]:
    """Embedded scenes (train / val / test arrays with separate seeds, an empty manifest), or the manifest of
    the Kalantari / RAW dataset on disk after its preflight (empty arrays): its test scenes are summarised
    one at a time."""
    from cvpapers.data.streaming import SkipLog
    from cvpapers.pipelines.fhdrnet import figures, scenes

    p = _params(params)
    if p.data.source == "embedded":
        train, val, test = scenes.embedded_scenes(p.data, p.seed, domain)
        return (train, val, test, pd.DataFrame({"split": []}), scenes.scene_summary(train, val, test, p.data, domain),
                figures.scenes_montage(test, domain))
    skips = SkipLog()
    manifest = scenes.real_manifest(p.data, p.seed, domain, p.train.crop, skips)
    metrics, shown = scenes.streamed_summary(manifest, p.data, domain, skips)
    return {}, {}, {}, manifest, metrics, figures.streamed_montage(shown, domain)


def build_inputs(train: Arrays, val: Arrays, test: Arrays, params: dict[str, Any], domain: str,
                 ) -> tuple[Arrays, Arrays, Arrays, dict[str, float]]:
    """Network inputs per frame (§3.3): LDR-domain and HDR-domain images, concatenated. Real scenes get
    theirs when they are read (per crop in training, per scene in evaluation): nothing to build here."""
    from cvpapers.data.hdr_scenes import build_inputs as inputs

    p = _params(params)
    if p.data.source != "embedded":
        return {}, {}, {}, {"channels": float(2 * (3 if domain == "rgb" else 4))}
    sets = [inputs(s, p.data.gamma, domain) for s in (train, val, test)]
    x = sets[0]["x"]
    hdr_part = x[:, :, x.shape[2] // 2:]
    return (*sets, {"hdr_domain_min": float(hdr_part.min()), "hdr_domain_max": float(hdr_part.max()),
                    "channels": float(x.shape[2])})


def eval_classical(test: Arrays, manifest: pd.DataFrame, params: dict[str, Any], domain: str) -> dict[str, float]:
    """The two references without learning: reference frame (short where it saturates), naive merge; on the
    test arrays, or on the real test scenes streamed one at a time."""
    from cvpapers.data.streaming import SkipLog
    from cvpapers.pipelines.fhdrnet.evaluation import evaluate_classical
    from cvpapers.pipelines.fhdrnet.streams import scene_set, scenes_of

    p = _params(params)
    if p.data.source == "embedded":
        return evaluate_classical(test, domain, p.data.gamma, p.train.mu)
    skips = SkipLog()
    stream = scenes_of(scene_set(manifest, "test", p.data), p.data, skips, "classical merges")
    return {**evaluate_classical(stream, domain, p.data.gamma, p.train.mu), **skips.metrics()}


def _training_data(train: Arrays, val: Arrays, manifest: pd.DataFrame, p: FhdrnetParams, domain: str,
                   device: torch.device) -> tuple[Any, str, Any]:
    """(training source, data digest for the resume fingerprint, skip log or None) of the run's data source."""
    from cvpapers.data.streaming import SkipLog
    from cvpapers.engine.checkpoint import data_digest
    from cvpapers.pipelines.fhdrnet import streams, training

    if p.data.source == "embedded":
        data = training.in_memory(train, val, p.train, device)
        return data, data_digest(train["x"], train["y"], val["x"], val["y"]), None
    skips, d, t = SkipLog(), p.data, p.train
    crops = streams.TrainingCrop(t.crop, t.augment, d.gamma, domain)
    data = training.streamed(streams.scene_set(manifest, "train", d, crops),
                             streams.scene_set(manifest, "val", d, streams.FullInputs(d.gamma, domain)),
                             t, device, d.workers, skips)
    return data, data_digest(np.array(manifest.to_csv(index=False))), skips


Trained = tuple[dict[str, Any], dict[str, float], pd.DataFrame]


def _train(name: str, train: Arrays, val: Arrays, manifest: pd.DataFrame, params: dict[str, Any], pipeline: str,
           domain: str) -> Trained:
    """The same loss, optimiser, budget, batches and seed for every network: only the architecture (and its
    init) differs. Returns the checkpoint, the training summary and the validation curve."""
    from cvpapers.engine.checkpoint import model_checkpoint
    from cvpapers.pipelines.fhdrnet.networks import build_hdr_model, network_config
    from cvpapers.pipelines.fhdrnet.training import train_network

    p, run = _start(params, pipeline)
    config = network_config(name, domain, p.model.model_dump(), p.ahdrnet.model_dump())
    run.seed_everything("init", name)
    model = build_hdr_model(**config)
    stage = f"{domain}_{name}"
    data, digest, skips = _training_data(train, val, manifest, p, domain, run.device)
    model, metrics, curve = train_network(
        model, data, p.train, stage=stage, device=run.device, seed=run.seed("batches"),
        checkpoint_path=run.checkpoint_path(stage), resume=run.resume,
        fingerprint={"model": config, "train": p.train.model_dump(), "seed": p.seed, "source": p.data.source,
                     "data": digest})
    return (model_checkpoint(model, config, build_hdr_model), {**metrics, **(skips.metrics() if skips else {})},
            curve)


def train_ahdrnet(train: Arrays, val: Arrays, manifest: pd.DataFrame, params: dict[str, Any], pipeline: str,
                  domain: str) -> Trained:
    """The attention-guided baseline (AHDRNet-small)."""
    return _train("ahdrnet", train, val, manifest, params, pipeline, domain)


def train_fhdrnet_nohf(train: Arrays, val: Arrays, manifest: pd.DataFrame, params: dict[str, Any], pipeline: str,
                       domain: str) -> Trained:
    """Ablation: FHDRNet with every high-frequency band zeroed (no frequency-guided up-sampling)."""
    return _train("fhdrnet_nohf", train, val, manifest, params, pipeline, domain)


def train_fhdrnet(train: Arrays, val: Arrays, manifest: pd.DataFrame, params: dict[str, Any], pipeline: str,
                  domain: str) -> Trained:
    """FHDRNet: wavelet-domain U-Net, LL attention merging and frequency-guided up-sampling."""
    return _train("fhdrnet", train, val, manifest, params, pipeline, domain)


def plot_curves(ahdrnet: pd.DataFrame, nohf: pd.DataFrame, fhdrnet: pd.DataFrame) -> tuple[Any, dict[str, float]]:
    """The three validation curves in one plot, and whether each has plateaued (``<network>/plateau_gain_db``:
    validation PSNR-μ gained in the last quarter of the budget; ``all_plateaued``)."""
    from cvpapers.pipelines.fhdrnet.curves import curves_figure, plateau_metrics
    from cvpapers.pipelines.fhdrnet.evaluation import LABELS, NETWORKS

    curves = dict(zip(NETWORKS, (ahdrnet, nohf, fhdrnet), strict=True))
    return curves_figure(curves, LABELS), plateau_metrics(curves)


def evaluate_hdr(ahdrnet: dict[str, Any], nohf: dict[str, Any], fhdrnet: dict[str, Any], test: Arrays,
                 test_scenes: Arrays, manifest: pd.DataFrame, classical: dict[str, float], params: dict[str, Any],
                 pipeline: str, domain: str) -> tuple[pd.DataFrame, Any, dict[str, float]]:
    """Every network on the test scenes (``<network>/<metric>``), the results table and sample images; real
    test scenes stream from disk one full-size scene at a time, each read once for the three networks."""
    from cvpapers.data.streaming import SkipLog
    from cvpapers.engine.checkpoint import rebuild_model
    from cvpapers.pipelines.fhdrnet import evaluation as ev
    from cvpapers.pipelines.fhdrnet import figures, streams

    p, run = _start(params, pipeline)
    models = {key: rebuild_model(ckpt, f"{key} checkpoint")
              for key, ckpt in zip(ev.NETWORKS, (ahdrnet, nohf, fhdrnet), strict=True)}
    if p.data.source == "embedded":
        preds, per_network = {}, {}
        for key, model in models.items():
            preds[key], per_network[key] = ev.evaluate_network(model, test, run.device, p.train.eval_batch_size, p.train.mu)
        figure, extra = figures.samples(test_scenes, torch.from_numpy(test["y"]), preds, domain), {}
    else:
        skips = SkipLog()
        test_set = streams.scene_set(manifest, "test", p.data, streams.FullInputs(p.data.gamma, domain))
        per_network, shown = ev.evaluate_networks_streamed(
            models, streams.scenes_of(test_set, p.data, skips, "test"), run.device, p.train.mu, keep=figures.shrunk)
        figure, extra = figures.streamed_samples(shown, domain, p.data.gamma), skips.metrics()
    metrics = {f"{key}/{k}": v for key, m in per_network.items() for k, v in m.items()}
    return ev.results_table(per_network, classical), figure, {**metrics, **extra}
def check_claims(table: pd.DataFrame, metrics: dict[str, float]) -> dict[str, float]:
    """FHDRNet minus AHDRNet (PSNR-μ overall and inside the motion mask) and minus its no-HF ablation,
    the comparisons the paper does not claim, and the run's ``claim/holds``."""
    from cvpapers.pipelines.fhdrnet.claims import claims
    from cvpapers.pipelines.fhdrnet.evaluation import LABELS

    naive = float(table.set_index("method").loc[LABELS["naive_merge"], "ghost_psnr_mu"])
    return claims(metrics, naive)
