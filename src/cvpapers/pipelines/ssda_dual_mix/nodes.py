"""Kedro glue for DDM: arrays and checkpoints in, models, pseudo labels, tables and metrics out.

Image sets travel between nodes as ``.npz`` dicts (uint8 ``images`` N×H×W×3, ``labels`` N×H×W, ids);
models as checkpoints that rebuild themselves. Each node returns a metrics dict under its own prefix
(``rl_r1/…``, ``s_r2/…``) that the project hook logs to the node's MLflow child run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from cvpapers.pipelines.ssda_dual_mix.config import SsdaParams, validate

log = logging.getLogger(__name__)
Arrays = dict[str, np.ndarray]


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


def _params(params: dict[str, Any]) -> SsdaParams:
    return validate(params)


def _nchw(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()


def _labels(labels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(labels))


def _device(p: SsdaParams) -> torch.device:
    from cvpapers.engine.device import resolve_device

    return resolve_device(p.device)


def _num_classes(p: SsdaParams) -> int:
    from cvpapers.data.segmentation import CLASSES_16, CLASSES_19
    from cvpapers.data.street_scenes import NUM_CLASSES

    return {"embedded": NUM_CLASSES, "gta5": len(CLASSES_19), "synthia": len(CLASSES_16)}[p.data.source]


def _model_config(p: SsdaParams) -> dict[str, Any]:
    m = p.model
    cfg: dict[str, Any] = {"name": m.name, "num_classes": _num_classes(p)}
    if m.name == "tiny_deeplabv2":
        cfg.update(widths=list(m.widths), rates=list(m.rates), aux=m.aux)
    else:
        cfg.update(multi_level=m.aux, weights_path=m.weights_path)
    return cfg


def _build(config: dict[str, Any]) -> torch.nn.Module:
    from cvpapers.models.segmentation import build_segmenter

    kwargs = {k: v for k, v in config.items() if k not in ("name", "num_classes")}
    return build_segmenter(config["name"], config["num_classes"], **kwargs)


def _fresh_model(p: SsdaParams, role: str, round_: int) -> torch.nn.Module:
    """The same seeded initialisation for a role in every round (``round_init: fresh``, spec §3.6)."""
    from cvpapers.engine.seeding import derive_seed, seed_everything

    seed_everything(derive_seed(p.seed, "init", role))
    return _build(_model_config(p))


def _load(checkpoint: dict[str, Any], device: torch.device) -> torch.nn.Module:
    from cvpapers.engine.checkpoint import check_model_checkpoint

    ckpt = check_model_checkpoint(checkpoint)
    # The checkpoint holds every weight: do not read the ImageNet backbone file again.
    model = _build({k: v for k, v in ckpt["config"].items() if k != "weights_path"})
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device)


def _evaluate(model: torch.nn.Module, val: Arrays, p: SsdaParams, device: torch.device) -> dict[str, Any]:
    from cvpapers.metrics.segmentation import evaluate_segmenter
    from cvpapers.pipelines.ssda_dual_mix.training import INPUT_NORMS, to_model_channels

    mean, std, _ = INPUT_NORMS[p.model.input_norm]
    images = to_model_channels(_nchw(val["images"]), p.model.input_norm)
    return evaluate_segmenter(model, images, _labels(val["labels"]), _num_classes(p), mean, std,
                              device, batch_size=p.eval.batch_size)


def _predict(model: torch.nn.Module, images: np.ndarray, p: SsdaParams, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    from cvpapers.metrics.segmentation import predict
    from cvpapers.pipelines.ssda_dual_mix.training import INPUT_NORMS, to_model_channels

    mean, std, _ = INPUT_NORMS[p.model.input_norm]
    conf, pred = predict(model, to_model_channels(_nchw(images), p.model.input_norm), mean, std, device,
                         batch_size=p.eval.batch_size)
    return conf.cpu(), pred.cpu()


def _colorize(labels: np.ndarray, p: SsdaParams) -> np.ndarray:
    from cvpapers.data.segmentation import trainid_colors
    from cvpapers.data.street_scenes import colorize

    n = _num_classes(p)
    return colorize(labels, None if p.data.source == "embedded" else trainid_colors(n))


def _digest(*arrays: np.ndarray) -> str:
    from cvpapers.engine.checkpoint import data_digest

    return data_digest(*arrays)


def _val_metrics(prefix: str, res: dict[str, Any], class_names: list[str]) -> dict[str, float]:
    out = {f"{prefix}/val_miou": res["miou"], f"{prefix}/val_pixel_acc": res["pixel_acc"]}
    out.update({f"{prefix}/iou_{c}": v for c, v in zip(class_names, res["iou"], strict=True)})
    if len(class_names) == 16:
        # SYNTHIA → Cityscapes trains 16 classes and reports the 13 without wall, fence, pole (spec §3.8):
        # val_miou is that protocol's number, the 16-class mean is kept beside it.
        from cvpapers.data.segmentation import CLASSES_13_IN_16

        out[f"{prefix}/val_miou_16"] = res["miou"]
        out[f"{prefix}/val_miou"] = float(np.nanmean([res["iou"][i] for i in CLASSES_13_IN_16]))
    elif len(class_names) == 8 and "pole" in class_names:
        # Pole is too thin to learn at 64×128 (spec §7): the mean without it is logged beside the mIoU.
        keep = [v for c, v in zip(class_names, res["iou"], strict=True) if c != "pole" and v == v]
        out[f"{prefix}/val_miou_7"] = float(np.mean(keep)) if keep else float("nan")
    return out


def _class_names(p: SsdaParams) -> list[str]:
    from cvpapers.data.segmentation import CLASSES_16, CLASSES_19
    from cvpapers.data.street_scenes import CLASS_NAMES

    return list({"embedded": CLASS_NAMES, "gta5": CLASSES_19, "synthia": CLASSES_16}[p.data.source])


def _train(model: torch.nn.Module, draw: Any, step: Any, p: SsdaParams, stage: str, iters: int,
           val: Arrays, device: torch.device, fingerprint: dict[str, Any]) -> Any:
    from cvpapers.engine.iterative import train_iterations
    from cvpapers.engine.seeding import derive_seed

    t = p.train
    return train_iterations(
        model, draw, step, stage=stage, iters=iters, eval_every=t.eval_every, lr=t.lr, device=device,
        # Every stage draws its own batches: rounds and teachers must not replay each other's boxes and pairs.
        seed=derive_seed(p.seed, "batches", stage), optimizer=t.optimizer, momentum=t.momentum, weight_decay=t.weight_decay,
        poly_power=t.poly_power, evaluate=lambda m: {"val_miou_by_iter": _evaluate(m, val, p, device)["miou"]},
        checkpoint_path=Path(p.checkpoint_dir) / f"{stage}.pt", resume=p.resume,
        fingerprint={"stage": stage, "seed": p.seed, "model": _model_config(p), "train": t.model_dump(),
                     **fingerprint},
    )


def _finish(prefix: str, model: torch.nn.Module, result: Any, val: Arrays, p: SsdaParams,
            device: torch.device) -> tuple[dict[str, Any], dict[str, float]]:
    from cvpapers.engine.checkpoint import model_checkpoint

    res = _evaluate(model, val, p, device)
    metrics = _val_metrics(prefix, res, _class_names(p))
    metrics[f"{prefix}/train_time_s"] = float(sum(h.get("epoch_time_s", 0.0) for h in result.history))
    metrics[f"{prefix}/final_loss"] = float(result.last.get("train_loss", float("nan")))
    return model_checkpoint(model, _model_config(p)), metrics


def _iters(p: SsdaParams, round_: int) -> int:
    if round_ > 1 and p.round_init == "previous_round" and p.train.iters_later_rounds:
        return p.train.iters_later_rounds
    return p.train.iters


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------


def select_data(manifest: pd.DataFrame, params: dict[str, Any]) -> tuple[Arrays, Arrays, Arrays, dict[str, float]]:
    """Source (labelled), target pool (train) and target val sets, embedded or real."""
    from cvpapers.data.segmentation import (
        cityscapes_manifest,
        gta5_manifest,
        load_segmentation,
        synthia_manifest,
    )

    p = _params(params)
    d = p.data
    if d.source == "embedded":
        def rows(style: str, split: str) -> pd.DataFrame:
            sel = manifest[(manifest["domain"] == style) & (manifest["split"] == split)]
            if sel.empty:
                raise ValueError(f"the da_benchmark manifest has no ({style}, {split}) images; "
                                 f"set da_benchmark.counts.{style}.{split} > 0")
            return sel.sort_values("index")
        src, pool, val = rows(d.source_style, "train"), rows(d.target_style, "train"), rows(d.target_style, "val")
        size = None
    else:
        src = (gta5_manifest if d.source == "gta5" else synthia_manifest)(getattr(d.real_roots, d.source))
        city = cityscapes_manifest(d.real_roots.cityscapes)
        pool, val = city[city["split"] == "train"], city[city["split"] == "val"]
        if d.max_source_images:
            src = src.head(d.max_source_images)
        if d.max_target_images:
            pool = pool.head(d.max_target_images)
        size = tuple(d.real_size)

    def arrays(df: pd.DataFrame) -> Arrays:
        x, y = load_segmentation(df.reset_index(drop=True), size)  # type: ignore[arg-type]
        if d.source == "synthia" and df is not src:
            from cvpapers.data.segmentation import TRAINID19_TO_16

            y = torch.from_numpy(TRAINID19_TO_16[y.numpy()])  # Cityscapes in SYNTHIA's 16-class space
        return {"images": x.permute(0, 2, 3, 1).numpy(), "labels": y.numpy(), "ids": np.arange(len(df))}

    source, target_pool, target_val = arrays(src), arrays(pool), arrays(val)
    metrics = {"data/n_source": float(len(src)), "data/n_target_pool": float(len(pool)), "data/n_val": float(len(val))}
    return source, target_pool, target_val, metrics


def split_labeled(target_pool: Arrays, params: dict[str, Any]) -> tuple[Arrays, Arrays, dict[str, Any]]:
    """The seeded choice of the ``n_labeled`` labelled target images; the rest are unlabelled.

    The unlabelled set keeps its true labels under ``hidden_labels`` only to measure pseudo-label
    accuracy; no training step reads them.
    """
    from cvpapers.pipelines.ssda_dual_mix.rounds import labeled_split

    p = _params(params)
    lab, unl = labeled_split(len(target_pool["images"]), p.n_labeled, p.seed)
    labeled = {"images": target_pool["images"][lab], "labels": target_pool["labels"][lab], "ids": lab}
    unlabeled = {"images": target_pool["images"][unl], "hidden_labels": target_pool["labels"][unl], "ids": unl}
    return labeled, unlabeled, {"data/n_labeled": float(len(lab)), "data/n_unlabeled": float(len(unl)),
                                "labeled_ids": lab.tolist()}


def lab_translate(source: Arrays, target_pool: Arrays, params: dict[str, Any]) -> tuple[Arrays, dict[str, float], Any]:
    """§3.1: match every source image's LAB statistics to the target domain (before any training)."""
    from cvpapers.da.lab import translate_to_target
    from cvpapers.engine import plots

    p = _params(params)
    if not p.lab.enabled:
        return dict(source), {"lab/enabled": 0.0}, plots.labelled_rows({"source": source["images"][:6]}, "LAB off")
    translated, info = translate_to_target(source["images"], target_pool["images"], p.lab.reference, p.seed, p.lab.eps)
    translated = np.asarray(translated)
    metrics = {"lab/enabled": 1.0, **{f"lab/{k}": float(v) for k, v in info.items()}}
    fig = plots.labelled_rows(
        {"source": source["images"][:6], "translated": translated[:6], "target": target_pool["images"][:6]},
        f"LAB translation ({p.lab.reference}): mean-LAB distance {info['lab_mean_dist_before']:.1f} → "
        f"{info['lab_mean_dist_after']:.1f}",
    )
    return {**source, "images": translated}, metrics, fig


