"""How every MSCL arm builds, trains, scores and saves its model(s), written once for all of them.

An arm is either the N member models (``nn.ModuleDict({source: model})``: source-only, collaborative-only,
MSCL) trained by :mod:`.collab`'s step, or one model on the union of the sources (source-combined, with or
without LAB) trained by the shared supervised draw and step. Every arm trains ``train.iters`` iterations through
the engine's iteration loop (one poly schedule, val mIoU of each member and of their ensemble every chunk, a
resume checkpoint per arm) and is scored by the DA evaluation protocol (:mod:`cvpapers.da.protocol`).

Image sets are the ``.npz`` dicts that travel between the nodes: sources stacked (``images``, ``labels``,
``domain`` — an index into ``domains``), the target pool (``images``, ``hidden_labels``) and the target val set
(``images``, ``labels``). Plain PyTorch; no Kedro.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from cvpapers.da import protocol
from cvpapers.da.distill import TeacherEnsemble
from cvpapers.da.segmenter import (
    build_da_segmenter,
    evaluate_arrays,
    label_tensor,
    load_segmenter,
    nchw,
    normaliser,
    predict_arrays,
    segmenter_checkpoint,
    segmenter_config,
)
from cvpapers.engine.run import RunContext
from cvpapers.pipelines.msda_collab.collab import CollabStep, CollabWeights, IterationClock, build_members
from cvpapers.pipelines.msda_collab.config import MsdaParams

Arrays = dict[str, np.ndarray]
Checkpoint = dict[str, Any]
ENSEMBLE = "ensemble"


def source_sets(sources: Arrays) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The stacked sources split by domain: ``{name: (uint8 N×3×H×W images, uint8 N×H×W labels)}``."""
    names = [str(n) for n in sources["domains"]]
    out = {}
    for k, name in enumerate(names):
        keep = sources["domain"] == k
        out[name] = (nchw(sources["images"][keep]), label_tensor(sources["labels"][keep]))
    return out


