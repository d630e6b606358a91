"""Datasets read lazily from a manifest, behind the engine's batch-source interface.

Real datasets travel between nodes as manifests (one row per sample: file paths and label metadata);
samples are read from disk only when a batch needs them, by a ``torch.utils.data.DataLoader`` (worker
processes, pinned memory on CUDA, persistent workers), so peak memory depends on the batch size and the
workers, not on the dataset size. Three pieces:

* :class:`ManifestDataset` — ``read(row) -> sample`` (strict decoding, :mod:`cvpapers.data.decode`), then
  ``transform(sample, seed)``: per-sample random transforms get their own seed, so a resumed epoch replays
  the same crops and flips (:class:`SeededAlbumentations` wraps an albumentations pipeline that way).
* :class:`StreamingBatches` — the iteration-based training source: at iteration ``it`` of chunk ``epoch`` the
  indices come from ``pick(generator)`` with the generator seeded by ``(seed, epoch, it)``, exactly as the
  in-memory :class:`~cvpapers.engine.iterative.IterationBatches` draws, and each sample's transform seed is
  ``(seed, epoch, it, position)``; several streams take turns by global iteration (MI-AOD's labelled and
  unlabelled steps) as the in-memory draws do.
* :func:`stream` — one ordered pass over a dataset in batches (evaluation, pseudo-labelling, uncertainty
  scoring, statistics) with a progress bar showing images/s and the time left.

With ``on_bad_sample: skip`` a sample whose file does not decode is dropped from its batch, logged with its
path and counted (:class:`SkipLog`); with ``error`` (the default) it stops the run naming the file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
import torch

from cvpapers.data.decode import BadSampleError
from cvpapers.engine.seeding import derive_seed

log = logging.getLogger(__name__)

OnBadSample = Literal["error", "skip"]
Sample = dict[str, Any]
Reader = Callable[[Mapping[str, Any]], Sample]
Transform = Callable[[Sample, int], Sample]
Pick = Callable[[torch.Generator], Sequence[int] | torch.Tensor]


class Skipped(NamedTuple):
    path: str
    problem: str


class ManifestDataset(torch.utils.data.Dataset):
    """Samples of ``rows`` read on demand. Index with ``i`` or ``(i, seed)``; the sample dict gets ``index``."""

    def __init__(self, rows: pd.DataFrame, read: Reader, transform: Transform | None = None,
                 on_bad_sample: OnBadSample = "error") -> None:
        if on_bad_sample not in ("error", "skip"):
            raise ValueError(f"on_bad_sample must be 'error' or 'skip', got {on_bad_sample!r}")
        self.records = rows.reset_index(drop=True).to_dict("records")  # plain dicts pickle fast to workers
        self.read, self.transform, self.on_bad_sample = read, transform, on_bad_sample

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: int | tuple[int, int]) -> Sample | Skipped:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        try:
            sample = self.read(self.records[index])
        except BadSampleError as err:
            if self.on_bad_sample == "skip":
                return Skipped(err.path, err.problem)
            raise
        if self.transform is not None:
            sample = self.transform(sample, seed)
        sample["index"] = index
        return sample


class SeededAlbumentations:
    """An albumentations ``Compose`` applied with a per-sample seed (picklable for DataLoader workers).

    ``sample`` keys are passed as the pipeline's targets (``image``, ``mask``, ``bboxes`` with label fields,
    extra images declared as ``additional_targets`` — e.g. every HDR exposure and the ground truth, so all
    get the same crop and flip)."""

    def __init__(self, compose: Any, targets: Sequence[str] | None = None) -> None:
        self.compose, self.targets = compose, tuple(targets) if targets is not None else None

    def __call__(self, sample: Sample, seed: int) -> Sample:
        self.compose.set_random_seed(int(seed % 2**32))
        keys = self.targets if self.targets is not None else tuple(sample)
        out = self.compose(**{k: sample[k] for k in keys})
        return {**sample, **{k: out[k] for k in keys}}


def collate(samples: Sequence[Sample | Skipped]) -> Sample:
    """Stack same-shaped arrays and numbers into tensors; anything else (boxes of different counts, paths)
    stays a list. Skipped samples are left out and listed under ``skipped``."""
    good = [s for s in samples if not isinstance(s, Skipped)]
    batch: Sample = {"skipped": [s for s in samples if isinstance(s, Skipped)]}
    for key in (good[0] if good else {}):
        values = [s[key] for s in good]
        first = values[0]
        if isinstance(first, np.ndarray) and all(v.shape == first.shape for v in values):
            batch[key] = torch.from_numpy(np.stack(values))
        elif isinstance(first, torch.Tensor) and all(v.shape == first.shape for v in values):
            batch[key] = torch.stack(values)
        elif isinstance(first, int | float | np.integer | np.floating) and not isinstance(first, bool):
            batch[key] = torch.as_tensor(values)
        else:
            batch[key] = values
    return batch


@dataclass
class SkipLog:
    """Samples dropped under ``on_bad_sample: skip``: each is logged with its path once, all are counted."""

    skipped: dict[str, str] = field(default_factory=dict)

    def add(self, batch: Sample) -> Sample:
        for path, problem in batch.pop("skipped", []):
            if path not in self.skipped:
                log.warning("skipped bad sample %s: %s", path, problem)
                self.skipped[path] = problem
        return batch

    def metrics(self) -> dict[str, float]:
        return {"skipped_samples": float(len(self.skipped))}


def _loader(dataset: torch.utils.data.Dataset, workers: int, **kwargs: Any) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        dataset, num_workers=workers, collate_fn=collate, pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0, **kwargs,
    )


class IterationSampler(torch.utils.data.Sampler):
    """Per iteration of one chunk, the ``(index, sample seed)`` pairs ``pick`` draws (see module docstring).

    With ``turn``/``turns`` the stream serves only the global iterations ``g`` with ``g % turns == turn``."""

    def __init__(self, pick: Pick, iters_per_chunk: int, seed: int, turn: int = 0, turns: int = 1) -> None:
        self.pick, self.iters, self.seed, self.turn, self.turns = pick, iters_per_chunk, seed, turn, turns
        self.epoch = 0

    def iterations(self) -> list[int]:
        return [it for it in range(self.iters) if (self.epoch * self.iters + it) % self.turns == self.turn]

    def __len__(self) -> int:
        return len(self.iterations())

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for it in self.iterations():
            g = torch.Generator().manual_seed(derive_seed(self.seed, self.epoch, it))
            indices = self.pick(g)
            yield [(int(i), derive_seed(self.seed, self.epoch, it, k)) for k, i in enumerate(indices)]


class StreamingBatches:
    """The iteration-based batch source over file-backed datasets: ``iters_per_chunk`` batches per chunk.

    ``streams`` are ``(dataset, pick)`` pairs taking turns by global iteration; ``prepare`` turns a collated
    batch into what the training step takes (e.g. normalised tensors). One DataLoader per stream lives as
    long as this object, so workers persist across chunks."""

    def __init__(self, streams: Sequence[tuple[ManifestDataset, Pick]], iters_per_chunk: int, seed: int,
                 workers: int = 0, prepare: Callable[[Sample], Any] | None = None,
                 skips: SkipLog | None = None) -> None:
        self.iters, self.prepare, self.skips = iters_per_chunk, prepare, skips if skips is not None else SkipLog()
        self.samplers = [IterationSampler(pick, iters_per_chunk, seed, turn, len(streams))
                         for turn, (_, pick) in enumerate(streams)]
        self.loaders = [_loader(ds, workers, batch_sampler=s) for (ds, _), s in zip(streams, self.samplers,
                                                                                      strict=True)]

    def __len__(self) -> int:
        return self.iters

    def batches(self, epoch: int) -> Iterator[Any]:
        for sampler in self.samplers:
            sampler.epoch = epoch
        iterators = [iter(loader) for loader in self.loaders]
        turns = len(iterators)
        for it in range(self.iters):
            batch = self.skips.add(next(iterators[(epoch * self.iters + it) % turns]))
            yield self.prepare(batch) if self.prepare is not None else batch


def _progress_bar(total: int, desc: str) -> Any:
    from cvpapers.engine.progress import quiet

    if quiet():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="img", leave=False, dynamic_ncols=True, smoothing=0.1)


def stream(dataset: ManifestDataset, batch_size: int = 1, *, workers: int = 0, desc: str = "",
           skips: SkipLog | None = None, indices: Sequence[int] | None = None) -> Iterator[Sample]:
    """Batches of ``dataset`` in order (or of ``indices``), read ``batch_size`` at a time: a pass in bounded
    memory, with a progress bar (images/s, time left) unless quiet. Sample seeds are the indices."""
    order = list(range(len(dataset))) if indices is None else [int(i) for i in indices]
    keyed = [(i, i) for i in order]
    batches = [keyed[s: s + batch_size] for s in range(0, len(keyed), batch_size)]
    bar = _progress_bar(len(order), desc)
    skips = skips if skips is not None else SkipLog()
    try:
        for batch in _loader(dataset, workers, batch_sampler=batches):
            n = len(batch["skipped"])
            batch = skips.add(batch)
            if bar is not None:
                bar.update(len(batch.get("index", [])) + n)
            if "index" in batch:
                yield batch
    finally:
        if bar is not None:
            bar.close()