def init_target_set(labeled: Arrays) -> Arrays:
    """D_T^1 = D_T: the labelled target images only."""
    return {"images": labeled["images"], "labels": labeled["labels"], "ids": labeled["ids"],
            "is_pseudo": np.zeros(len(labeled["images"]), dtype=bool)}


# ------------------------------------------------------------------------------------------------
# baselines
# ------------------------------------------------------------------------------------------------


def _train_supervised(images: np.ndarray, labels: np.ndarray, val: Arrays, p: SsdaParams, stage: str,
                      role: str) -> tuple[dict[str, Any], dict[str, float]]:
    """A baseline: plain supervised training on one labelled set."""
    from cvpapers.pipelines.ssda_dual_mix.training import normaliser, supervised_draw, supervised_step

    dev = _device(p)
    model = _fresh_model(p, role, 1)
    draw = supervised_draw(_nchw(images), _labels(labels), p.train.batch_size, normaliser(p.model.input_norm),
                           p.train.hflip)
    result = _train(model, draw, supervised_step(p.train.lambda_aux), p, stage, p.train.iters, val, dev,
                    {"data": _digest(images, labels)})
    return _finish(stage, model, result, val, p, dev)


def train_target_only(labeled: Arrays, val: Arrays, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
    """Supervised training on the few labelled target images only."""
    return _train_supervised(labeled["images"], labeled["labels"], val, _params(params), "baseline_tgt_only",
                             "target_only")


def train_source_only(source: Arrays, val: Arrays, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
    """Supervised training on the (LAB-translated) source only: how far the domain gap alone leaves us."""
    p = _params(params)
    if not p.baselines.source_only:
        return {"format": "skipped"}, {"baseline_src_only/enabled": 0.0}
    ckpt, metrics = _train_supervised(source["images"], source["labels"], val, p, "baseline_src_only",
                                      "source_only")
    return ckpt, {**metrics, "baseline_src_only/enabled": 1.0}


# ------------------------------------------------------------------------------------------------
# one round: two domain-mixed teachers, multi-teacher distillation, pseudo labels
# ------------------------------------------------------------------------------------------------


def _warm(model: torch.nn.Module, previous: dict[str, Any] | None, p: SsdaParams) -> torch.nn.Module:
    if p.round_init == "previous_round" and previous is not None and previous.get("format") != "skipped":
        model.load_state_dict(previous["state_dict"])
    return model


def train_region_teacher(source: Arrays, target_set: Arrays, val: Arrays, params: dict[str, Any], round_: int,
                         previous: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, float], Any]:
    """Eq. 2: M_RL trained on region-mixed images only (a source box pasted into a labelled target image)."""
    from cvpapers.engine import plots
    from cvpapers.pipelines.ssda_dual_mix.training import normaliser, region_mixed_draw, supervised_step

    p = _params(params)
    dev = _device(p)
    rl = p.teacher.rl
    model = _warm(_fresh_model(p, "region_teacher", round_), previous, p)
    src_x, src_y = _nchw(source["images"]), _labels(source["labels"])
    tgt_x, tgt_y = _nchw(target_set["images"]), _labels(target_set["labels"])
    draw = region_mixed_draw(src_x, src_y, tgt_x, tgt_y, p.train.batch_size, rl.box_area, rl.box_area_mode,
                             rl.box_aspect_range, normaliser(p.model.input_norm), p.train.hflip)
    stage = f"rl_r{round_}"
    result = _train(model, draw, supervised_step(p.train.lambda_aux), p, stage, _iters(p, round_), val, dev,
                    {"teacher": rl.model_dump(), "data": _digest(source["images"], source["labels"],
                                                                  target_set["images"], target_set["labels"])})
    ckpt, metrics = _finish(stage, model, result, val, p, dev)
    # What the teacher saw: one mixed batch, drawn from raw uint8 images, and its mixed labels.
    shown_draw = region_mixed_draw(src_x, src_y, tgt_x, tgt_y, 4, rl.box_area, rl.box_area_mode,
                                   rl.box_aspect_range, lambda x: x, p.train.hflip)
    x, y = shown_draw(torch.Generator().manual_seed(p.seed))
    fig = plots.segmentation_panels({"x_rl (target + source box)": x.permute(0, 2, 3, 1).numpy(),
                                     "y_rl": _colorize(y.numpy(), p)}, title=f"region-level mixing, round {round_}")
    return ckpt, metrics, fig


def train_sample_teacher(source: Arrays, target_set: Arrays, val: Arrays, params: dict[str, Any], round_: int,
                         previous: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, float]]:
    """Eq. 3: M_SL trained on batches holding source and labelled target samples 1:1."""
    from cvpapers.pipelines.ssda_dual_mix.training import normaliser, sample_level_draw, sample_level_step

    p = _params(params)
    dev = _device(p)
    model = _warm(_fresh_model(p, "sample_teacher", round_), previous, p)
    draw = sample_level_draw(_nchw(source["images"]), _labels(source["labels"]), _nchw(target_set["images"]),
                             _labels(target_set["labels"]), p.train.batch_size, p.teacher.sl.source_fraction,
                             normaliser(p.model.input_norm), p.train.hflip)
    stage = f"sl_r{round_}"
    result = _train(model, draw, sample_level_step(p.train.lambda_aux), p, stage, _iters(p, round_), val, dev,
                    {"teacher": p.teacher.sl.model_dump(), "data": _digest(source["images"], source["labels"],
                                                                            target_set["images"], target_set["labels"])})
    return _finish(stage, model, result, val, p, dev)


