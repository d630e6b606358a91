"""Supernet training (spec §3.7): the sandwich iteration with in-place distillation, the middle-subnet
samplers of the two arms (PSS: pools and the conditional sampler; US-Net: one uniform width), the
parameter groups of §3.8 and the one call into the engine's loop.

Both arms run this same code with the same optimiser, schedule, iterations, batches and initial weights;
only the sampler differs. The loop (:func:`cvpapers.engine.loop.fit`) owns epochs, the NaN guard, the
end-of-epoch resume checkpoint (the sampler's pools travel in it) and the per-epoch curves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvpapers.engine.loop import LoopCallback
from cvpapers.engine.seeding import derive_seed
from cvpapers.pipelines.pss_net import space as sp
from cvpapers.pipelines.pss_net.pools import SubnetPools, exp_schedule, route_to_pool
from cvpapers.pipelines.pss_net.slimmable import SlimConv2d, SlimNet


def target_name(target: float) -> str:
    """A target in MFLOPs as text for keys and metric names (``1.5``, ``120``); MLflow refuses ``@``."""
    return f"{float(target):.3f}".rstrip("0").rstrip(".")


class MiddleSampler(LoopCallback):
    """Chooses the middle subnet of each iteration; ``record`` receives its score (−CE on the batch)."""

    current: tuple[int, np.ndarray]
    epoch = -1

    def on_epoch_start(self, epoch: int, model: nn.Module) -> None:
        self.epoch = epoch

    def record(self, score: float) -> None:
        return None


class PSSSampler(MiddleSampler):
    """PSS-Net's sampler (§3.4–§3.6): a uniform target, then the structure space with probability p_e (or while
    the target's pool is not full), else the pool with priority softmax(score/t_e); the score updates the pool.

    Draws of iteration (epoch, it) come from ``derive_seed(seed, "sampler", epoch, it)``, so a resumed run
    redraws exactly with the pools restored from the checkpoint and no saved RNG state.
    """

    def __init__(
        self,
        conditional: sp.ConditionalSampler,
        targets: Sequence[float],
        pools: SubnetPools,
        p_range: Sequence[float],
        t_range: Sequence[float],
        epochs: int,
        seed: int,
    ) -> None:
        self.conditional, self.targets, self.pools = conditional, [float(t) for t in targets], pools
        self.p_range, self.t_range, self.epochs, self.seed = tuple(p_range), tuple(t_range), epochs, seed
        self.p = self.t = 1.0
        self._epoch_counts = {"draws": 0, "routed": 0, "evictions_at_start": 0}

    def on_epoch_start(self, epoch: int, model: nn.Module) -> None:
        super().on_epoch_start(epoch, model)
        self.p = exp_schedule(*self.p_range, epoch, self.epochs)
        self.t = exp_schedule(*self.t_range, epoch, self.epochs)
        self._epoch_counts = {"draws": 0, "routed": 0, "evictions_at_start": self.pools.evictions}

    def on_iteration_start(self, epoch: int, iteration: int, iters_per_epoch: int, model: nn.Module) -> None:
        rng = np.random.default_rng(derive_seed(self.seed, "sampler", epoch, iteration))
        target = self.targets[int(rng.integers(len(self.targets)))]
        name = target_name(target)
        from_pool = route_to_pool(
            float(rng.random()), self.p, len(self.pools.pools[name]), self.pools.capacity
        )
        if from_pool:
            key = self.pools.sample(name, self.t, rng)
            resolution, mults = sp.parse_key(key)
        else:
            resolution, mults = self.conditional.sample(target, rng)
            key = sp.cfg_key(resolution, mults)
        self.current, self._slot = (resolution, mults), (name, key)
        self._epoch_counts["draws"] += 1
        self._epoch_counts["routed"] += int(from_pool)

    def record(self, score: float) -> None:
        self.pools.update(*self._slot, score)

    def epoch_metrics(self, epoch: int) -> dict[str, float]:
        scores = [s for pool in self.pools.pools.values() for s in pool.values()]
        fill = np.mean([len(pool) for pool in self.pools.pools.values()]) / self.pools.capacity
        c = self._epoch_counts
        return {
            "p": self.p,
            "t": self.t,
            "pool_routed_frac": c["routed"] / max(c["draws"], 1),
            "pool_fill": float(fill),
            "pool_score_mean": float(np.mean(scores)) if scores else float("nan"),
            "pool_score_max": float(np.max(scores)) if scores else float("nan"),
            "evictions": float(self.pools.evictions - c["evictions_at_start"]),
        }

    def state_dict(self) -> dict[str, Any]:
        return self.pools.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pools.load_state_dict(state)


class USNetSampler(MiddleSampler):
    """US-Net's rule: one width w ~ U(width range) (3 decimals) for every layer, at the largest resolution."""

    def __init__(self, space: sp.Space, seed: int) -> None:
        self.space, self.seed = space, seed

    def on_iteration_start(self, epoch: int, iteration: int, iters_per_epoch: int, model: nn.Module) -> None:
        rng = np.random.default_rng(derive_seed(self.seed, "usnet", epoch, iteration))
        w = round(float(rng.uniform(*self.space.width_range)), sp.MULT_DECIMALS)
        self.current = (self.space.max_resolution, np.full(self.space.n_mults, w))


