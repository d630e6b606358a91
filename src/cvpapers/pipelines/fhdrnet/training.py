"""How every network of the paper is trained (papers/fhdrnet.md §3.5, §3.6, §8): the same μ-law L1 + Sobel
loss, Adam at a constant lr, the same batches in the same order, and the best-validation weights kept.

Batches: scenes drawn uniformly, each with its own crop window and its own dihedral transform (official
code: with p = 0.5 a vertical or horizontal flip, then rot90 by k ∈ {0..3}), applied identically to its
three frames and its ground truth. A batch depends only on the generator it is drawn with, so a resumed
stage replays exactly the batches it would have seen.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from cvpapers.pipelines.fhdrnet.config import TrainConfig
from cvpapers.pipelines.fhdrnet.inference import forward_frames, predict
from cvpapers.pipelines.fhdrnet.loss import mu_sobel_loss

__all__ = ["batch_sampler", "dihedral", "fit_network"]

Arrays = dict[str, np.ndarray]
Draw = Callable[[torch.Generator], tuple[Tensor, Tensor]]


def batch_sampler(train: Arrays, batch: int, augment: str, crop: int | None) -> Draw:
    """``draw(generator) -> (x, y)``: ``batch`` scenes of ``train`` (``x`` N×3×Cin×H×W, ``y`` N×C×H×W),
    cropped to ``crop`` (None: whole images) and, with ``augment="dihedral"``, flipped and rotated per sample."""
    x_all, y_all = torch.from_numpy(train["x"]), torch.from_numpy(train["y"])
    h, w = x_all.shape[-2:]
    side = min(crop, h, w) if crop is not None else None

    def draw(g: torch.Generator) -> tuple[Tensor, Tensor]:
        idx = torch.randint(0, len(x_all), (batch,), generator=g)
        if side is None:
            x, y = x_all[idx], y_all[idx]
        else:  # crop each sample before gathering, so a batch never copies whole real frames
            tops = torch.randint(0, h - side + 1, (batch,), generator=g)
            lefts = torch.randint(0, w - side + 1, (batch,), generator=g)
            x = torch.stack([x_all[i, ..., t:t + side, s:s + side] for i, t, s in zip(idx, tops, lefts, strict=True)])
            y = torch.stack([y_all[i, ..., t:t + side, s:s + side] for i, t, s in zip(idx, tops, lefts, strict=True)])
        if augment == "dihedral":
            flip = torch.rand(batch, generator=g) < 0.5
            vertical = torch.rand(batch, generator=g) < 0.5
            k = torch.randint(0, 4 if x.shape[-1] == x.shape[-2] else 1, (batch,), generator=g)
            x, y = dihedral(x, y, flip, vertical, k)
        return x.contiguous(), y.contiguous()

    return draw


def dihedral(x: Tensor, y: Tensor, flip: Tensor, vertical: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
    """Per-sample flips (``flip``; vertical where ``vertical``, else horizontal) then ``rot90`` by ``k``,
    grouped by transform (at most 12 groups, never a loop per pixel)."""
    x, y = x.clone(), y.clone()
    code = flip.long() * (1 + vertical.long()) * 4 + k  # 0..3: rot only; 4..7: h-flip; 8..11: v-flip
    for c in code.unique().tolist():
        sel = code == c
        xs, ys = x[sel], y[sel]
        if c >= 4:
            dim = -1 if c < 8 else -2
            xs, ys = xs.flip(dim), ys.flip(dim)
        x[sel], y[sel] = torch.rot90(xs, c % 4, (-2, -1)), torch.rot90(ys, c % 4, (-2, -1))
    return x, y


def fit_network(model: nn.Module, train: Arrays, val: Arrays, t: TrainConfig, *, stage: str, device: torch.device,
                seed: int, checkpoint_path: str | Path, resume: bool, fingerprint: dict[str, Any],
                ) -> tuple[nn.Module, dict[str, float]]:
    """Train ``model`` for ``t.iters`` iterations (validation PSNR-μ every ``t.eval_every``) and load its best
    validation weights, as the official code keeps. Batches come from ``seed``: every network given the same
    seed sees the same batches in the same order. Returns the model and its training summary."""
    from cvpapers.engine.iterative import train_iterations
    from cvpapers.metrics.hdr import hdr_metrics

    def step(m: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, float]]:
        x, y = batch
        loss, parts = mu_sobel_loss(forward_frames(m, x).float(), y, t.mu, t.sobel_weight)
        return loss, {"loss": loss.item(), **parts, "n": 1}

    def evaluate(m: nn.Module) -> dict[str, float]:
        pred = predict(m, val["x"], device, t.eval_batch_size)
        psnr = hdr_metrics(pred, torch.from_numpy(val["y"]), None, t.mu)["psnr_mu"]
        return {"val_psnr_mu": float(psnr.mean())}

    result = train_iterations(
        model, batch_sampler(train, t.batch_size, t.augment, t.crop), step, stage=stage, iters=t.iters,
        eval_every=t.eval_every, lr=t.lr, device=device, seed=seed, optimizer="adam", schedule="constant",
        evaluate=evaluate, checkpoint_path=checkpoint_path, resume=resume, track_best="val_psnr_mu",
        fingerprint=fingerprint, log_prefix="",
    )
    if result.best_state is None:
        raise FloatingPointError(f"{stage}: validation PSNR-μ was never finite; the model diverged")
    model.load_state_dict(result.best_state)
    return model, {
        "best_val_psnr_mu": float(result.best_metrics.get("val_psnr_mu", float("nan"))),
        "best_iteration": float((result.best_epoch + 1) * (t.iters // len(result.history))),
        "final_train_loss": float(result.last.get("train_loss", float("nan"))),
        "train_time_s": float(sum(h.get("epoch_time_s", 0.0) for h in result.history)),
    }