class _Ensemble(torch.nn.Module):
    """E(RL, SL): the teachers' averaged distribution (the student's distillation target)."""

    def __init__(self, teachers: list[torch.nn.Module], temperature: float, mode: str) -> None:
        super().__init__()
        self.teachers = torch.nn.ModuleList(teachers)
        self.temperature, self.mode = temperature, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from cvpapers.da.distill import ensemble_probs

        # log-probabilities: argmax and softmax-based evaluation behave as for logits.
        return ensemble_probs([t(x) for t in self.teachers], self.temperature, self.mode).clamp_min(1e-12).log()  # type: ignore[arg-type]


def eval_ensemble(rl: dict[str, Any], sl: dict[str, Any], val: Arrays, params: dict[str, Any], round_: int) -> dict[str, float]:
    """mIoU of the teachers' ensemble, the target the student distils (paper Table 3)."""
    p = _params(params)
    dev = _device(p)
    # Table 3's ensemble is the plain average of the teachers' predictions (T = 1), whatever KD's temperature.
    ens = _Ensemble([_load(rl, dev).eval(), _load(sl, dev).eval()], 1.0, p.student.ensemble_mode)
    return _val_metrics(f"ens_r{round_}", _evaluate(ens.eval(), val, p, dev), _class_names(p))


