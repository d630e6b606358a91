"""Kedro glue for DDM: image sets and checkpoints in, the room's stages called, models, pseudo labels, tables
and a metrics dict out.

Image sets are the embedded benchmark's ``.npz`` dicts (uint8 ``images`` N×H×W×3, ``labels`` N×H×W, ``ids``)
or, on real data (``ssda_dual_mix_paper*``), manifests (CSV: file paths and label encodings) read lazily;
:mod:`.sets` does each operation both ways. Models travel as checkpoints that rebuild themselves. Metric keys
are bare: the project hook files them under the node's name (``round_1.train_region_teacher/val_miou``); the
report's ``claim/…`` and ``compare/…`` are run-level.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cvpapers.engine.run import RunContext
from cvpapers.pipelines.ssda_dual_mix.config import SsdaParams
from cvpapers.pipelines.ssda_dual_mix.sets import sets_of
from cvpapers.pipelines.ssda_dual_mix.stages import Stages

Arrays = dict[str, np.ndarray]
ImageSet = Arrays | pd.DataFrame
Checkpoint = dict[str, Any]


def _params(params: dict[str, Any]) -> SsdaParams:
    return SsdaParams.model_validate(params)


def _start(params: dict[str, Any], pipeline: str) -> tuple[SsdaParams, Stages]:
    """The node prologue: validated parameters and the run's stages (device, threads, seeds, train state)."""
    p = _params(params)
    return p, Stages(p, RunContext.start(p, pipeline))


# -- data ---------------------------------------------------------------------------------------------------

def prepare_data(params: dict[str, Any], manifest: pd.DataFrame | None = None, streaming: bool = False,
                 ) -> tuple[ImageSet, ImageSet, ImageSet, dict[str, float]]:
    """Source (labelled), target pool (train) and target val sets: the embedded benchmark's arrays, or a real
    setting's manifests with every listed file checked first (``streaming``: the paper pipelines' DAG)."""
    from cvpapers.da.data import benchmark_rows, load_arrays

    d = _params(params).data
    if d.real != streaming:
        raise ValueError(_wrong_pipeline(d.source, streaming))
    if streaming:
        from cvpapers.pipelines.ssda_dual_mix.sets import real_sets

        return real_sets(_params(params))
    src, pool, val = (benchmark_rows(manifest, style, split) for style, split in  # type: ignore[arg-type]
                      ((d.source_style, "train"), (d.target_style, "train"), (d.target_style, "val")))
    source, target_pool, target_val = load_arrays(src), load_arrays(pool), load_arrays(val)
    metrics = {"n_source": float(len(src)), "n_target_pool": float(len(pool)), "n_val": float(len(val))}
    return source, target_pool, target_val, metrics


def _wrong_pipeline(source: str, streaming: bool) -> str:
    if streaming:
        return ("ssda_dual_mix_paper and ssda_dual_mix_paper_synthia stream the real datasets (data.source gta5 | "
                f"synthia, --env paper), got data.source: {source}; the embedded benchmark runs as ssda_dual_mix")
    return (f"data.source: {source} is real data, which streams from disk through the paper pipelines: "
            "kedro run --pipelines ssda_dual_mix_paper --env paper (or ssda_dual_mix_paper_synthia with "
            "--params ssda_dual_mix.data.source=synthia)")


def split_labelled(target_pool: ImageSet, params: dict[str, Any]) -> tuple[ImageSet, ImageSet, dict[str, float]]:
    """The seeded choice of the ``n_labelled`` labelled target images; the rest are unlabelled.

    The unlabelled set keeps its true labels (``hidden_labels`` / ``hidden_label_path``) only to measure
    pseudo-label accuracy; no training step reads them.
    """
    from cvpapers.pipelines.ssda_dual_mix.rounds import labelled_split

    p, sets = _params(params), sets_of(target_pool)
    lab, unl = labelled_split(sets.size(target_pool), p.n_labelled, p.seed)
    labelled, unlabelled = sets.split(target_pool, lab, unl)  # type: ignore[arg-type]
    return labelled, unlabelled, {"n_labelled": float(len(lab)), "n_unlabelled": float(len(unl))}


