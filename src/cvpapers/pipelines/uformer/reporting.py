"""The evaluation node's work (papers/uformer.md §7 node 5): rebuild every trained network, run the test
protocol (arrays or streamed pairs), and make the tables, samples and curves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from cvpapers.pipelines.uformer.config import UformerParams

__all__ = ["evaluate_all"]


def evaluate_all(
    test: dict[str, np.ndarray],
    manifest: pd.DataFrame,
    p: UformerParams,
    device: torch.device,
    inputs: Mapping[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame, Any, Any, dict[str, float]]:
    """``inputs``: ``ckpt_<key>`` checkpoints (empty = skipped) and ``log_<key>`` training histories."""
    from cvpapers.engine.checkpoint import rebuild_model
    from cvpapers.pipelines.uformer import evaluation as ev
    from cvpapers.pipelines.uformer import figures

    ckpts = {k.removeprefix("ckpt_"): v for k, v in inputs.items() if k.startswith("ckpt_") and v}
    models = {k: rebuild_model(c, f"{k} checkpoint") for k, c in ckpts.items()}
    labels = {ev.INPUT: ev.label(ev.INPUT), **{k: ev.label(k, c) for k, c in ckpts.items()}}
    if p.data.source == "embedded":
        rows, extra, preds = ev.evaluate_arrays(models, ckpts, test, device, p.train.eval_batch_size)
        worst = float(np.max(test["sigma"]))
        idx = np.flatnonzero(test["sigma"] == worst)[:4].tolist()
        shown = {k: v for k, v in preds.items() if k != ev.INPUT}
        target = torch.from_numpy(test["clean"]).float() / 255
        sample_fig = figures.samples(torch.from_numpy(test["noisy"]), target, shown, labels, idx)
        sigmas = p.data.test_sigmas
    else:
        from cvpapers.data.streaming import SkipLog, stream
        from cvpapers.pipelines.uformer.sets import pair_set
        from cvpapers.pipelines.uformer.training import FullPair

        pairs = stream(
            pair_set(manifest, "test", p.data, FullPair()),
            1,
            workers=p.data.workers,
            desc="test",
            skips=SkipLog(),
        )
        rows, extra, kept = ev.evaluate_streamed(models, ckpts, pairs, device, p.train.crop)
        sample_fig = figures.streamed_samples(kept, labels)
        sigmas = ()
    summary = ev.summarise(rows, sigmas)
    metrics = {f"test/{k}/{m}": v for k, s in summary.items() for m, v in {**s, **extra.get(k, {})}.items()}
    logs = {k.removeprefix("log_"): v for k, v in inputs.items() if k.startswith("log_") and len(v)}
    rows = rows.assign(model=rows["model"].map(labels))
    return (ev.results_table(summary, extra, labels), rows, sample_fig, figures.curves(logs, labels), metrics)
