"""Kedro glue for Collaborative Compression: catalog inputs and ``params:collab_compression`` in,
checkpoints, plans, tables and metrics out.

The method lives in the room's plain-PyTorch modules: ``units.py`` (units, Taylor loss, factorisation),
``sensitivity.py`` (§3.3), ``gcro.py`` (§3.4), ``heuristic.py`` (§3.5), ``export.py`` (the compressed
module, producer removal, rebuild), ``method.py`` (the whole network), ``gradients.py`` (§3.2),
``training.py`` (§3.6), ``weights.py`` (pretrained key layouts), ``claims.py`` and ``figures.py``. Every
node returns a metrics dict of floats with bare keys; the project hook files them under the node's name.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from cvpapers.pipelines.collab_compression.config import VARIANTS, CollabCompressionParams


def _start(params: dict[str, Any], pipeline: str) -> tuple[CollabCompressionParams, Any]:
    """The validated parameters and the run context (device, threads, seeds, checkpoint paths)."""
    from cvpapers.engine.run import RunContext

    p = CollabCompressionParams.model_validate(params)
    return p, RunContext.start(p, pipeline)


def _data(manifest: pd.DataFrame, p: CollabCompressionParams, run: Any, stage: Any) -> Any:
    from cvpapers.data.classification_source import batch_sources

    return batch_sources(
        manifest, p.data, stage.batch_size, stage.eval_batch_size, stage.augment.model_dump(), run.seed()
    )


def _input_size(p: CollabCompressionParams) -> tuple[int, int, int, int]:
    from cvpapers.data.classification_source import input_size

    return input_size(p.data)


def _evaluate(model: Any, manifest: pd.DataFrame, p: CollabCompressionParams, run: Any) -> float:
    from cvpapers.metrics.classification import evaluate_classifier

    test = _data(manifest, p, run, p.finetune).test
    return float(evaluate_classifier(model.to(run.device), test.batches(0), run.device, (1,))["top1"])


def prepare_data(params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, float], Any]:
    """Generate the embedded shapes benchmark, or index CIFAR-10 / ImageNet under ``data.root``."""
    from cvpapers.data.classification_source import prepare_classification_data

    return prepare_classification_data(CollabCompressionParams.model_validate(params).data)


def pretrain(
    manifest: pd.DataFrame, params: dict[str, Any], pipeline: str
) -> tuple[dict[str, Any], dict[str, float], pd.DataFrame]:
    """The model to compress: trained to convergence here, or loaded from ``model.weights_path``."""
    from cvpapers.engine.checkpoint import model_checkpoint
    from cvpapers.engine.flops import count_macs_params
    from cvpapers.models.classification import build_classifier
    from cvpapers.pipelines.collab_compression import training
    from cvpapers.pipelines.collab_compression.weights import load_pretrained

    p, run = _start(params, pipeline)
    config = {"arch": p.model.arch, "num_classes": int(manifest["label"].max()) + 1}
    run.seed_everything("pretrain")
    model = build_classifier(**config).to(run.device)
    if p.model.weights_path:
        load_pretrained(model, p.model.weights_path)
        top1 = _evaluate(model, manifest, p, run)
        metrics, history = {"top1": top1, "top1_last": top1, "top1_best": top1, "time_s": 0.0}, pd.DataFrame()
    else:
        result = training.fit_stage(
            model,
            _data(manifest, p, run, p.pretrain),
            p.pretrain,
            stage="pretrain",
            device=run.device,
            checkpoint_dir=run.checkpoint_dir,
            resume=run.resume,
            fingerprint={"seed": p.seed, **config, "data": p.data.model_dump()},
        )
        metrics, history = training.stage_metrics(result, p.report_best_epoch), training.history_table(result)
        metrics["top1"] = metrics[
            "top1_last"
        ]  # the last epoch's weights are compressed: no test-set selection
    flops, n_params = count_macs_params(model, _input_size(p), mode="conv_linear_bias")
    metrics |= {"flops": float(flops), "params": float(n_params), "num_classes": float(config["num_classes"])}
    return model_checkpoint(model, config, build_classifier), metrics, history


def mean_gradients(
    pretrained: dict[str, Any], manifest: pd.DataFrame, params: dict[str, Any], pipeline: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, float]]:
    """``G`` of every compressible layer (float64) and the layers' geometry (§3.2, §3.3)."""
    from cvpapers.engine.checkpoint import rebuild_model
    from cvpapers.pipelines.collab_compression import export, gradients, method

    p, run = _start(params, pipeline)
    model = rebuild_model(pretrained, f"{pipeline}.pretrained_checkpoint").to(run.device)
    geoms, net_flops = export.layer_geometries(model, _input_size(p), p.compress.rank_dim_compat)
    batches = gradients.gradient_batches(manifest, p.data, p.compress.grad_batch_size).batches(0)
    grads = gradients.mean_gradients(model, list(geoms), batches, run.device)
    metrics = {f"norm_{name}": float(g.norm()) for name, g in grads.items()}
    return grads, method.geometry_plan(geoms, net_flops), metrics


