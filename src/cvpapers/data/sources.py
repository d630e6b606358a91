"""From a classification manifest to the batch sources the training loop consumes.

Small datasets (embedded shapes, CIFAR-10) are held in memory as uint8 tensors and batched with
vectorised augmentation, which is many times faster on a CPU than a per-sample DataLoader. Large
ones (ImageNet) stream files through a DataLoader with torchvision transforms.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from cvpapers.data.classification import (
    CIFAR_MEAN,
    CIFAR_STD,
    EMBEDDED_MEAN,
    EMBEDDED_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageFileDataset,
    TensorBatches,
    imagenet_transforms,
    load_split,
)

NORMALISATION = {
    "embedded": (EMBEDDED_MEAN, EMBEDDED_STD),
    "cifar10": (CIFAR_MEAN, CIFAR_STD),
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
}


class LoaderBatches:
    """A DataLoader with a per-epoch reshuffle seed, behind the ``batches(epoch)`` interface."""

    def __init__(self, dataset: torch.utils.data.Dataset, batch_size: int, shuffle: bool, seed: int, workers: int) -> None:
        self.dataset, self.batch_size, self.shuffle, self.seed, self.workers = dataset, batch_size, shuffle, seed, workers

    def __len__(self) -> int:
        return (len(self.dataset) + self.batch_size - 1) // self.batch_size  # type: ignore[arg-type]

    def batches(self, epoch: int) -> Iterator[Any]:
        g = torch.Generator().manual_seed(self.seed * 1000 + epoch)
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=self.batch_size, shuffle=self.shuffle, generator=g,
            num_workers=self.workers, pin_memory=torch.cuda.is_available(),
        )
        return iter(loader)


@dataclass
class ClassificationData:
    train: Any
    test: Any
    input_size: tuple[int, int, int, int]
    n_train: int
    n_classes: int


def classification_data(
    manifest: pd.DataFrame,
    source: str,
    batch_size: int,
    eval_batch_size: int,
    augment: dict[str, Any] | None,
    seed: int,
    image_size: int | None = None,
    workers: int = 0,
) -> ClassificationData:
    """Batch sources for the manifest's ``train`` and ``test`` (or ``val``) splits."""
    test_split = "test" if (manifest["split"] == "test").any() else "val"
    n_classes = int(manifest["label"].max()) + 1
    mean, std = NORMALISATION[source]
    if source == "imagenet":
        train_ds = ImageFileDataset(manifest, "train", imagenet_transforms(train=True))
        test_ds = ImageFileDataset(manifest, test_split, imagenet_transforms(train=False))
        return ClassificationData(
            train=LoaderBatches(train_ds, batch_size, True, seed, workers),
            test=LoaderBatches(test_ds, eval_batch_size, False, seed, workers),
            input_size=(1, 3, 224, 224), n_train=len(train_ds), n_classes=n_classes,
        )
    size = image_size if source == "embedded" else None
    x_train, y_train = load_split(manifest, "train", size)
    x_test, y_test = load_split(manifest, test_split, size)
    return ClassificationData(
        train=TensorBatches(x_train, y_train, batch_size, mean, std, shuffle=True, seed=seed, augment=augment),
        test=TensorBatches(x_test, y_test, eval_batch_size, mean, std, shuffle=False, seed=seed, augment=None),
        input_size=(1, *x_train.shape[1:]),  # type: ignore[arg-type]
        n_train=int(y_train.numel()),
        n_classes=n_classes,
    )
