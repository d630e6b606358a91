"""The dataset-mean gradient ``G`` of every compressible layer (spec §3.2, pitfall 4).

``G_i = (1/B) Σ_b ∂L_b/∂W_i``: cross-entropy (mean over the batch) averaged over all mini-batches of the
**training split without augmentation**, in a fixed order, with the model in eval mode (BN uses its
running statistics), accumulated in float64. Computed once on the pretrained model and shared by the
three variants.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
import torch
from torch import nn


def gradient_batches(manifest: pd.DataFrame, cfg: Any, batch_size: int) -> Any:
    """The train split with the test-time transform, unshuffled (in memory; ImageNet streamed from disk)."""
    from cvpapers.data.classification import ImageFileDataset, TensorBatches, imagenet_transforms, load_split
    from cvpapers.data.sources import NORMALISATION, LoaderBatches

    if cfg.source == "imagenet":
        dataset = ImageFileDataset(
            manifest, "train", imagenet_transforms(train=False), on_bad_sample=cfg.on_bad_sample
        )
        return LoaderBatches(dataset, batch_size, False, 0, cfg.workers, shard=False)
    x, y = load_split(
        manifest,
        "train",
        cfg.image_size if cfg.source == "embedded" else None,
        on_bad_sample=cfg.on_bad_sample,
    )
    mean, std = NORMALISATION[cfg.source]
    return TensorBatches(x, y, batch_size, mean, std, shuffle=False, augment=None)


def mean_gradients(
    model: nn.Module,
    layers: Sequence[str],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
) -> dict[str, torch.Tensor]:
    """Float64 mean over batches of the gradient of the batch-mean cross-entropy w.r.t. each layer's weight."""
    was_training = model.training
    model.eval()
    weights = [model.get_submodule(name).weight for name in layers]
    total = [torch.zeros_like(w, dtype=torch.float64) for w in weights]
    count = 0
    try:
        for x, y in batches:
            loss = nn.functional.cross_entropy(model(x.to(device)), y.to(device))
            for acc, g in zip(total, torch.autograd.grad(loss, weights), strict=True):
                acc += g.detach().to(torch.float64)
            count += 1
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("the gradient set is empty: no training batch")
    return {name: (acc / count).cpu() for name, acc in zip(layers, total, strict=True)}
