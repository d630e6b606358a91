"""Kedro glue for DDM: catalog arrays and checkpoints in, the room's stages called, models, pseudo labels,
tables and a metrics dict out.

Image sets travel between nodes as ``.npz`` dicts (uint8 ``images`` N×H×W×3, ``labels`` N×H×W, ``ids``);
models as checkpoints that rebuild themselves. Metric keys are bare: the project hook files them under the
node's name (``round_1.train_region_teacher/val_miou``); the report's ``claim/…`` and ``compare/…`` are run-level.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from cvpapers.da.batches import supervised_draw, supervised_step
from cvpapers.da.segmenter import label_tensor, nchw, normaliser
from cvpapers.engine.checkpoint import data_digest
from cvpapers.engine.run import RunContext
from cvpapers.pipelines.ssda_dual_mix.config import SsdaParams
from cvpapers.pipelines.ssda_dual_mix.stages import Stages

Arrays = dict[str, np.ndarray]
Checkpoint = dict[str, Any]


def _params(params: dict[str, Any]) -> SsdaParams:
    return SsdaParams.model_validate(params)


def _start(params: dict[str, Any], pipeline: str) -> tuple[SsdaParams, Stages]:
    """The node prologue: validated parameters and the run's stages (device, threads, seeds, train state)."""
    p = _params(params)
    return p, Stages(p, RunContext.start(p, pipeline))


# -- data ---------------------------------------------------------------------------------------------------

def prepare_data(manifest: pd.DataFrame, params: dict[str, Any]) -> tuple[Arrays, Arrays, Arrays, dict[str, float]]:
    """Source (labelled), target pool (train) and target val sets: the embedded benchmark's or the real ones."""
    from cvpapers.da.data import benchmark_rows, load_arrays, real_rows
    from cvpapers.data.segmentation import TRAINID19_TO_16

    d = _params(params).data
    if d.source == "embedded":
        src, pool, val = (benchmark_rows(manifest, style, split) for style, split in
                          ((d.source_style, "train"), (d.target_style, "train"), (d.target_style, "val")))
        size, city_labels = None, None
    else:
        src, pool, val = real_rows(d.source, getattr(d.roots, d.source), d.roots.cityscapes,
                                   d.max_source_images, d.max_target_images)
        # SYNTHIA → Cityscapes trains in SYNTHIA's 16-class space: Cityscapes labels are mapped into it.
        size, city_labels = tuple(d.real_size), TRAINID19_TO_16 if d.source == "synthia" else None
    source = load_arrays(src, size)  # type: ignore[arg-type]
    target_pool, target_val = load_arrays(pool, size, city_labels), load_arrays(val, size, city_labels)  # type: ignore[arg-type]
    metrics = {"n_source": float(len(src)), "n_target_pool": float(len(pool)), "n_val": float(len(val))}
    return source, target_pool, target_val, metrics


def split_labelled(target_pool: Arrays, params: dict[str, Any]) -> tuple[Arrays, Arrays, dict[str, float]]:
    """The seeded choice of the ``n_labelled`` labelled target images; the rest are unlabelled.

    The unlabelled set keeps its true labels under ``hidden_labels`` only to measure pseudo-label accuracy;
    no training step reads them.
    """
    from cvpapers.pipelines.ssda_dual_mix.rounds import labelled_split

    p = _params(params)
    lab, unl = labelled_split(len(target_pool["images"]), p.n_labelled, p.seed)
    labelled = {"images": target_pool["images"][lab], "labels": target_pool["labels"][lab], "ids": lab}
    unlabelled = {"images": target_pool["images"][unl], "hidden_labels": target_pool["labels"][unl], "ids": unl}
    return labelled, unlabelled, {"n_labelled": float(len(lab)), "n_unlabelled": float(len(unl))}