def lab_translate(source: ImageSet, target_pool: ImageSet, params: dict[str, Any], pipeline: str,
                  ) -> tuple[ImageSet, dict[str, float], Any]:
    """§3.1: match every source image's LAB statistics to the target domain (before any training)."""
    _, st = _start(params, pipeline)
    return sets_of(source).lab_translate(st, source, target_pool)  # type: ignore[arg-type]


def init_target_set(labelled: ImageSet) -> ImageSet:
    """D_T^1 = D_T: the labelled target images only."""
    return sets_of(labelled).initial(labelled)  # type: ignore[arg-type]


# -- baselines ----------------------------------------------------------------------------------------------

def _train_supervised(st: Stages, data: ImageSet, val: ImageSet, stage: str, role: str,
                      ) -> tuple[Checkpoint, dict[str, float]]:
    """A baseline: plain supervised training on one labelled set, with the teachers' schedule."""
    from cvpapers.da.batches import supervised_step

    model = st.fresh_model(role)
    draw, digest = sets_of(data).supervised(st, data, stage, 1)  # type: ignore[arg-type]
    result = st.train(model, draw, supervised_step(st.p.train.lambda_aux), stage, 1, val, {"data": digest})
    return st.finish(model, result, val)


def train_target_only(labelled: ImageSet, val: ImageSet, params: dict[str, Any], pipeline: str,
                      ) -> tuple[Checkpoint, dict[str, float]]:
    """Supervised training on the few labelled target images only."""
    _, st = _start(params, pipeline)
    return _train_supervised(st, labelled, val, "baseline_tgt_only", "target_only")


def train_source_only(source: ImageSet, val: ImageSet, params: dict[str, Any], pipeline: str,
                      ) -> tuple[Checkpoint, dict[str, float]]:
    """Supervised training on the (LAB-translated) source only: how far the domain gap alone leaves us."""
    p, st = _start(params, pipeline)
    if not p.baselines.source_only:
        return {"format": "skipped"}, {"enabled": 0.0}
    ckpt, metrics = _train_supervised(st, source, val, "baseline_src_only", "source_only")
    return ckpt, {**metrics, "enabled": 1.0}


# -- one round: two domain-mixed teachers, multi-teacher distillation, pseudo labels --------------------------

def train_region_teacher(source: ImageSet, target_set: ImageSet, val: ImageSet, params: dict[str, Any], pipeline: str,
                         round_: int, previous: Checkpoint | None = None) -> tuple[Checkpoint, dict[str, float], Any]:
    """Eq. 2: M_RL trained on region-mixed images only (a source box pasted into a labelled target image)."""
    from cvpapers.da.batches import supervised_step
    from cvpapers.engine import plots

    p, st = _start(params, pipeline)
    sets, stage = sets_of(source), f"rl_r{round_}"
    model = st.fresh_model("region_teacher", previous)
    draw, digest = sets.region(st, source, target_set, stage, round_)  # type: ignore[arg-type]
    result = st.train(model, draw, supervised_step(p.train.lambda_aux), stage, round_, val,
                      {"teacher": p.teacher.rl.model_dump(), "data": digest})
    ckpt, metrics = st.finish(model, result, val)
    x, y = sets.mixed_examples(st, source, target_set)  # type: ignore[arg-type]
    fig = plots.segmentation_panels({"x_rl (target + source box)": x, "y_rl": st.colorize(y)},
                                    title=f"region-level mixing, round {round_}")
    return ckpt, metrics, fig


