"""The scenes a run works on (papers/fhdrnet.md §7 node 1, §8, §10): the embedded generator's train /
validation / test sets (separate seeds, arrays in memory), or the manifest of the Kalantari / paper-RAW
dataset under ``data.root`` (one row per scene folder; pixels are read later, one scene at a time) with a
seeded validation share held out of its training scenes (the paper selects on the test set; we do not).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cvpapers.data.decode import BadSampleError
from cvpapers.data.streaming import SkipLog, Skipped
from cvpapers.pipelines.fhdrnet.config import DataConfig

__all__ = ["accept", "check_domain", "embedded_scenes", "real_manifest", "scene_summary", "streamed_summary"]

Arrays = dict[str, np.ndarray]
SOURCE_DOMAIN = {"kalantari": "rgb", "raw_official": "raw"}


def check_domain(source: str, domain: str) -> None:
    """A real dataset holds one domain: refuse it in the other pipeline before reading anything."""
    expected = SOURCE_DOMAIN.get(source, domain)
    if expected != domain:
        raise ValueError(f"fhdrnet.data.source '{source}' holds {expected.upper()} data but this pipeline is "
                         f"the {domain.upper()} one; run {'fhdrnet' if expected == 'rgb' else 'fhdrnet_raw'} instead")


def embedded_scenes(d: DataConfig, seed: int, domain: str) -> tuple[Arrays, Arrays, Arrays]:
    """Separate seeds per split (``seed + 100 000·i``): validation (model selection) never sees the test scenes."""
    from cvpapers.data.hdr_scenes import HdrSceneConfig, make_scenes

    cfg = HdrSceneConfig(**d.scene_knobs())
    train, val, test = (make_scenes(n, cfg, seed + 100_000 * i, domain)
                        for i, n in enumerate((d.n_train, d.n_val, d.n_test)))
    return train, val, test


def real_manifest(d: DataConfig, seed: int, domain: str, crop: int | None, skips: SkipLog) -> pd.DataFrame:
    """The dataset on disk as one manifest (one row per scene, ``split`` train / val / test), after the
    preflight: every listed file exists, headers and byte counts agree, and training scenes are at least
    ``crop`` pixels on each side. A scene that fails stops the run naming its file, or with
    ``on_bad_sample: skip`` is dropped, logged and counted in ``skips``. ``round(val_fraction · n)``
    training scenes (at least one) drawn with ``seed`` become the validation set."""
    from cvpapers.data.hdr_formats import kalantari_manifest, raw_manifest

    check_domain(d.source, domain)
    if d.source == "kalantari":
        (train_all, bad), (test, bad_test) = (kalantari_manifest(d.root, s) for s in (d.train_subdir, d.test_subdir))
    else:
        (train_all, bad), (test, bad_test) = (raw_manifest(d.root, d.raw_height, d.raw_width, s)  # type: ignore[arg-type]
                                              for s in ("train", "test"))
    small = train_all[(train_all["height"] < (crop or 0)) | (train_all["width"] < (crop or 0))]
    bad = [*bad, *(BadSampleError(r.folder, f"is {r.height}×{r.width}, smaller than the {crop}-px training crop")
                   for r in small.itertuples())]
    accept(bad + bad_test, d.on_bad_sample, skips)
    train_all = train_all.drop(index=small.index).reset_index(drop=True)
    n = len(train_all)
    if n < 2 or test.empty:
        raise ValueError(f"fhdrnet.data.root {d.root}: {n} usable training and {len(test)} test scenes; "
                         "need at least 2 training scenes (one is held out for validation) and 1 test scene")
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, round(d.val_fraction * n))
    split = np.full(n, "train", dtype=object)
    split[order[:n_val]] = "val"
    return pd.concat([train_all.assign(split=split), test.assign(split="test")], ignore_index=True)


def accept(bad: list[BadSampleError], on_bad_sample: str, skips: SkipLog) -> None:
    """Scenes that failed the preflight: an error naming each file (``error``), or logged and counted (``skip``)."""
    if not bad:
        return
    if on_bad_sample == "skip":
        skips.add({"skipped": [Skipped(e.path, e.problem) for e in bad]})
        return
    more = f" (and {len(bad) - 1} more: {'; '.join(str(e) for e in bad[1:4])}{' …' if len(bad) > 4 else ''})"
    raise BadSampleError(bad[0].path, f"{bad[0].problem}{more if len(bad) > 1 else ''}; set "
                                      "fhdrnet.data.on_bad_sample=skip to leave bad scenes out")


def scene_summary(train: Arrays, val: Arrays, test: Arrays, d: DataConfig, domain: str) -> dict[str, float]:
    """Test-set statistics (clipped fractions, motion, dynamic range), split sizes and the input bit depth."""
    from cvpapers.data.hdr_scenes import scene_stats

    bits = 16 if d.source == "kalantari" else d.raw_bits if domain == "raw" else d.ldr_bits
    return {**{k: float(v) for k, v in scene_stats(test).items()},
            "n_train": float(len(train["hdr"])), "n_val": float(len(val["hdr"])), "n_test": float(len(test["hdr"])),
            "input_bit_depth": float(bits)}


def streamed_summary(manifest: pd.DataFrame, d: DataConfig, domain: str, skips: SkipLog, show: int = 4,
                     ) -> tuple[dict[str, float], list[Arrays]]:
    """:func:`scene_summary` of real data: the test-set statistics averaged over scenes read one at a time
    (batch 1), the split sizes, the scene size, ``skipped_samples``; and the first ``show`` test scenes,
    shrunk for the montage."""
    from cvpapers.data.hdr_scenes import scene_stats
    from cvpapers.pipelines.fhdrnet.figures import shrunk
    from cvpapers.pipelines.fhdrnet.streams import scene_set, scenes_of

    per, shown = [], []
    for scene in scenes_of(scene_set(manifest, "test", d), d, skips, "test scenes"):
        per.append(scene_stats(scene))
        if len(shown) < show:
            shown.append(shrunk(scene))
    if not per:
        raise ValueError("no test scene could be read (every one was skipped as a bad sample)")
    counts = manifest["split"].value_counts()
    first = manifest[manifest["split"] == "test"].iloc[0]
    return ({**{k: float(np.mean([s[k] for s in per])) for k in per[0]},
             **{f"n_{s}": float(counts.get(s, 0)) for s in ("train", "val", "test")},
             "input_bit_depth": float(16 if d.source == "kalantari" else d.raw_bits),
             "image_height": float(first["height"]), "image_width": float(first["width"]), **skips.metrics()},
            shown)
