"""MSCL's training as one batch draw, one step and one loop callback for the engine's iteration loop (spec §3).

The N source models are one ``nn.ModuleDict({source: model})`` trained by one optimiser on the summed loss
``Σ_i L_i``. No ``L_i`` reaches another model's parameters — the owners' soft labels are detached and the
target ensemble runs under ``no_grad`` — so each model receives exactly ``∇L_i`` and the per-parameter
optimisers (Adam, SGD with momentum/weight decay) equal N separate ones (§0). Terms whose weight is 0 are
skipped entirely (no forward pass), so ``lambda_col = lambda_t = 0`` is N independent source-only runs,
BatchNorm statistics included.

Per iteration, for every model ``i`` (C1, C2):

    L_i = L_seg(M_i(x^i), y^i)
        + λ_col · mean_{j≠i} KL(q_j ‖ softmax(M_i(x^j)/T))        q_j = softmax(M_j(x^j)/T), detached
        + λ_t(it) · CE(M_i(x^t), PL(mean_k softmax(M_k(x^t))))    stage B only; ensemble in eval mode, no grad

Each domain's batch goes through its own forward pass (BN never mixes domains within a pass; spec §11).
The step does not see the iteration: :class:`IterationClock` (a ``LoopCallback``) gives it the global
iteration, which switches stage B on at ``stage_a_iters`` and drives the λ_t ramp. Plain PyTorch; no Kedro.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from cvpapers.da.batches import Draw, maybe_flip, pick
from cvpapers.da.distill import ensemble_probs, kd_loss
from cvpapers.da.pseudo_labels import bdl_pseudo_labels, bdl_thresholds, pseudo_label_stats
from cvpapers.da.segmenter import Normaliser
from cvpapers.engine.loop import LoopCallback
from cvpapers.models.segmentation import seg_loss

#: One iteration's batch: per-source images and labels, then the target images and their hidden labels
#: (``None`` when the arm draws no target batch; hidden labels only measure pseudo-label accuracy).
Batch = tuple[tuple[Tensor, ...], tuple[Tensor, ...], Tensor | None, Tensor | None]


def multi_source_draw(
    sources: Sequence[tuple[Tensor, Tensor]],
    batch_per_source: int,
    normalise: Normaliser,
    hflip: bool = False,
    target: Tensor | None = None,
    target_hidden: Tensor | None = None,
    batch_target: int = 0,
) -> Draw:
    """``batch_per_source`` labelled images from every source (in order), then — when ``target`` is given —
    ``batch_target`` unlabelled target images. The sources are drawn first, so every arm sees the same source
    batches whether or not it draws a target batch."""

    def draw(g: torch.Generator) -> Batch:
        xs, ys = [], []
        for images, labels in sources:
            idx = pick(len(images), batch_per_source, g)
            x, y = maybe_flip(images[idx], labels[idx], hflip, g)
            xs.append(normalise(x))
            ys.append(y.long())
        xt = yt = None
        if target is not None:
            idx = pick(len(target), batch_target, g)
            xt = normalise(target[idx])
            yt = target_hidden[idx].long() if target_hidden is not None else None
        return tuple(xs), tuple(ys), xt, yt

    return draw


def lambda_t_at(iteration: int, stage_a_iters: int, iters: int, lambda_t: float, ramp: str) -> float:
    """λ_t at a global iteration: 0 in stage A; in stage B ramped linearly from 0 (its first iteration) to
    ``lambda_t`` over the first half of stage B (``linear_half``) or all of it (``linear_full``), or constant
    (``none``)."""
    if iteration < stage_a_iters:
        return 0.0
    if ramp == "none":
        return lambda_t
    length = iters - stage_a_iters
    length = max(1, length // 2 if ramp == "linear_half" else length)
    return lambda_t * min(1.0, (iteration - stage_a_iters) / length)


def _main(out: Any) -> Tensor:
    return out[0] if isinstance(out, tuple | list) else out


@torch.no_grad()
def ensemble_target(models: Sequence[nn.Module], x: Tensor, mode: str = "prob") -> Tensor:
    """``P(x) = mean_k softmax(M_k(x))`` (or ``softmax(mean_k z_k)``), every model in eval mode for this pass
    (BN running statistics untouched) and back in its previous mode afterwards."""
    modes = [m.training for m in models]
    try:
        for m in models:
            m.eval()
        return ensemble_probs([_main(m(x)).float() for m in models], 1.0, mode)  # type: ignore[arg-type]
    finally:
        for m, was in zip(models, modes, strict=True):
            m.train(was)


def online_pseudo_labels(
    probs: Tensor,
    mode: str,
    portion: float,
    max_threshold: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """(pseudo labels uint8 N×H×W, confidence, prediction) of one batch's ensemble probabilities: BDL
    class-balanced thresholds over this batch's pixels (``class_balanced``), or every class at
    ``max_threshold`` (``fixed_threshold``)."""
    conf, pred = probs.max(dim=1)
    num_classes = probs.shape[1]
    if mode == "class_balanced":
        tau = bdl_thresholds(conf, pred, num_classes, portion, max_threshold, "exact")
    else:
        tau = torch.full((num_classes,), max_threshold, dtype=conf.dtype, device=conf.device)
    return bdl_pseudo_labels(conf, pred, tau), conf, pred


def collaborative_kl(teacher_probs: Tensor, student_logits: Tensor, temperature: float) -> Tensor:
    """(C1) ``KL(q_j ‖ softmax(z_i/T))`` averaged over pixels, the owner's ``q_j`` detached; ``T²`` scaling when
    ``T ≠ 1`` (at T = 1 the factor is 1 either way)."""
    return kd_loss(teacher_probs.detach(), student_logits.float(), temperature, t2_scaling=temperature != 1.0)


@dataclass
class CollabWeights:
    """What one MSCL arm trains with (spec §3, §7)."""

    lambda_col: float = 0.5
    col_target: str = "soft"  # soft | hard_gt
    col_temperature: float = 1.0
    teacher_mode: str = "train"  # train | eval
    lambda_aux: float = 0.1
    lambda_t: float = 0.1
    lambda_t_ramp: str = "linear_half"
    ensemble_mode: str = "prob"
    pl_mode: str = "class_balanced"
    pl_portion: float = 0.5
    pl_max_threshold: float = 0.9
    stage_a_iters: int = 0
    iters: int = 1


@dataclass
class _PseudoTally:
    """Online pseudo-label diagnostics summed over one evaluation chunk's stage-B iterations."""

    n: int = 0
    kept: float = 0.0
    acc_sum: float = 0.0
    acc_n: int = 0

    def add(self, stats: Mapping[str, float]) -> None:
        self.n += 1
        self.kept += stats["kept_frac"]
        if "acc" in stats and stats["acc"] == stats["acc"]:
            self.acc_sum, self.acc_n = self.acc_sum + stats["acc"], self.acc_n + 1

    def read(self) -> dict[str, float]:
        if not self.n:
            return {}
        out = {"train_pl_kept_frac": self.kept / self.n}
        if self.acc_n:
            out["train_pl_acc"] = self.acc_sum / self.acc_n
        return out


