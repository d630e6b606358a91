"""MSCL's image sets: N labelled sources stacked in one array set, the unlabelled target pool and the target val
set — from the embedded benchmark's manifest or from the real datasets (held in memory at ``data.real_size``) —
and the LAB translation of every source toward the target (spec §3.1, §7 nodes 1–2). Plain NumPy/PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cvpapers.pipelines.msda_collab.config import MsdaParams

Arrays = dict[str, np.ndarray]


def stack_sources(parts: dict[str, Arrays]) -> Arrays:
    """``{source: {"images", "labels"}}`` → one set: ``images``, ``labels``, ``domain`` (index into ``domains``,
    a unicode array, so the file loads without pickle)."""
    names = list(parts)
    return {
        "images": np.concatenate([parts[s]["images"] for s in names]),
        "labels": np.concatenate([parts[s]["labels"] for s in names]),
        "domain": np.concatenate(
            [np.full(len(parts[s]["images"]), k, dtype=np.int64) for k, s in enumerate(names)]
        ),
        "domains": np.asarray(names, dtype=np.str_),
    }


def _target_sets(pool: Arrays, val: Arrays) -> tuple[Arrays, Arrays]:
    """The pool keeps its labels only as ``hidden_labels`` (read by the pseudo-label accuracy alone)."""
    return (
        {"images": pool["images"], "hidden_labels": pool["labels"]},
        {"images": val["images"], "labels": val["labels"]},
    )


def embedded_sets(manifest: pd.DataFrame, p: MsdaParams) -> tuple[Arrays, Arrays, Arrays]:
    """Sources (each ``data.source_styles`` train split), target pool (``target_style`` train), target val."""
    from cvpapers.da.data import benchmark_rows, load_arrays

    d = p.data
    parts = {s: load_arrays(benchmark_rows(manifest, s, "train")) for s in d.source_styles}
    pool, val = (load_arrays(benchmark_rows(manifest, d.target_style, split)) for split in ("train", "val"))
    return (stack_sources(parts), *_target_sets(pool, val))


def real_manifests(p: MsdaParams) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    """The real setting's source manifests, Cityscapes train (pool) and val; ``max_*_images`` keep the first
    rows. With SYNTHIA, Cityscapes is decoded into the 16-class space (``cityscapes16``)."""
    from cvpapers.data.segmentation import (
        cityscapes_manifest,
        gta5_manifest,
        synscapes_manifest,
        synthia_manifest,
    )

    d, roots = p.data, p.data.real_roots
    readers = {
        "gta5": lambda: gta5_manifest(roots.gta5),
        "synthia": lambda: synthia_manifest(roots.synthia),
        "synscapes": lambda: synscapes_manifest(
            roots.synscapes, d.synscapes.image_dir, d.synscapes.label_dir
        ),
    }
    sources = {s: readers[s]() for s in d.sources}
    city = cityscapes_manifest(roots.cityscapes)
    if d.source == "gta5_synthia":
        city = city.assign(dataset="cityscapes16")
    pool, val = city[city["split"] == "train"], city[city["split"] == "val"]
    if d.max_source_images:
        sources = {s: rows.head(d.max_source_images) for s, rows in sources.items()}
    if d.max_target_images:
        pool = pool.head(d.max_target_images)
    return sources, pool, val


def real_sets(p: MsdaParams) -> tuple[Arrays, Arrays, Arrays]:
    """The real setting's images at ``data.real_size`` in memory, every domain in the setting's class space
    (GTA5's 19 trainIds mapped to SYNTHIA's 16 in the SYNTHIA setting)."""
    from cvpapers.da.data import load_arrays
    from cvpapers.data.segmentation import TRAINID19_TO_16

    size = tuple(p.data.real_size)
    sources, pool, val = real_manifests(p)
    to16 = TRAINID19_TO_16 if p.data.source == "gta5_synthia" else None
    parts = {s: load_arrays(rows, size, to16 if s != "synthia" else None) for s, rows in sources.items()}
    return (stack_sources(parts), *_target_sets(load_arrays(pool, size), load_arrays(val, size)))


def lab_translate(
    sources: Arrays, pool: Arrays, p: MsdaParams, seed_of: Any
) -> tuple[Arrays, dict[str, float]]:
    """Every source translated to the target pool's LAB statistics, one call per source with its own seed
    (``seed_of(source)``); the info floats per source (``<source>/lab_mean_dist_before`` …)."""
    from cvpapers.da.lab import translate_to_target

    images, info = sources["images"].copy(), {"enabled": float(p.lab.enabled)}
    if not p.lab.enabled:
        return dict(sources), info
    for k, name in enumerate(sources["domains"]):
        keep = sources["domain"] == k
        out, stats = translate_to_target(
            sources["images"][keep], pool["images"], p.lab.reference, seed_of(str(name)), p.lab.eps
        )
        images[keep] = np.asarray(out)
        info.update({f"{name}/{key}": float(v) for key, v in stats.items()})
    return {**sources, "images": images}, info


def per_source_examples(sources: Arrays, n: int) -> dict[str, np.ndarray]:
    """The first ``n`` images of every source."""
    return {
        str(name): sources["images"][sources["domain"] == k][:n] for k, name in enumerate(sources["domains"])
    }