def distill_student(rl: dict[str, Any], sl: dict[str, Any], unlabeled: Arrays, target_set: Arrays, val: Arrays,
                    params: dict[str, Any], round_: int, previous: dict[str, Any] | None = None,
                    ) -> tuple[dict[str, Any], dict[str, float], Any]:
    """Eq. 4: the student learns the teachers' ensemble on unlabelled target images, CE on labelled ones."""
    from cvpapers.pipelines.ssda_dual_mix.training import freeze, normaliser, student_draw, student_step

    p = _params(params)
    dev = _device(p)
    s = p.student
    teachers = [freeze(_load(rl, dev)), freeze(_load(sl, dev))]
    model = _fresh_model(p, "student", round_)
    if s.init in ("from_sl", "from_rl"):
        model.load_state_dict((sl if s.init == "from_sl" else rl)["state_dict"])
    elif s.init == "previous_round":
        model = _warm(model, previous, p)
    draw = student_draw(_nchw(unlabeled["images"]), _nchw(target_set["images"]), _labels(target_set["labels"]),
                        s.unlabeled_batch, s.labeled_batch, normaliser(p.model.input_norm))
    step = student_step(teachers, s.lambda_kl, s.lambda_ce, s.kd_temperature, s.kd_t2_scaling, s.ensemble_mode,
                        p.train.lambda_aux)
    stage = f"s_r{round_}"
    result = _train(model, draw, step, p, stage, _iters(p, round_), val, dev,
                    {"student": s.model_dump(), "teachers": _digest(*[t.numpy() for t in
                                                                       (*rl["state_dict"].values(), *sl["state_dict"].values())]),
                     "data": _digest(unlabeled["images"], target_set["images"], target_set["labels"])})
    ckpt, metrics = _finish(stage, model, result, val, p, dev)
    return ckpt, metrics, _overlays(model, val, p, dev, f"student, round {round_}")