@dataclass
class CollabStep:
    """The step of every MSCL arm: ``(models, batch) → (Σ_i L_i, stats)`` (stats per source name)."""

    names: tuple[str, ...]
    w: CollabWeights
    iteration: int = 0  # set by :class:`IterationClock` before every step
    tally: _PseudoTally = field(default_factory=_PseudoTally)
    last_pseudo: tuple[Tensor, Tensor, Tensor | None] | None = (
        None  # (images, pseudo, hidden) of the last PL step
    )

    def lambda_t(self) -> float:
        w = self.w
        return lambda_t_at(self.iteration, w.stage_a_iters, w.iters, w.lambda_t, w.lambda_t_ramp)

    def __call__(self, models: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, Any]]:
        xs, ys, xt, yt = batch
        w, members = self.w, [models[s] for s in self.names]  # type: ignore[index]
        outs = [m(x) for m, x in zip(members, xs, strict=True)]
        seg = [seg_loss(o, y, w.lambda_aux) for o, y in zip(outs, ys, strict=True)]
        col = self._collaborative(members, outs, xs, ys) if w.lambda_col > 0 and len(members) > 1 else None
        lam = self.lambda_t() if xt is not None else 0.0
        tgt = self._target(members, xt, yt) if lam > 0 else None
        total = torch.zeros((), device=xs[0].device)
        stats: dict[str, Any] = {"n": 1}
        for i, s in enumerate(self.names):
            loss_i = seg[i]
            stats[f"seg_loss/{s}"] = seg[i].detach()
            if col is not None:
                loss_i = loss_i + w.lambda_col * col[i]
                stats[f"col_loss/{s}"] = col[i].detach()
            if tgt is not None:
                loss_i = loss_i + lam * tgt[i]
                stats[f"tgt_loss/{s}"] = tgt[i].detach()
            total = total + loss_i
        stats["loss"] = total.detach()
        return total, stats

    def _collaborative(
        self, members: list[nn.Module], outs: list[Any], xs: Sequence[Tensor], ys: Sequence[Tensor]
    ) -> list[Tensor]:
        """(C1) per model: the mean over the other sources j of KL(q_j ‖ M_i on x^j), or (``hard_gt``) L_seg of
        M_i on (x^j, y^j)."""
        w, n = self.w, len(members)
        if w.col_target == "soft":
            q = self._owner_probs(members, outs, xs)
        losses = []
        for i, m in enumerate(members):
            terms = []
            for j in range(n):
                if j == i:
                    continue
                out = m(xs[j])
                terms.append(
                    collaborative_kl(q[j], _main(out), w.col_temperature)
                    if w.col_target == "soft"
                    else seg_loss(out, ys[j], w.lambda_aux)
                )
            losses.append(torch.stack(terms).mean())
        return losses

    def _owner_probs(self, members: list[nn.Module], outs: list[Any], xs: Sequence[Tensor]) -> list[Tensor]:
        """q_j = softmax(M_j(x^j)/T), detached: the owner's own supervised forward (``teacher_mode: train``,
        no second pass — a train-mode pass would update BN statistics again), or an eval-mode no-grad pass."""
        t = self.w.col_temperature
        if self.w.teacher_mode == "train":
            return [torch.softmax(_main(o).detach().float() / t, dim=1) for o in outs]
        return [
            torch.softmax(ensemble_target([m], x).log() / t, dim=1) if t != 1.0 else ensemble_target([m], x)
            for m, x in zip(members, xs, strict=True)
        ]

    def _target(self, members: list[nn.Module], xt: Tensor, yt: Tensor | None) -> list[Tensor]:
        """(C2) CE of every model on the target batch against the ensemble's online pseudo labels."""
        w = self.w
        probs = ensemble_target(members, xt, w.ensemble_mode)
        pseudo, _, pred = online_pseudo_labels(probs, w.pl_mode, w.pl_portion, w.pl_max_threshold)
        self.tally.add(pseudo_label_stats(pseudo, yt, pred, probs.shape[1]))
        self.last_pseudo = (xt.detach(), pseudo.detach(), None if yt is None else yt.detach())
        labels = pseudo.long()
        return [seg_loss(_main(m(xt)), labels, 0.0) for m in members]


class IterationClock(LoopCallback):
    """Gives the step the global iteration (``epoch·iters_per_epoch + it``), and logs λ_t and the online
    pseudo-label diagnostics of each evaluation chunk."""

    def __init__(self, step: CollabStep) -> None:
        self.step = step

    def on_epoch_start(self, epoch: int, model: nn.Module) -> None:
        self.step.tally = _PseudoTally()

    def on_iteration_start(self, epoch: int, iteration: int, iters_per_epoch: int, model: nn.Module) -> None:
        self.step.iteration = epoch * iters_per_epoch + iteration

    def epoch_metrics(self, epoch: int) -> dict[str, float]:
        return {"train_lambda_t": self.step.lambda_t(), **self.step.tally.read()}


def build_members(members: Mapping[str, Mapping[str, Any]]) -> nn.ModuleDict:
    """The N member models of a checkpoint (``{"members": {source: segmenter config}}``), unseeded."""
    from cvpapers.da.segmenter import build_da_segmenter

    return nn.ModuleDict({s: build_da_segmenter(**cfg) for s, cfg in members.items()})
