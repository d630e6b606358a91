"""How every network of the comparison is trained (papers/uformer.md §3.6, §7, §8): Charbonnier, AdamW with
weight decay on every parameter, the warm-up + cosine-to-a-floor schedule, the same batches in the same order
for every model, and the best-validation weights kept (the official code keeps its best checkpoint).

Batches depend only on the generator the shared loop seeds per iteration, so a resumed stage replays them:

- :func:`in_memory` (embedded): ``batch_size`` clean images drawn uniformly, one of the 8 dihedral transforms
  each (uniform), then the degradation drawn fresh (σ per image, the noise) — every model sees identical
  noisy batches; validation on the fixed noisy validation set;
- :func:`streamed` (SIDD / GoPro): a :class:`~cvpapers.data.streaming.StreamingBatches` over the training
  pairs on disk (:class:`PairCrop`: a random ``crop`` window and a dihedral transform per sample, seeded per
  sample), validation one held-out pair at a time.

MixUp (official ``MixUp_AUG``, denoising after epoch 5): each batch also carries a permutation and
λ ~ Beta(1.2, 1.2) per sample, drawn from its generator; :class:`MixupFrom` applies them from
``mixup_from_iter`` on (the loop tells it the iteration, so a resumed run switches at the same step).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from cvpapers.engine.loop import LoopCallback
from cvpapers.pipelines.uformer.config import DataConfig, TrainConfig
from cvpapers.pipelines.uformer.loss import charbonnier

__all__ = [
    "MixupFrom",
    "PairCrop",
    "TrainingData",
    "batch_sampler",
    "fit_network",
    "in_memory",
    "predict",
    "streamed",
]

Arrays = dict[str, np.ndarray]
Batch = tuple[Tensor, Tensor, Tensor, Tensor]  # degraded, clean, mixup permutation, mixup λ


class TrainingData(NamedTuple):
    """What :func:`fit_network` trains on: an in-memory ``draw`` or (``streaming``) a factory
    ``(iters_per_chunk, seed) -> batch source``, and ``evaluate(model) -> {"val_psnr": …}``."""

    batches: Any
    evaluate: Callable[[nn.Module], dict[str, float]]
    streaming: bool = False


def _mixup_params(n: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    perm = torch.randperm(n, generator=g)
    rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=g)))
    return perm, torch.from_numpy(rng.beta(1.2, 1.2, n).astype(np.float32))


def batch_sampler(clean: np.ndarray, t: TrainConfig, d: DataConfig) -> Callable[[torch.Generator], Batch]:
    """``draw(generator) -> (degraded, clean, perm, λ)`` from the clean uint8 images (N, 3, H, W)."""
    from cvpapers.data.augment import dihedral8, draw_dihedral8
    from cvpapers.data.degraded import draw_degradation

    images = torch.from_numpy(clean)

    def draw(g: torch.Generator) -> Batch:
        idx = torch.randint(0, len(images), (t.batch_size,), generator=g)
        x = images[idx].float() / 255
        if t.augment == "dihedral8":
            (x,) = dihedral8(draw_dihedral8(len(x), g), x)
        y = draw_degradation(x, d.task, d.noise_model, d.train_sigma, g)  # type: ignore[arg-type]
        perm, lam = _mixup_params(len(x), g) if t.mixup else (torch.arange(len(x)), torch.ones(len(x)))
        return y.contiguous(), x.contiguous(), perm, lam

    return draw


@torch.inference_mode()
def predict(model: nn.Module, x: np.ndarray | Tensor, device: torch.device, batch: int) -> Tensor:
    """Restored images in [0, 1] (clamped, as the official evaluation), on the CPU; any size (padded)."""
    from cvpapers.engine.device import autocast

    model.eval()
    x = torch.as_tensor(x)
    outs = []
    for s in range(0, len(x), batch):
        with autocast(device):
            out = model.restore(x[s : s + batch].to(device))
        outs.append(out.float().clamp(0, 1).cpu())
    return torch.cat(outs)


def in_memory(
    train: Arrays, val: Arrays, t: TrainConfig, d: DataConfig, device: torch.device
) -> TrainingData:
    """The embedded benchmark's source: vectorised draws from the clean training images; validation PSNR
    (mean over the fixed noisy validation inputs at every test σ)."""
    from cvpapers.metrics.hdr import psnr

    target = torch.from_numpy(val["clean"]).float() / 255

    def evaluate(m: nn.Module) -> dict[str, float]:
        return {"val_psnr": float(psnr(predict(m, val["noisy"], device, t.eval_batch_size), target).mean())}

    return TrainingData(batch_sampler(train["clean"], t, d), evaluate)


class PairCrop:
    """``transform(pair, seed)``: one random ``crop`` window (the whole pair if smaller) and one of the 8
    dihedral transforms, the same on input and target; returns float CHW tensors in [0, 1] (picklable)."""

    def __init__(self, crop: int, augment: str) -> None:
        self.crop, self.augment = crop, augment

    def __call__(self, pair: dict[str, Any], seed: int) -> dict[str, Any]:
        from cvpapers.data.augment import dihedral8, draw_dihedral8

        g = torch.Generator().manual_seed(seed)
        x = torch.from_numpy(np.ascontiguousarray(pair["input"])).permute(2, 0, 1).float() / 255
        y = torch.from_numpy(np.ascontiguousarray(pair["target"])).permute(2, 0, 1).float() / 255
        h, w = x.shape[-2:]
        side = min(self.crop, h, w)
        top = int(torch.randint(0, h - side + 1, (1,), generator=g))
        left = int(torch.randint(0, w - side + 1, (1,), generator=g))
        x, y = x[:, top : top + side, left : left + side], y[:, top : top + side, left : left + side]
        if self.augment == "dihedral8":
            x, y = dihedral8(draw_dihedral8(1, g), x[None], y[None])
            x, y = x[0], y[0]
        return {"x": x.contiguous(), "y": y.contiguous()}


class FullPair:
    """``transform(pair, seed)`` for evaluation: the whole pair as float CHW tensors."""

    def __call__(self, pair: dict[str, Any], seed: int) -> dict[str, Any]:
        return {
            k: torch.from_numpy(np.ascontiguousarray(pair[s])).permute(2, 0, 1).float() / 255
            for k, s in (("x", "input"), ("y", "target"))
        }


def streamed(
    train_set: Any, val_set: Any, t: TrainConfig, device: torch.device, workers: int, skips: Any
) -> TrainingData:
    """The file-backed source: ``train_set`` (a ManifestDataset of :class:`PairCrop` samples) through
    StreamingBatches, ``batch_size`` pairs drawn uniformly per iteration (MixUp parameters drawn from the same
    generator); validation streams ``val_set`` one whole pair at a time."""
    from cvpapers.data.streaming import StreamingBatches, stream
    from cvpapers.metrics.hdr import psnr

    n = len(train_set)

    def pick(g: torch.Generator) -> Tensor:
        return torch.randint(0, n, (t.batch_size,), generator=g)

    def prepare(batch: dict[str, Any]) -> Batch:
        if "x" not in batch:
            raise ValueError("every sample of a training batch was skipped as a bad sample")
        k = len(batch["x"])
        g = torch.Generator().manual_seed(int(batch["index"].sum()) * 7919 + k)
        perm, lam = _mixup_params(k, g) if t.mixup else (torch.arange(k), torch.ones(k))
        return batch["x"], batch["y"], perm, lam

    def source(chunk: int, seed: int) -> StreamingBatches:
        return StreamingBatches([(train_set, pick)], chunk, seed, workers, prepare=prepare, skips=skips)

    def evaluate(m: nn.Module) -> dict[str, float]:
        values = [
            psnr(predict(m, b["x"], device, 1), b["y"])
            for b in stream(val_set, 1, workers=workers, desc="validation", skips=skips)
        ]
        if not values:
            raise ValueError("no validation pair could be read (every one was skipped as a bad sample)")
        return {"val_psnr": float(torch.cat(values).mean())}

    return TrainingData(source, evaluate, streaming=True)


class MixupFrom(LoopCallback):
    """Switches MixUp on from global iteration ``start`` (the loop reports each iteration's position)."""

    def __init__(self, enabled: bool, start: int) -> None:
        self.enabled, self.start, self.active = enabled, start, False

    def on_iteration_start(self, epoch: int, iteration: int, iters_per_epoch: int, model: nn.Module) -> None:
        self.active = self.enabled and epoch * iters_per_epoch + iteration >= self.start

    def apply(self, degraded: Tensor, clean: Tensor, perm: Tensor, lam: Tensor) -> tuple[Tensor, Tensor]:
        """Official ``MixUp_AUG``: λ·(pair) + (1 − λ)·(pair of a permuted sample), input and target alike."""
        if not self.active:
            return degraded, clean
        w = lam.view(-1, 1, 1, 1).to(clean.dtype)
        return w * degraded + (1 - w) * degraded[perm], w * clean + (1 - w) * clean[perm]


def fit_network(
    model: nn.Module,
    data: TrainingData,
    t: TrainConfig,
    *,
    stage: str,
    device: torch.device,
    seed: int,
    checkpoint_path: str | Path,
    resume: bool,
    fingerprint: dict[str, Any],
) -> tuple[nn.Module, dict[str, float], pd.DataFrame]:
    """Train ``model`` for ``t.iters`` iterations through the shared loop (validation PSNR every
    ``t.eval_every``) and load its best-validation weights. Returns the model, its training summary and its
    history (one row per evaluation: ``iteration``, ``train_loss``, ``val_psnr``, ``lr``)."""
    from cvpapers.engine.iterative import train_iterations

    mixup = MixupFrom(t.mixup, t.mixup_from_iter)

    def step(m: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, Any]]:
        degraded, clean = mixup.apply(*batch)
        loss = charbonnier(m(degraded).float(), clean, t.charbonnier_eps)
        return loss, {"loss": loss.detach(), "n": 1}

    draw, source = (None, data.batches) if data.streaming else (data.batches, None)
    result = train_iterations(
        model,
        draw,
        step,
        stage=stage,
        iters=t.iters,
        eval_every=t.eval_every,
        lr=t.lr,
        device=device,
        seed=seed,
        optimizer=t.optimizer,
        weight_decay=t.weight_decay,
        schedule=t.schedule_name(),
        evaluate=data.evaluate,
        checkpoint_path=checkpoint_path,
        resume=resume,
        fingerprint=fingerprint,
        callbacks=[mixup],
        track_best="val_psnr",
        log_prefix="",
        source=source,
    )
    if result.best_state is None:
        raise FloatingPointError(f"{stage}: validation PSNR was never finite; the model diverged")
    model.load_state_dict(result.best_state)
    chunk = t.iters // len(result.history)
    history = pd.DataFrame([{"iteration": (i + 1) * chunk, **h} for i, h in enumerate(result.history)])
    return (
        model,
        {
            "best_val_psnr": float(result.best_metrics.get("val_psnr", float("nan"))),
            "best_iteration": float((result.best_epoch + 1) * (t.iters // len(result.history))),
            "final_train_loss": float(result.last.get("train_loss", float("nan"))),
            "train_time_s": float(sum(h.get("epoch_time_s", 0.0) for h in result.history)),
        },
        history,
    )
