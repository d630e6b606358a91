"""Real DA datasets read lazily from their manifests: the file-backed side of the DA pipelines' image sets.

Between nodes a real image set is a manifest (one row per sample: ``path``, ``label_path`` or
``hidden_label_path``, ``dataset`` — the label encoding — ``id``, and for LAB-translated source rows the
reference statistics ``lab_ref_mean_<k>`` / ``lab_ref_std_<k>``); pixels are read only when a batch needs them:

* :class:`DAReader` — one row → ``{"image", "mask", "full_size"}``: strict decoding
  (:func:`cvpapers.data.segmentation.read_pair`: missing/truncated files, label sizes and class ids are named
  errors), the official code's resizing (Pillow bicubic / nearest) and, for translated source rows, the LAB
  transfer to the row's reference statistics on the fly (the same numbers as translating offline);
* :func:`train_transform` — the seeded random crop (and optional flip) of training samples (albumentations);
* :class:`UnionDataset` / :class:`PairDataset` — several sets in one index space (a batch that takes from
  each: source + target, unlabelled + labelled) and pairs combined in the worker (DDM's region mixing);
* :class:`StreamSource` — a stage's :class:`~cvpapers.data.streaming.StreamingBatches` (DataLoader workers,
  pinned memory, persistent workers), built by the engine's ``train_iterations(source=…)`` for its chunks.

Plain PyTorch; no Kedro.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from cvpapers.data.streaming import (
    ManifestDataset,
    Pick,
    SeededAlbumentations,
    SkipLog,
    Skipped,
    StreamingBatches,
)
from cvpapers.engine.seeding import derive_seed

Sample = dict[str, Any]
LAB_MEAN = tuple(f"lab_ref_mean_{k}" for k in range(3))
LAB_STD = tuple(f"lab_ref_std_{k}" for k in range(3))


def _cell(row: Any, column: str | None) -> str | None:
    """A path cell, or None when the column is absent or the cell empty (NaN in a CSV)."""
    if column is None:
        return None
    value = row.get(column)
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    return str(value)


@dataclass(frozen=True)
class DAReader:
    """One manifest row → ``{"image": uint8 H×W×3, "mask": uint8 H×W, "full_size": (H, W) on disk}``.

    ``size``: resize to (H, W) — image Pillow-bicubic, label nearest (the DDM/ADVENT code's resizing);
    ``full_label``: keep the label at full resolution (evaluation against full-resolution labels);
    ``label``: the column holding the label path (``None``: no label; ``placeholder`` then gives an all-255
    mask so unlabelled samples stack with labelled ones); ``lab_eps``: translate the image to the row's
    ``lab_ref_*`` LAB statistics (after resizing: the statistics of the image as the network sees it).
    """

    num_classes: int
    size: tuple[int, int] | None = None
    label: str | None = "label_path"
    full_label: bool = False
    placeholder: bool = False
    lab_eps: float | None = None

    def __call__(self, row: Any) -> Sample:
        from cvpapers.data.segmentation import read_pair, resize_image, resize_label

        image, label = read_pair(row["path"], _cell(row, self.label), row.get("dataset"), self.num_classes)
        full = image.shape[:2]
        if self.size is not None:
            image = resize_image(image, self.size)
            if label is not None and not self.full_label:
                label = resize_label(label, self.size)
        if self.lab_eps is not None:
            from cvpapers.da.lab import translate_image

            image = translate_image(image, [row[k] for k in LAB_MEAN], [row[k] for k in LAB_STD], self.lab_eps)
        out: Sample = {"image": image, "full_size": np.asarray(full, dtype=np.int64)}
        if label is not None:
            out["mask"] = label
        elif self.placeholder:
            out["mask"] = np.full(image.shape[:2], 255, dtype=np.uint8)
        return out


def has_lab_reference(rows: pd.DataFrame) -> bool:
    return all(c in rows.columns for c in (*LAB_MEAN, *LAB_STD))


def train_transform(crop: Sequence[int], hflip: bool = False) -> SeededAlbumentations:
    """The per-sample random crop (h, w) — and, with ``hflip``, a horizontal flip with probability 1/2 — of
    image and mask together, seeded per sample (a resumed stage replays the same crops)."""
    import albumentations as A

    ops: list[Any] = [A.RandomCrop(int(crop[0]), int(crop[1]))]
    if hflip:
        ops.append(A.HorizontalFlip(p=0.5))
    return SeededAlbumentations(A.Compose(ops), targets=("image", "mask"))


def _key(key: int | tuple[int, int]) -> tuple[int, int]:
    return key if isinstance(key, tuple) else (int(key), 0)


class UnionDataset(torch.utils.data.Dataset):
    """Datasets one after the other in one index space: part ``k`` starts at ``offset(k)``. A pick that draws
    from each part (``cat([u, l + offset(1)])``) makes batches holding both; ``index`` is the global index."""

    def __init__(self, parts: Sequence[torch.utils.data.Dataset]) -> None:
        self.parts = list(parts)
        self.offsets = np.cumsum([0, *(len(p) for p in self.parts)]).tolist()  # type: ignore[arg-type]

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def offset(self, part: int) -> int:
        return int(self.offsets[part])

    def __getitem__(self, key: int | tuple[int, int]) -> Sample | Skipped:
        index, seed = _key(key)
        part = int(np.searchsorted(self.offsets, index, side="right")) - 1
        sample = self.parts[part][(index - self.offsets[part], seed)]
        if not isinstance(sample, Skipped):
            sample["index"] = index
        return sample


class PairDataset(torch.utils.data.Dataset):
    """Pairs ``(a[i], b[j])`` under the key ``i·len(b) + j`` (:meth:`key`), combined by
    ``combine(sample_a, sample_b, seed)`` in the DataLoader worker. Each member gets its own sub-seed of the
    pair's seed, ``combine`` a third; a skipped member skips the pair."""

    def __init__(self, a: torch.utils.data.Dataset, b: torch.utils.data.Dataset,
                 combine: Callable[[Sample, Sample, int], Sample]) -> None:
        self.a, self.b, self.combine = a, b, combine

    def __len__(self) -> int:
        return len(self.a) * len(self.b)  # type: ignore[arg-type]

    def key(self, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        return i.long() * len(self.b) + j.long()  # type: ignore[arg-type]

    def __getitem__(self, key: int | tuple[int, int]) -> Sample | Skipped:
        code, seed = _key(key)
        i, j = divmod(code, len(self.b))  # type: ignore[arg-type]
        sa = self.a[(i, derive_seed(seed, 0))]
        if isinstance(sa, Skipped):
            return sa
        sb = self.b[(j, derive_seed(seed, 1))]
        if isinstance(sb, Skipped):
            return sb
        out = self.combine(sa, sb, derive_seed(seed, 2))
        out["index"] = code
        return out


@dataclass(frozen=True)
class StreamSource:
    """The batch source of a streamed stage, for ``train_iterations(source=…)``: called with the loop's chunk
    size and the stage's seed, it builds a :class:`~cvpapers.data.streaming.StreamingBatches` (DataLoader
    workers read ahead) whose iteration ``it`` of chunk ``e`` picks its indices with a generator seeded
    ``(seed, e, it)``, as the in-memory draws do, so a resumed stage replays its batches and crops."""

    dataset: torch.utils.data.Dataset
    pick: Pick
    prepare: Callable[[Sample], Any]
    workers: int = 0
    skips: SkipLog | None = None

    def __call__(self, iters_per_chunk: int, seed: int) -> StreamingBatches:
        return StreamingBatches([(self.dataset, self.pick)], iters_per_chunk, seed, self.workers,  # type: ignore[list-item]
                                _checked(self.prepare), self.skips)


def _checked(prepare: Callable[[Sample], Any]) -> Callable[[Sample], Any]:
    def run(batch: Sample) -> Any:
        if "image" not in batch:
            raise RuntimeError("every sample of a training batch was skipped as unreadable (data.on_bad_sample: "
                               "skip); see the warnings above for the files")
        return prepare(batch)

    return run


def images_nchw(batch: Sample) -> torch.Tensor:
    """A collated batch's uint8 N×H×W×3 images as N×3×H×W."""
    return batch["image"].permute(0, 3, 1, 2).contiguous()


def manifest_digest(*tables: pd.DataFrame) -> str:
    """A short fingerprint of manifests (every column's values, in order): what a resume checkpoint records
    about its data instead of a digest of pixels."""
    from cvpapers.engine.checkpoint import data_digest

    return data_digest(*(pd.util.hash_pandas_object(t.reset_index(drop=True), index=False).to_numpy()
                         for t in tables))


def dataset(rows: pd.DataFrame, reader: DAReader, transform: SeededAlbumentations | None = None,
            on_bad_sample: str = "error") -> ManifestDataset:
    return ManifestDataset(rows, reader, transform, on_bad_sample)  # type: ignore[arg-type]