def lab_translate(source: Arrays, target_pool: Arrays, params: dict[str, Any]) -> tuple[Arrays, dict[str, float], Any]:
    """§3.1: match every source image's LAB statistics to the target domain (before any training)."""
    from cvpapers.da.lab import translate_to_target
    from cvpapers.engine import plots

    p = _params(params)
    if not p.lab.enabled:
        return dict(source), {"enabled": 0.0}, plots.labelled_rows({"source": source["images"][:6]}, "LAB off")
    translated, info = translate_to_target(source["images"], target_pool["images"], p.lab.reference, p.seed, p.lab.eps)
    translated = np.asarray(translated)
    fig = plots.labelled_rows(
        {"source": source["images"][:6], "translated": translated[:6], "target": target_pool["images"][:6]},
        f"LAB translation ({p.lab.reference}): mean-LAB distance {info['lab_mean_dist_before']:.1f} → "
        f"{info['lab_mean_dist_after']:.1f}",
    )
    return {**source, "images": translated}, {"enabled": 1.0, **{k: float(v) for k, v in info.items()}}, fig


def init_target_set(labelled: Arrays) -> Arrays:
    """D_T^1 = D_T: the labelled target images only."""
    return {"images": labelled["images"], "labels": labelled["labels"], "ids": labelled["ids"],
            "is_pseudo": np.zeros(len(labelled["images"]), dtype=bool)}


# -- baselines ----------------------------------------------------------------------------------------------

def _train_supervised(st: Stages, images: np.ndarray, labels: np.ndarray, val: Arrays, stage: str,
                      role: str) -> tuple[Checkpoint, dict[str, float]]:
    """A baseline: plain supervised training on one labelled set, with the teachers' schedule."""
    t = st.p.train
    model = st.fresh_model(role)
    draw = supervised_draw(nchw(images), label_tensor(labels), t.batch_size, normaliser(st.p.model.input_norm), t.hflip)
    result = st.train(model, draw, supervised_step(t.lambda_aux), stage, 1, val, {"data": data_digest(images, labels)})
    return st.finish(model, result, val)


def train_target_only(labelled: Arrays, val: Arrays, params: dict[str, Any], pipeline: str,
                      ) -> tuple[Checkpoint, dict[str, float]]:
    """Supervised training on the few labelled target images only."""
    _, st = _start(params, pipeline)
    return _train_supervised(st, labelled["images"], labelled["labels"], val, "baseline_tgt_only", "target_only")


def train_source_only(source: Arrays, val: Arrays, params: dict[str, Any], pipeline: str,
                      ) -> tuple[Checkpoint, dict[str, float]]:
    """Supervised training on the (LAB-translated) source only: how far the domain gap alone leaves us."""
    p, st = _start(params, pipeline)
    if not p.baselines.source_only:
        return {"format": "skipped"}, {"enabled": 0.0}
    ckpt, metrics = _train_supervised(st, source["images"], source["labels"], val, "baseline_src_only", "source_only")
    return ckpt, {**metrics, "enabled": 1.0}


# -- one round: two domain-mixed teachers, multi-teacher distillation, pseudo labels --------------------------

