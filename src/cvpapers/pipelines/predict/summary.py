"""The summary of a predict run: what the model saw in the user's folder, in one small table."""

from __future__ import annotations

import numpy as np
import pandas as pd


def summarise(predictions: pd.DataFrame, family: str) -> tuple[pd.DataFrame, dict[str, float]]:
    """Classification/detection: images (boxes) and mean score per class; otherwise the mean, min and max of
    every measured column. Metrics: counts and the headline mean (floats only)."""
    if family in ("classification", "detection"):
        found = predictions[predictions["class"].astype(str) != ""] if len(predictions) else predictions
        table = (
            found.groupby("class")["score"]
            .agg(["count", "mean"])
            .reset_index()
            .rename(columns={"count": "n", "mean": "mean_score"})
        )
        metrics = {
            "n_images": float(predictions["file"].nunique()) if len(predictions) else 0.0,
            "n_predictions": float(len(found)),
            "n_classes_seen": float(len(table)),
            "mean_score": float(found["score"].mean()) if len(found) else float("nan"),
        }
        return table, {k: v for k, v in metrics.items() if np.isfinite(v)}  # no score when nothing was found
    numeric = predictions.select_dtypes("number")
    table = numeric.agg(["mean", "min", "max"]).T.reset_index().rename(columns={"index": "column"})
    metrics = {
        "n_images": float(len(predictions)),
        **{f"mean_{c}": float(numeric[c].mean()) for c in numeric.columns[:6] if len(numeric)},
    }
    return table, metrics