def _overlays(model: torch.nn.Module, val: Arrays, p: SsdaParams, device: torch.device, title: str, n: int = 4) -> Any:
    """image | truth | prediction for the first ``n`` validation images."""
    from cvpapers.engine import plots

    _, pred = _predict(model, val["images"][:n], p, device)
    return plots.segmentation_panels({"image": val["images"][:n], "truth": _colorize(val["labels"][:n], p),
                                      "prediction": _colorize(pred.numpy(), p)}, n, title)


def pseudo_label(student: dict[str, Any], unlabeled: Arrays, params: dict[str, Any], round_: int,
                 ) -> tuple[Arrays, dict[str, float], pd.DataFrame, Any]:
    """BDL class-balanced pseudo labels of every unlabelled image, thresholds over the whole set (§3.5)."""
    from cvpapers.da.pseudo_labels import bdl_pseudo_labels, bdl_thresholds, pseudo_label_stats
    from cvpapers.engine import plots

    p = _params(params)
    dev = _device(p)
    model = _load(student, dev)
    conf, pred = _predict(model, unlabeled["images"], p, dev)
    c = _num_classes(p)
    tau = bdl_thresholds(conf, pred, c, p.pseudo.portion, p.pseudo.max_threshold, p.pseudo.method)
    pseudo = bdl_pseudo_labels(conf, pred, tau)
    truth = torch.from_numpy(unlabeled["hidden_labels"]) if "hidden_labels" in unlabeled else None
    stats = pseudo_label_stats(pseudo, truth, pred, c)
    prefix = f"pl_r{round_}"
    metrics = {f"{prefix}/{k}": float(v) for k, v in stats.items() if isinstance(v, int | float)}
    names = _class_names(p)
    thresholds = pd.DataFrame({"class": names, "threshold": tau.numpy().round(4),
                               "predicted_pixels": torch.bincount(pred.flatten().long(), minlength=c)[:c].numpy()})
    panels = {"image": unlabeled["images"][:4], "pseudo label": _colorize(pseudo[:4].numpy(), p)}
    if truth is not None:
        panels["hidden truth"] = _colorize(unlabeled["hidden_labels"][:4], p)
    fig = plots.segmentation_panels(panels, 4, f"BDL pseudo labels, round {round_} (black: ignored)")
    return {"labels": pseudo.numpy(), "ids": unlabeled["ids"]}, metrics, thresholds, fig


