"""Figures every pipeline reuses: sample grids, training curves, accuracy-vs-cost scatter.

matplotlib is imported lazily (Agg backend) so that `kedro run` and `kedro viz` start fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def image_grid(images: np.ndarray, labels: np.ndarray, class_names: Sequence[str], per_class: int = 10) -> Any:
    """``per_class`` images of each class (rows = classes); ``images`` uint8 N×H×W×3."""
    plt = _plt()
    n_classes = len(class_names)
    fig, axes = plt.subplots(n_classes, per_class, figsize=(per_class * 0.8, n_classes * 0.85), squeeze=False)
    for c in range(n_classes):
        idx = np.flatnonzero(labels == c)[:per_class]
        for j in range(per_class):
            ax = axes[c, j]
            ax.axis("off")
            if j < len(idx):
                ax.imshow(images[idx[j]], interpolation="nearest")
        axes[c, 0].set_title(class_names[c], fontsize=7, loc="left")
    fig.tight_layout(pad=0.2)
    return fig


def curves(series: Mapping[str, Sequence[float]], ylabel: str, xlabel: str = "epoch", title: str = "") -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, ys in series.items():
        ax.plot(range(1, len(ys) + 1), ys, marker="o", ms=3, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def accuracy_vs_cost(points: Sequence[Mapping[str, Any]], x: str, y: str, label: str, xlabel: str, ylabel: str) -> Any:
    """One labelled point per method (e.g. top-1 vs MACs)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for p in points:
        ax.scatter(p[x], p[y], s=50)
        ax.annotate(str(p[label]), (p[x], p[y]), textcoords="offset points", xytext=(5, 5), fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def binary_heatmaps(matrices: Mapping[str, np.ndarray], xlabel: str, ylabel: str, title: str = "") -> Any:
    """One panel per entry (rows × columns of 0/1), e.g. recompute × filter selection."""
    plt = _plt()
    n = len(matrices)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
    for ax, (name, m) in zip(axes.flat, matrices.items(), strict=False):
        ax.imshow(m, aspect="auto", cmap="Greys", interpolation="nearest", vmin=0, vmax=1)
        ax.set_title(name, fontsize=8)
        ax.set_xlabel(xlabel, fontsize=7)
        ax.set_ylabel(ylabel, fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def labelled_rows(rows: Mapping[str, np.ndarray], title: str = "") -> Any:
    """One row of images (uint8 K×H×W×3) per entry, the entry's name on the left."""
    plt = _plt()
    n_rows = len(rows)
    n_cols = max(len(v) for v in rows.values())
    h, w = next(iter(rows.values())).shape[1:3]
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(n_cols * 1.6 * w / max(h, w) + 0.5, n_rows * 1.6 * h / max(h, w) + 0.4),
                             squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(images):
                ax.imshow(images[c], interpolation="nearest")
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.3)
    return fig


def segmentation_panels(columns: Mapping[str, np.ndarray], n: int = 4, title: str = "") -> Any:
    """``n`` examples as rows, one column per entry (e.g. image | truth | prediction), uint8 N×H×W×3 each."""
    plt = _plt()
    names = list(columns)
    h, w = next(iter(columns.values())).shape[1:3]
    fig, axes = plt.subplots(n, len(names), figsize=(len(names) * 2.2, n * 2.2 * h / w + 0.4), squeeze=False)
    for c, name in enumerate(names):
        for r in range(n):
            ax = axes[r, c]
            ax.axis("off")
            if r < len(columns[name]):
                ax.imshow(columns[name][r], interpolation="nearest")
        axes[0, c].set_title(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.3)
    return fig


def _as_numpy(x: Any) -> np.ndarray:
    # Tensors (any device) without importing torch here: plots stay importable without it.
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def detection_grid(
    images: np.ndarray,
    panels: Sequence[Mapping[str, Any]],
    class_names: Sequence[str],
    ncols: int = 4,
    title: str = "",
) -> Any:
    """One panel per image (uint8 N×H×W×3) with its boxes, ``ncols`` panels a row, 2 inches each.

    ``panels[i]`` may hold ``gt_boxes`` (G, 4) xyxy with ``gt_labels`` (G,) — solid green rectangles —,
    predictions ``boxes`` (K, 4) xyxy with ``labels`` (K,) and optional ``scores`` (K,) — dashed, one
    colour per class, text "name 0.87" —, and a ``caption`` written under the image (e.g.
    ``"U=0.031 · hard"``). Every key is optional; numpy arrays or tensors. Only N axes are kept.
    """
    plt = _plt()
    from matplotlib.patches import Rectangle

    n = len(images)
    if len(panels) != n:
        raise ValueError(f"{n} images but {len(panels)} panels")
    cols = max(1, min(int(ncols), n))
    rows = max(1, -(-n // cols))
    # A caption line needs ~0.2 in per row; without it tight_layout squeezes it under the next row.
    caption_h = 0.2 if any(p.get("caption") for p in panels) else 0.0
    height = (2.0 + caption_h) * rows + (0.3 if title else 0.0)
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, height), squeeze=False)
    tab10 = plt.get_cmap("tab10")
    palette = [tab10(i) for i in (0, 1, 3, 4, 5, 6, 7, 8, 9)]  # tab10 without its green: green means GT

    def name(c: int) -> str:
        return class_names[c] if 0 <= c < len(class_names) else str(c)

    for k, ax in enumerate(axes.flat):
        if k >= n:
            fig.delaxes(ax)  # so fig.axes are exactly the N image panels
            continue
        panel = panels[k]
        ax.imshow(images[k], interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        gt = _as_numpy(panel.get("gt_boxes", np.zeros((0, 4)))).reshape(-1, 4)
        for x1, y1, x2, y2 in gt.tolist():
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor="limegreen",
                                   linewidth=1.2, linestyle="-"))
        boxes = _as_numpy(panel.get("boxes", np.zeros((0, 4)))).reshape(-1, 4)
        labels = _as_numpy(panel.get("labels", np.zeros(len(boxes), dtype=np.int64))).reshape(-1)
        scores = panel.get("scores")
        scores = None if scores is None else _as_numpy(scores).reshape(-1)
        for j, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
            c = int(labels[j])
            colour = palette[c % len(palette)]
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour,
                                   linewidth=1.0, linestyle="--"))
            text = name(c) if scores is None else f"{name(c)} {float(scores[j]):.2f}"
            # Inside the box's top-left corner, so boxes at the image's top edge keep their text.
            ax.text(x1, y1, text, fontsize=5, color="white", va="top", ha="left", clip_on=True,
                    bbox={"facecolor": colour, "alpha": 0.7, "pad": 0.5, "linewidth": 0})
        if panel.get("caption"):
            ax.set_xlabel(str(panel["caption"]), fontsize=6, labelpad=2)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.3)
    return fig


