"""MTDA-CCL's report: every model's scores per target (single models without a domain label, experts with
oracle routing), the targets × models tables, the bar plot and per-target overlays. No Kedro."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cvpapers.da.protocol import iou_key

if TYPE_CHECKING:
    from torch import nn

    from cvpapers.pipelines.mtda_collab.room import Room

Scores = Mapping[str, Mapping[str, float]]
NAN = float("nan")
# (model, label, routing) in table order; ablation students follow as ``abl_<name>``.
MODELS: tuple[tuple[str, str, str], ...] = (
    ("source_only", "source-only (θ0)", "single model"),
    ("mixed_single", "mixed single (merged targets)", "single model"),
    ("student_ccl", "CCL student (the method)", "single model"),
    ("experts_s1", "experts, Stage 1", "oracle routing"),
    ("experts_indep", "experts, independent continuation", "oracle routing"),
    ("experts_ccl", "experts, CCL Stage 2", "oracle routing"),
)


def _strip(scores: Mapping[str, float], prefix: str) -> dict[str, float]:
    return {k[len(prefix) :]: v for k, v in scores.items() if k.startswith(prefix)}


def model_scores(stage_scores: Scores, targets: Sequence[str]) -> dict[str, dict[str, float]]:
    """Each model's per-target scores from the nodes' metrics (the CCL node holds student and experts)."""
    models = {
        k: dict(stage_scores[k]) for k in ("source_only", "mixed_single", "experts_s1", "experts_indep")
    }
    models["student_ccl"] = _strip(stage_scores["ccl"], "student/")
    models["experts_ccl"] = _strip(stage_scores["ccl"], "experts/")
    for name, s in stage_scores.items():
        if name.startswith("abl_"):
            models[name] = _strip(s, "student/")
    return models


def _labels(models: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    abl = [(m, f"CCL student, ablation {m[4:]}", "single model") for m in models if m.startswith("abl_")]
    return [m for m in MODELS if m[0] in models] + abl


def results_table(models: Scores, targets: Sequence[str]) -> pd.DataFrame:
    """``results.csv``: model, mIoU averaged over targets (the first numeric column), one column per target, the
    average without pole, routing."""
    rows = []
    for key, label, routing in _labels(models):
        s = models[key]
        row: dict[str, Any] = {"model": label, "mIoU avg": round(s["val_miou_avg"], 2)}
        row.update({t: round(s[f"{t}/val_miou"], 2) for t in targets})
        if "val_miou_7_avg" in s:
            row["mIoU w/o pole avg"] = round(s["val_miou_7_avg"], 2)
        row["routing"] = routing
        rows.append(row)
    return pd.DataFrame(rows)


def per_target_table(models: Scores, class_names: Sequence[str], targets: Sequence[str]) -> pd.DataFrame:
    """Per (model, target): mIoU and per-class IoU."""
    rows = []
    for key, label, routing in _labels(models):
        for t in targets:
            s = models[key]
            rows.append(
                {
                    "model": label,
                    "target": t,
                    "mIoU": round(s[f"{t}/val_miou"], 2),
                    **{c: round(s.get(f"{t}/{iou_key(c)}", NAN), 1) for c in class_names},
                    "routing": routing,
                }
            )
    return pd.DataFrame(rows)


def flat_scores(models: Scores, targets: Sequence[str]) -> dict[str, float]:
    """``<model>/<t>/val_miou``, ``<model>/<t>/val_miou_7``, ``<model>/val_miou_avg`` for MLflow."""
    out: dict[str, float] = {}
    for key, _, _ in _labels(models):
        s = models[key]
        out[f"{key}/val_miou_avg"] = s["val_miou_avg"]
        for t in targets:
            out[f"{key}/{t}/val_miou"] = s[f"{t}/val_miou"]
            if f"{t}/val_miou_7" in s:
                out[f"{key}/{t}/val_miou_7"] = s[f"{t}/val_miou_7"]
    return out


def bar_plot(models: Scores, targets: Sequence[str]) -> Any:
    """Grouped bars: one group per target (and the average), one bar per model."""
    from cvpapers.engine.plots import _plt

    plt = _plt()
    labels = _labels(models)
    groups = [*targets, "avg"]
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(groups), 3.2))
    width = 0.8 / len(labels)
    for k, (key, label, routing) in enumerate(labels):
        s = models[key]
        vals = [s[f"{t}/val_miou"] for t in targets] + [s["val_miou_avg"]]
        ax.bar(
            np.arange(len(groups)) + k * width,
            vals,
            width,
            label=label,
            hatch="//" if routing == "oracle routing" else None,
        )
    ax.set_xticks(np.arange(len(groups)) + 0.4 - width / 2, groups)
    ax.set_ylabel("val mIoU (%)")
    ax.set_title("mIoU per target (hatched: experts with oracle routing)", fontsize=9)
    ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    return fig


def overlays(room: Room, val: Mapping[str, np.ndarray], models: Mapping[str, nn.Module], n: int = 2) -> Any:
    """Per target, ``n`` validation images: image | truth | each single model's prediction."""
    from cvpapers.engine.plots import segmentation_panels

    idx = np.concatenate([np.flatnonzero(val["domain"] == d)[:n] for d in range(len(room.targets))])
    images = val["images"][idx]
    cols = {"image": images, "truth": room.colorize(val["labels"][idx])}
    for name, model in models.items():
        cols[name] = room.colorize(room.predict(model.eval(), images)[1].numpy().astype(np.uint8))
    return segmentation_panels(
        cols, len(idx), f"{n} val images per target ({', '.join(room.targets)}), top to bottom"
    )
