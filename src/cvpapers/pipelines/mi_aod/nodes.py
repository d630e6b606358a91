"""Kedro glue for MI-AOD: data → initial split → per cycle and arm: train a fresh detector, evaluate it,
select the next images → comparison of the arms and the claims.

Arms: ``miaod`` (MI-AOD training + uncertainty selection), ``random`` (label-set training + random
selection, the paper's baseline) and, in ``mi_aod_ablation``, ``miaod_trainonly`` (MI-AOD training +
random selection: what the training alone buys). The labelled sets travel as JSON plans, the data as the
manifest plus the ``pool``/``test`` arrays (embedded: the images in memory; real VOC: the class names only, the
images are read from disk by the room's streaming passes; ``data.split_data`` joins them). ``pipeline`` (the
registered name, bound by ``pipeline.py``) names the run's checkpoint and embedded-data folders.
Metric keys are bare: the hook files them under the node (``cycle_0.train_miaod/map``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from cvpapers.pipelines.mi_aod.config import MiaodParams

Arrays = dict[str, Any]
ARM_SELECTION = {"miaod": "uncertainty", "random": "random", "miaod_trainonly": "random"}


def _params(params: dict[str, Any]) -> MiaodParams:
    from cvpapers.pipelines.mi_aod import DECLARATION

    return DECLARATION.validate(params)


def _start(params: dict[str, Any], pipeline: str) -> tuple[MiaodParams, Any]:
    from cvpapers.engine.run import RunContext

    p = _params(params)
    return p, RunContext.start(p, pipeline)


def prepare_data(params: dict[str, Any], pipeline: str) -> tuple[pd.DataFrame, Arrays, Arrays, dict[str, float], Any]:
    """Embedded: generate ShapesDet-AL, write it in the PASCAL VOC layout under ``data.root`` and read it back
    through the VOC reader into memory. ``voc``: read the devkit's annotations into the manifest and check
    every listed image (exists, size = annotated size) before any training; the images stay on disk."""
    from cvpapers.pipelines.mi_aod.data import load_detection_sets, set_stats, split_data
    from cvpapers.pipelines.mi_aod.report import samples_plot

    p = _params(params)
    manifest, pool, test, bad = load_detection_sets(p.data, p.seed, p.data.root.format(pipeline=pipeline))
    pool_set, test_set = split_data(manifest, pool, "pool"), split_data(manifest, test, "test")
    metrics = {**set_stats(pool_set, "pool"), **set_stats(test_set, "test")}
    if p.data.source != "embedded":
        metrics["unusable_files"] = float(bad)
    return manifest, pool, test, metrics, samples_plot(pool_set)


def make_initial_split(manifest: pd.DataFrame, pool: Arrays, params: dict[str, Any], cycles: int,
                       ) -> tuple[dict[str, Any], dict[str, float]]:
    """X_L0 and X_U0 from one seeded shuffle of the pool; shared by every arm."""
    from cvpapers.pipelines.mi_aod.config import al_budget
    from cvpapers.pipelines.mi_aod.data import hard_mask, n_images, split_data
    from cvpapers.pipelines.mi_aod.selection import initial_split

    p = _params(params)
    pool = split_data(manifest, pool, "pool")
    n_pool = n_images(pool)
    n_init, n_select = al_budget(n_pool, p.al, cycles)
    labelled, unlabelled = initial_split(n_pool, n_init, p.seed)
    plan = {"cycle": 0, "labelled": labelled.tolist(), "unlabelled": unlabelled.tolist(), "selected": [],
            "select_size": n_select, "cycles": cycles}
    metrics = {"initial_size": float(n_init), "select_size": float(n_select),
               "final_size": float(n_init + (cycles - 1) * n_select), "pool_size": float(n_pool)}
    hard = hard_mask(pool)
    if hard is not None:
        metrics["initial_hard_fraction"] = float(hard[labelled].mean())
    return plan, metrics


def pretrain_backbone(manifest: pd.DataFrame, pool: Arrays, test: Arrays, params: dict[str, Any], pipeline: str,
                      ) -> tuple[dict[str, Any], dict[str, float]]:
    """The ImageNet stand-in (``pretrain.py``): generate ShapesCls with the run's own seeds (train and validation
    splits), check that none of its images is a pool or test image, train the tiny backbone as a classifier and
    save it once; every cycle's detector loads its stages fresh. ``pretrain.enabled: false``: a marker only."""
    from cvpapers.data.detection_shapes import CLASS_NAMES, EXTRA_CLASS_NAMES, generate_shapes_cls
    from cvpapers.engine.checkpoint import data_digest, model_checkpoint
    from cvpapers.pipelines.mi_aod.pretrain import (
        build_backbone_classifier,
        image_digests,
        pretrain_classifier,
    )

    p, run = _start(params, pipeline)
    c = p.pretrain
    if not c.enabled:
        return {"pretrained": False}, {"enabled": 0.0}
    classes = CLASS_NAMES + (EXTRA_CLASS_NAMES if c.extra_classes else ())
    size = p.data.image_size
    splits = {split: generate_shapes_cls(n, run.seed("pretrain_data", split), c.regime_probs, size, classes,
                                         object_scale=c.object_scale)
              for split, n in (("train", c.n_train), ("val", c.n_val))}
    stand_in = image_digests(splits["train"]["images"]) | image_digests(splits["val"]["images"])
    detection = image_digests(pool["images"]) | image_digests(test["images"]) if "images" in pool else set()
    run.seed_everything("pretrain_init")
    t0 = time.perf_counter()
    model, last = pretrain_classifier(
        splits, len(classes), c, p.model.fpn_channels, device=run.device, seed=run.seed("pretrain_batches"),
        checkpoint_path=run.checkpoint_dir / "pretrain.pt", resume=run.resume,
        fingerprint={"pretrain": c.model_dump(), "data": data_digest(splits["train"]["images"])})
    metrics = {"enabled": 1.0, "classes": float(len(classes)), "n_train": float(c.n_train), "n_val": float(c.n_val),
               "val_accuracy": last["val_accuracy"], "train_accuracy": 100 * last["train_accuracy"],
               "overlap_with_detection_sets": float(len(stand_in & detection)), "time_s": time.perf_counter() - t0}
    config = {"num_classes": len(classes), "fpn_channels": p.model.fpn_channels}
    return {"pretrained": True, **model_checkpoint(model, config, build_backbone_classifier)}, metrics


