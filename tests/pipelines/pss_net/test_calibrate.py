"""Spec §9.11: BN re-calibration gives the exact average of the per-batch statistics."""

from __future__ import annotations

import numpy as np
import torch

from cvpapers.pipelines.pss_net.calibrate import recalibrate_bn
from cvpapers.pipelines.pss_net.slimmable import build_supernet


def test_recalibration_averages_the_batch_means_whatever_came_before() -> None:
    torch.manual_seed(0)
    model = build_supernet("mbv1_tiny", 10, 4, (0.5, 1.0), [24, 28, 32])
    model.activate(24, np.full(6, 0.5))
    c = model.stem[0].out_channels
    batches = [(torch.randn(8, 3, 32, 32) * (1 + i), torch.zeros(8, dtype=torch.long)) for i in range(3)]
    bn = model.stem[1]
    bn.running_mean.fill_(7.0)  # stale statistics must not matter
    means = []
    with torch.no_grad():
        for x, _ in batches:
            means.append(model.stem[0](model._resize(x)).mean(dim=(0, 2, 3)))
    recalibrate_bn(model, iter(batches), 3, torch.device("cpu"))
    torch.testing.assert_close(bn.running_mean[:c], torch.stack(means).mean(0), atol=1e-5, rtol=1e-5)
    assert not model.training and bn.momentum == 0.1
    first = bn.running_mean.clone()
    recalibrate_bn(model, iter(batches), 3, torch.device("cpu"))
    torch.testing.assert_close(bn.running_mean, first)


def test_recalibration_uses_only_the_first_n_batches() -> None:
    torch.manual_seed(0)
    model = build_supernet("mbv1_tiny", 10, 4, (0.5, 1.0), [24, 28, 32])
    batches = [(torch.randn(4, 3, 32, 32), torch.zeros(4, dtype=torch.long)) for _ in range(3)]
    recalibrate_bn(model, iter(batches), 2, torch.device("cpu"))
    two = model.stem[1].running_mean.clone()
    recalibrate_bn(model, iter(batches[:2]), 5, torch.device("cpu"))
    torch.testing.assert_close(model.stem[1].running_mean, two)