def sensitivity(
    pretrained: dict[str, Any],
    grads: dict[str, Any],
    geometry: dict[str, Any],
    params: dict[str, Any],
    variant: str,
    pipeline: str,
) -> tuple[dict[str, Any], Any, dict[str, float]]:
    """Every layer's sensitivity curve and exponential fit with this variant's unit families (§3.3)."""
    from cvpapers.engine.checkpoint import rebuild_model
    from cvpapers.pipelines.collab_compression import figures, method

    _start(params, pipeline)
    t0 = time.perf_counter()
    model = rebuild_model(pretrained, f"{pipeline}.pretrained_checkpoint")
    curves = method.sensitivity_curves(model, grads, method.geometries(geometry), VARIANTS[variant])
    metrics = {f"{key}_{name}": float(c[key]) for name, c in curves.items() for key in ("p1", "p2")}
    metrics |= {f"fit_r2_{name}": float(c["r2"]) for name, c in curves.items()}
    metrics["time_s"] = time.perf_counter() - t0
    return curves, figures.sensitivity_plot(curves, variant), metrics


def gcro(
    curves: dict[str, Any], geometry: dict[str, Any], params: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, float]]:
    """The per-layer removed FLOPs for ``C = α·F_net`` (§3.4)."""
    from cvpapers.pipelines.collab_compression import method

    p = CollabCompressionParams.model_validate(params)
    alloc = method.allocate(curves, method.geometries(geometry), geometry["net_flops"], p.compress)
    allocated = sum(v["removed"] for v in alloc["layers"].values())
    return alloc, {
        "gcro_lambda": alloc["lambda"],
        "target_removed": alloc["target"],
        "allocated_removed": allocated,
    }


def compress(
    pretrained: dict[str, Any],
    grads: dict[str, Any],
    geometry: dict[str, Any],
    allocation: dict[str, Any],
    manifest: pd.DataFrame,
    params: dict[str, Any],
    variant: str,
    pipeline: str,
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, float]]:
    """The heuristic on every layer (§3.5) and the exported smaller network, evaluated before fine-tuning."""
    from cvpapers.engine.checkpoint import model_checkpoint, rebuild_model
    from cvpapers.pipelines.collab_compression import method
    from cvpapers.pipelines.collab_compression.export import build_compressed_classifier

    p, run = _start(params, pipeline)
    t0 = time.perf_counter()
    model = rebuild_model(pretrained, f"{pipeline}.pretrained_checkpoint")
    geoms, c = method.geometries(geometry), p.compress
    plan, rows = method.compress_layers(
        model, grads, geoms, allocation, VARIANTS[variant], c.com_gamma, c.step_frac
    )
    compressed = method.export(model, plan, slim=c.remove_unused_producers)
    seconds = time.perf_counter() - t0
    metrics = method.reduction_metrics(
        model, method.export(model, plan, slim=False), compressed, _input_size(p)
    )
    # The plan's own per-layer formula (§3.3): in [α, α + δ] by construction, whatever the accounting rule.
    metrics["flops_reduction_planned"] = sum(r["removed"] for r in rows) / geometry["net_flops"]
    metrics |= {"top1_before_ft": _evaluate(compressed, manifest, p, run), "time_s": seconds}
    config = {**pretrained["config"], "plan": plan, "slim": c.remove_unused_producers}
    return (
        model_checkpoint(compressed.cpu(), config, build_compressed_classifier),
        pd.DataFrame(rows),
        metrics,
    )


def finetune(
    compressed: dict[str, Any], manifest: pd.DataFrame, params: dict[str, Any], variant: str, pipeline: str
) -> tuple[dict[str, Any], dict[str, float], pd.DataFrame]:
    """Fine-tune the compressed network; every variant through this same call and schedule (§3.6)."""
    from cvpapers.engine.checkpoint import model_checkpoint, rebuild_model
    from cvpapers.pipelines.collab_compression import training
    from cvpapers.pipelines.collab_compression.export import build_compressed_classifier

    p, run = _start(params, pipeline)
    run.seed_everything("finetune")  # the same stream for every variant: only the compressed network differs
    model = rebuild_model(compressed, f"{pipeline}.{variant}_compressed_checkpoint").to(run.device)
    result = training.fit_stage(
        model,
        _data(manifest, p, run, p.finetune),
        p.finetune,
        stage=f"finetune_{variant}",
        device=run.device,
        checkpoint_dir=run.checkpoint_dir,
        resume=run.resume,
        fingerprint={"seed": p.seed, "config": compressed["config"]},
    )
    checkpoint = model_checkpoint(model, compressed["config"], build_compressed_classifier)
    return checkpoint, training.stage_metrics(result, p.report_best_epoch), training.history_table(result)


def report(
    params: dict[str, Any], pretrain: dict[str, float], **outputs: Any
) -> tuple[pd.DataFrame, Any, Any, Any, dict[str, float]]:
    """The result table, the accuracy-vs-MACs, rates and fine-tuning plots, and the claims as metrics."""
    from cvpapers.pipelines.collab_compression import claims, figures

    p = CollabCompressionParams.model_validate(params)
    get = {
        kind: {v: outputs[f"{v}_{kind}"] for v in VARIANTS}
        for kind in ("compress", "finetune", "sensitivity", "allocation", "layers", "history")
    }
    table = claims.results_table(
        pretrain, get["compress"], get["finetune"], get["sensitivity"], p.compress.com_ratio
    )
    metrics = claims.claim_metrics(int(pretrain["num_classes"]), pretrain, get["compress"], get["finetune"])
    return (
        table,
        figures.accuracy_vs_macs(table),
        figures.rates_plot(get["allocation"], get["layers"]),
        figures.finetune_curves(get["history"]),
        metrics,
    )
