"""What an MI-AOD run shows: the comparison tables of the arms, the mAP-vs-labelled-fraction curves, the pool
samples, the test detections, the uncertainty histograms and the most uncertain images selected.

``results`` everywhere is the compare node's input: ``{"<arm>_c<k>": train metrics, "<arm>_select_c<k>":
selection metrics}``, each with the bare keys its node returned (``map``, ``labelled``, ``ap/<class>``, …).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cvpapers.pipelines.mi_aod.data import Arrays, class_names, images_of, regime_name

ARM_LABELS = {"miaod": "MI-AOD", "random": "Random", "miaod_trainonly": "MI-AOD training + random selection"}
Results = Mapping[str, Mapping[str, float]]


def arm_map(results: Results, arm: str, cycles: int) -> list[float]:
    """The arm's test mAP@0.5 (%) per cycle."""
    return [results[f"{arm}_c{c}"]["map"] for c in range(cycles)]


def comparison_tables(results: Results, arms: Sequence[str], cycles: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """mAP per arm and cycle with the MI-AOD − Random gap; per-class AP per arm and cycle."""
    rows, class_rows = [], []
    for c in range(cycles):
        first = results[f"miaod_c{c}"]
        row: dict[str, Any] = {"cycle": c, "labelled": int(first["labelled"]),
                               "labelled %": round(100 * first["labelled_fraction"], 2)}
        for arm in arms:
            m = results[f"{arm}_c{c}"]
            row[f"{ARM_LABELS[arm]} mAP50"] = round(m["map"], 2)
            class_rows.append({"arm": ARM_LABELS[arm], "cycle": c,
                               **{k.split("/")[-1]: round(v, 2) for k, v in m.items() if k.startswith("ap/")}})
        row["gap (MI-AOD − Random)"] = round(first["map"] - results[f"random_c{c}"]["map"], 2)
        rows.append(row)
    return pd.DataFrame(rows), pd.DataFrame(class_rows)


def map_curve_plot(results: Results, arms: Sequence[str], cycles: int, iou_thr: float) -> Any:
    from cvpapers.engine import plots

    fractions = [100 * results[f"miaod_c{c}"]["labelled_fraction"] for c in range(cycles)]
    return plots.xy_curves({ARM_LABELS[a]: (fractions, arm_map(results, a, cycles)) for a in arms},
                           xlabel="labelled images (% of the pool)", ylabel=f"test mAP@{iou_thr:g} (%)",
                           title="MI-AOD vs Random selection")


def samples_plot(pool: Arrays, n: int = 16) -> Any:
    from cvpapers.engine import plots

    shown = np.arange(min(n, len(pool["labels"])))
    panels = [{"gt_boxes": pool["boxes"][i][pool["labels"][i] >= 0], "gt_labels": pool["labels"][i][pool["labels"][i] >= 0],
               "caption": regime_name(pool["regime"][i])} for i in shown]
    return plots.detection_grid(images_of(pool, shown), panels, class_names(pool), title="pool images with ground truth")


def detections_plot(data: Arrays, dets: list[dict[str, np.ndarray]], title: str,
                    indices: np.ndarray | None = None, captions: list[str] | None = None) -> Any:
    """Ground truth and confident detections of the images ``indices`` (default: the first 8); ``dets`` are
    either those images' detections or the whole set's."""
    from cvpapers.engine import plots

    indices = np.arange(min(8, len(dets))) if indices is None else indices
    panels = []
    for j, i in enumerate(indices):
        valid = data["labels"][i] >= 0
        d = dets[j] if len(dets) == len(indices) else dets[i]
        keep = d["scores"] >= 0.3  # the confident ones; 0.05-score boxes would hide the image
        panels.append({"gt_boxes": data["boxes"][i][valid], "gt_labels": data["labels"][i][valid],
                       "boxes": d["boxes"][keep], "labels": d["labels"][keep], "scores": d["scores"][keep],
                       "caption": captions[j] if captions else ""})
    return plots.detection_grid(images_of(data, indices), panels, class_names(data), title=title)


def uncertainty_groups(scores: np.ndarray, labelled: Sequence[int], selected: np.ndarray) -> dict[str, np.ndarray]:
    """Pool uncertainties split into labelled, selected and the rest."""
    in_l = np.zeros(len(scores), bool)
    in_l[labelled] = True
    is_sel = np.zeros(len(scores), bool)
    is_sel[selected] = True
    return {"labelled": scores[in_l], "selected": scores[is_sel], "not selected": scores[~in_l & ~is_sel]}


def uncertainty_stats(scores: np.ndarray, groups: Mapping[str, np.ndarray]) -> dict[str, float]:
    rest = groups["not selected"]
    return {"mean_u_selected": float(groups["selected"].mean()),
            "mean_u_not_selected": float(rest.mean()) if len(rest) else float("nan"),
            "mean_u_labelled": float(groups["labelled"].mean()), "u_zero_fraction": float((scores <= 0).mean())}


def uncertainty_histogram(groups: Mapping[str, np.ndarray], bins: int, cycle: int) -> Any:
    from cvpapers.engine import plots

    return plots.histograms(dict(groups), xlabel="image uncertainty U(x)", bins=bins,
                            title=f"MI-AOD cycle {cycle}: pool uncertainties")


def selected_plot(pool: Arrays, top: np.ndarray, dets: list[dict[str, np.ndarray]], scores: np.ndarray,
                  cycle: int) -> Any:
    captions = [f"U={scores[i]:.3g} · {regime_name(pool['regime'][i])}" for i in top]
    return detections_plot(pool, dets, f"MI-AOD cycle {cycle}: most uncertain images selected", indices=top,
                           captions=captions)
