"""MTDA's image sets: the benchmark's source and target styles, or the real datasets (GTA5 / SYNTHIA →
Cityscapes, IDD, Mapillary) held in memory at ``data.real_size``; and the per-image LAB statistics of every
target's training images. Plain NumPy/PyTorch; no Kedro."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from cvpapers.pipelines.mtda_collab.config import MtdaParams

if TYPE_CHECKING:
    from cvpapers.pipelines.mtda_collab.room import Room

Arrays = dict[str, np.ndarray]


def _stack_targets(parts: list[Arrays], names: list[str], label_key: str) -> Arrays:
    return {
        "images": np.concatenate([a["images"] for a in parts]),
        label_key: np.concatenate([a["labels"] for a in parts]),
        "domain": np.concatenate([np.full(len(a["images"]), d, dtype=np.int64) for d, a in enumerate(parts)]),
        "domains": np.asarray(names),
    }


def benchmark_sets(p: MtdaParams, manifest: pd.DataFrame) -> tuple[Arrays, Arrays, Arrays]:
    """The shared benchmark's ``source_style`` (train) and ``target_styles`` (train, val)."""
    from cvpapers.da.data import benchmark_rows, load_arrays

    d = p.data
    source = load_arrays(benchmark_rows(manifest, d.source_style, "train"))
    train = [load_arrays(benchmark_rows(manifest, t, "train")) for t in d.target_styles]
    val = [load_arrays(benchmark_rows(manifest, t, "val")) for t in d.target_styles]
    return (
        {"images": source["images"], "labels": source["labels"]},
        _stack_targets(train, list(d.target_styles), "hidden_labels"),
        _stack_targets(val, list(d.target_styles), "labels"),
    )


def real_sets(p: MtdaParams) -> tuple[Arrays, Arrays, Arrays]:
    """The real setting: source manifest + each target's train/val manifests, decoded into the training classes
    (SYNTHIA: the 16-class space) and held in memory at ``data.real_size``."""
    from cvpapers.da.data import load_arrays
    from cvpapers.data import segmentation as seg

    d = p.data
    roots = d.real_roots
    src = {"gta5": seg.gta5_manifest, "synthia": seg.synthia_manifest}[d.source](getattr(roots, d.source))
    if d.max_source_images:
        src = src.head(d.max_source_images)
    to16 = seg.TRAINID19_TO_16 if d.source == "synthia" else None
    size = tuple(d.real_size)
    source = load_arrays(src, size)  # type: ignore[arg-type]
    train, val = [], []
    for t in d.real_targets:
        rows, lut = _target_rows(p, t)
        if to16 is not None:
            lut = to16[lut]
        for split, out in (("train", train), ("val", val)):
            part = rows[rows["split"] == split]
            if d.max_target_images:
                part = part.head(d.max_target_images)
            out.append(load_arrays(part, size, lut))  # type: ignore[arg-type]
    return (
        {"images": source["images"], "labels": source["labels"]},
        _stack_targets(train, list(d.real_targets), "hidden_labels"),
        _stack_targets(val, list(d.real_targets), "labels"),
    )


def _target_rows(p: MtdaParams, target: str) -> tuple[pd.DataFrame, np.ndarray]:
    """A real target's manifest (train and val rows) and the lookup from its stored label ids to trainIds."""
    from cvpapers.data import segmentation as seg

    roots, d = p.data.real_roots, p.data
    if target == "cityscapes":  # decoded to trainIds by the reader itself
        return seg.cityscapes_manifest(roots.cityscapes), np.arange(256, dtype=np.uint8)
    if target == "idd":
        return (
            seg.idd_manifest(roots.idd, label_suffix=d.idd.label_suffix),
            seg.idd_label_lut(d.idd.mapping),
        )
    rows = seg.mapillary_manifest(roots.mapillary, labels_dir=d.mapillary.labels_dir)
    return rows, seg.mapillary_label_lut(roots.mapillary, d.mapillary.config, d.mapillary.mapping)


def lab_statistics(room: Room, source: Arrays, train: Arrays) -> tuple[Arrays, dict[str, float], Any]:
    """Per-image LAB ``mean``/``std`` (N×3, float64) of every target's training images (``domain``) — the bridge's
    references — with per-domain means as metrics and the translation grid (§7 node 2)."""
    from cvpapers.da.lab import lab_stats
    from cvpapers.engine import plots
    from cvpapers.pipelines.mtda_collab import ccl

    mean, std = lab_stats(train["images"])
    out = {"mean": mean.numpy(), "std": std.numpy(), "domain": train["domain"]}
    metrics: dict[str, float] = {}
    src_mean, src_std = lab_stats(source["images"])
    for name, m, s in [("source", src_mean, src_std)] + [
        (t, mean[train["domain"] == d], std[train["domain"] == d]) for d, t in enumerate(room.targets)
    ]:
        for k, ch in enumerate("Lab"):
            metrics[f"{name}/lab_mean_{ch}"], metrics[f"{name}/lab_std_{ch}"] = (
                float(m[:, k].mean()),
                float(s[:, k].mean()),
            )
    bank = room.bank(out, len(source["images"]))
    g = torch.Generator().manual_seed(room.run.seed("translation_plot"))
    xs = torch.from_numpy(source["images"][:4])
    rows: dict[str, np.ndarray] = {"source": xs.numpy()}
    for i, t in enumerate(room.targets):
        rows[f"source → {t}"] = _uint8(bank.translate(xs, bank.refs(i, torch.arange(4), g)))
    for i, t in enumerate(room.targets):
        for j, u in enumerate(room.targets):
            if i != j:
                xt = torch.from_numpy(train["images"][train["domain"] == j][:4])
                rows[f"{u} → {t}"] = _uint8(
                    bank.translate(
                        xt, bank.refs(i, torch.arange(4), g, "target", j, int((train["domain"] == j).sum()))
                    )
                )
    del ccl
    return out, metrics, plots.labelled_rows(rows, "LAB bridge: τ(x; a random image of the target)")


def _uint8(x: torch.Tensor) -> np.ndarray:
    return (x.permute(0, 2, 3, 1).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
