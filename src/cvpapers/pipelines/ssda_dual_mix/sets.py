"""DDM's image sets, two ways behind one interface: what each node does with a source set, a target set, the
validation set and the unlabelled pool, whether they are in memory or on disk.

* :class:`ArraySets` — the embedded benchmark: ``.npz`` dicts of uint8 arrays (``images``, ``labels``, ``ids``)
  between nodes and vectorised in-memory batches. This is the code the benchmark's numbers come from; it is
  kept as it was (same draws, same arithmetic).
* :class:`ManifestSets` — real data (GTA5 / SYNTHIA → Cityscapes): manifests between nodes (CSV), samples read
  lazily with the paper's preprocessing (source resized to 1280×720 then a random 1024×512 crop, Cityscapes
  train at 1024×512, LAB translation on the fly), training batches streamed by DataLoader workers
  (:class:`~cvpapers.da.streams.StreamSource`), validation one image at a time at full resolution, LAB statistics
  and BDL pseudo labels in streaming passes (histogram thresholds; the labels written as PNGs and listed in
  a manifest). Peak memory depends on the batch and image size, not on the number of images.

:func:`sets_of` picks by the set's type. Methods take the node's :class:`~.stages.Stages` (parameters, run
context, skip log). Plain PyTorch and pandas; no Kedro.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from cvpapers.da.segmenter import label_tensor, nchw, normaliser
from cvpapers.engine.checkpoint import data_digest

if TYPE_CHECKING:
    from cvpapers.pipelines.ssda_dual_mix.config import SsdaParams
    from cvpapers.pipelines.ssda_dual_mix.stages import Stages

log = logging.getLogger(__name__)
Arrays = dict[str, np.ndarray]


class ArraySets:
    """The embedded benchmark's in-memory image sets (``images`` N×H×W×3, ``labels`` N×H×W, ``ids``)."""

    @staticmethod
    def size(s: Arrays) -> int:
        return len(s["images"])

    @staticmethod
    def split(pool: Arrays, lab: np.ndarray, unl: np.ndarray) -> tuple[Arrays, Arrays]:
        """The unlabelled set keeps its true labels under ``hidden_labels`` only to measure pseudo labels."""
        labelled = {"images": pool["images"][lab], "labels": pool["labels"][lab], "ids": lab}
        unlabelled = {"images": pool["images"][unl], "hidden_labels": pool["labels"][unl], "ids": unl}
        return labelled, unlabelled

    @staticmethod
    def lab_translate(st: Stages, source: Arrays, pool: Arrays) -> tuple[Arrays, dict[str, float], Any]:
        from cvpapers.da.lab import translate_to_target
        from cvpapers.engine import plots

        p = st.p
        if not p.lab.enabled:
            return dict(source), {"enabled": 0.0}, plots.labelled_rows({"source": source["images"][:6]}, "LAB off")
        translated, info = translate_to_target(source["images"], pool["images"], p.lab.reference, p.seed, p.lab.eps)
        translated = np.asarray(translated)
        fig = plots.labelled_rows(
            {"source": source["images"][:6], "translated": translated[:6], "target": pool["images"][:6]},
            _lab_title(p, info))
        return {**source, "images": translated}, {"enabled": 1.0, **{k: float(v) for k, v in info.items()}}, fig

    @staticmethod
    def initial(labelled: Arrays) -> Arrays:
        return {"images": labelled["images"], "labels": labelled["labels"], "ids": labelled["ids"],
                "is_pseudo": np.zeros(len(labelled["images"]), dtype=bool)}

    @staticmethod
    def next_target(labelled: Arrays, unlabelled: Arrays, pseudo: Arrays) -> tuple[Arrays, dict[str, float]]:
        from cvpapers.pipelines.ssda_dual_mix.rounds import next_target_arrays

        out = next_target_arrays(labelled, unlabelled, pseudo)
        return out, {"n_images": float(len(out["ids"])), "n_pseudo": float(out["is_pseudo"].sum())}

    # -- batches: (draw, data digest for the resume fingerprint) -------------------------------------------
    @staticmethod
    def supervised(st: Stages, data: Arrays, stage: str, round_: int) -> tuple[Any, str]:
        from cvpapers.da.batches import supervised_draw

        t = st.p.train
        draw = supervised_draw(nchw(data["images"]), label_tensor(data["labels"]), t.batch_size,
                               normaliser(st.p.model.input_norm), t.hflip)
        return draw, data_digest(data["images"], data["labels"])

    @staticmethod
    def _region(st: Stages, source: Arrays, target_set: Arrays, batch: int, normalise: Any) -> Any:
        from cvpapers.pipelines.ssda_dual_mix.training import region_mixed_draw

        rl = st.p.teacher.rl
        sets = (nchw(source["images"]), label_tensor(source["labels"]),
                nchw(target_set["images"]), label_tensor(target_set["labels"]))
        return region_mixed_draw(*sets, batch, rl.box_area, rl.box_area_mode, rl.box_aspect_range, normalise,
                                 st.p.train.hflip)

    @staticmethod
    def region(st: Stages, source: Arrays, target_set: Arrays, stage: str, round_: int) -> tuple[Any, str]:
        draw = ArraySets._region(st, source, target_set, st.p.train.batch_size, normaliser(st.p.model.input_norm))
        return draw, _pair_digest(source, target_set)

    @staticmethod
    def mixed_examples(st: Stages, source: Arrays, target_set: Arrays) -> tuple[np.ndarray, np.ndarray]:
        """What the region teacher saw: one mixed batch of 4, drawn from raw uint8 images, and its labels."""
        x, y = ArraySets._region(st, source, target_set, 4, lambda x: x)(st.run.generator())
        return x.permute(0, 2, 3, 1).numpy(), y.numpy()

    @staticmethod
    def sample_level(st: Stages, source: Arrays, target_set: Arrays, stage: str, round_: int) -> tuple[Any, str]:
        from cvpapers.pipelines.ssda_dual_mix.training import sample_level_draw

        p = st.p
        draw = sample_level_draw(nchw(source["images"]), label_tensor(source["labels"]), nchw(target_set["images"]),
                                 label_tensor(target_set["labels"]), p.train.batch_size, p.teacher.sl.source_fraction,
                                 normaliser(p.model.input_norm), p.train.hflip)
        return draw, _pair_digest(source, target_set)

    @staticmethod
    def student(st: Stages, unlabelled: Arrays, target_set: Arrays, stage: str, round_: int) -> tuple[Any, str]:
        from cvpapers.pipelines.ssda_dual_mix.training import student_draw

        s = st.p.student
        draw = student_draw(nchw(unlabelled["images"]), nchw(target_set["images"]), label_tensor(target_set["labels"]),
                            s.unlabelled_batch, s.labelled_batch, normaliser(st.p.model.input_norm))
        return draw, data_digest(unlabelled["images"], target_set["images"], target_set["labels"])

    # -- passes -----------------------------------------------------------------------------------------------
    @staticmethod
    def evaluate(st: Stages, model: torch.nn.Module, val: Arrays) -> dict[str, Any]:
        from cvpapers.da.segmenter import evaluate_arrays

        return evaluate_arrays(model, val["images"], val["labels"], st.num_classes, st.p.model.input_norm,
                               st.device, st.p.eval.batch_size)

    @staticmethod
    def overlays(st: Stages, model: torch.nn.Module, val: Arrays, n: int) -> dict[str, np.ndarray]:
        _, pred = st.predict(model, val["images"][:n])
        return {"image": val["images"][:n], "truth": st.colorize(val["labels"][:n]),
                "prediction": st.colorize(pred.numpy())}

    @staticmethod
    def pseudo_label(st: Stages, model: torch.nn.Module, unlabelled: Arrays, round_: int,
                     ) -> tuple[Arrays, dict[str, float], pd.DataFrame, dict[str, np.ndarray]]:
        """BDL thresholds over every confidence of the set at once (exact or histogram), then the labels."""
        from cvpapers.da.pseudo_labels import bdl_pseudo_labels, bdl_thresholds, pseudo_label_stats

        p, c = st.p, st.num_classes
        conf, pred = st.predict(model, unlabelled["images"])
        tau = bdl_thresholds(conf, pred, c, p.pseudo.portion, p.pseudo.max_threshold, p.pseudo.method)
        pseudo = bdl_pseudo_labels(conf, pred, tau)
        truth = torch.from_numpy(unlabelled["hidden_labels"]) if "hidden_labels" in unlabelled else None
        metrics = {k: float(v) for k, v in pseudo_label_stats(pseudo, truth, pred, c).items()}
        thresholds = _thresholds_table(st, tau, torch.bincount(pred.flatten().long(), minlength=c)[:c])
        panels = {"image": unlabelled["images"][:4], "pseudo label": st.colorize(pseudo[:4].numpy())}
        if truth is not None:
            panels["hidden truth"] = st.colorize(unlabelled["hidden_labels"][:4])
        return {"labels": pseudo.numpy(), "ids": unlabelled["ids"]}, metrics, thresholds, panels