def train_region_teacher(source: Arrays, target_set: Arrays, val: Arrays, params: dict[str, Any], pipeline: str,
                         round_: int, previous: Checkpoint | None = None) -> tuple[Checkpoint, dict[str, float], Any]:
    """Eq. 2: M_RL trained on region-mixed images only (a source box pasted into a labelled target image)."""
    from cvpapers.engine import plots
    from cvpapers.pipelines.ssda_dual_mix.training import region_mixed_draw

    p, st = _start(params, pipeline)
    rl = p.teacher.rl
    model = st.fresh_model("region_teacher", previous)
    sets = (nchw(source["images"]), label_tensor(source["labels"]),
            nchw(target_set["images"]), label_tensor(target_set["labels"]))
    draw = region_mixed_draw(*sets, p.train.batch_size, rl.box_area, rl.box_area_mode, rl.box_aspect_range,
                             normaliser(p.model.input_norm), p.train.hflip)
    result = st.train(model, draw, supervised_step(p.train.lambda_aux), f"rl_r{round_}", round_, val,
                      {"teacher": rl.model_dump(), "data": data_digest(source["images"], source["labels"],
                                                                        target_set["images"], target_set["labels"])})
    ckpt, metrics = st.finish(model, result, val)
    # What the teacher saw: one mixed batch, drawn from raw uint8 images, and its mixed labels.
    shown = region_mixed_draw(*sets, 4, rl.box_area, rl.box_area_mode, rl.box_aspect_range, lambda x: x, p.train.hflip)
    x, y = shown(st.run.generator())
    fig = plots.segmentation_panels({"x_rl (target + source box)": x.permute(0, 2, 3, 1).numpy(),
                                     "y_rl": st.colorize(y.numpy())}, title=f"region-level mixing, round {round_}")
    return ckpt, metrics, fig


def train_sample_teacher(source: Arrays, target_set: Arrays, val: Arrays, params: dict[str, Any], pipeline: str,
                         round_: int, previous: Checkpoint | None = None) -> tuple[Checkpoint, dict[str, float]]:
    """Eq. 3: M_SL trained on batches holding source and labelled target samples 1:1."""
    from cvpapers.pipelines.ssda_dual_mix.training import sample_level_draw, sample_level_step

    p, st = _start(params, pipeline)
    model = st.fresh_model("sample_teacher", previous)
    draw = sample_level_draw(nchw(source["images"]), label_tensor(source["labels"]), nchw(target_set["images"]),
                             label_tensor(target_set["labels"]), p.train.batch_size, p.teacher.sl.source_fraction,
                             normaliser(p.model.input_norm), p.train.hflip)
    result = st.train(model, draw, sample_level_step(p.train.lambda_aux), f"sl_r{round_}", round_, val,
                      {"teacher": p.teacher.sl.model_dump(), "data": data_digest(
                          source["images"], source["labels"], target_set["images"], target_set["labels"])})
    return st.finish(model, result, val)


def eval_ensemble(rl: Checkpoint, sl: Checkpoint, val: Arrays, params: dict[str, Any], pipeline: str) -> dict[str, float]:
    """mIoU of the teachers' ensemble, the target the student distils (paper Table 3)."""
    from cvpapers.da.distill import TeacherEnsemble

    p, st = _start(params, pipeline)
    # Table 3's ensemble is the plain average of the teachers' predictions (T = 1), whatever KD's temperature.
    ensemble = TeacherEnsemble([st.load(rl).eval(), st.load(sl).eval()], 1.0, p.student.ensemble_mode)
    return st.scores(ensemble.eval(), val)


def distill_student(rl: Checkpoint, sl: Checkpoint, unlabelled: Arrays, target_set: Arrays, val: Arrays,
                    params: dict[str, Any], pipeline: str, round_: int, previous: Checkpoint | None = None,
                    ) -> tuple[Checkpoint, dict[str, float], Any]:
    """Eq. 4: the student learns the teachers' ensemble on unlabelled target images, CE on labelled ones."""
    from cvpapers.pipelines.ssda_dual_mix.training import freeze, student_draw, student_step

    p, st = _start(params, pipeline)
    s = p.student
    teachers = [freeze(st.load(rl)), freeze(st.load(sl))]
    model = st.student_model(rl, sl, previous)
    draw = student_draw(nchw(unlabelled["images"]), nchw(target_set["images"]), label_tensor(target_set["labels"]),
                        s.unlabelled_batch, s.labelled_batch, normaliser(p.model.input_norm))
    step = student_step(teachers, s.lambda_kl, s.lambda_ce, s.kd_temperature, s.kd_t2_scaling, s.ensemble_mode,
                        p.train.lambda_aux)
    weights = [t.numpy() for t in (*rl["state_dict"].values(), *sl["state_dict"].values())]
    result = st.train(model, draw, step, f"s_r{round_}", round_, val,
                      {"student": s.model_dump(), "teachers": data_digest(*weights),
                       "data": data_digest(unlabelled["images"], target_set["images"], target_set["labels"])})
    ckpt, metrics = st.finish(model, result, val)
    return ckpt, metrics, st.overlays(model, val, f"student, round {round_}")