class Arms:
    def __init__(self, params: MsdaParams, run: RunContext) -> None:
        self.p, self.run = params, run
        self.classes = protocol.class_names(params.data.protocol)
        self.num_classes = len(self.classes)
        self.names = tuple(params.data.sources)
        self.normalise = normaliser(params.model.input_norm)

    @property
    def device(self) -> torch.device:
        return self.run.device

    # -- models -----------------------------------------------------------------------------------------
    def model_config(self) -> dict[str, Any]:
        return segmenter_config(self.p.model, self.num_classes)

    def members_config(self) -> dict[str, Any]:
        return {"members": {s: self.model_config() for s in self.names}}

    def fresh_members(self) -> nn.ModuleDict:
        """One model per source, model ``s`` initialised from ``derive_seed(seed, "init", s)`` (the same weights
        in every arm, and the same as a single model of that source would get)."""
        models = {}
        for s in self.names:
            self.run.seed_everything("init", s)
            models[s] = build_da_segmenter(**self.model_config())
        return nn.ModuleDict(models)

    def fresh_single(self, role: str) -> nn.Module:
        self.run.seed_everything("init", role)
        return build_da_segmenter(**self.model_config())

    def members_checkpoint(self, models: nn.ModuleDict) -> Checkpoint:
        from cvpapers.engine.checkpoint import model_checkpoint

        return model_checkpoint(models, self.members_config(), build_members)

    def load_members(self, checkpoint: Checkpoint) -> nn.ModuleDict:
        return load_members(checkpoint, self.device)

    def single_checkpoint(self, model: nn.Module) -> Checkpoint:
        return segmenter_checkpoint(model, self.model_config())

    def load_single(self, checkpoint: Checkpoint) -> nn.Module:
        return load_segmenter(checkpoint, self.device)

    # -- training ---------------------------------------------------------------------------------------
    def weights(self, lambda_col: float, lambda_t: float) -> CollabWeights:
        c, t, ps = self.p.collab, self.p.target, self.p.pseudo
        return CollabWeights(
            lambda_col=lambda_col,
            col_target=c.col_target,
            col_temperature=c.col_temperature,
            teacher_mode=c.teacher_mode,
            lambda_aux=self.p.train.lambda_aux,
            lambda_t=lambda_t,
            lambda_t_ramp=t.lambda_t_ramp,
            ensemble_mode=t.ensemble_mode,
            pl_mode=ps.mode,
            pl_portion=ps.portion,
            pl_max_threshold=ps.max_threshold,
            stage_a_iters=c.stage_a_iters,
            iters=self.p.train.iters,
        )

    def train_members(
        self,
        models: nn.ModuleDict,
        draw: Any,
        step: CollabStep,
        stage: str,
        val: Arrays,
        fingerprint: dict[str, Any],
    ) -> Any:
        """``train.iters`` iterations of the collaborative step; val mIoU of each member and the ensemble per chunk."""
        return self._train(
            models,
            draw,
            step,
            stage,
            lambda m: self.chunk_scores(m, val),
            fingerprint,
            [IterationClock(step)],
        )

    def train_single(
        self, model: nn.Module, draw: Any, step: Any, stage: str, val: Arrays, fingerprint: dict[str, Any]
    ) -> Any:
        return self._train(
            model,
            draw,
            step,
            stage,
            lambda m: {"val_miou_by_iter": self.evaluate(m, val)["miou"]},
            fingerprint,
            [],
        )

    def _train(
        self,
        model: nn.Module,
        draw: Any,
        step: Any,
        stage: str,
        evaluate: Any,
        fingerprint: dict[str, Any],
        callbacks: list[Any],
    ) -> Any:
        from cvpapers.engine.iterative import train_iterations

        p, t = self.p, self.p.train
        return train_iterations(
            model,
            draw,
            step,
            stage=stage,
            iters=t.iters,
            eval_every=t.eval_every,
            lr=t.lr,
            device=self.device,
            seed=self.run.seed("batches"),
            optimizer=t.optimizer,
            momentum=t.momentum,
            weight_decay=t.weight_decay,
            poly_power=t.poly_power,
            evaluate=evaluate,
            checkpoint_path=self.run.checkpoint_path(stage),
            resume=self.run.resume,
            log_prefix="",
            callbacks=callbacks,
            fingerprint={
                "stage": stage,
                "seed": p.seed,
                "model": self.model_config(),
                "train": t.model_dump(),
                **fingerprint,
            },
        )

    # -- evaluation -------------------------------------------------------------------------------------
    def ensemble(self, models: nn.ModuleDict) -> nn.Module:
        """The members' ensemble (mean softmax; ``target.ensemble_mode``) as one segmenter: "MSCL" (spec §3.4)."""
        return TeacherEnsemble([models[s] for s in self.names], 1.0, self.p.target.ensemble_mode)  # type: ignore[arg-type]

    def evaluate(self, model: nn.Module, val: Arrays) -> dict[str, Any]:
        return evaluate_arrays(
            model,
            val["images"],
            val["labels"],
            self.num_classes,
            self.p.model.input_norm,
            self.device,
            self.p.eval.batch_size,
        )

    def scores(self, model: nn.Module, val: Arrays) -> dict[str, float]:
        """The protocol's validation scores (``val_miou``, per-class IoU, …)."""
        return protocol.val_scores(self.evaluate(model, val), self.classes)

    def chunk_scores(self, models: nn.ModuleDict, val: Arrays) -> dict[str, float]:
        """The per-chunk curve: ``val_miou/<source>`` and ``val_miou/ensemble``."""
        out = {f"val_miou/{s}": self.evaluate(models[s], val)["miou"] for s in self.names}
        out[f"val_miou/{ENSEMBLE}"] = self.evaluate(self.ensemble(models), val)["miou"]
        return out

    def member_scores(self, models: nn.ModuleDict, val: Arrays) -> dict[str, float]:
        """Final scores of every member and of the ensemble (``<source>/val_miou`` …, ``ensemble/…``), and the
        members' mean mIoU."""
        out: dict[str, float] = {}
        for name in (*self.names, ENSEMBLE):
            model = self.ensemble(models) if name == ENSEMBLE else models[name]
            out.update({f"{name}/{k}": v for k, v in self.scores(model, val).items()})
        out["mean_member/val_miou"] = float(np.mean([out[f"{s}/val_miou"] for s in self.names]))
        return out

    def predict(self, model: nn.Module, images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return predict_arrays(model, images, self.p.model.input_norm, self.device, self.p.eval.batch_size)

    def to_uint8(self, x: torch.Tensor) -> np.ndarray:
        """Normalised N×3×H×W model input → uint8 N×H×W×3 RGB (for plots)."""
        from cvpapers.da.segmenter import INPUT_NORMS

        mean, std, bgr = INPUT_NORMS[self.p.model.input_norm]
        m, sd = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
        rgb = (x.detach().cpu().float() * sd + m).clamp(0, 1).mul(255).round().to(torch.uint8)
        rgb = rgb.flip(1) if bgr else rgb
        return rgb.permute(0, 2, 3, 1).numpy()

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        from cvpapers.data.street_scenes import colorize

        return colorize(labels, protocol.label_colors(self.p.data.protocol))


def load_members(checkpoint: Checkpoint, device: torch.device, source: str = "checkpoint") -> nn.ModuleDict:
    """The N member models of a member checkpoint on ``device`` (ImageNet backbone files are not read again:
    the checkpoint holds every weight)."""
    from cvpapers.engine.checkpoint import check_model_checkpoint, rebuild_model

    members = check_model_checkpoint(checkpoint, source)["config"]["members"]
    members = {
        s: {**cfg, "weights_path": None} if "weights_path" in cfg else cfg for s, cfg in members.items()
    }
    return rebuild_model(checkpoint, source, members=members).to(device)  # type: ignore[return-value]


# -- how each arm is trained (the nodes only adapt the catalog to these) -------------------------------------


def train_member_arm(
    arms: Arms,
    sources: Arrays,
    val: Arrays,
    stage: str,
    lambda_col: float,
    lambda_t: float,
    pool: Arrays | None = None,
) -> tuple[Checkpoint, dict[str, float], Any]:
    """An N-model arm: the collaborative trainer with the given weights (λ = 0 terms are skipped entirely)."""
    from cvpapers.engine.checkpoint import data_digest
    from cvpapers.pipelines.msda_collab.collab import multi_source_draw

    p = arms.p
    sets = source_sets(sources)
    with_target = pool is not None and lambda_t > 0
    draw = multi_source_draw(
        [sets[s] for s in arms.names],
        p.collab.batch_per_source,
        arms.normalise,
        p.train.hflip,
        target=nchw(pool["images"]) if with_target else None,  # type: ignore[index]
        target_hidden=label_tensor(pool["hidden_labels"]) if with_target else None,  # type: ignore[index]
        batch_target=p.target.batch_target,
    )
    step = CollabStep(arms.names, arms.weights(lambda_col, lambda_t if with_target else 0.0))
    models = arms.fresh_members()
    digest = data_digest(sources["images"], sources["labels"], *([pool["images"]] if with_target else []))  # type: ignore[index]
    fingerprint = {
        "collab": p.collab.model_dump(),
        "weights": vars(step.w),
        "data": digest,
        **({"target": p.target.model_dump(), "pseudo": p.pseudo.model_dump()} if with_target else {}),
    }
    result = arms.train_members(models, draw, step, stage, val, fingerprint)
    metrics = {**arms.member_scores(models, val), **training_summary(result)}
    chunk = p.train.chunk
    if p.collab.stage_a_iters and with_target:  # the end of stage A is an evaluation point
        at_a = result.history[p.collab.stage_a_iters // chunk - 1]
        metrics.update(
            {
                f"stage_a/{k.split('/', 1)[1]}/val_miou": v
                for k, v in at_a.items()
                if k.startswith("val_miou/")
            }
        )
    return arms.members_checkpoint(models), metrics, step


def training_summary(result: Any) -> dict[str, float]:
    return {
        "train_time_s": float(sum(h.get("epoch_time_s", 0.0) for h in result.history)),
        "final_loss": float(result.last.get("train_loss", float("nan"))),
    }


def train_combined_arm(arms: Arms, sources: Arrays, val: Arrays, stage: str) -> tuple[Checkpoint, dict[str, float]]:
    """One model on batches of ``train.batch_size`` drawn uniformly from the union of the sources."""
    from cvpapers.da.batches import supervised_draw, supervised_step
    from cvpapers.engine.checkpoint import data_digest

    p = arms.p
    model = arms.fresh_single(stage)
    draw = supervised_draw(
        nchw(sources["images"]),
        label_tensor(sources["labels"]),
        p.train.batch_size,
        arms.normalise,
        p.train.hflip,
    )
    result = arms.train_single(
        model,
        draw,
        supervised_step(p.train.lambda_aux),
        stage,
        val,
        {"data": data_digest(sources["images"], sources["labels"])},
    )
    return arms.single_checkpoint(model), {**arms.scores(model, val), **training_summary(result)}
