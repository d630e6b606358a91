"""The scenes a run works on (papers/fhdrnet.md §7 node 1, §8, §10): the embedded generator's train /
validation / test sets (separate seeds), or the Kalantari / paper-RAW dataset read from ``data.root`` with a
seeded validation share held out of its training scenes (the paper selects on the test set; we do not).
"""

from __future__ import annotations

import numpy as np

from cvpapers.pipelines.fhdrnet.config import DataConfig

__all__ = ["check_domain", "load_scenes", "scene_summary"]

Arrays = dict[str, np.ndarray]
SOURCE_DOMAIN = {"kalantari": "rgb", "raw_official": "raw"}


def check_domain(source: str, domain: str) -> None:
    """A real dataset holds one domain: refuse it in the other pipeline before reading anything."""
    expected = SOURCE_DOMAIN.get(source, domain)
    if expected != domain:
        raise ValueError(f"fhdrnet.data.source '{source}' holds {expected.upper()} data but this pipeline is "
                         f"the {domain.upper()} one; run {'fhdrnet' if expected == 'rgb' else 'fhdrnet_raw'} instead")


def load_scenes(d: DataConfig, seed: int, domain: str) -> tuple[Arrays, Arrays, Arrays]:
    """(train, val, test) scene sets of ``domain`` from ``d.source``."""
    check_domain(d.source, domain)
    if d.source == "embedded":
        return embedded_scenes(d, seed, domain)
    return real_scenes(d, seed, domain)


def embedded_scenes(d: DataConfig, seed: int, domain: str) -> tuple[Arrays, Arrays, Arrays]:
    """Separate seeds per split (``seed + 100 000·i``): validation (model selection) never sees the test scenes."""
    from cvpapers.data.hdr_scenes import HdrSceneConfig, make_scenes

    cfg = HdrSceneConfig(**d.scene_knobs())
    train, val, test = (make_scenes(n, cfg, seed + 100_000 * i, domain)
                        for i, n in enumerate((d.n_train, d.n_val, d.n_test)))
    return train, val, test


def real_scenes(d: DataConfig, seed: int, domain: str) -> tuple[Arrays, Arrays, Arrays]:
    """The dataset on disk; ``round(val_fraction · n)`` training scenes (at least one) drawn with ``seed``
    become the validation set."""
    from cvpapers.data.hdr_formats import read_kalantari, read_raw_dataset

    if d.source == "kalantari":
        train_all, test = read_kalantari(d.root, d.train_subdir), read_kalantari(d.root, d.test_subdir)
    else:
        train_all = read_raw_dataset(d.root, d.raw_height, d.raw_width, "train", raw_bits=d.raw_bits)
        test = read_raw_dataset(d.root, d.raw_height, d.raw_width, "test", raw_bits=d.raw_bits)
    n = len(train_all["hdr"])
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, round(d.val_fraction * n))
    pick = {"val": np.sort(order[:n_val]), "train": np.sort(order[n_val:])}
    split = {s: {k: v[idx] for k, v in train_all.items() if isinstance(v, np.ndarray) and len(v) == n}
             for s, idx in pick.items()}
    return split["train"], split["val"], {k: v for k, v in test.items() if isinstance(v, np.ndarray)}


def scene_summary(train: Arrays, val: Arrays, test: Arrays, d: DataConfig, domain: str) -> dict[str, float]:
    """Test-set statistics (clipped fractions, motion, dynamic range), split sizes and the input bit depth."""
    from cvpapers.data.hdr_scenes import scene_stats

    bits = 16 if d.source == "kalantari" else d.raw_bits if domain == "raw" else d.ldr_bits
    return {**{k: float(v) for k, v in scene_stats(test).items()},
            "n_train": float(len(train["hdr"])), "n_val": float(len(val["hdr"])), "n_test": float(len(test["hdr"])),
            "input_bit_depth": float(bits)}
