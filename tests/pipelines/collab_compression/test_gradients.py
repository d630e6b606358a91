"""§3.2: the dataset-mean gradient — float64 mean of per-batch gradients, eval mode (BN statistics
untouched), un-augmented fixed-order train split — read from CIFAR-10 and ImageNet fixtures in their
real on-disk layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cvpapers.models.classification import build_classifier
from cvpapers.pipelines.collab_compression import DECLARATION
from cvpapers.pipelines.collab_compression.gradients import gradient_batches, mean_gradients


def test_mean_gradient_is_the_float64_mean_of_batch_gradients_in_eval_mode() -> None:
    torch.manual_seed(0)
    model = build_classifier("vgg_small", 10)
    batches = [(torch.randn(4, 3, 16, 16), torch.randint(0, 10, (4,))) for _ in range(3)]
    stats = model.features.bn1.running_mean.clone()
    grads = mean_gradients(model, ["features.conv1"], batches, torch.device("cpu"))
    assert grads["features.conv1"].dtype == torch.float64
    assert torch.equal(model.features.bn1.running_mean, stats) and model.training
    model.eval()
    expected = (
        sum(
            torch.autograd.grad(torch.nn.functional.cross_entropy(model(x), y), model.features.conv1.weight)[
                0
            ].double()
            for x, y in batches
        )
        / 3
    )
    torch.testing.assert_close(grads["features.conv1"], expected)


def _first_two_passes_equal(batches) -> None:
    a, b = list(batches.batches(0)), list(batches.batches(1))
    assert all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b, strict=True))


def test_gradient_set_from_a_cifar10_fixture_is_unaugmented_and_ordered(tmp_path: Path) -> None:
    from cvpapers.data.cifar import cifar10_manifest, write_cifar10_fixture

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    write_cifar10_fixture(tmp_path, images, np.arange(12) % 10, images[:4], np.arange(4), n_batches=2)
    cfg = DECLARATION.validate({"data": {"source": "cifar10", "root": str(tmp_path)}}).data
    batches = gradient_batches(cifar10_manifest(tmp_path), cfg, 5)
    _first_two_passes_equal(batches)
    x, y = next(iter(batches.batches(0)))
    assert x.shape == (5, 3, 32, 32) and y.tolist() == [0, 1, 2, 3, 4]


def test_gradient_set_from_an_imagenet_fixture_uses_the_eval_transform(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    from cvpapers.data.imagefolder import imagefolder_manifest, write_imagefolder_fixture

    rng = np.random.default_rng(1)
    names = ["n01", "n02", "n03"]
    for split in ("train", "val"):
        write_imagefolder_fixture(
            tmp_path,
            rng.integers(0, 256, (6, 40, 48, 3), dtype=np.uint8),
            np.arange(6) % 3,
            names,
            split_dir=split,
        )
    cfg = DECLARATION.validate({"data": {"source": "imagenet", "root": str(tmp_path)}}).data
    batches = gradient_batches(imagefolder_manifest(tmp_path, "train", "val"), cfg, 4)
    _first_two_passes_equal(batches)
    x, _ = next(iter(batches.batches(0)))
    assert x.shape == (4, 3, 224, 224)
