"""The classification data every classification pipeline shares (dcff, collab_compression, recu, pss_net):
the ``data`` section of their parameters, the ``prepare_data`` step that turns it into a manifest, and the
batch sources read through that manifest.

``data.source`` is ``embedded`` (the seeded shapes benchmark of :mod:`cvpapers.data.shapes`, written as
PNGs under ``data.root``), ``cifar10`` (the python pickle layout under ``data.root``) or ``imagenet``
(class folders under ``data.root``). A pipeline's schema subclasses :class:`ClassificationDataConfig` to
set its own defaults (its ``root``, image size, sizes of the splits).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import Field, model_validator

from cvpapers.engine.config import ParameterError, StrictModel

#: What each real source expects under ``data.root`` (named when the root is wrong).
LAYOUTS = {
    "cifar10": "<root>/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta} (CIFAR-10 python version)",
    "imagenet": "<root>/<train_dir>/<wnid>/*.JPEG and <root>/<val_dir>/<wnid>/*.JPEG",
}


class Normalisation(StrictModel):
    """Per-channel mean and std the images are normalised with (``(x - mean) / std``, x in [0, 1])."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @model_validator(mode="after")
    def _positive_std(self) -> Normalisation:
        if min(self.std) <= 0:
            raise ValueError(f"std must be > 0, got {self.std}")
        return self


class ClassificationDataConfig(StrictModel):
    source: Literal["embedded", "cifar10", "imagenet"] = "embedded"
    root: str = "data/01_raw/classification"
    # Embedded generator family (:data:`cvpapers.data.shapes.PRESETS`); ``noise``/``rotate`` null = the preset's.
    family: Literal["shapes", "shapes10", "gratings", "color_patches"] = "shapes"
    image_size: int = Field(16, ge=8)
    n_train: int = Field(2000, ge=10)
    n_test: int = Field(2000, ge=10)
    n_classes: int = Field(10, ge=2, le=10)
    noise: float | None = Field(0.08, ge=0.0)
    rotate: bool | None = False
    # null = the source's default (:data:`cvpapers.data.sources.NORMALISATION`).
    normalisation: Normalisation | None = None
    # ImageNet train transform: RandomResizedCrop scale range and PCA Lighting std (0 = off).
    imagenet_crop_scale: tuple[float, float] = (0.08, 1.0)
    imagenet_lighting: float = Field(0.0, ge=0.0)
    imagenet_color_jitter: float = Field(0.0, ge=0.0)  # ColorJitter brightness = contrast = saturation (0 = off)
    train_seed: int = Field(1, ge=0)
    test_seed: int = Field(2, ge=0)
    imagenet_train_dir: str = "ILSVRC2012_img_train"
    imagenet_val_dir: str = "val"
    workers: int = Field(0, ge=0)
    on_bad_sample: Literal["error", "skip"] = "error"  # skip: leave out files that do not decode (logged, counted)

    @model_validator(mode="after")
    def _distinct_splits(self) -> ClassificationDataConfig:
        if self.source == "embedded" and self.train_seed == self.test_seed:
            raise ValueError("train_seed and test_seed must differ, else the test images repeat the training images")
        return self


def input_size(cfg: ClassificationDataConfig) -> tuple[int, int, int, int]:
    """The network's input (1, 3, side, side): the embedded image size, CIFAR's 32, ImageNet's 224 crop."""
    side = {"embedded": cfg.image_size, "cifar10": 32, "imagenet": 224}[cfg.source]
    return (1, 3, side, side)


def topk(cfg: ClassificationDataConfig) -> tuple[int, ...]:
    """Top-1, and top-5 where the papers report it (ImageNet)."""
    return (1, 5) if cfg.source == "imagenet" else (1,)


def check_root(cfg: ClassificationDataConfig, key: str) -> None:
    """Before any node: the dataset of a real source is where ``data.root`` says (``key`` = its dotted name)."""
    root = Path(cfg.root)
    expected = {
        "embedded": [],
        "cifar10": [root / "cifar-10-batches-py"],
        "imagenet": [root / cfg.imagenet_train_dir, root / cfg.imagenet_val_dir],
    }[cfg.source]
    missing = [p for p in expected if not p.is_dir()]
    if missing:
        raise ParameterError(
            f"{key}: {', '.join(map(str, missing))} not found for source '{cfg.source}'; "
            f"expected {LAYOUTS[cfg.source]}. Set {key} to the dataset's folder."
        )


