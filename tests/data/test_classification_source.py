"""The shared classification data: ``data.source`` → manifest, counts and sample grid; the root check; batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cvpapers.data.classification_source import (
    ClassificationDataConfig,
    batch_sources,
    check_root,
    input_size,
    prepare_classification_data,
    topk,
)
from cvpapers.engine.config import ParameterError


def _images(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), np.arange(n) % 3


def test_embedded_source_writes_both_splits_and_counts_them(tmp_path: Path) -> None:
    cfg = ClassificationDataConfig(root=str(tmp_path), n_train=20, n_test=10, image_size=8)
    manifest, metrics, fig = prepare_classification_data(cfg)
    assert metrics == {"n_train": 20.0, "n_test": 10.0, "n_classes": float(manifest["label"].nunique())}
    assert set(manifest["split"]) == {"train", "test"} and fig is not None
    again, _, _ = prepare_classification_data(cfg)
    assert again.equals(manifest)  # seeded: the same benchmark every time
    assert input_size(cfg) == (1, 3, 8, 8) and topk(cfg) == (1,)


def test_cifar10_source_indexes_the_pickle_batches(tmp_path: Path) -> None:
    from cvpapers.data.cifar import write_cifar10_fixture

    x, y = _images(20, 32, 0)
    xt, yt = _images(9, 32, 1)
    write_cifar10_fixture(tmp_path, x, y, xt, yt, n_batches=2)
    cfg = ClassificationDataConfig(source="cifar10", root=str(tmp_path))
    check_root(cfg, "x.data.root")
    manifest, metrics, _ = prepare_classification_data(cfg)
    assert metrics == {"n_train": 20.0, "n_test": 9.0, "n_classes": 3.0}
    data = batch_sources(manifest, cfg, 8, 9, {"hflip": True, "shift_px": 2}, seed=0)
    xb, yb = next(iter(data.train.batches(0)))
    assert xb.shape == (8, 3, 32, 32) and yb.dtype.is_floating_point is False
    assert input_size(cfg) == (1, 3, 32, 32)


def test_imagenet_source_of_mixed_image_sizes_streams_224_crops(tmp_path: Path) -> None:
    from cvpapers.data.imagefolder import write_imagefolder_fixture

    wnids = ["n01440764", "n01443537", "n01484850"]
    for split, size in (("ILSVRC2012_img_train", 40), ("val", 56)):
        x, y = _images(6, size, 2)
        write_imagefolder_fixture(tmp_path, x, y, wnids, split_dir=split)
    cfg = ClassificationDataConfig(source="imagenet", root=str(tmp_path))
    manifest, metrics, _ = prepare_classification_data(cfg)
    assert metrics["n_classes"] == 3.0 and set(manifest["split"]) == {"train", "val"}
    xb, _ = next(iter(batch_sources(manifest, cfg, 4, 4, None, seed=0).train.batches(0)))
    assert xb.shape == (4, 3, 224, 224) and topk(cfg) == (1, 5)


def test_a_missing_root_names_the_key_and_the_expected_layout(tmp_path: Path) -> None:
    cfg = ClassificationDataConfig(source="imagenet", root=str(tmp_path / "nowhere"))
    with pytest.raises(ParameterError, match=r"recu\.data\.root: .*nowhere/ILSVRC2012_img_train.*<wnid>/\*\.JPEG"):
        check_root(cfg, "recu.data.root")
    check_root(ClassificationDataConfig(root=str(tmp_path / "nowhere")), "recu.data.root")  # embedded: nothing


def test_embedded_splits_must_use_distinct_seeds() -> None:
    with pytest.raises(ValueError, match="test images repeat"):
        ClassificationDataConfig(train_seed=3, test_seed=3)


def test_family_preset_with_only_the_keys_set_on_top(tmp_path: Path) -> None:
    """``family`` picks the generator preset; a null ``noise``/``rotate`` keeps the preset's value, a set one
    overrides it; the default ``shapes`` family writes the same images as before the key existed."""
    from cvpapers.data.shapes import ShapesConfig, generate_shapes

    cfg = ClassificationDataConfig(root=str(tmp_path / "a"), family="color_patches", noise=None, rotate=None,
                                   n_train=12, n_test=10, image_size=32)
    manifest, _, _ = prepare_classification_data(cfg)
    assert manifest["class_name"].str.startswith("color_").all()
    assert ShapesConfig.preset("color_patches", image_size=32).noise == 0.5
    rotated = ClassificationDataConfig(family="shapes10", noise=None, rotate=None)
    assert (rotated.noise, rotated.rotate) == (None, None)
    dcff_like = ClassificationDataConfig(root=str(tmp_path / "b"), n_train=12, n_test=10, image_size=16)
    manifest, _, _ = prepare_classification_data(dcff_like)
    from cvpapers.data.classification import load_split

    x, y = load_split(manifest, "train", 16)
    old_x, old_y = generate_shapes(12, ShapesConfig(image_size=16, n_classes=10, noise=0.08, rotate=False, seed=1))
    assert np.array_equal(x.permute(0, 2, 3, 1).numpy(), old_x) and np.array_equal(y.numpy(), old_y)


def test_normalisation_override_replaces_the_source_default(tmp_path: Path) -> None:
    from cvpapers.data.classification_source import Normalisation

    base = dict(root=str(tmp_path), n_train=12, n_test=10, image_size=8)
    manifest, _, _ = prepare_classification_data(ClassificationDataConfig(**base))
    default = batch_sources(manifest, ClassificationDataConfig(**base), 4, 10, None, seed=0).test
    norm = Normalisation(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    custom = batch_sources(manifest, ClassificationDataConfig(**base, normalisation=norm), 4, 10, None, seed=0).test
    x_default, _ = next(iter(default.batches(0)))
    x_custom, _ = next(iter(custom.batches(0)))
    np.testing.assert_allclose(x_custom.numpy(), x_default.numpy() * 0.3 / 0.25, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="std"):
        Normalisation(mean=(0.5, 0.5, 0.5), std=(0.25, 0.0, 0.25))
