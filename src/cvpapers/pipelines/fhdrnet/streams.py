"""The paper path (``data.source: kalantari | raw_official``): scenes read from disk one at a time through the
manifest (papers/fhdrnet.md §3.6, §3.7, §10), never a split in memory.

- :class:`SceneRead` — a manifest row → one scene's arrays (strict decoding, :mod:`cvpapers.data.hdr_formats`).
- :class:`TrainingCrop` — the official training transform of one scene: one random ``crop``-px window, then
  with p = 0.5 a horizontal or vertical flip (50/50), then ``rot90`` by k ∈ {0, 1, 2, 3}, the same on the
  three exposures and the ground truth; then the network inputs of the crop (§3.3: pixel-wise, so building
  them after the crop gives the values of cropping whole-image inputs, at a fraction of the cost). It is an
  albumentations pipeline (``RandomCrop``, ``OneOf(HorizontalFlip, VerticalFlip, p=0.5)``,
  ``RandomRotate90``) with the exposures as ``additional_targets``, seeded per sample: that is exactly the
  official transform's distribution, so nothing of the paper's had to be kept by hand. The embedded
  benchmark keeps its vectorised torch dihedral draw (:func:`~cvpapers.pipelines.fhdrnet.training.dihedral`),
  which draws the same distribution from the batch generator.
- :class:`FullInputs` — a whole scene's network inputs for evaluation (validation and test at full size,
  batch 1, padded as the official test code pads 1500 → 1504 by :func:`~.inference.predict`).
- :func:`scene_set` — a split of the manifest as a :class:`~cvpapers.data.streaming.ManifestDataset`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from cvpapers.data.streaming import ManifestDataset, SeededAlbumentations, SkipLog, stream
from cvpapers.pipelines.fhdrnet.config import DataConfig

__all__ = ["FullInputs", "SceneRead", "TrainingCrop", "scene_set", "scenes_of", "stacked"]

Sample = dict[str, Any]
_TARGETS = ("image", "ldr_1", "ldr_2", "ldr_3")


class SceneRead:
    """``read(row)`` for :class:`ManifestDataset`: one scene's ``ldr`` (3, H, W, C), ``exposure`` (3,), ``hdr``
    (H, W, C) and ``mask`` (H, W) (picklable, for DataLoader workers)."""

    def __init__(self, source: str, raw_bits: int = 14) -> None:
        self.source, self.raw_bits = source, raw_bits

    def __call__(self, row: Mapping[str, Any]) -> Sample:
        from cvpapers.data.hdr_formats import read_kalantari_scene, read_raw_scene

        if self.source == "kalantari":
            return read_kalantari_scene(row)
        return read_raw_scene(row, self.raw_bits)


def _inputs(scene: Sample, gamma: float, domain: str) -> Sample:
    """The network inputs of one scene (``x`` (3, Cin, H, W), ``y`` (C, H, W), ``mask`` (H, W)), by the same
    function as the embedded sets (``build_inputs`` on a batch of one)."""
    from cvpapers.data.hdr_scenes import build_inputs

    one = {k: np.asarray(scene[k])[None] for k in ("ldr", "exposure", "hdr", "mask")}
    return {k: v[0] for k, v in build_inputs(one, gamma, domain).items()}  # type: ignore[arg-type]


class TrainingCrop:
    """``transform(scene, seed)``: the official training crop and flip/rot90 (module docstring), then inputs.

    Without ``crop`` the whole scene is the sample and ``rot90`` is left out on non-square scenes (as the
    in-memory draw does), so a batch keeps one shape."""

    def __init__(self, crop: int | None, augment: str, gamma: float, domain: str) -> None:
        import albumentations as A

        flips = [A.OneOf([A.HorizontalFlip(p=1.0), A.VerticalFlip(p=1.0)], p=0.5)] if augment == "dihedral" else []
        rot = [A.RandomRotate90(p=1.0)] if augment == "dihedral" else []
        crops = [A.RandomCrop(height=crop, width=crop, p=1.0)] if crop is not None else []
        extra = {t: "image" for t in _TARGETS[1:]}
        self.square = SeededAlbumentations(A.Compose([*crops, *flips, *rot], additional_targets=extra), _TARGETS)
        self.oblong = SeededAlbumentations(A.Compose([*crops, *flips], additional_targets=extra), _TARGETS)
        self.crop, self.gamma, self.domain = crop, gamma, domain

    def __call__(self, scene: Sample, seed: int) -> Sample:
        h, w = scene["hdr"].shape[:2]
        aug = self.square if self.crop is not None or h == w else self.oblong
        out = aug({"image": scene["hdr"], **{t: scene["ldr"][i] for i, t in enumerate(_TARGETS[1:])}}, seed)
        view = {"ldr": np.stack([out[t] for t in _TARGETS[1:]]), "hdr": out["image"], "exposure": scene["exposure"],
                "mask": np.zeros(out["image"].shape[:2], dtype=bool)}
        inputs = _inputs(view, self.gamma, self.domain)
        return {"x": inputs["x"], "y": inputs["y"]}


class FullInputs:
    """``transform(scene, seed)`` for evaluation: the whole scene's inputs, truth and motion mask."""

    def __init__(self, gamma: float, domain: str) -> None:
        self.gamma, self.domain = gamma, domain

    def __call__(self, scene: Sample, seed: int) -> Sample:
        return _inputs(scene, self.gamma, self.domain)


def scene_set(manifest: pd.DataFrame, split: str, d: DataConfig, transform: Any = None) -> ManifestDataset:
    """The ``split`` rows of the manifest, read lazily (``transform``: :class:`TrainingCrop`, :class:`FullInputs`
    or none for the raw scene arrays); bad files are handled per ``data.on_bad_sample``."""
    rows = manifest[manifest["split"] == split]
    if rows.empty:
        raise ValueError(f"the fhdrnet manifest has no {split} scenes")
    return ManifestDataset(rows, SceneRead(d.source, d.raw_bits), transform, d.on_bad_sample)


def scenes_of(dataset: ManifestDataset, d: DataConfig, skips: SkipLog, desc: str) -> Iterator[Sample]:
    """One ordered pass, batch 1 (a full-size scene at a time), each batch as numpy arrays with its batch axis."""
    for batch in stream(dataset, 1, workers=d.workers, desc=desc, skips=skips):
        yield {k: v.numpy() if hasattr(v, "numpy") else v for k, v in batch.items()}


def stacked(samples: list[Sample], keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """A few batch-1 samples of equal size as one array set (figures)."""
    return {k: np.concatenate([s[k] for s in samples]) for k in keys}
