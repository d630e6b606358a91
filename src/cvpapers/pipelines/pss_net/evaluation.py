"""End of training (spec §3.9): every evaluated subnet is activated, its BN re-calibrated on the calibration
batches, then scored on the test split. PSS: the top-ranked pool entries of every target (rank 0 = the
*retained* subnet), random map subnets of the same target, max and min net. US-Net: the uniform width whose
FLOPs are closest to each target (at the largest resolution), max and min net.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from cvpapers.pipelines.pss_net import space as sp
from cvpapers.pipelines.pss_net.calibrate import recalibrate_bn
from cvpapers.pipelines.pss_net.pools import SubnetPools
from cvpapers.pipelines.pss_net.slimmable import SlimNet
from cvpapers.pipelines.pss_net.training import target_name

ROW_COLUMNS = ["arm", "kind", "target", "rank", "cfg", "resolution", "widths", "mflops", "score", "top1"]


@dataclass
class Evaluator:
    """Activate → re-calibrate BN → top-1 on the test split, for one supernet."""

    model: SlimNet
    calib: Any  # batch source of the calibration images (``batches(0)``)
    calib_batches: int
    test: Any
    device: torch.device

    def top1(self, resolution: int, mults: np.ndarray) -> float:
        from cvpapers.metrics.classification import evaluate_classifier

        self.model.activate(resolution, mults)
        recalibrate_bn(self.model, self.calib.batches(0), self.calib_batches, self.device)
        top1 = evaluate_classifier(self.model, self.test.batches(0), self.device)["top1"]
        self.model.activate_max()
        return float(top1)

    def row(
        self,
        arm: str,
        kind: str,
        target: float | None,
        rank: int,
        resolution: int,
        mults: np.ndarray,
        score: float = float("nan"),
    ) -> dict[str, Any]:
        space = self.model.space
        return {
            "arm": arm,
            "kind": kind,
            "target": np.nan if target is None else float(target),
            "rank": rank,
            "cfg": sp.cfg_key(resolution, mults),
            "resolution": int(resolution),
            "widths": "-".join(str(int(w)) for w in sp.widths(space, mults)[0]),
            "mflops": round(float(sp.mflops(space, [resolution], np.asarray(mults)[None, :])[0]), 6),
            "score": float(score),
            "top1": self.top1(resolution, mults),
        }


def calibration_source(data: Any, calib_size: int, batch_size: int) -> Any:
    """The first ``calib_size`` training images in fixed order without augmentation (in-memory sources);
    for streamed ImageNet the training loader with its augmentation, as the code's ``ComputePostBN``."""
    from cvpapers.data.classification import TensorBatches
    from cvpapers.data.sources import LoaderBatches

    train = data.train
    if isinstance(train, TensorBatches):
        n = min(calib_size, len(train.images))
        return TensorBatches(
            train.images[:n],
            train.labels[:n],
            batch_size,
            train.mean,
            train.std,
            shuffle=False,
            augment=None,
            device=train.device,
        )
    return LoaderBatches(train.dataset, batch_size, True, train.seed, train.workers, shard=False)


def evaluate_pss(
    ev: Evaluator,
    pools: SubnetPools,
    subnet_map: sp.SubnetMap,
    targets: list[float],
    valid_topk: int,
    n_random: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Rows for the top ``valid_topk`` pool entries of every target, ``n_random`` random map subnets of the
    target, and the max and min net."""
    rows = [
        ev.row("pss", "max", None, 0, *sp.max_cfg(ev.model.space)),
        ev.row("pss", "min", None, 0, *sp.min_cfg(ev.model.space)),
    ]
    for t in targets:
        for rank, (key, score) in enumerate(pools.ranked(target_name(t))[:valid_topk]):
            rows.append(
                ev.row("pss", "retained" if rank == 0 else "pool", t, rank, *sp.parse_key(key), score)
            )
        candidates = np.flatnonzero(subnet_map.target == t)
        for i, row in enumerate(rng.choice(candidates, size=min(n_random, len(candidates)), replace=False)):
            rows.append(ev.row("pss", "random", t, i, int(subnet_map.resolution[row]), subnet_map.mults[row]))
    return pd.DataFrame(rows, columns=ROW_COLUMNS)


def usnet_width_for(space: sp.Space, target: float, step: float, offset: float, grid: int) -> float | None:
    """The uniform width (largest resolution) whose FLOPs are closest to ``target`` among ``grid`` widths of
    the width range, if it falls into the target's bucket; else None (US-Net cannot reach that target)."""
    w = np.round(np.linspace(*space.width_range, grid), sp.MULT_DECIMALS)
    res = np.full(grid, space.max_resolution)
    f = sp.mflops(space, res, np.repeat(w[:, None], space.n_mults, axis=1))
    best = int(np.argmin(np.abs(f - target)))
    return float(w[best]) if sp.bucket(f[best], step, offset) == round(target, 6) else None


def evaluate_usnet(
    ev: Evaluator, targets: list[float], step: float, offset: float, grid: int
) -> pd.DataFrame:
    space = ev.model.space
    rows = [
        ev.row("usnet", "max", None, 0, *sp.max_cfg(space)),
        ev.row("usnet", "min", None, 0, *sp.min_cfg(space)),
    ]
    for t in targets:
        w = usnet_width_for(space, t, step, offset, grid)
        if w is not None:
            rows.append(ev.row("usnet", "uniform", t, 0, space.max_resolution, np.full(space.n_mults, w)))
    return pd.DataFrame(rows, columns=ROW_COLUMNS)
