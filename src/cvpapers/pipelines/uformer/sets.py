"""The data of a run (papers/uformer.md §7 nodes 1–2, §8, §10).

Embedded: clean images generated per (seed, split, index) (:mod:`cvpapers.data.degraded`), written as 8-bit
PNGs under ``<data.root>/embedded/<seed>/<split>/`` and listed in the manifest; the selected arrays are the
clean training images (noise is drawn per batch) and the fixed degraded validation / test sets.
Real (SIDD / GoPro): the manifest of (degraded, clean) pairs; the last ``val_images`` training pairs are held
out for validation; pixels stay on disk and are read where used (:func:`pair_set`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cvpapers.pipelines.uformer.config import DataConfig

__all__ = ["embedded_manifest", "load_embedded", "pair_set", "real_manifest"]

Arrays = dict[str, np.ndarray]


def embedded_manifest(d: DataConfig, seed: int) -> pd.DataFrame:
    """Generate (or re-use, byte-identical) the clean PNGs of every split and list them."""
    from PIL import Image

    from cvpapers.data.degraded import clean_image

    rows = []
    for split, n in (("train", d.n_train), ("val", d.n_val), ("test", d.n_test)):
        folder = Path(d.root) / "embedded" / f"seed{seed}_{d.image_size}px" / split
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            path = folder / f"{i:05d}.png"
            if not path.is_file():
                from cvpapers.data.degraded import SPLIT_ID

                Image.fromarray(
                    clean_image(np.random.default_rng([seed, SPLIT_ID[split], i]), d.image_size)
                ).save(path)
            rows.append(
                {
                    "path": str(path),
                    "gt_path": str(path),
                    "split": split,
                    "index": i,
                    "dataset": "embedded",
                    "block": -1,
                }
            )
    return pd.DataFrame(rows)


def load_embedded(manifest: pd.DataFrame, d: DataConfig, seed: int) -> tuple[Arrays, Arrays, Arrays]:
    """train = ``{"clean"}`` (N, 3, H, W) uint8; val / test = :func:`~cvpapers.data.degraded.fixed_degraded`."""
    from cvpapers.data.decode import decode_image
    from cvpapers.data.degraded import fixed_degraded

    def clean(split: str) -> np.ndarray:
        paths = manifest.loc[manifest["split"] == split].sort_values("index")["gt_path"]
        return np.stack([decode_image(p) for p in paths])

    train = {"clean": clean("train").transpose(0, 3, 1, 2).copy()}
    sets = [fixed_degraded(clean(s), seed, s, d.test_sigmas, d.task, d.noise_model) for s in ("val", "test")]
    return train, sets[0], sets[1]


def real_manifest(d: DataConfig) -> pd.DataFrame:
    """SIDD / GoPro pairs with ``split`` train / val / test (val = the last ``val_images`` training pairs),
    subset by ``max_train_images`` / ``max_test_images`` (0 = all)."""
    from cvpapers.data.degraded import gopro_manifest, sidd_manifest

    m = sidd_manifest(d.real_root) if d.source == "sidd" else gopro_manifest(d.real_root)
    train, test = m[m["split"] == "train"].copy(), m[m["split"] == "test"].copy()
    if len(train) <= d.val_images:
        raise ValueError(
            f"{d.source}: {len(train)} training pairs cannot spare {d.val_images} for validation"
        )
    train.iloc[-d.val_images :, train.columns.get_loc("split")] = "val"
    val = train[train["split"] == "val"]
    train = train[train["split"] == "train"]
    if d.max_train_images:
        train = train.iloc[: d.max_train_images]
    if d.max_test_images:
        test = test.iloc[: d.max_test_images]
    return pd.concat([train, val, test], ignore_index=True)


def pair_set(manifest: pd.DataFrame, split: str, d: DataConfig, transform: object):
    """The ``split`` pairs as a lazily read :class:`~cvpapers.data.streaming.ManifestDataset`."""
    from cvpapers.data.degraded import read_pair
    from cvpapers.data.streaming import ManifestDataset

    rows = manifest[manifest["split"] == split]
    if rows.empty:
        raise ValueError(f"the uformer manifest has no {split} pairs")
    return ManifestDataset(rows, read_pair, transform, d.on_bad_sample)  # type: ignore[arg-type]
