"""BN re-calibration before every evaluation (spec §3.9): shared BN statistics mean nothing for a given
subnet, so they are replaced by exact averages over a few training batches of that subnet."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def recalibrate_bn(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    n_batches: int,
    device: torch.device,
) -> None:
    """Reset every BN's running statistics, forward ``n_batches`` batches in train mode with momentum
    1/(t+1) (a cumulative average: the result is the mean of the per-batch statistics, whatever came
    before), then restore the momenta and switch to eval mode."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # PyTorch's cumulative moving average: factor 1/num_batches_tracked
    model.train()
    try:
        with torch.no_grad():
            for t, (x, _y) in enumerate(batches):
                if t >= n_batches:
                    break
                model(x.to(device))
    finally:
        for bn, momentum in zip(bns, momenta, strict=True):
            bn.momentum = momentum
        model.eval()
