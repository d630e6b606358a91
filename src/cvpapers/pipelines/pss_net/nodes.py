"""Kedro glue for PSS-Net: catalog inputs and ``params:pss_net`` in, checkpoints, tables and metrics out.

The method lives in the room's plain-PyTorch modules: ``space.py`` (structure space, FLOPs, map, conditional
sampler), ``slimmable.py`` (supernets), ``pools.py`` (pools, priority sampling, schedules), ``training.py``
(the sandwich iteration, the samplers of both arms), ``calibrate.py`` (BN re-calibration), ``evaluation.py``
(retained / random / uniform subnets), ``claims.py`` and ``figures.py``. Every node returns a metrics dict of
floats with bare keys; the project hook files them under the node's name (``train_pss/train_time_s``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cvpapers.pipelines.pss_net.config import PssNetParams


def _start(params: dict[str, Any], pipeline: str) -> tuple[PssNetParams, Any]:
    """The validated parameters and the run context (device, threads, seeds, checkpoint paths)."""
    from cvpapers.engine.run import RunContext

    p = PssNetParams.model_validate(params)
    return p, RunContext.start(p, pipeline)


def _data(manifest: pd.DataFrame, p: PssNetParams, run: Any) -> Any:
    """Train and test batch sources (§8 normalisation override; PSS's ImageNet transforms, §5)."""
    from cvpapers.data.classification_source import batch_sources

    return batch_sources(manifest, p.data, p.train.batch_size, p.eval.batch_size, p.train.augment.model_dump(),
                         run.seed())


def _supernet(plan: dict[str, Any], run: Any) -> Any:
    """The supernet of the plan, built after the same seed in both arms (paired initial weights, §11.20)."""
    from cvpapers.pipelines.pss_net.slimmable import build_supernet

    run.seed_everything("model")
    return build_supernet(**plan["model_config"]).to(run.device)


def _evaluator(model: Any, data: Any, p: PssNetParams, run: Any) -> Any:
    from cvpapers.pipelines.pss_net.evaluation import Evaluator, calibration_source

    calib = calibration_source(data, p.data.calib_size, p.eval.calib_batch_size)
    return Evaluator(model, calib, p.eval.calib_batches, data.test, run.device)


# 1–2. data and the structure space


def prepare_data(params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, float], Any]:
    """Generate the embedded Gratings-10 benchmark, or index ImageNet's class folders under ``data.root``."""
    from cvpapers.data.classification_source import prepare_classification_data

    return prepare_classification_data(PssNetParams.model_validate(params).data)


def build_subnet_space(
    manifest: pd.DataFrame, params: dict[str, Any], pipeline: str
) -> tuple[dict[str, np.ndarray], dict[str, Any], dict[str, float], Any]:
    """The targets, the subnet map (§3.4) and the check that the analytic FLOPs equal the counter's."""
    from cvpapers.pipelines.pss_net import figures
    from cvpapers.pipelines.pss_net.accounting import space_plan

    p, run = _start(params, pipeline)
    plan, subnet_map, metrics = space_plan(p, int(manifest["label"].max()) + 1, run.numpy_rng("map"))
    return subnet_map.arrays(), plan, metrics, figures.map_flops(subnet_map.mflops, subnet_map.target)


# 3–4. the two arms


def _train(
    arm: str, manifest: pd.DataFrame, plan: dict[str, Any], p: PssNetParams, run: Any, sampler: Any
) -> tuple[Any, Any]:
    from cvpapers.pipelines.pss_net.space import max_cfg
    from cvpapers.pipelines.pss_net.training import max_net_evaluator, train_supernet

    data, model = _data(manifest, p, run), _supernet(plan, run)
    ev = _evaluator(model, data, p, run)
    t = p.train
    evaluate = max_net_evaluator(p.eval.max_net_every, t.epochs, lambda: ev.top1(*max_cfg(_space(plan))), sampler)
    fingerprint = {
        "seed": p.seed,
        "arm": arm,
        "plan": plan,
        **p.model_dump(include={"data", "space", "pss", "train"}),
    }
    result = train_supernet(
        model,
        data.train,
        sampler,
        stage=arm,
        epochs=t.epochs,
        optimizer=t.optimizer,
        lr=t.lr,
        momentum=t.momentum,
        nesterov=t.nesterov,
        weight_decay=t.weight_decay,
        device=run.device,
        checkpoint_path=run.checkpoint_path(arm),
        resume=run.resume,
        fingerprint=fingerprint,
        evaluate=evaluate,
        log_prefix=f"{arm}/",
    )
    return model, result


def _space(plan: dict[str, Any]) -> Any:
    from cvpapers.pipelines.pss_net.accounting import space_of

    return space_of(plan)


def _train_outputs(
    model: Any, plan: dict[str, Any], result: Any
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, float]]:
    from cvpapers.engine.checkpoint import model_checkpoint
    from cvpapers.pipelines.pss_net.slimmable import build_supernet

    last = result.last
    metrics = {
        "train_time_s": float(sum(h.get("epoch_time_s", 0.0) for h in result.history)),
        **{k: float(v) for k, v in last.items() if k.startswith(("train_", "val_"))},
    }
    history = pd.DataFrame([{"epoch": e, **h} for e, h in enumerate(result.history)])
    return model_checkpoint(model, plan["model_config"], build_supernet), history, metrics


