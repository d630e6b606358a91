"""Generate the street-scene benchmark once: PNG images and label maps per (style, split), one manifest."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from cvpapers.pipelines.da_benchmark.config import DaBenchmarkParams


def generate_da_benchmark(params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, float], Any, pd.DataFrame]:
    """Every configured (style, split) under ``root``; per-style samples grid and class frequencies.

    Metrics (bare keys, filed under the node by the hook): ``n_<style>_<split>`` images, ``generation_s``.
    """
    from cvpapers.data.street_scenes import (
        CLASS_NAMES,
        class_frequencies,
        colorize,
        generate_style,
        write_street_split,
    )
    from cvpapers.engine import plots

    cfg = DaBenchmarkParams.model_validate(params)
    t0 = time.perf_counter()
    parts, freq_rows, grid = [], [], {}
    for style, counts in cfg.counts.items():
        if not any(counts.model_dump().values()):
            continue
        for split, n in counts.model_dump().items():
            if n == 0:
                continue
            rows = write_street_split(cfg.root, style, split, n, cfg.height, cfg.width, cfg.base_seed, cfg.night_lights)
            parts.append(rows.assign(dataset="embedded"))
        # The first images of the style's first split: for the grid and the class-frequency table.
        split = next(s for s, n in counts.model_dump().items() if n)
        images, labels, _ = generate_style(style, split, min(counts.model_dump()[split], 200), cfg.height,
                                           cfg.width, cfg.base_seed, cfg.night_lights)
        freq_rows.append({"style": style, **dict(zip(CLASS_NAMES, np.round(100 * class_frequencies(labels), 2),
                                                      strict=True))})
        grid[style] = np.concatenate([images[:4], colorize(labels[:4])])
    manifest = pd.concat(parts, ignore_index=True)
    metrics = {f"n_{s}_{p}": float(((manifest["domain"] == s) & (manifest["split"] == p)).sum())
               for s, p in manifest[["domain", "split"]].drop_duplicates().itertuples(index=False)}
    metrics["generation_s"] = time.perf_counter() - t0
    return manifest, metrics, plots.labelled_rows(grid, "4 images per style, then their label maps"), pd.DataFrame(freq_rows)
