"""From a classification manifest to the batch sources the training loop consumes.

Small datasets (embedded shapes, CIFAR-10) are held in memory as uint8 tensors and batched with
vectorised augmentation, which is many times faster on a CPU than a per-sample DataLoader. Large
ones (ImageNet) stream files through a DataLoader with torchvision transforms.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
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
from cvpapers.data.manifest import evaluation_split
from cvpapers.engine import distributed
from cvpapers.engine.seeding import derive_seed

NORMALISATION = {
    "embedded": (EMBEDDED_MEAN, EMBEDDED_STD),
    "cifar10": (CIFAR_MEAN, CIFAR_STD),
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
}


class LoaderBatches:
    """A DataLoader over this rank's share of a dataset, reshuffled and re-seeded per epoch.

    The order comes from a DistributedSampler seeded with the run's seed (one rank: the whole dataset),
    and the random transforms from a per-epoch seed, in the main process and in each worker, so an
    epoch replays identically after a resume. ``shard=False`` gives every rank the whole dataset
    (evaluation, whose accuracy then needs no all-gather).
    """

    def __init__(self, dataset: torch.utils.data.Dataset, batch_size: int, shuffle: bool, seed: int, workers: int,
                 shard: bool = True) -> None:
        self.dataset, self.batch_size, self.seed, self.workers = dataset, batch_size, seed, workers
        self.sampler = torch.utils.data.DistributedSampler(
            dataset, num_replicas=distributed.world_size() if shard else 1, rank=distributed.rank() if shard else 0,
            shuffle=shuffle, seed=seed % 2**31, drop_last=False,
        )

    def __len__(self) -> int:
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size

    def batches(self, epoch: int) -> Iterator[Any]:
        self.sampler.set_epoch(epoch)
        epoch_seed = derive_seed(self.seed, "epoch", epoch)
        torch.manual_seed(epoch_seed)  # transforms drawn in the main process (workers=0)
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=self.batch_size, sampler=self.sampler,
            generator=torch.Generator().manual_seed(epoch_seed),  # seeds each worker's RNG
            num_workers=self.workers, pin_memory=torch.cuda.is_available(), collate_fn=_collate_present,
        )
        return iter(loader)


def _collate_present(items: list[Any]) -> Any:
    """Batches without the samples a dataset skipped as bad (``None``; see ``on_bad_sample``)."""
    return torch.utils.data.default_collate([item for item in items if item is not None])


@dataclass
class ClassificationData:
    train: Any
    test: Any
    input_size: tuple[int, int, int, int]
    n_train: int
    n_classes: int
    skipped: list[str] = field(default_factory=list)  # "path: problem" of samples left out (on_bad_sample: skip)


def classification_data(
    manifest: pd.DataFrame,
    source: str,
    batch_size: int,
    eval_batch_size: int,
    augment: dict[str, Any] | None,
    seed: int,
    image_size: int | None = None,
    workers: int = 0,
    on_bad_sample: str = "error",
    skipped: list[str] | None = None,
    normalisation: tuple[Any, Any] | None = None,
    transform_options: dict[str, Any] | None = None,
) -> ClassificationData:
    """Batch sources for the manifest's ``train`` and ``test`` (or ``val``) splits.

    ``normalisation`` = (mean, std) replaces the source's default (:data:`NORMALISATION`);
    ``transform_options`` are extra keyword arguments of the ImageNet train transform (:func:`imagenet_transforms`).
    """
    test_split = evaluation_split(manifest)
    n_classes = int(manifest["label"].max()) + 1
    skipped = skipped if skipped is not None else []
    mean, std = normalisation if normalisation is not None else NORMALISATION[source]
    if source == "imagenet":
        train_tf = imagenet_transforms(train=True, mean=mean, std=std, **(transform_options or {}))
        train_ds = ImageFileDataset(manifest, "train", train_tf, on_bad_sample=on_bad_sample)
        test_tf = imagenet_transforms(train=False, mean=mean, std=std)
        test_ds = ImageFileDataset(manifest, test_split, test_tf, on_bad_sample=on_bad_sample)
        return ClassificationData(
            train=LoaderBatches(train_ds, batch_size, True, seed, workers),
            # Evaluation sees the whole split on every rank, as for the in-memory sources below.
            test=LoaderBatches(test_ds, eval_batch_size, False, seed, workers, shard=False),
            input_size=(1, 3, 224, 224), n_train=len(train_ds), n_classes=n_classes,
        )
    size = image_size if source == "embedded" else None
    x_train, y_train = load_split(manifest, "train", size, on_bad_sample=on_bad_sample, skipped=skipped)
    x_test, y_test = load_split(manifest, test_split, size, on_bad_sample=on_bad_sample, skipped=skipped)
    return ClassificationData(
        train=TensorBatches(x_train, y_train, batch_size, mean, std, shuffle=True, seed=seed, augment=augment,
                            rank=distributed.rank(), world_size=distributed.world_size()),
        # Evaluation sees the whole test set on every rank (no all-gather needed for exact accuracy).
        test=TensorBatches(x_test, y_test, eval_batch_size, mean, std, shuffle=False, seed=seed, augment=None),
        input_size=(1, *x_train.shape[1:]),  # type: ignore[arg-type]
        n_train=int(y_train.numel()),
        n_classes=n_classes,
        skipped=skipped,
    )