def train_pss(
    manifest: pd.DataFrame,
    subnet_map: dict[str, np.ndarray],
    plan: dict[str, Any],
    params: dict[str, Any],
    pipeline: str,
) -> tuple[dict[str, Any], dict[str, Any], pd.DataFrame, dict[str, float]]:
    """The PSS supernet: sandwich rule with the prioritized middle subnet (§3.7); the pools at the end."""
    from cvpapers.pipelines.pss_net.accounting import pss_sampler

    p, run = _start(params, pipeline)
    sampler = pss_sampler(plan, subnet_map, p, run.seed())
    model, result = _train("pss", manifest, plan, p, run, sampler)
    checkpoint, log, metrics = _train_outputs(model, plan, result)
    metrics.update({k: float(v) for k, v in sampler.epoch_metrics(p.train.epochs - 1).items()})
    pools = {t: [{"cfg": k, "score": s} for k, s in sampler.pools.ranked(t)] for t in sampler.pools.pools}
    return checkpoint, pools, log, metrics


def train_usnet(
    manifest: pd.DataFrame, plan: dict[str, Any], params: dict[str, Any], pipeline: str
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, float]]:
    """The US-Net baseline: the same sandwich, one uniform width at the largest resolution as the middle."""
    from cvpapers.pipelines.pss_net.training import USNetSampler

    p, run = _start(params, pipeline)
    model, result = _train("usnet", manifest, plan, p, run, USNetSampler(_space(plan), run.seed()))
    return _train_outputs(model, plan, result)


# 5–6. evaluation after BN re-calibration


def evaluate_pss(
    pss_checkpoint: dict[str, Any],
    pools: dict[str, Any],
    subnet_map: dict[str, np.ndarray],
    plan: dict[str, Any],
    manifest: pd.DataFrame,
    params: dict[str, Any],
    pipeline: str,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """The retained (top-scored) subnet of every pool, the next ``valid_topk − 1``, random map subnets."""
    from cvpapers.engine.checkpoint import rebuild_model
    from cvpapers.pipelines.pss_net.claims import arm_eval_metrics
    from cvpapers.pipelines.pss_net.evaluation import evaluate_pss as evaluate
    from cvpapers.pipelines.pss_net.pools import SubnetPools
    from cvpapers.pipelines.pss_net.space import SubnetMap

    p, run = _start(params, pipeline)
    ev = _evaluator(rebuild_model(pss_checkpoint).to(run.device), _data(manifest, p, run), p, run)
    restored = SubnetPools(list(pools), p.pss.pool_size)
    restored.load_state_dict(
        {"pools": {t: {e["cfg"]: e["score"] for e in v} for t, v in pools.items()}, "evictions": 0}
    )
    table = evaluate(
        ev,
        restored,
        SubnetMap.from_arrays(subnet_map),
        plan["targets"],
        p.pss.valid_topk,
        p.pss.n_random_eval,
        run.numpy_rng("random_eval"),
    )
    return table, arm_eval_metrics(table, "retained")


def evaluate_usnet(
    usnet_checkpoint: dict[str, Any],
    plan: dict[str, Any],
    manifest: pd.DataFrame,
    params: dict[str, Any],
    pipeline: str,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """US-Net's uniform width closest to every target (largest resolution), max and min net."""
    from cvpapers.engine.checkpoint import rebuild_model
    from cvpapers.pipelines.pss_net.claims import arm_eval_metrics
    from cvpapers.pipelines.pss_net.evaluation import evaluate_usnet as evaluate

    p, run = _start(params, pipeline)
    ev = _evaluator(rebuild_model(usnet_checkpoint).to(run.device), _data(manifest, p, run), p, run)
    table = evaluate(ev, plan["targets"], plan["flops_step"], plan["offset"], p.eval.usnet_width_grid)
    return table, arm_eval_metrics(table, "uniform")


# 7. report


def report(
    pss_table: pd.DataFrame,
    usnet_table: pd.DataFrame,
    pss_train: dict[str, float],
    usnet_train: dict[str, float],
    pss_log: pd.DataFrame,
    usnet_log: pd.DataFrame,
    params: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, Any, Any, Any, dict[str, float]]:
    """Result tables, the retained subnets' widths, accuracy-vs-MFLOPs, curves, pools, and the claims."""
    from cvpapers.pipelines.pss_net import claims, figures

    p = PssNetParams.model_validate(params)
    retained = (
        pss_table[pss_table["kind"] == "retained"]
        .drop(columns=["arm", "kind", "rank"])
        .reset_index(drop=True)
    )
    return (
        claims.results_table(pss_table, usnet_table, pss_train, usnet_train),
        claims.per_target_table(pss_table, usnet_table),
        retained,
        figures.accuracy_vs_mflops(pss_table, usnet_table),
        figures.training_curves(pss_log, usnet_log),
        figures.pools_evolution(pss_log),
        claims.claim_metrics(pss_table, usnet_table, p.report.max_net_gate),
    )