def kl_batchmean(teacher_probs: Tensor, student_logits: Tensor) -> Tensor:
    """KL(q ‖ softmax(z)) summed over classes, averaged over the batch (temperature 1, teacher detached)."""
    from cvpapers.da.distill import kd_loss

    return kd_loss(teacher_probs, student_logits, temperature=1.0, t2_scaling=False)


def sandwich_step(
    sampler: MiddleSampler,
) -> Callable[[nn.Module, Any], tuple[Tensor, dict[str, Tensor | float]]]:
    """The §3.7 iteration as one loss: CE of the max net + KL of the sampled and of the min net to the max
    net's detached softmax. One backward of the sum gives the three backward passes' gradients.

    The middle subnet's score is −CE of the same forward (train-mode BN, the update's weights): equal to the
    code's separate no-grad forward, without its cost.
    """

    def step(model: nn.Module, batch: Any) -> tuple[Tensor, dict[str, Tensor | float]]:
        from cvpapers.engine import distributed

        x, y = batch
        net: SlimNet = distributed.unwrap_model(model)
        net.activate_max()
        z_max = model(x).float()
        loss_max = F.cross_entropy(z_max, y)
        q = F.softmax(z_max.detach(), dim=1)
        net.activate(*sampler.current)
        z_mid = model(x).float()
        loss_mid = kl_batchmean(q, z_mid)
        sampler.record(-float(F.cross_entropy(z_mid.detach(), y)))
        net.activate_min()
        loss_min = kl_batchmean(q, model(x).float())
        net.activate_max()
        n = y.numel()
        stats = {
            "loss_max": loss_max.detach().double() * n,
            "loss_mid": loss_mid.detach().double() * n,
            "loss_min": loss_min.detach().double() * n,
            "acc_max": 100.0 * (z_max.detach().argmax(1) == y).sum().double(),
            "n": float(n),
        }
        return loss_max + loss_mid + loss_min, stats

    return step


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """§3.8: decay on non-depthwise conv weights and FC weights; none on depthwise weights, BN and biases."""
    decay, no_decay = [], []
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            is_dw = isinstance(module, SlimConv2d) and module.depthwise
            wanted = name == "weight" and (isinstance(module, nn.Linear) or (param.dim() == 4 and not is_dw))
            (decay if wanted else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def max_net_evaluator(
    every: int, epochs: int, evaluate: Callable[[], float], sampler: MiddleSampler
) -> Callable[[nn.Module], dict[str, float]]:
    """The loop's per-epoch evaluation: the max net's top-1 (after BN re-calibration) every ``every`` epochs
    and at the last one (the epoch is the sampler's, which the loop sets, also after a resume)."""

    def run(_model: nn.Module) -> dict[str, float]:
        done = sampler.epoch + 1
        if done % every and done != epochs:
            return {}
        return {"val_top1_max": evaluate()}

    return run


def train_supernet(
    model: SlimNet,
    train: Any,
    sampler: MiddleSampler,
    *,
    stage: str,
    epochs: int,
    optimizer: str,
    lr: float,
    momentum: float,
    nesterov: bool,
    weight_decay: float,
    device: torch.device,
    checkpoint_path: Any,
    resume: bool,
    fingerprint: dict[str, Any],
    evaluate: Callable[[nn.Module], dict[str, float]] | None,
    log_prefix: str,
) -> Any:
    """One arm: the sandwich step through the engine's loop, cosine lr per iteration to 0, no warm-up."""
    from cvpapers.engine.loop import FitConfig, fit
    from cvpapers.engine.optim import build_optimizer, build_scheduler
    from cvpapers.engine.tracking import MetricLogger

    opt = build_optimizer(param_groups(model, weight_decay), optimizer, lr, momentum, weight_decay, nesterov)
    sched = build_scheduler(opt, len(train), "cosine", epochs)
    config = FitConfig(
        stage=stage, epochs=epochs, checkpoint_path=checkpoint_path, resume=resume, fingerprint=fingerprint
    )
    return fit(
        model,
        train,
        sandwich_step(sampler),
        opt,
        sched,
        config,
        device,
        evaluate,
        (sampler,),
        MetricLogger(prefix=log_prefix),
    )
