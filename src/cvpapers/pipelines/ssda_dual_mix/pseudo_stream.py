"""BDL pseudo labels of a real unlabelled set in bounded memory (spec §3.5): two streaming passes of the student
at the evaluation protocol (input at ``eval.input_size``, logits at each image's full resolution, as BDL labels
full-size images). Pass 1 sums per-class confidence histograms batch by batch (never all confidences at once) and
gives the class-balanced thresholds (within ``1/pseudo.bins`` of the exact rule); pass 2 predicts again, applies
them, writes each label map as a trainId PNG under ``pseudo.label_dir`` and lists it in the returned manifest.
Plain PyTorch and pandas; no Kedro."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

if TYPE_CHECKING:
    from cvpapers.pipelines.ssda_dual_mix.stages import Stages


def _predict(st: Stages, model: torch.nn.Module, rows: pd.DataFrame, truth: str | None, desc: str) -> Iterator[Any]:
    from cvpapers.da.segmenter import predict_stream
    from cvpapers.pipelines.ssda_dual_mix.sets import ManifestSets

    e = st.p.eval
    data = ManifestSets.eval_set(st, rows, label=truth, full_label=True)
    yield from predict_stream(model, st.stream(data, desc, e.batch_size), st.p.model.input_norm, st.device,
                              e.window, e.window_stride)


def label_dir(st: Stages, round_: int) -> Path:
    return Path(st.p.pseudo.label_dir.format(pipeline=st.run.pipeline)) / f"r{round_}"


def pseudo_label_manifest(st: Stages, model: torch.nn.Module, unlabelled: pd.DataFrame, round_: int,
                          ) -> tuple[pd.DataFrame, dict[str, float], pd.DataFrame, dict[str, np.ndarray]]:
    """``(pseudo-label manifest, metrics, thresholds table, preview panels)``."""
    from cvpapers.da.pseudo_labels import PseudoLabelTally, ThresholdHistogram, bdl_pseudo_labels
    from cvpapers.data.segmentation import resize_label
    from cvpapers.pipelines.ssda_dual_mix.sets import _thresholds_table, write_label_png

    p, c = st.p, st.num_classes
    hist = ThresholdHistogram(c, p.pseudo.bins)
    for _, _, logits in _predict(st, model, unlabelled, None, f"pseudo labels r{round_}: thresholds"):
        hist.add(*logits.softmax(1).max(1))
    tau = hist.thresholds(p.pseudo.portion, p.pseudo.max_threshold)
    truth_col = "hidden_label_path" if "hidden_label_path" in unlabelled.columns else None
    tally, rows, panels = PseudoLabelTally(c), [], {"image": [], "pseudo label": [], "hidden truth": []}
    for batch, i, logits in _predict(st, model, unlabelled, truth_col, f"pseudo labels r{round_}: writing"):
        conf, pred = logits.softmax(1).max(1)
        pseudo = bdl_pseudo_labels(conf, pred, tau)[0].cpu()
        rec = unlabelled.iloc[int(batch["index"][i])]
        path = write_label_png(label_dir(st, round_) / f"{int(rec['id']):06d}.png", pseudo.numpy())
        truth = torch.as_tensor(batch["mask"][i]) if truth_col else None
        tally.add(pseudo, pred[0].cpu(), truth)
        rows.append({"id": int(rec["id"]), "path": rec["path"], "label_path": path.as_posix(), "dataset": "trainid"})
        if len(panels["image"]) < 4:
            image = batch["image"][i].numpy()
            panels["image"].append(image)
            panels["pseudo label"].append(st.colorize(resize_label(pseudo.numpy(), image.shape[:2])))
            if truth is not None:
                panels["hidden truth"].append(st.colorize(resize_label(truth.numpy(), image.shape[:2])))
    metrics = {**tally.stats(), **st.skip_metrics()}
    manifest = pd.DataFrame(rows, columns=["id", "path", "label_path", "dataset"])
    return manifest, metrics, _thresholds_table(st, tau, hist.predicted_pixels), {
        k: np.stack(v) for k, v in panels.items() if v}