def histograms(groups: Mapping[str, np.ndarray], xlabel: str, bins: int = 40, title: str = "") -> Any:
    """Overlaid density histograms of a few groups of values on shared bins (e.g. uncertainties by set)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    present = {k: np.asarray(v, dtype=np.float64) for k, v in groups.items() if len(v)}
    if present:
        values = np.concatenate(list(present.values()))
        edges = np.histogram_bin_edges(values, bins=bins)
        for name, v in present.items():
            ax.hist(v, bins=edges, alpha=0.5, density=True, label=f"{name} (n={len(v)})")
        ax.legend(fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def xy_curves(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], xlabel: str, ylabel: str,
              title: str = "") -> Any:
    """One line per series with its own x values (e.g. mAP against the labelled fraction per arm)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", ms=4, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def curve_panels(panels: Mapping[str, Mapping[str, Sequence[float]]], xlabel: str = "epoch", title: str = "",
                 columns: int = 3) -> Any:
    """One small panel per quantity (its y label), one line per series in each (e.g. test top-1, flip rate and
    clamp fraction per epoch of every arm); series with no values are left out."""
    plt = _plt()
    n = max(len(panels), 1)
    cols = min(columns, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, (ylabel, series) in zip(axes.flat, panels.items(), strict=False):
        for name, ys in series.items():
            if len(ys):
                ax.plot(range(1, len(ys) + 1), ys, marker="o", ms=2, label=name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
