"""The training stages of MTDA-CCL (spec §3, §8.2), each one ``train_iterations`` call through a :class:`Room`.

Every arm draws its batches with :func:`.ccl.mtda_draw` and the same LAB bank, and follows the forward-call
rule of §4.2 (a source batch never shares a forward call with target images). Plain PyTorch; no Kedro.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from cvpapers.engine.checkpoint import data_digest
from cvpapers.pipelines.mtda_collab import ccl
from cvpapers.pipelines.mtda_collab.room import Room

Arrays = dict[str, np.ndarray]
Checkpoint = dict[str, Any]


def _digest(source: Arrays, train: Arrays, lab: Arrays) -> str:
    return data_digest(source["images"], source["labels"], train["images"], train["domain"], lab["mean"])


def _time(result: Any) -> dict[str, float]:
    return {
        "train_time_s": float(sum(h.get("epoch_time_s", 0.0) for h in result.history)),
        "final_loss": float(result.last.get("train_loss", float("nan"))),
    }


def source_only(
    room: Room,
    source: Arrays,
    train: Arrays,
    lab: Arrays,
    val: Arrays,
) -> tuple[Checkpoint, dict[str, float]]:
    """θ0: ``iters_source`` iterations of CE on the source, re-coloured to random target images (or not)."""
    p = room.p
    model = room.fresh(["m"], "theta0")["m"]
    plan = ccl.BatchPlan(mixed=True, targets=False, lab_source=p.source_only.lab == "random_target")
    step = ccl.single_step(room.recipe(False), ccl.IterationClock(), room.targets, 1, self_training=False)
    result = room.train(
        model,
        room.draw(source, train, lab, plan),
        step,
        "source_only",
        p.train.iters_source,
        room.curve(single=model, val=val),
        {"data": _digest(source, train, lab), "source_only": p.source_only.model_dump()},
    )
    return room.single_checkpoint(model), {**room.single_scores(model.eval(), val), **_time(result)}


def _initial_state(room: Room, theta0: Checkpoint) -> dict[str, torch.Tensor]:
    """θ0 of the adapted networks: the source-only model (``expert.init: source_only``), or one seeded draw of
    the initial weights (``initial``: ImageNet weights with ``model.weights_path``) shared by every expert and
    the student — a weight-space regulariser needs one initialisation (spec §11.2)."""
    if room.p.expert.init == "source_only":
        return theta0["state_dict"]
    return room.fresh(["m"], "theta_initial")["m"].state_dict()


def _expert_init(room: Room, theta0: Checkpoint | None, previous: Checkpoint | None) -> nn.ModuleDict:
    """Experts from θ0, or continued from an expert set."""
    if previous is not None:
        return room.load_members(previous)
    experts = room.fresh(room.targets, "experts")
    init = _initial_state(room, theta0)  # type: ignore[arg-type]
    for t in room.targets:
        experts[t].load_state_dict(init)
    return experts


def experts(
    room: Room,
    stage: str,
    theta0: Checkpoint | None,
    previous: Checkpoint | None,
    source: Arrays,
    train: Arrays,
    lab: Arrays,
    val: Arrays,
) -> tuple[Checkpoint, dict[str, float]]:
    """Stage 1 (λ_st ramped from 0) or, from a Stage-1 set, the independent continuation (constant λ_st)."""
    model = _expert_init(room, theta0, previous)
    clock = ccl.IterationClock()
    step = ccl.experts_step(room.targets, room.recipe(rampup=previous is None), clock)
    result = room.train(
        model,
        room.draw(source, train, lab, ccl.BatchPlan(experts=True)),
        step,
        stage,
        room.p.train.iters,
        room.curve(experts=model, val=val),
        {
            "data": _digest(source, train, lab),
            "expert": room.p.expert.model_dump(),
            "start": data_digest(*[v.numpy() for v in (previous or {}).get("state_dict", {}).values()]),
        },
        callbacks=[clock],
    )
    model.eval()
    metrics = {
        **room.routed_scores(model, val),
        **_time(result),
        **ccl.weight_distances([model[t] for t in room.targets], None),
    }
    return room.members_checkpoint(model), metrics


def _student_init(room: Room, theta0: Checkpoint, experts_set: nn.ModuleDict) -> dict[str, torch.Tensor]:
    if room.p.ccl.student_init == "theta0":
        return _initial_state(room, theta0)
    states = [experts_set[t].state_dict() for t in room.targets]  # expert_mean: float tensors averaged
    return {
        k: (sum(s[k].float() for s in states) / len(states)).to(v.dtype) if v.is_floating_point() else v
        for k, v in states[0].items()
    }


def collaborate(
    room: Room,
    stage: str,
    experts_s1: Checkpoint,
    theta0: Checkpoint,
    source: Arrays,
    train: Arrays,
    lab: Arrays,
    val: Arrays,
) -> tuple[Checkpoint, Checkpoint, dict[str, float]]:
    """Stage 2: ``ModuleDict({experts…, student})`` on Σ_i L_i^(2) + L_M, one optimiser, no grad clipping."""
    c = room.p.ccl
    experts_set = room.load_members(experts_s1)
    student = room.fresh(["m"], "student")["m"]
    student.load_state_dict(_student_init(room, theta0, experts_set))
    model = nn.ModuleDict({**{t: experts_set[t] for t in room.targets}, ccl.STUDENT: student})
    weights = ccl.CclWeights(
        c.lambda_con,
        c.lambda_kd,
        c.lambda_src_student,
        c.lambda_w,
        c.consistency_loss,
        c.wreg_form,
        c.wreg_grad_to_student,
    )
    step = ccl.ccl_step(room.targets, room.recipe(rampup=False), weights, c.student_batch_per_target)
    plan = ccl.BatchPlan(experts=True, bridge=c.lambda_con > 0, mixed=True)
    experts_only = nn.ModuleDict({t: experts_set[t] for t in room.targets})
    result = room.train(
        model,
        room.draw(source, train, lab, plan),
        step,
        stage,
        room.p.train.iters,
        room.curve(single=student, experts=experts_only, val=val),
        {
            "data": _digest(source, train, lab),
            "ccl": c.model_dump(),
            "expert": room.p.expert.model_dump(),
            "start": data_digest(*[v.numpy() for v in experts_s1["state_dict"].values()]),
        },
    )
    model.eval()
    metrics = {
        **{f"student/{k}": v for k, v in room.single_scores(student, val).items()},
        **{f"experts/{k}": v for k, v in room.routed_scores(experts_only, val).items()},
        **ccl.weight_distances([experts_set[t] for t in room.targets], student, room.targets),
        **_time(result),
        **_bridge_summary(result.history),
    }
    return room.members_checkpoint(experts_only), room.single_checkpoint(student), metrics


def _bridge_summary(history: list[dict[str, float]]) -> dict[str, float]:
    """Mean pixel agreement over the bridge pairs in the first and last chunk (``compare/bridge_agreement_gain``)."""

    def mean(rec: dict[str, float]) -> float:
        vals = [v for k, v in rec.items() if k.startswith("train_bridge_agreement/")]
        return float(np.mean(vals)) if vals else float("nan")

    if not history:
        return {}
    return {
        "bridge_agreement_first_chunk": mean(history[0]),
        "bridge_agreement_last_chunk": mean(history[-1]),
    }


def mixed_single(
    room: Room,
    theta0: Checkpoint,
    source: Arrays,
    train: Arrays,
    lab: Arrays,
    val: Arrays,
) -> tuple[Checkpoint, dict[str, float]]:
    """One model adapted to the merged targets: θ0 + 2 × ``iters`` iterations of the Stage-1 recipe."""
    p = room.p
    model = room.fresh(["m"], "mixed_single")["m"]
    model.load_state_dict(_initial_state(room, theta0))
    clock = ccl.IterationClock()
    step = ccl.single_step(room.recipe(rampup=True), clock, room.targets, p.ccl.student_batch_per_target)
    result = room.train(
        model,
        room.draw(source, train, lab, ccl.BatchPlan(mixed=True)),
        step,
        "mixed_single",
        2 * p.train.iters,
        room.curve(single=model, val=val),
        {
            "data": _digest(source, train, lab),
            "expert": p.expert.model_dump(),
            "per_target": p.ccl.student_batch_per_target,
        },
        callbacks=[clock],
    )
    return room.single_checkpoint(model), {**room.single_scores(model.eval(), val), **_time(result)}