class ManifestSets:
    """Real data: manifests between nodes, samples read lazily with the paper's preprocessing (module docstring)."""

    @staticmethod
    def size(rows: pd.DataFrame) -> int:
        return len(rows)

    @staticmethod
    def split(pool: pd.DataFrame, lab: np.ndarray, unl: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Rows by position (the pool's ``id``); unlabelled rows keep their label path as ``hidden_label_path``,
        read only to measure the pseudo labels. The labelled manifest is the seeded subset's file list."""
        labelled = pool.iloc[lab].reset_index(drop=True)
        unlabelled = pool.iloc[unl].rename(columns={"label_path": "hidden_label_path"}).reset_index(drop=True)
        return labelled, unlabelled

    @staticmethod
    def initial(labelled: pd.DataFrame) -> pd.DataFrame:
        return labelled.assign(is_pseudo=False)

    @staticmethod
    def next_target(labelled: pd.DataFrame, unlabelled: pd.DataFrame, pseudo: pd.DataFrame,
                    ) -> tuple[pd.DataFrame, dict[str, float]]:
        """True-labelled rows first, then every unlabelled image (not also labelled) with its newest pseudo label
        (an image the pseudo-labelling pass skipped as unreadable is left out)."""
        unl = unlabelled[~unlabelled["id"].isin(labelled["id"])]
        unl = unl.drop(columns=[c for c in ("hidden_label_path", "dataset") if c in unl.columns])
        rows = unl.merge(pseudo[["id", "label_path", "dataset"]], on="id", how="inner")
        out = pd.concat([labelled.assign(is_pseudo=False), rows.assign(is_pseudo=True)], ignore_index=True)
        return out, {"n_images": float(len(out)), "n_pseudo": float(out["is_pseudo"].sum())}

    @staticmethod
    def lab_translate(st: Stages, source: pd.DataFrame, pool: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float], Any]:
        """Target LAB statistics in one streaming pass; each source row gets its reference statistics (the images
        are translated when read); before/after distances measured on ``lab.stats_images`` source images."""
        from cvpapers.pipelines.ssda_dual_mix.lab_stream import translate_manifest

        return translate_manifest(st, source, pool)

    # -- batches ----------------------------------------------------------------------------------------------
    @staticmethod
    def _train_set(st: Stages, rows: pd.DataFrame, size: Any, labelled: bool = True) -> Any:
        from cvpapers.da.streams import DAReader, dataset, has_lab_reference, train_transform

        reader = DAReader(st.num_classes, tuple(size), label="label_path" if labelled else None,
                          placeholder=not labelled, lab_eps=st.p.lab.eps if has_lab_reference(rows) else None)
        return dataset(rows, reader, train_transform(st.p.data.preprocess.crop, st.p.train.hflip),
                       st.p.data.on_bad_sample)

    @staticmethod
    def _source_set(st: Stages, rows: pd.DataFrame) -> Any:
        return ManifestSets._train_set(st, rows, source_size(st.p))

    @staticmethod
    def _target_set(st: Stages, rows: pd.DataFrame, labelled: bool = True) -> Any:
        return ManifestSets._train_set(st, rows, st.p.data.preprocess.target_size, labelled)

    @staticmethod
    def supervised(st: Stages, rows: pd.DataFrame, stage: str, round_: int) -> tuple[Any, str]:
        from cvpapers.da.streams import manifest_digest
        from cvpapers.pipelines.ssda_dual_mix.training import supervised_stream

        is_source = rows["domain"].iloc[0] != "cityscapes" if len(rows) else False
        data = ManifestSets._source_set(st, rows) if is_source else ManifestSets._target_set(st, rows)
        draw = supervised_stream(data, st.p.train.batch_size, normaliser(st.p.model.input_norm),
                                 **st.stream_run(stage, round_))
        return draw, manifest_digest(rows)

    @staticmethod
    def _pairs(st: Stages, source: pd.DataFrame, target_set: pd.DataFrame) -> Any:
        from cvpapers.pipelines.ssda_dual_mix.training import region_mixed_pairs

        rl = st.p.teacher.rl
        return region_mixed_pairs(ManifestSets._target_set(st, target_set), ManifestSets._source_set(st, source),
                                  rl.box_area, rl.box_area_mode, rl.box_aspect_range)

    @staticmethod
    def region(st: Stages, source: pd.DataFrame, target_set: pd.DataFrame, stage: str, round_: int) -> tuple[Any, str]:
        from cvpapers.da.streams import manifest_digest
        from cvpapers.pipelines.ssda_dual_mix.training import region_mixed_stream

        draw = region_mixed_stream(ManifestSets._pairs(st, source, target_set), st.p.train.batch_size,
                                   normaliser(st.p.model.input_norm), **st.stream_run(stage, round_))
        return draw, manifest_digest(source, target_set)

    @staticmethod
    def mixed_examples(st: Stages, source: pd.DataFrame, target_set: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        from cvpapers.da.batches import pick
        from cvpapers.engine.seeding import derive_seed

        pairs, g = ManifestSets._pairs(st, source, target_set), st.run.generator()
        keys = pairs.key(pick(len(target_set), 4, g), pick(len(source), 4, g))
        samples = [pairs[(int(k), derive_seed(st.p.seed, "shown", i))] for i, k in enumerate(keys)]
        samples = [s for s in samples if isinstance(s, dict)]
        return np.stack([s["image"] for s in samples]), np.stack([s["mask"] for s in samples])

    @staticmethod
    def sample_level(st: Stages, source: pd.DataFrame, target_set: pd.DataFrame, stage: str, round_: int,
                     ) -> tuple[Any, str]:
        from cvpapers.da.streams import manifest_digest
        from cvpapers.pipelines.ssda_dual_mix.training import sample_level_stream

        p = st.p
        draw = sample_level_stream(ManifestSets._source_set(st, source), ManifestSets._target_set(st, target_set),
                                   p.train.batch_size, p.teacher.sl.source_fraction, normaliser(p.model.input_norm),
                                   **st.stream_run(stage, round_))
        return draw, manifest_digest(source, target_set)

    @staticmethod
    def student(st: Stages, unlabelled: pd.DataFrame, target_set: pd.DataFrame, stage: str, round_: int,
                ) -> tuple[Any, str]:
        from cvpapers.da.streams import manifest_digest
        from cvpapers.pipelines.ssda_dual_mix.training import student_stream

        s = st.p.student
        draw = student_stream(ManifestSets._target_set(st, unlabelled, labelled=False),
                              ManifestSets._target_set(st, target_set), s.unlabelled_batch, s.labelled_batch,
                              normaliser(st.p.model.input_norm), **st.stream_run(stage, round_))
        return draw, manifest_digest(unlabelled, target_set)

    # -- passes -----------------------------------------------------------------------------------------------
    @staticmethod
    def eval_set(st: Stages, rows: pd.DataFrame, label: str | None = "label_path", full_label: bool = True) -> Any:
        """Images at ``eval.input_size`` (the network's input), labels at full resolution (or resized alike)."""
        from cvpapers.da.streams import DAReader, dataset

        size = st.p.eval.input_size
        reader = DAReader(st.num_classes, None if size is None else tuple(size), label=label, full_label=full_label)
        return dataset(rows, reader, None, st.p.data.on_bad_sample)

    @staticmethod
    def evaluate(st: Stages, model: torch.nn.Module, val: pd.DataFrame) -> dict[str, Any]:
        """Cityscapes val at full resolution: one image at a time (``eval.batch_size``), optional sliding window."""
        from cvpapers.da.segmenter import evaluate_stream

        e = st.p.eval
        return evaluate_stream(model, st.stream(ManifestSets.eval_set(st, val), "evaluate", e.batch_size),
                               st.num_classes, st.p.model.input_norm, st.device, e.window, e.window_stride)

    @staticmethod
    def overlays(st: Stages, model: torch.nn.Module, val: pd.DataFrame, n: int) -> dict[str, np.ndarray]:
        from cvpapers.da.segmenter import predict_stream
        from cvpapers.data.segmentation import resize_label

        e, out = st.p.eval, {"image": [], "truth": [], "prediction": []}
        data = ManifestSets.eval_set(st, val.head(n), full_label=False)
        for batch, i, logits in predict_stream(model, st.stream(data, "overlays"), st.p.model.input_norm,
                                               st.device, e.window, e.window_stride):
            image = batch["image"][i].numpy()
            pred = resize_label(logits.argmax(1)[0].to(torch.uint8).cpu().numpy(), image.shape[:2])
            out["image"].append(image)
            out["truth"].append(st.colorize(batch["mask"][i].numpy()))
            out["prediction"].append(st.colorize(pred))
        return {k: np.stack(v) for k, v in out.items()}

    @staticmethod
    def pseudo_label(st: Stages, model: torch.nn.Module, unlabelled: pd.DataFrame, round_: int,
                     ) -> tuple[pd.DataFrame, dict[str, float], pd.DataFrame, dict[str, np.ndarray]]:
        """Two streaming passes: per-class confidence histograms → thresholds; then the labels, written as PNGs."""
        from cvpapers.pipelines.ssda_dual_mix.pseudo_stream import pseudo_label_manifest

        return pseudo_label_manifest(st, model, unlabelled, round_)


Sets = type[ArraySets] | type[ManifestSets]


def sets_of(s: Any) -> Sets:
    """The implementation for an image set: a manifest (DataFrame) streams, a dict of arrays stays in memory."""
    return ManifestSets if isinstance(s, pd.DataFrame) else ArraySets


def source_size(p: SsdaParams) -> tuple[int, int]:
    return tuple(getattr(p.data.preprocess.source_size, p.data.source))  # type: ignore[return-value]


def _pair_digest(source: Arrays, target_set: Arrays) -> str:
    return data_digest(source["images"], source["labels"], target_set["images"], target_set["labels"])


def _lab_title(p: SsdaParams, info: dict[str, float]) -> str:
    return (f"LAB translation ({p.lab.reference}): mean-LAB distance {info['lab_mean_dist_before']:.1f} → "
            f"{info['lab_mean_dist_after']:.1f}")


def _thresholds_table(st: Stages, tau: torch.Tensor, predicted_pixels: torch.Tensor) -> pd.DataFrame:
    return pd.DataFrame({"class": st.classes, "threshold": tau.numpy().round(4),
                         "predicted_pixels": predicted_pixels.numpy()})


def real_sets(p: SsdaParams) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """A real setting's source, Cityscapes train pool and val manifests, every listed file checked first
    (exists, complete, opens; labels the size of their images): a problem is an error naming the file, or with
    ``data.on_bad_sample: skip`` the sample is left out, logged and counted."""
    from cvpapers.da.data import real_rows
    from cvpapers.data.segmentation import preflight_segmentation

    d = p.data
    sets = real_rows(d.source, getattr(d.roots, d.source), d.roots.cityscapes, d.max_source_images,
                     d.max_target_images)
    kept, skipped = [], 0
    for name, rows in zip(("source", "target pool", "target val"), sets, strict=True):
        rows, bad = preflight_segmentation(rows, ("label_path",), d.on_bad_sample, desc=f"checking {name} files")
        for path, problem in bad.items():
            log.warning("skipped bad sample %s: %s", path, problem)
        kept.append(rows.assign(id=np.arange(len(rows), dtype=np.int64)))
        skipped += len(bad)
    source, pool, val = kept
    metrics = {"n_source": float(len(source)), "n_target_pool": float(len(pool)), "n_val": float(len(val)),
               "skipped_samples": float(skipped)}
    return source, pool, val, metrics


def write_label_png(path: Path, label: np.ndarray) -> Path:
    """A uint8 trainId map (255 = ignore) as an 8-bit PNG, written atomically (a killed run leaves no half file)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    Image.fromarray(np.ascontiguousarray(label, dtype=np.uint8)).save(tmp)
    tmp.replace(path)
    return path
