"""Generate the street-scene benchmark once: PNG images and label maps per (style, split), one manifest."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from cvpapers.pipelines.da_benchmark.config import DaBenchmarkParams


def generate_da_benchmark(params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, float], Any, pd.DataFrame]:
    """Every configured (style, split) under ``root``; per-style samples grid and class frequencies.

    Metrics (bare keys, filed under the node by the hook): ``n_<style>_<split>`` images, ``generation_s``.
    """
    from cvpapers.data.street_scenes import write_benchmark
    from cvpapers.engine import plots

    cfg = DaBenchmarkParams.model_validate(params)
    t0 = time.perf_counter()
    counts = {style: c.model_dump() for style, c in cfg.counts.items()}
    manifest, freq, grid = write_benchmark(cfg.root, counts, cfg.height, cfg.width, cfg.base_seed, cfg.night_lights)
    metrics = {f"n_{s}_{p}": float(((manifest["domain"] == s) & (manifest["split"] == p)).sum())
               for s, p in manifest[["domain", "split"]].drop_duplicates().itertuples(index=False)}
    metrics["generation_s"] = time.perf_counter() - t0
    return manifest, metrics, plots.labelled_rows(grid, "4 images per style, then their label maps"), freq