def train_sample_teacher(source: ImageSet, target_set: ImageSet, val: ImageSet, params: dict[str, Any], pipeline: str,
                         round_: int, previous: Checkpoint | None = None) -> tuple[Checkpoint, dict[str, float]]:
    """Eq. 3: M_SL trained on batches holding source and labelled target samples 1:1."""
    from cvpapers.pipelines.ssda_dual_mix.training import sample_level_step

    p, st = _start(params, pipeline)
    stage = f"sl_r{round_}"
    model = st.fresh_model("sample_teacher", previous)
    draw, digest = sets_of(source).sample_level(st, source, target_set, stage, round_)  # type: ignore[arg-type]
    result = st.train(model, draw, sample_level_step(p.train.lambda_aux), stage, round_, val,
                      {"teacher": p.teacher.sl.model_dump(), "data": digest})
    return st.finish(model, result, val)


def eval_ensemble(rl: Checkpoint, sl: Checkpoint, val: ImageSet, params: dict[str, Any], pipeline: str) -> dict[str, float]:
    """mIoU of the teachers' ensemble, the target the student distils (paper Table 3)."""
    from cvpapers.da.distill import TeacherEnsemble

    p, st = _start(params, pipeline)
    # Table 3's ensemble is the plain average of the teachers' predictions (T = 1), whatever KD's temperature.
    ensemble = TeacherEnsemble([st.load(rl).eval(), st.load(sl).eval()], 1.0, p.student.ensemble_mode)
    return {**st.scores(ensemble.eval(), val), **st.skip_metrics()}


def distill_student(rl: Checkpoint, sl: Checkpoint, unlabelled: ImageSet, target_set: ImageSet, val: ImageSet,
                    params: dict[str, Any], pipeline: str, round_: int, previous: Checkpoint | None = None,
                    ) -> tuple[Checkpoint, dict[str, float], Any]:
    """Eq. 4: the student learns the teachers' ensemble on unlabelled target images, CE on labelled ones."""
    from cvpapers.engine.checkpoint import data_digest
    from cvpapers.pipelines.ssda_dual_mix.training import freeze, student_step

    p, st = _start(params, pipeline)
    s, stage = p.student, f"s_r{round_}"
    teachers = [freeze(st.load(rl)), freeze(st.load(sl))]
    model = st.student_model(rl, sl, previous)
    draw, digest = sets_of(unlabelled).student(st, unlabelled, target_set, stage, round_)  # type: ignore[arg-type]
    step = student_step(teachers, s.lambda_kl, s.lambda_ce, s.kd_temperature, s.kd_t2_scaling, s.ensemble_mode,
                        p.train.lambda_aux)
    weights = [t.numpy() for t in (*rl["state_dict"].values(), *sl["state_dict"].values())]
    result = st.train(model, draw, step, stage, round_, val,
                      {"student": s.model_dump(), "teachers": data_digest(*weights), "data": digest})
    ckpt, metrics = st.finish(model, result, val)
    return ckpt, metrics, st.overlays(model, val, f"student, round {round_}")


def pseudo_label(student: Checkpoint, unlabelled: ImageSet, params: dict[str, Any], pipeline: str, round_: int,
                 ) -> tuple[ImageSet, dict[str, float], pd.DataFrame, Any]:
    """BDL class-balanced pseudo labels of every unlabelled image, thresholds over the whole set (§3.5); on real
    data in two streaming passes (histogram thresholds), the labels written as PNGs listed in a manifest."""
    from cvpapers.engine import plots

    _, st = _start(params, pipeline)
    pseudo, metrics, thresholds, panels = sets_of(unlabelled).pseudo_label(st, st.load(student), unlabelled,  # type: ignore[arg-type]
                                                                             round_)
    fig = plots.segmentation_panels(panels, 4, f"BDL pseudo labels, round {round_} (black: ignored)")
    return pseudo, metrics, thresholds, fig


def update_target_set(labelled: ImageSet, unlabelled: ImageSet, pseudo: ImageSet) -> tuple[ImageSet, dict[str, float]]:
    """D_T^{r+1} = D_T ∪ pseudo-labelled D_U (true labels win; last round's pseudo labels are replaced)."""
    return sets_of(labelled).next_target(labelled, unlabelled, pseudo)  # type: ignore[arg-type]


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