def prepare_classification_data(cfg: ClassificationDataConfig) -> tuple[pd.DataFrame, dict[str, float], Any]:
    """Generate the embedded shapes benchmark, or index CIFAR-10 / ImageNet under ``cfg.root``.

    Returns the manifest, its counts (``n_train``, ``n_test``, ``n_classes``) and a grid of test samples.
    """
    from cvpapers.data.manifest import evaluation_split, validate_manifest

    root = Path(cfg.root)
    if cfg.source == "embedded":
        from cvpapers.data.shapes import ShapesConfig, write_shapes_split

        # The family's preset, with only the keys the user set (not null) on top: a null ``rotate`` keeps
        # shapes10's rotation. The ``shapes`` preset is the dataclass defaults (dcff's images unchanged).
        set_keys = {k: v for k, v in (("noise", cfg.noise), ("rotate", cfg.rotate)) if v is not None}
        shapes = dict(image_size=cfg.image_size, n_classes=cfg.n_classes, **set_keys)
        train_cfg = ShapesConfig.preset(cfg.family, **shapes, seed=cfg.train_seed)
        test_cfg = ShapesConfig.preset(cfg.family, **shapes, seed=cfg.test_seed)
        manifest = pd.concat(
            [
                write_shapes_split(root, "train", cfg.n_train, train_cfg),
                write_shapes_split(root, "test", cfg.n_test, test_cfg),
            ],
            ignore_index=True,
        )
    elif cfg.source == "cifar10":
        from cvpapers.data.cifar import cifar10_manifest

        manifest = cifar10_manifest(root)
    else:
        from cvpapers.data.imagefolder import imagefolder_manifest

        manifest = imagefolder_manifest(root, cfg.imagenet_train_dir, cfg.imagenet_val_dir)
    test_split = evaluation_split(manifest)
    validate_manifest(manifest, ["train", test_split])

    metrics = {
        "n_train": float((manifest["split"] == "train").sum()),
        "n_test": float((manifest["split"] == test_split).sum()),
        "n_classes": float(manifest["label"].nunique()),
    }
    # Real images differ in size: the grid shows 64-px thumbnails of them.
    thumb = 64 if cfg.source == "imagenet" else None
    return manifest, metrics, sample_grid(manifest, test_split, thumb)


def sample_grid(
    manifest: pd.DataFrame, split: str, thumb: int | None = None, per_class: int = 10, max_classes: int = 10
) -> Any:
    """A figure of ``per_class`` images of each of the first ``max_classes`` classes of ``split``."""
    from cvpapers.data.classification import load_split
    from cvpapers.engine import plots

    rows = manifest[(manifest["split"] == split) & (manifest["label"] < max_classes)]
    picked = rows.groupby("label", sort=True).head(per_class)
    x, y = load_split(picked.reset_index(drop=True), split, image_size=thumb)
    names = picked.drop_duplicates("label").sort_values("label")["class_name"].astype(str).tolist()
    return plots.image_grid(x.permute(0, 2, 3, 1).numpy(), y.numpy(), names, per_class)


def batch_sources(
    manifest: pd.DataFrame,
    cfg: ClassificationDataConfig,
    batch_size: int,
    eval_batch_size: int,
    augment: dict[str, Any] | None,
    seed: int,
) -> Any:
    """The train and test batch sources of the manifest (:func:`cvpapers.data.sources.classification_data`)."""
    from cvpapers.data.sources import classification_data

    norm = cfg.normalisation
    return classification_data(
        manifest, cfg.source, batch_size, eval_batch_size, augment, seed, image_size=cfg.image_size,
        workers=cfg.workers, on_bad_sample=cfg.on_bad_sample,
        normalisation=(norm.mean, norm.std) if norm is not None else None,
        transform_options={"crop_scale": cfg.imagenet_crop_scale, "lighting": cfg.imagenet_lighting,
                           "color_jitter": cfg.imagenet_color_jitter},
    )