def update_target_set(labeled: Arrays, unlabeled: Arrays, pseudo: Arrays) -> tuple[Arrays, dict[str, float]]:
    """D_T^{r+1} = D_T ∪ pseudo-labelled D_U (true labels win; last round's pseudo labels are replaced)."""
    from cvpapers.pipelines.ssda_dual_mix.rounds import next_target_set

    images, labels, is_pseudo = next_target_set(labeled["images"], labeled["labels"], unlabeled["images"],
                                                pseudo["labels"], labeled_ids=labeled["ids"],
                                                unlabeled_ids=unlabeled["ids"])
    # An unlabelled image that is also labelled keeps its true label (next_target_set drops its copy).
    ids = np.concatenate([labeled["ids"], unlabeled["ids"][~np.isin(unlabeled["ids"], labeled["ids"])]])
    out = {"images": np.asarray(images), "labels": np.asarray(labels), "ids": ids, "is_pseudo": np.asarray(is_pseudo)}
    return out, {"target_set/n_images": float(len(ids)), "target_set/n_pseudo": float(np.asarray(is_pseudo).sum())}


# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------


def report(params: dict[str, Any], rounds: int, **metrics: dict[str, float]) -> tuple[pd.DataFrame, pd.DataFrame, Any, dict[str, float]]:
    """The results table (per-class IoU of every model), the Table-4-style rounds grid and the claims."""
    from cvpapers.engine import plots

    p = _params(params)
    names = _class_names(p)
    merged: dict[str, float] = {}
    for part in metrics.values():
        merged.update(part)

    def row(label: str, prefix: str) -> dict[str, Any] | None:
        if f"{prefix}/val_miou" not in merged:
            return None
        r = {"model": label, "mIoU": round(merged[f"{prefix}/val_miou"], 2)}
        if f"{prefix}/val_miou_7" in merged:
            r["mIoU w/o pole"] = round(merged[f"{prefix}/val_miou_7"], 2)
        r.update({c: round(merged.get(f"{prefix}/iou_{c}", float("nan")), 1) for c in names})
        return r

    rows = [row("target-only (labelled target images)", "baseline_tgt_only"),
            row("source-only (LAB-translated source)", "baseline_src_only")]
    for r in range(1, rounds + 1):
        rows += [row(f"round {r}: M_RL (region-level teacher)", f"rl_r{r}"),
                 row(f"round {r}: M_SL (sample-level teacher{' = joint training' if r == 1 else ''})", f"sl_r{r}"),
                 row(f"round {r}: E(RL, SL) (teachers' ensemble)", f"ens_r{r}"),
                 row(f"round {r}: M_S (student)", f"s_r{r}")]
    table = pd.DataFrame([r for r in rows if r is not None])
    grid = pd.DataFrame([
        {"model": m, **{f"round {r}": round(merged.get(f"{k}_r{r}/val_miou", float("nan")), 2) for r in range(1, rounds + 1)}}
        for m, k in (("M_RL", "rl"), ("M_SL", "sl"), ("E(RL,SL)", "ens"), ("M_S", "s"))
    ])
    final = merged[f"s_r{rounds}/val_miou"]
    claims = {
        "final/student_miou": final,
        "claim/miou_gain_vs_sl_r1": final - merged["sl_r1/val_miou"],
        "claim/miou_gain_vs_rl_r1": final - merged["rl_r1/val_miou"],
        "claim/miou_gain_vs_target_only": final - merged["baseline_tgt_only/val_miou"],
        "compare/student_minus_best_teacher_per_round_min": min(
            merged[f"s_r{r}/val_miou"] - max(merged[f"rl_r{r}/val_miou"], merged[f"sl_r{r}/val_miou"])
            for r in range(1, rounds + 1)),
        "compare/best_round_student_miou": max(merged[f"s_r{r}/val_miou"] for r in range(1, rounds + 1)),
    }
    if "baseline_src_only/val_miou" in merged:
        claims["compare/miou_gain_vs_source_only"] = final - merged["baseline_src_only/val_miou"]
    claims["final/claim_margin"] = claims["claim/miou_gain_vs_sl_r1"]
    claims["final/claim_margin_vs_target_only"] = claims["claim/miou_gain_vs_target_only"]
    claims["final/claim_holds"] = float(claims["claim/miou_gain_vs_sl_r1"] > 0
                                        and claims["claim/miou_gain_vs_target_only"] > 0)
    series = {m: [merged.get(f"{k}_r{r}/val_miou", float("nan")) for r in range(1, rounds + 1)]
              for m, k in (("M_RL", "rl"), ("M_SL", "sl"), ("E(RL,SL)", "ens"), ("M_S", "s"))}
    fig = plots.curves(series, "city val mIoU (%)", xlabel="round",
                       title=f"DDM by round (target-only {merged['baseline_tgt_only/val_miou']:.1f})")
    return table, grid, fig, claims