def pseudo_label(student: Checkpoint, unlabelled: Arrays, params: dict[str, Any], pipeline: str, round_: int,
                 ) -> tuple[Arrays, dict[str, float], pd.DataFrame, Any]:
    """BDL class-balanced pseudo labels of every unlabelled image, thresholds over the whole set (§3.5)."""
    from cvpapers.da.pseudo_labels import bdl_pseudo_labels, bdl_thresholds, pseudo_label_stats
    from cvpapers.engine import plots

    p, st = _start(params, pipeline)
    conf, pred = st.predict(st.load(student), unlabelled["images"])
    c = st.num_classes
    tau = bdl_thresholds(conf, pred, c, p.pseudo.portion, p.pseudo.max_threshold, p.pseudo.method)
    pseudo = bdl_pseudo_labels(conf, pred, tau)
    truth = torch.from_numpy(unlabelled["hidden_labels"]) if "hidden_labels" in unlabelled else None
    metrics = {k: float(v) for k, v in pseudo_label_stats(pseudo, truth, pred, c).items()}
    thresholds = pd.DataFrame({"class": st.classes, "threshold": tau.numpy().round(4),
                               "predicted_pixels": torch.bincount(pred.flatten().long(), minlength=c)[:c].numpy()})
    panels = {"image": unlabelled["images"][:4], "pseudo label": st.colorize(pseudo[:4].numpy())}
    if truth is not None:
        panels["hidden truth"] = st.colorize(unlabelled["hidden_labels"][:4])
    fig = plots.segmentation_panels(panels, 4, f"BDL pseudo labels, round {round_} (black: ignored)")
    return {"labels": pseudo.numpy(), "ids": unlabelled["ids"]}, metrics, thresholds, fig


def update_target_set(labelled: Arrays, unlabelled: Arrays, pseudo: Arrays) -> tuple[Arrays, dict[str, float]]:
    """D_T^{r+1} = D_T ∪ pseudo-labelled D_U (true labels win; last round's pseudo labels are replaced)."""
    from cvpapers.pipelines.ssda_dual_mix.rounds import next_target_arrays

    out = next_target_arrays(labelled, unlabelled, pseudo)
    return out, {"n_images": float(len(out["ids"])), "n_pseudo": float(out["is_pseudo"].sum())}


# -- report -------------------------------------------------------------------------------------------------

def report(params: dict[str, Any], rounds: int, **scores: dict[str, float],
           ) -> tuple[pd.DataFrame, pd.DataFrame, Any, dict[str, float]]:
    """The results table (per-class IoU of every model), the Table-4-style rounds grid and the claims.

    ``scores``: every model's metrics by name (``target_only``, ``source_only``, ``rl_r1``, … ``s_r<rounds>``).
    """
    from cvpapers.da.protocol import class_names, reported_classes
    from cvpapers.engine import plots
    from cvpapers.pipelines.ssda_dual_mix.claims import claims
    from cvpapers.pipelines.ssda_dual_mix.tables import miou_by_round, results_table, rounds_grid

    names = class_names(_params(params).data.source)
    final = scores[f"s_r{rounds}"]["val_miou"]
    metrics = {"student_miou": final, **claims(scores, rounds, len(reported_classes(names)))}
    fig = plots.curves(miou_by_round(scores, rounds), "city val mIoU (%)", xlabel="round",
                       title=f"DDM by round (target-only {scores['target_only']['val_miou']:.1f})")
    return results_table(scores, rounds, names), rounds_grid(scores, rounds), fig, metrics
