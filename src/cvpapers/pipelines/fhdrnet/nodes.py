"""Kedro glue for FHDRNet: scenes → network inputs → classical merges, AHDRNet, FHDRNet w/o HF, FHDRNet →
evaluation on the test scenes → claims. ``domain`` (rgb | raw) and ``pipeline`` (the registered name, for
the train-state folder) are bound by the pipeline. The method lives in the room: ``networks``, ``training``,
``inference``, ``evaluation``, ``claims``, ``scenes``, ``figures``.

Scene and input sets travel as ``.npz`` dicts; networks as checkpoints that name their builder.
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


def prepare_data(params: dict[str, Any], domain: str) -> tuple[Arrays, Arrays, Arrays, dict[str, float], Any]:
    """Embedded scenes (train / val / test with separate seeds), or the Kalantari / RAW dataset on disk."""
    from cvpapers.pipelines.fhdrnet import figures, scenes

    p = _params(params)
    train, val, test = scenes.load_scenes(p.data, p.seed, domain)
    return train, val, test, scenes.scene_summary(train, val, test, p.data, domain), figures.scenes_montage(test, domain)


def build_inputs(train: Arrays, val: Arrays, test: Arrays, params: dict[str, Any], domain: str,
                 ) -> tuple[Arrays, Arrays, Arrays, dict[str, float]]:
    """Network inputs per frame (§3.3): LDR-domain and HDR-domain images, concatenated."""
    from cvpapers.data.hdr_scenes import build_inputs as inputs

    p = _params(params)
    sets = [inputs(s, p.data.gamma, domain) for s in (train, val, test)]
    x = sets[0]["x"]
    hdr_part = x[:, :, x.shape[2] // 2:]
    return (*sets, {"hdr_domain_min": float(hdr_part.min()), "hdr_domain_max": float(hdr_part.max()),
                    "channels": float(x.shape[2])})


def eval_classical(test: Arrays, params: dict[str, Any], domain: str) -> dict[str, float]:
    """The two references without learning: reference frame (short where it saturates), naive merge."""
    from cvpapers.pipelines.fhdrnet.evaluation import evaluate_classical

    p = _params(params)
    return evaluate_classical(test, domain, p.data.gamma, p.train.mu)


def _train(name: str, train: Arrays, val: Arrays, params: dict[str, Any], pipeline: str, domain: str,
           ) -> tuple[dict[str, Any], dict[str, float]]:
    """The same loss, optimiser, budget, batches and seed for every network: only the architecture differs."""
    from cvpapers.engine.checkpoint import data_digest, model_checkpoint
    from cvpapers.pipelines.fhdrnet.networks import build_hdr_model, network_config
    from cvpapers.pipelines.fhdrnet.training import fit_network

    p, run = _start(params, pipeline)
    config = network_config(name, domain, p.model.model_dump(), p.ahdrnet.model_dump())
    run.seed_everything("init", name)
    model = build_hdr_model(**config)
    stage = f"{domain}_{name}"
    model, metrics = fit_network(
        model, train, val, p.train, stage=stage, device=run.device, seed=run.seed("batches"),
        checkpoint_path=run.checkpoint_path(stage), resume=run.resume,
        fingerprint={"model": config, "train": p.train.model_dump(), "seed": p.seed, "source": p.data.source,
                     "data": data_digest(train["x"], train["y"], val["x"], val["y"])})
    return model_checkpoint(model, config, build_hdr_model), metrics


def train_ahdrnet(train: Arrays, val: Arrays, params: dict[str, Any], pipeline: str, domain: str,
                  ) -> tuple[dict[str, Any], dict[str, float]]:
    """The attention-guided baseline (AHDRNet-small)."""
    return _train("ahdrnet", train, val, params, pipeline, domain)


def train_fhdrnet_nohf(train: Arrays, val: Arrays, params: dict[str, Any], pipeline: str, domain: str,
                       ) -> tuple[dict[str, Any], dict[str, float]]:
    """Ablation: FHDRNet with every high-frequency band zeroed (no frequency-guided up-sampling)."""
    return _train("fhdrnet_nohf", train, val, params, pipeline, domain)


def train_fhdrnet(train: Arrays, val: Arrays, params: dict[str, Any], pipeline: str, domain: str,
                  ) -> tuple[dict[str, Any], dict[str, float]]:
    """FHDRNet: wavelet-domain U-Net, LL attention merging and frequency-guided up-sampling."""
    return _train("fhdrnet", train, val, params, pipeline, domain)


def evaluate_hdr(ahdrnet: dict[str, Any], nohf: dict[str, Any], fhdrnet: dict[str, Any], test: Arrays,
                 test_scenes: Arrays, classical: dict[str, float], params: dict[str, Any], pipeline: str,
                 domain: str) -> tuple[pd.DataFrame, Any, dict[str, float]]:
    """Every network on the test scenes (``<network>/<metric>``), the results table and sample images."""
    from cvpapers.engine.checkpoint import rebuild_model
    from cvpapers.pipelines.fhdrnet.evaluation import NETWORKS, evaluate_network, results_table
    from cvpapers.pipelines.fhdrnet.figures import samples

    p, run = _start(params, pipeline)
    preds, per_network = {}, {}
    for key, ckpt in zip(NETWORKS, (ahdrnet, nohf, fhdrnet), strict=True):
        model = rebuild_model(ckpt, f"{key} checkpoint")
        preds[key], per_network[key] = evaluate_network(model, test, run.device, p.train.eval_batch_size, p.train.mu)
    metrics = {f"{key}/{k}": v for key, m in per_network.items() for k, v in m.items()}
    return (results_table(per_network, classical), samples(test_scenes, torch.from_numpy(test["y"]), preds, domain),
            metrics)


def check_claims(table: pd.DataFrame, metrics: dict[str, float]) -> dict[str, float]:
    """FHDRNet minus AHDRNet (PSNR-μ overall and inside the motion mask) and minus its no-HF ablation,
    the comparisons the paper does not claim, and the run's ``claim/holds``."""
    from cvpapers.pipelines.fhdrnet.claims import claims
    from cvpapers.pipelines.fhdrnet.evaluation import LABELS

    naive = float(table.set_index("method").loc[LABELS["naive_merge"], "ghost_psnr_mu"])
    return claims(metrics, naive)
