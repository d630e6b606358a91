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