def train_and_evaluate(manifest: pd.DataFrame, pool: Arrays, test: Arrays, plan: dict[str, Any],
                       params: dict[str, Any], pipeline: str, arm: str, cycle: int,
                       pretrained: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, float], Any]:
    """Build a fresh detector (the same initialisation for every arm of a cycle; with ``pretrained``, the
    stand-in's backbone stages reloaded from the file), train it with the arm's stage schedule on X_L (MI-AOD
    training also on X_U), and report mAP@0.5 and per-class AP on the test set."""
    from cvpapers.data.streaming import SkipLog
    from cvpapers.engine.checkpoint import model_checkpoint, rebuild_model
    from cvpapers.pipelines.mi_aod.data import split_data
    from cvpapers.pipelines.mi_aod.heads import build_miaod_detector
    from cvpapers.pipelines.mi_aod.pretrain import load_pretrained_stages, stage_state
    from cvpapers.pipelines.mi_aod.report import ARM_LABELS, detections_plot
    from cvpapers.pipelines.mi_aod.training import evaluate, train_arm

    p, run = _start(params, pipeline)
    pool, test = split_data(manifest, pool, "pool"), split_data(manifest, test, "test")
    use_pretrained = bool(pretrained and pretrained.get("pretrained"))
    config = p.model.detector_config(len(pool["class_names"]), pretrained=use_pretrained)
    run.seed_everything("init", cycle)
    model = build_miaod_detector(**config, backbone_weights=p.model.backbone_weights)
    if use_pretrained:  # the same stages in every cycle and arm: a fresh copy from the file, never a carried one
        load_pretrained_stages(model, stage_state(rebuild_model(pretrained, "pretrained backbone")))
    model = model.to(run.device)
    skips, t0 = SkipLog(), time.perf_counter()
    summaries = train_arm(model, pool, plan, p, with_unlabelled=arm != "random", device=run.device,
                          seed=run.seed("batches", cycle), checkpoint_dir=run.checkpoint_dir / f"{arm}_c{cycle}",
                          resume=run.resume, fingerprint={"arm": arm, "cycle": cycle, "model": config}, skips=skips)
    train_s = time.perf_counter() - t0
    dets, result = evaluate(model, test, p, run.device, skips)
    n = len(plan["labelled"])
    metrics = _cycle_metrics(result, dets, summaries, pool, n, train_s)
    if p.data.source != "embedded":
        metrics.update(skips.metrics())
    plot = detections_plot(test, dets, f"{ARM_LABELS[arm]}, cycle {cycle} ({n} labelled): test detections")
    return model_checkpoint(model, config, build_miaod_detector), metrics, plot


