"""The image sets of the DA pipelines. The embedded benchmark's manifest rows → in-memory arrays
``{"images": uint8 N×H×W×3, "labels": uint8 N×H×W, "ids": int64 N}`` that travel between nodes as ``.npz``
(small, vectorised batches); a real setting's manifests (source, Cityscapes train pool, Cityscapes val), which
travel between nodes as they are and are read lazily (:mod:`cvpapers.da.streams`).

The readers themselves are :mod:`cvpapers.data.segmentation`'s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

Arrays = dict[str, np.ndarray]


def require_real_inputs(pipeline: str, weights_path: str | None, roots: dict[str, str]) -> None:
    """A DA pipeline's preflight: a given weights file and every dataset folder of a real setting (``roots``:
    parameter key under ``<pipeline>.data.real_roots`` → folder) must exist before any node runs."""
    from cvpapers.engine.config import ParameterError

    if weights_path is not None and not Path(weights_path).is_file():
        raise ParameterError(
            f"{pipeline}.model.weights_path: {weights_path} is not a file (a local torch state dict)"
        )
    missing = [f"{pipeline}.data.real_roots.{key} = {p}" for key, p in roots.items() if not Path(p).is_dir()]
    if missing:
        raise ParameterError(
            "dataset folder(s) not found: " + "; ".join(missing)
            + f". See README ({pipeline}, real data) for the expected layouts."
        )


def benchmark_rows(manifest: pd.DataFrame, style: str, split: str) -> pd.DataFrame:
    """The embedded benchmark's rows of one (style, split), in generation order."""
    rows = manifest[(manifest["domain"] == style) & (manifest["split"] == split)]
    if rows.empty:
        raise ValueError(f"the da_benchmark manifest has no ({style}, {split}) images; "
                         f"set da_benchmark.counts.{style}.{split} > 0")
    return rows.sort_values("index")


def real_rows(source: str, source_root: str, cityscapes_root: str, max_source: int = 0,
              max_target: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(source, Cityscapes train pool, Cityscapes val) manifests of a real setting; ``max_*`` > 0 keeps the first
    rows (a subset for trials). Each gets an ``id`` (its position). In the SYNTHIA setting Cityscapes labels are
    decoded into SYNTHIA's 16-class space (``dataset = cityscapes16``)."""
    from cvpapers.data.segmentation import cityscapes_manifest, gta5_manifest, synthia_manifest

    readers = {"gta5": gta5_manifest, "synthia": synthia_manifest}
    if source not in readers:
        raise ValueError(f"unknown real DA source {source!r}; allowed: {', '.join(readers)}")
    src = readers[source](source_root)
    city = cityscapes_manifest(cityscapes_root)
    if source == "synthia":
        city = city.assign(dataset="cityscapes16")
    pool, val = city[city["split"] == "train"], city[city["split"] == "val"]
    if max_source:
        src = src.head(max_source)
    if max_target:
        pool = pool.head(max_target)
    return tuple(t.reset_index(drop=True).assign(id=np.arange(len(t), dtype=np.int64))  # type: ignore[return-value]
                 for t in (src, pool, val))


def load_arrays(rows: pd.DataFrame, size: tuple[int, int] | None = None, label_map: np.ndarray | None = None) -> Arrays:
    """Every row's image and label (resized to ``size`` (H, W) when given); ``label_map`` is a 256-entry lookup
    applied to the labels (e.g. ``TRAINID19_TO_16``: Cityscapes in SYNTHIA's 16-class space)."""
    from cvpapers.data.segmentation import load_segmentation

    x, y = load_segmentation(rows.reset_index(drop=True), size)
    labels = y.numpy() if label_map is None else label_map[y.numpy()]
    return {"images": x.permute(0, 2, 3, 1).numpy(), "labels": labels, "ids": np.arange(len(rows))}
