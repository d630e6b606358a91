"""Collaborative consistency learning (spec §3): the per-batch LAB bridge, the loss terms, the weight
regulariser, the batch draws and the step functions of every stage. Plain PyTorch; no Kedro.

Models: the N experts and the student share one architecture (the shared TinyDeepLabV2, or DeepLab-v2 on real
data) and are trained together as one ``nn.ModuleDict`` keyed by target name (experts) and ``student``: every
cross-network target is detached, so one optimiser step on the summed loss is N + 1 independent steps (§0).

Images travel as uint8 ``N×H×W×3`` tensors (the arrays' layout); a draw translates them in float (LAB,
:func:`cvpapers.da.lab.lab_transfer_float`, no 8-bit rounding) and normalises them for the network
(``N×3×H×W``). Every random choice of a batch — images, LAB references, flips — comes from the batch's
generator, so a resumed stage replays its batches exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvpapers.da.batches import pick
from cvpapers.da.distill import kd_loss
from cvpapers.da.lab import lab_transfer_float, reference_indices
from cvpapers.da.pseudo_labels import bdl_pseudo_labels
from cvpapers.da.segmenter import INPUT_NORMS
from cvpapers.engine.loop import LoopCallback
from cvpapers.engine.seeding import derive_seed
from cvpapers.models.segmentation import seg_loss

STUDENT = "student"
FloatNormaliser = Callable[[Tensor], Tensor]


# -- models -------------------------------------------------------------------------------------------------


def build_members(members: Sequence[str], segmenter: dict[str, Any]) -> nn.ModuleDict:
    """A set of segmenters of one architecture keyed by name (the experts, or experts + student): what an
    expert-set checkpoint rebuilds (``build_members(**config)``)."""
    from cvpapers.da.segmenter import build_da_segmenter

    return nn.ModuleDict({m: build_da_segmenter(**segmenter) for m in members})


def main_logits(out: Any) -> Tensor:
    """The main head of a segmenter's output (train mode returns ``(main, aux)``)."""
    return out[0] if isinstance(out, tuple | list) else out


# -- input ----------------------------------------------------------------------------------------------------


def float_normaliser(name: str) -> FloatNormaliser:
    """Float RGB ``N×3×H×W`` in [0, 1] → network input; equal to the uint8 path's ``(x / 255 − mean) / std``."""
    mean, std, bgr = INPUT_NORMS[name]
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)

    def norm(x: Tensor) -> Tensor:
        x = x.flip(1) if bgr else x
        return (x.float() - m) / s

    return norm


def to_float(x_uint8: Tensor) -> Tensor:
    """uint8 ``N×H×W×3`` → float32 RGB in [0, 1], same layout."""
    return x_uint8.float().div_(255.0)


def nchw(x: Tensor) -> Tensor:
    return x.permute(0, 3, 1, 2).contiguous()


# -- the LAB bridge (spec §3.2) -------------------------------------------------------------------------------


@dataclass
class LabBank:
    """Per-image LAB statistics of every target's training images (``N_d×3`` mean and std per target) and the
    reference rule: ``random_image`` (a reference image's statistics) or ``domain_mean``; ``per_batch`` (drawn
    from the batch's generator every time) or ``fixed`` (one reference per (image, reference target), drawn once
    from ``seed`` with :func:`cvpapers.da.lab.reference_indices`)."""

    means: list[Tensor]
    stds: list[Tensor]
    reference: str = "random_image"
    redraw: str = "per_batch"
    eps: float = 1e-6
    seed: int = 0
    n_source: int = 0  # size of the source set (``fixed`` references of source images)
    _fixed: dict[tuple[str, int, int], Tensor] = field(default_factory=dict)

    def refs(
        self,
        domain: int,
        images: Tensor,
        g: torch.Generator,
        kind: str = "source",
        of: int = 0,
        n_of: int = 0,
    ) -> tuple[Tensor, Tensor]:
        """Reference statistics in target ``domain`` for the images at ``images`` (indices into their own set:
        the source set, ``kind="source"``, or target ``of``'s set of ``n_of`` images, ``kind="target"``)."""
        n = images.shape[0]
        if self.reference == "domain_mean":
            return self.means[domain].mean(0).expand(n, 3), self.stds[domain].mean(0).expand(n, 3)
        if self.redraw == "per_batch":
            idx = pick(self.means[domain].shape[0], n, g)
        else:
            key = (kind, of, domain)
            if key not in self._fixed:
                n_set = n_of if kind == "target" else self.n_source
                self._fixed[key] = torch.from_numpy(
                    reference_indices(
                        n_set,
                        self.means[domain].shape[0],
                        derive_seed(self.seed, "lab_fixed", kind, of, domain),
                    )
                )
            idx = self._fixed[key][images]
        return self.means[domain][idx], self.stds[domain][idx]

    def translate(self, x_uint8: Tensor, ref: tuple[Tensor, Tensor]) -> Tensor:
        """τ(x; r): uint8 ``N×H×W×3`` images re-coloured to the references → float RGB ``N×3×H×W`` in [0, 1]."""
        return nchw(lab_transfer_float(to_float(x_uint8), ref[0], ref[1], self.eps))


