"""How every network of the paper is trained (papers/fhdrnet.md §3.5, §3.6, §8): the same μ-law L1 + Sobel
loss, Adam at a constant lr, the same batches in the same order, and the best-validation weights kept.

Batches: scenes drawn uniformly, each with its own crop window and its own dihedral transform (official
code: with p = 0.5 a vertical or horizontal flip, then rot90 by k ∈ {0..3}), applied identically to its
three frames and its ground truth. A batch depends only on the generator it is drawn with, so a resumed
stage replays exactly the batches it would have seen. Two sources behind the loop's batch-source interface:

- :func:`in_memory` (the embedded benchmark): vectorised draws from the input arrays (:func:`batch_sampler`),
  validation on the in-memory validation set;
- :func:`streamed` (real data): a :class:`~cvpapers.data.streaming.StreamingBatches` over the training
  scenes on disk — the same per-iteration generator picks the scenes, each sample is read, cropped and
  augmented by its own seeded transform (:class:`~cvpapers.pipelines.fhdrnet.streams.TrainingCrop`) in
  DataLoader workers — and validation one full-size scene at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from cvpapers.pipelines.fhdrnet.config import TrainConfig
from cvpapers.pipelines.fhdrnet.inference import forward_frames, predict
from cvpapers.pipelines.fhdrnet.loss import mu_sobel_loss

__all__ = ["CURVE_COLUMNS", "TrainingData", "batch_sampler", "dihedral", "fit_network", "in_memory", "streamed",
           "train_network"]

Arrays = dict[str, np.ndarray]
Draw = Callable[[torch.Generator], tuple[Tensor, Tensor]]
#: A network's validation curve: one row per evaluation, ``iteration`` = iterations done.
CURVE_COLUMNS = ("iteration", "val_psnr_mu", "train_loss")


class TrainingData(NamedTuple):
    """What :func:`fit_network` trains on: ``batches`` — an in-memory draw, or (``streaming``) a factory
    ``(iters_per_chunk, seed) -> batch source`` — and ``evaluate(model) -> {"val_psnr_mu": …}``."""

    batches: Any
    evaluate: Callable[[nn.Module], dict[str, float]]
    streaming: bool = False


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


def in_memory(train: Arrays, val: Arrays, t: TrainConfig, device: torch.device) -> TrainingData:
    """The embedded benchmark's source: vectorised draws from ``train``, validation on the arrays of ``val``."""
    from cvpapers.metrics.hdr import hdr_metrics

    def evaluate(m: nn.Module) -> dict[str, float]:
        pred = predict(m, val["x"], device, t.eval_batch_size)
        psnr = hdr_metrics(pred, torch.from_numpy(val["y"]), None, t.mu)["psnr_mu"]
        return {"val_psnr_mu": float(psnr.mean())}

    return TrainingData(batch_sampler(train, t.batch_size, t.augment, t.crop), evaluate)


def streamed(train_set: Any, val_set: Any, t: TrainConfig, device: torch.device, workers: int,
             skips: Any) -> TrainingData:
    """The file-backed source: ``train_set`` (a ManifestDataset yielding ``x``/``y`` crops) through
    StreamingBatches, ``batch_size`` scenes drawn uniformly per iteration; validation streams ``val_set``
    (full-size inputs) one scene at a time. Bad samples are handled by the datasets and counted in ``skips``."""
    from cvpapers.data.streaming import StreamingBatches, stream
    from cvpapers.metrics.hdr import mu_law, psnr

    n = len(train_set)

    def pick(g: torch.Generator) -> Tensor:
        return torch.randint(0, n, (t.batch_size,), generator=g)

    def source(chunk: int, seed: int) -> StreamingBatches:
        return StreamingBatches([(train_set, pick)], chunk, seed, workers, prepare=_xy, skips=skips)

    def evaluate(m: nn.Module) -> dict[str, float]:  # PSNR-μ alone (as hdr_metrics computes it): no full-size SSIM
        values = [psnr(mu_law(predict(m, b["x"], device, 1).double(), t.mu), mu_law(b["y"].double(), t.mu))
                  for b in stream(val_set, 1, workers=workers, desc="validation", skips=skips)]
        if not values:
            raise ValueError("no validation scene could be read (every one was skipped as a bad sample)")
        return {"val_psnr_mu": float(torch.cat(values).mean())}

    return TrainingData(source, evaluate, streaming=True)


def _xy(batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
    if "x" not in batch:
        raise ValueError("every sample of a training batch was skipped as a bad sample; fix or remove the "
                         "files logged above")
    return batch["x"], batch["y"]


def fit_network(model: nn.Module, data: TrainingData, t: TrainConfig, *, stage: str, device: torch.device,
                seed: int, checkpoint_path: str | Path, resume: bool, fingerprint: dict[str, Any],
                ) -> tuple[nn.Module, dict[str, float]]:
    """:func:`train_network` without its validation curve: the model and its training summary."""
    model, summary, _ = train_network(model, data, t, stage=stage, device=device, seed=seed,
                                      checkpoint_path=checkpoint_path, resume=resume, fingerprint=fingerprint)
    return model, summary


def train_network(model: nn.Module, data: TrainingData, t: TrainConfig, *, stage: str, device: torch.device,
                  seed: int, checkpoint_path: str | Path, resume: bool, fingerprint: dict[str, Any],
                  ) -> tuple[nn.Module, dict[str, float], pd.DataFrame]:
    """Train ``model`` for ``t.iters`` iterations (validation PSNR-μ every ``t.eval_every``) and load its best
    validation weights, as the official code keeps. Batches come from ``seed``: every network given the same
    seed sees the same batches in the same order. Returns the model, its training summary and its curve
    (:data:`CURVE_COLUMNS`: validation PSNR-μ and mean training loss per evaluation, by iterations done)."""
    from cvpapers.engine.iterative import train_iterations

    def step(m: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, float]]:
        x, y = batch
        loss, parts = mu_sobel_loss(forward_frames(m, x).float(), y, t.mu, t.sobel_weight)
        return loss, {"loss": loss.detach(), **parts, "n": 1}

    options = {"stage": stage, "device": device, "seed": seed, "evaluate": data.evaluate,
               "checkpoint_path": checkpoint_path, "resume": resume, "fingerprint": fingerprint}
    # Real data: ``data.batches(chunk, seed)`` builds the file-backed source; embedded: in-memory draws.
    draw, source = (None, data.batches) if data.streaming else (data.batches, None)
    result = train_iterations(
        model, draw, step, iters=t.iters, eval_every=t.eval_every, lr=t.lr, optimizer="adam",
        schedule="constant", track_best="val_psnr_mu", log_prefix="", source=source, **options)
    if result.best_state is None:
        raise FloatingPointError(f"{stage}: validation PSNR-μ was never finite; the model diverged")
    model.load_state_dict(result.best_state)
    chunk = t.iters // len(result.history)
    curve = pd.DataFrame([[(i + 1) * chunk, h.get("val_psnr_mu", float("nan")), h.get("train_loss", float("nan"))]
                          for i, h in enumerate(result.history)], columns=list(CURVE_COLUMNS))
    return model, {
        "best_val_psnr_mu": float(result.best_metrics.get("val_psnr_mu", float("nan"))),
        "best_iteration": float((result.best_epoch + 1) * chunk),
        "final_train_loss": float(result.last.get("train_loss", float("nan"))),
        "train_time_s": float(sum(h.get("epoch_time_s", 0.0) for h in result.history)),
    }, curve