def _cycle_metrics(result: dict[str, Any], dets: list[dict[str, np.ndarray]], summaries: list[dict[str, Any]],
                   pool: Arrays, n_labelled: int, train_s: float) -> dict[str, float]:
    names = [str(c) for c in pool["class_names"]]
    metrics = {"map": 100 * result["mAP"], "labelled": float(n_labelled),
               "labelled_fraction": n_labelled / len(pool["labels"]), "train_time_s": train_s,
               "detections_per_image": float(np.mean([len(d["scores"]) for d in dets]))}
    metrics.update({f"ap/{name}": 100 * float(ap) for name, ap in zip(names, result["ap"], strict=True)})
    for s in summaries:  # each stage's last values; its curves are the node's metric histories
        metrics.update({f"{s['stage']}/{k}_last": v for k, v in s.items() if k.startswith("train_") and isinstance(v, float)})
    return metrics


def select_by_uncertainty(checkpoint: dict[str, Any], manifest: pd.DataFrame, pool: Arrays, plan: dict[str, Any],
                          params: dict[str, Any], pipeline: str, arm: str, cycle: int,
                          ) -> tuple[dict[str, Any], dict[str, float], Any, Any]:
    """Score every pool image by the mean of its k largest f1/f2 anchor discrepancies (one streaming pass over
    the files for real data: only the scores are kept); move the top ``select_size`` unlabelled images to X_L;
    draw the next X_U."""
    from cvpapers.data.streaming import SkipLog
    from cvpapers.engine.checkpoint import rebuild_model
    from cvpapers.pipelines.mi_aod import report
    from cvpapers.pipelines.mi_aod.data import selection_stats, split_data
    from cvpapers.pipelines.mi_aod.selection import next_plan, select_top
    from cvpapers.pipelines.mi_aod.training import detect_images, score_pool

    p, run = _start(params, pipeline)
    pool, skips = split_data(manifest, pool, "pool"), SkipLog()
    model = rebuild_model(checkpoint, f"{arm} cycle {cycle} checkpoint").to(run.device)
    scores = score_pool(model, pool, p, run.device, skips)
    selected = select_top(scores, plan["labelled"], plan["select_size"])
    groups = report.uncertainty_groups(scores, plan["labelled"], selected)
    metrics = {**selection_stats(pool, selected), **report.uncertainty_stats(scores, groups)}
    if p.data.source != "embedded":
        metrics.update(skips.metrics())
    hist = report.uncertainty_histogram(groups, p.report.hist_bins, cycle)
    top = selected[: p.report.n_selected_images]
    picked = report.selected_plot(pool, top, detect_images(model, pool, top, p, run.device), scores, cycle)
    return next_plan(plan, selected, len(scores), run.numpy_rng("unlabelled", cycle)), metrics, hist, picked


def select_at_random(manifest: pd.DataFrame, pool: Arrays, plan: dict[str, Any], params: dict[str, Any],
                     pipeline: str, arm: str, cycle: int) -> tuple[dict[str, Any], dict[str, float]]:
    """The Random baseline's selection: ``select_size`` images drawn uniformly from outside X_L."""
    from cvpapers.pipelines.mi_aod.data import n_images, selection_stats, split_data
    from cvpapers.pipelines.mi_aod.selection import next_plan, select_random

    p, run = _start(params, pipeline)
    pool = split_data(manifest, pool, "pool")
    n = n_images(pool)
    # One stream per cycle, shared by the arms that select at random: at cycle 0 they pick the same images.
    selected = select_random(n, plan["labelled"], plan["select_size"], run.numpy_rng("random_selection", cycle))
    return next_plan(plan, selected, n, run.numpy_rng("unlabelled", cycle)), selection_stats(pool, selected)


def compare_arms(params: dict[str, Any], arms: tuple[str, ...], cycles: int, **results: dict[str, float],
                 ) -> tuple[pd.DataFrame, pd.DataFrame, Any, dict[str, float]]:
    """mAP per arm and cycle, per-class AP, the mAP-vs-labelled-fraction curves, and the claims of §8.4
    (``claims.arm_claims``: the MI-AOD − Random gaps, the hard-image selection ratios, ``claim/holds``)."""
    from cvpapers.engine.tracking import MetricLogger, parent_run_id
    from cvpapers.pipelines.mi_aod.claims import arm_claims
    from cvpapers.pipelines.mi_aod.report import arm_map, comparison_tables, map_curve_plot

    p = _params(params)
    table, per_class = comparison_tables(results, arms, cycles)
    # Curves against the cycle (compare_arms/map/<arm>), in this node's run and in the pipeline's run.
    for run_id in (None, parent_run_id()):
        logger = MetricLogger("map", run_id=run_id)
        for arm in arms:
            for c, value in enumerate(arm_map(results, arm, cycles)):
                logger.log({arm: value}, step=c)
        logger.flush()
    plot = map_curve_plot(results, arms, cycles, p.eval.iou_thr)
    return table, per_class, plot, arm_claims(results, arms, cycles)