# -- batches ---------------------------------------------------------------------------------------------------


@dataclass
class DomainData:
    """The in-memory image sets a stage draws from (uint8 ``N×H×W×3`` images, ``N×H×W`` labels)."""

    src_x: Tensor
    src_y: Tensor
    tgt_x: list[Tensor]
    tgt_hidden: list[Tensor]  # true labels of the unlabelled images: diagnostics only, never a loss


@dataclass(frozen=True)
class BatchPlan:
    """What a stage's batch holds: ``experts`` (per target: source re-coloured to that target, and a target
    batch), ``bridge`` (every ordered pair (i, j ≠ i): target j's batch re-coloured to target i), ``mixed``
    (source re-coloured to a random image of a random target, for single models), ``lab_source`` (translate the
    source at all: ``source_only.lab: none`` turns it off)."""

    experts: bool = False
    bridge: bool = False
    mixed: bool = False
    lab_source: bool = True
    targets: bool = True  # draw target batches (not for the source-only model)


def _flip(x: Tensor, y: Tensor, hflip: bool, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Flip each uint8 ``N×H×W×3`` image (and its ``N×H×W`` label) horizontally with probability 1/2."""
    if not hflip:
        return x, y
    flip = torch.rand(x.shape[0], generator=g) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(2), x), torch.where(
        flip[:, None, None], y.flip(-1), y
    )


def mtda_draw(
    data: DomainData,
    bank: LabBank | None,
    plan: BatchPlan,
    batch: int,
    per_target: int,
    normalise: FloatNormaliser,
    hflip: bool = False,
) -> Callable[[torch.Generator], dict[str, Any]]:
    """One batch of a stage (a dict; see :class:`BatchPlan`): ``src_y`` and, as the plan asks, ``src_to``
    (per target, normalised), ``tgt`` and ``tgt_hidden`` (per target), ``bridge`` ({(i, j): normalised
    τ(x_{t_j}; r_i)}), ``mixed`` (normalised source for single models) and ``tgt_mixed`` (the first
    ``per_target`` target images of every target, concatenated: one forward call)."""
    n_t = len(data.tgt_x)

    def draw(g: torch.Generator) -> dict[str, Any]:
        s = pick(len(data.src_x), batch, g)
        xs, ys = _flip(data.src_x[s], data.src_y[s], hflip, g)
        out: dict[str, Any] = {"src_y": ys.long()}
        tgt, hidden, t_idx = [], [], []
        for j in range(n_t if plan.targets else 0):
            t = pick(len(data.tgt_x[j]), batch, g)
            x, y = _flip(data.tgt_x[j][t], data.tgt_hidden[j][t], hflip, g)
            tgt.append(x)
            hidden.append(y.long())
            t_idx.append(t)
        if plan.experts:
            out["src_to"] = [normalise(bank.translate(xs, bank.refs(i, s, g))) for i in range(n_t)]  # type: ignore[union-attr]
        if plan.targets:
            out["tgt"] = [normalise(nchw(to_float(x))) for x in tgt]
            out["tgt_hidden"] = hidden
        if plan.bridge:
            out["bridge"] = {
                (i, j): normalise(
                    bank.translate(
                        tgt[j],
                        bank.refs(  # type: ignore[union-attr]
                            i, t_idx[j], g, "target", j, len(data.tgt_x[j])
                        ),
                    )
                )
                for i in range(n_t)
                for j in range(n_t)
                if j != i
            }
        if plan.mixed:
            out["mixed"] = normalise(mixed_source(xs, s, bank if plan.lab_source else None, n_t, g))
        if plan.mixed and plan.targets:
            out["tgt_mixed"] = torch.cat([x[:per_target] for x in out["tgt"]])
        return out

    return draw


def mixed_source(xs: Tensor, s: Tensor, bank: LabBank | None, n_targets: int, g: torch.Generator) -> Tensor:
    """Source images each re-coloured to a random image of a random target (float ``N×3×H×W``); without a
    bank, the source as it is."""
    if bank is None:
        return nchw(to_float(xs))
    domain = pick(n_targets, xs.shape[0], g)
    means, stds = (
        torch.empty(xs.shape[0], 3, dtype=torch.float64),
        torch.empty(xs.shape[0], 3, dtype=torch.float64),
    )
    for d in range(n_targets):  # one reference draw per target (not per image): N_t calls, images gathered
        rows = (domain == d).nonzero().flatten()
        m, sd = bank.refs(d, s[rows], g)
        means[rows], stds[rows] = m.to(torch.float64), sd.to(torch.float64)
    return bank.translate(xs, (means, stds))


# -- loss terms -------------------------------------------------------------------------------------------------


def pseudo_labels(logits: Tensor, tau: float) -> Tensor:
    """§3.3: argmax of the detached softmax where its confidence ≥ τ, else 255 (BDL with every τ_c = τ)."""
    conf, pred = F.softmax(logits.detach().float(), dim=1).max(dim=1)
    return bdl_pseudo_labels(conf, pred, torch.full((logits.shape[1],), tau)).long()


def pl_stats(pl: Tensor, truth: Tensor) -> tuple[Tensor, Tensor]:
    """(coverage, accuracy of kept pixels against the hidden labels) of a pseudo-label batch."""
    kept = pl != 255
    valid = kept & (truth != 255)
    acc = (valid & (pl == truth)).sum() / valid.sum().clamp_min(1)
    return kept.float().mean(), acc.float()


def consistency(kind: str, q: Tensor, logits: Tensor, tau: float) -> Tensor:
    """Bridge consistency of a learner's logits towards a detached teacher distribution ``q``: ``kl`` =
    KLpix(q ‖ p), ``sym_kl`` = the two directions averaged, ``ce_pseudo`` = CE on q's confident argmax."""
    q = q.detach()
    if kind == "kl":
        return kd_loss(q, logits.float(), 1.0, t2_scaling=False)
    if kind == "sym_kl":
        log_p = F.log_softmax(logits.float(), dim=1)
        reverse = (log_p.exp() * (log_p - q.clamp_min(1e-12).log())).sum(1).mean()
        return 0.5 * (kd_loss(q, logits.float(), 1.0, t2_scaling=False) + reverse)
    if kind == "ce_pseudo":
        conf, pred = q.max(dim=1)
        return seg_loss(logits, bdl_pseudo_labels(conf, pred, torch.full((q.shape[1],), tau)).long())
    raise ValueError(f"unknown consistency_loss {kind!r}")


def _pairs(a: nn.Module, b: nn.Module, detach_b: bool) -> list[tuple[Tensor, Tensor]]:
    pb = dict(b.named_parameters())
    return [(p, pb[n].detach() if detach_b else pb[n]) for n, p in a.named_parameters()]


def weight_sq_distance(a: nn.Module, b: nn.Module, detach_b: bool = False) -> Tensor:
    """‖θ_a − θ_b‖² over every parameter tensor (BN running statistics are buffers: not included)."""
    pairs = _pairs(a, b, detach_b)
    return torch.stack([(p - q).pow(2).sum() for p, q in pairs]).sum()


def weight_regulariser(
    experts: Sequence[nn.Module], student: nn.Module, form: str, grad_to_student: bool = False
) -> list[Tensor]:
    """§3.4's weight term per expert (before λ_w): ``to_student`` ‖θ_Ei − sg θ_M‖² (student not detached with
    ``grad_to_student``); ``pairwise`` Σ_{i<j} ‖θ_Ei − θ_Ej‖², attributed to the lower index i."""
    if form == "to_student":
        return [weight_sq_distance(e, student, detach_b=not grad_to_student) for e in experts]
    if form == "pairwise":
        return [
            sum(
                (weight_sq_distance(experts[i], experts[j]) for j in range(i + 1, len(experts))),
                start=torch.zeros(()),
            )
            for i in range(len(experts))
        ]
    raise ValueError(f"unknown wreg_form {form!r}")


@torch.no_grad()
def weight_distances(
    experts: Sequence[nn.Module], student: nn.Module | None, names: Sequence[str] | None = None
) -> dict[str, float]:
    """Diagnostics: mean pairwise expert distance ‖θ_Ei − θ_Ej‖ and each expert's distance to the student
    (``wdist/expert_<name>_to_student``; the expert's index without ``names``)."""
    n = len(experts)
    pair = [
        float(weight_sq_distance(experts[i], experts[j]).sqrt()) for i in range(n) for j in range(i + 1, n)
    ]
    out = {"wdist/experts_pairwise_mean": sum(pair) / max(len(pair), 1)}
    if student is not None:
        out.update(
            {
                f"wdist/expert_{names[i] if names else i}_to_student": float(
                    weight_sq_distance(e, student).sqrt()
                )
                for i, e in enumerate(experts)
            }
        )
    return out


# -- steps ----------------------------------------------------------------------------------------------------


class IterationClock(LoopCallback):
    """The stage's global iteration for the step functions (λ_st's ramp); derived from the loop's position, so
    a resumed stage reads the same value."""

    def __init__(self) -> None:
        self.iteration = 0

    def on_iteration_start(self, epoch: int, iteration: int, iters_per_epoch: int, model: nn.Module) -> None:
        self.iteration = epoch * iters_per_epoch + iteration


@dataclass(frozen=True)
class ExpertRecipe:
    """One expert's per-iteration losses (Stage 1, the independent continuation and Stage 2's own terms)."""

    lambda_st: float
    tau: float
    lambda_aux: float
    rampup_iters: int = 0  # λ_st ramps linearly from 0 over these iterations (0: constant)
    teacher_mode: str = "train"

    def st_weight(self, iteration: int) -> float:
        if self.rampup_iters <= 0:
            return self.lambda_st
        return self.lambda_st * min(1.0, iteration / self.rampup_iters)


def teacher_probs(model: nn.Module, x: Tensor, own: Tensor, mode: str) -> Tensor:
    """The expert's distribution on its own target batch as a detached teacher: its own (train-mode) forward,
    or (``eval``) a separate no-grad pass in eval mode (no BN statistics update)."""
    if mode == "train":
        return F.softmax(own.detach().float(), dim=1)
    was = model.training
    model.eval()
    with torch.no_grad():
        q = F.softmax(main_logits(model(x)).float(), dim=1)
    model.train(was)
    return q


def expert_losses(
    e: nn.Module,
    batch: dict[str, Any],
    i: int,
    r: ExpertRecipe,
    st_w: float,
    name: str,
    stats: dict[str, Tensor],
) -> tuple[Tensor, Tensor]:
    """L_i^(1) = CE(E_i(τ(x_s; r_i)), y_s) + λ_st·CE_mask(E_i(x_{t_i}), ŷ_{t_i}); returns (loss, teacher q_i).
    Two forward calls: translated source, own target (a source image never shares a call with a target one)."""
    ce = seg_loss(e(batch["src_to"][i]), batch["src_y"], r.lambda_aux)
    own = main_logits(e(batch["tgt"][i]))
    pl = pseudo_labels(own, r.tau)
    st = seg_loss(own, pl)
    cov, acc = pl_stats(pl, batch["tgt_hidden"][i])
    stats.update(
        {
            f"ce_src/{name}": ce.detach(),
            f"st/{name}": st.detach(),
            f"pl_coverage/{name}": cov,
            f"pl_acc/{name}": acc,
        }
    )
    return ce + st_w * st, teacher_probs(e, batch["tgt"][i], own, r.teacher_mode)


def experts_step(names: Sequence[str], recipe: ExpertRecipe, clock: IterationClock) -> Callable:
    """Stage 1 (and the independent continuation): Σ_i L_i^(1) over ``ModuleDict`` experts, no coupling."""

    def step(model: nn.Module, batch: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
        stats: dict[str, Any] = {}
        w = recipe.st_weight(clock.iteration)
        loss = sum(
            (expert_losses(model[t], batch, i, recipe, w, t, stats)[0] for i, t in enumerate(names)),
            start=torch.zeros(()),
        )
        return loss, {"loss": loss.detach(), **stats, "n": 1}

    return step


@dataclass(frozen=True)
class CclWeights:
    lambda_con: float
    lambda_kd: float
    lambda_src_student: float
    lambda_w: float
    consistency_loss: str = "kl"
    wreg_form: str = "to_student"
    wreg_grad_to_student: bool = False


def ccl_step(names: Sequence[str], recipe: ExpertRecipe, w: CclWeights, per_target: int) -> Callable:
    """Stage 2 (spec §3.4–3.5): Σ_i L_i^(2) + L_M on ``ModuleDict({experts…, student})`` — teacher outputs q_i
    computed once (the experts' own forwards, detached), every cross-network target detached."""

    def step(model: nn.Module, batch: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
        stats: dict[str, Any] = {}
        experts, student = [model[t] for t in names], model[STUDENT]
        own, q = [], []
        for i, t in enumerate(names):
            loss_i, q_i = expert_losses(experts[i], batch, i, recipe, recipe.lambda_st, t, stats)
            own.append(loss_i)
            q.append(q_i)
        total = sum(own, start=torch.zeros(()))
        if w.lambda_con:
            for (i, j), x in batch["bridge"].items():  # E_i on target j's image in T_i's style, teacher E_j
                logits = main_logits(experts[i](x))
                con = consistency(w.consistency_loss, q[j], logits, recipe.tau)
                total = total + w.lambda_con * con
                stats[f"con/{names[i]}"] = stats.get(f"con/{names[i]}", 0) + con.detach()
                stats[f"bridge_agreement/{names[i]}_{names[j]}"] = (
                    (logits.detach().argmax(1) == q[j].argmax(1)).float().mean()
                )
        if w.lambda_w:
            for t, reg in zip(
                names, weight_regulariser(experts, student, w.wreg_form, w.wreg_grad_to_student), strict=True
            ):
                total = total + w.lambda_w * reg
                stats[f"wreg/{t}"] = reg.detach()
        total = total + student_loss(student, batch, q, names, w, per_target, stats)
        return total, {"loss": total.detach(), **stats, "n": 1}

    return step


def student_loss(
    student: nn.Module,
    batch: dict[str, Any],
    q: Sequence[Tensor],
    names: Sequence[str],
    w: CclWeights,
    k: int,
    stats: dict[str, Any],
) -> Tensor:
    """L_M = λ_kd Σ_i KLpix(sg q_i ‖ p_M(x_{t_i})) + λ_src CE(M(τ(x_s; r)), y_s): one forward on the first ``k``
    images of every target (sliced per target to meet that target's teacher), one on the source."""
    logits = main_logits(student(batch["tgt_mixed"]))
    loss = torch.zeros(())
    for i, t in enumerate(names):
        kd = kd_loss(q[i][:k].detach(), logits[i * k : (i + 1) * k].float(), 1.0, t2_scaling=False)
        loss = loss + w.lambda_kd * kd
        stats[f"kd/{t}"] = kd.detach()
    if w.lambda_src_student:
        src = seg_loss(student(batch["mixed"]), batch["src_y"])
        loss = loss + w.lambda_src_student * src
        stats["student_ce_src"] = src.detach()
    return loss


def single_step(
    recipe: ExpertRecipe,
    clock: IterationClock,
    names: Sequence[str],
    per_target: int,
    self_training: bool = True,
) -> Callable:
    """One model: CE on re-coloured source (one call) + λ_st(t)·CE_mask on the merged targets (one call of
    ``per_target`` images per target) — the merged-targets baseline; without ``self_training`` the source-only
    model."""

    def step(model: nn.Module, batch: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
        ce = seg_loss(model(batch["mixed"]), batch["src_y"], recipe.lambda_aux)
        stats: dict[str, Any] = {"ce_src": ce.detach()}
        loss = ce
        if self_training:
            logits = main_logits(model(batch["tgt_mixed"]))
            pl = pseudo_labels(logits, recipe.tau)
            st = seg_loss(logits, pl)
            loss = loss + recipe.st_weight(clock.iteration) * st
            hidden = torch.cat([h[:per_target] for h in batch["tgt_hidden"]])
            for i, t in enumerate(names):
                sl = slice(i * per_target, (i + 1) * per_target)
                stats[f"pl_coverage/{t}"], stats[f"pl_acc/{t}"] = pl_stats(pl[sl], hidden[sl])
            stats["st"] = st.detach()
        return loss, {"loss": loss.detach(), **stats, "n": 1}

    return step
