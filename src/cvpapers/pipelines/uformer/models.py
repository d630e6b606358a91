"""Which network each training node builds and what it trains on (papers/uformer.md §7, §8)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from cvpapers.pipelines.uformer.config import UformerParams

__all__ = ["ABLATION_CHANGES", "model_config", "training_data"]

#: Ablation → the Uformer settings it changes (full model − ablated is ``compare/abl/<name>/psnr_gain_db``).
ABLATION_CHANGES: dict[str, dict[str, Any]] = {
    "no_modulator": {"modulator": False},
    "ffn_mlp": {"token_mlp": "mlp"},
    "no_shift": {"shift": False},  # a no-op when every stage has depth 1 (only odd blocks shift)
    "skip_cross": {"skip": "cross"},
    "skip_catcross": {"skip": "catcross"},
}


def model_config(key: str, p: UformerParams) -> dict[str, Any] | None:
    """The builder config (``kind`` + keyword arguments) of ``key``, or None when the run switches it off."""
    if key == "unet":
        return {"kind": "unet", "dim": p.unet.dim}
    if key == "unet_matched":
        return {"kind": "unet", "dim": p.unet_matched.dim} if p.baselines.unet_matched else None
    m = p.model.model_dump()
    config = {
        "kind": "uformer",
        "img_size": p.model_size(),
        **{k: list(v) if isinstance(v, tuple) else v for k, v in m.items()},
    }
    if key == "uformer":
        return config
    name = key.removeprefix("abl_")
    if name not in p.ablations:
        return None
    return {**config, **ABLATION_CHANGES[name]}


def training_data(
    train: dict[str, np.ndarray],
    val: dict[str, np.ndarray],
    manifest: pd.DataFrame,
    p: UformerParams,
    device: torch.device,
) -> tuple[Any, str]:
    """(training source, data digest for the resume fingerprint) of the run's data source."""
    from cvpapers.engine.checkpoint import data_digest
    from cvpapers.pipelines.uformer import training
    from cvpapers.pipelines.uformer.sets import pair_set

    if p.data.source == "embedded":
        data = training.in_memory(train, val, p.train, p.data, device)
        return data, data_digest(train["clean"], val["clean"], val["noisy"])
    from cvpapers.data.streaming import SkipLog

    d, t = p.data, p.train
    data = training.streamed(
        pair_set(manifest, "train", d, training.PairCrop(t.crop, t.augment)),
        pair_set(manifest, "val", d, training.FullPair()),
        t,
        device,
        d.workers,
        SkipLog(),
    )
    return data, data_digest(np.array(manifest.to_csv(index=False)))
