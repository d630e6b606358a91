"""How every MTDA stage builds, trains, scores and saves its networks, written once (plain PyTorch; no Kedro).

A :class:`Room` binds one run's parameters to its :class:`~cvpapers.engine.run.RunContext`: the image sets as
tensors, the LAB bank, the segmenter's config, seeded initialisations, one ``train_iterations`` call per stage
(poly lr over the stage, val mIoU every ``eval_every``, a resume checkpoint per stage) and the evaluation per
target (dataset-level confusion matrix, :mod:`cvpapers.da.protocol`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from cvpapers.da import protocol
from cvpapers.da.segmenter import evaluate_arrays, predict_arrays, segmenter_config
from cvpapers.engine.run import RunContext
from cvpapers.pipelines.mtda_collab import ccl
from cvpapers.pipelines.mtda_collab.config import MtdaParams

Arrays = dict[str, np.ndarray]
Checkpoint = dict[str, Any]


def domain_split(arrays: Arrays, key: str) -> list[np.ndarray]:
    """Per-target slices of a stacked target set (``domain`` index per image, targets in ``domains`` order)."""
    return [arrays[key][arrays["domain"] == d] for d in range(len(arrays["domains"]))]


class Room:
    def __init__(self, params: MtdaParams, run: RunContext) -> None:
        self.p, self.run = params, run
        self.classes = protocol.class_names(params.data.source)
        self.num_classes = len(self.classes)
        self.targets = params.data.targets
        self.normalise = ccl.float_normaliser(params.model.input_norm)

    @property
    def device(self) -> torch.device:
        return self.run.device

    def model_config(self) -> dict[str, Any]:
        return segmenter_config(self.p.model, self.num_classes)

    # -- models -------------------------------------------------------------------------------------------
    def fresh(self, members: Sequence[str], role: str) -> nn.ModuleDict:
        """Members built from one seeded initialisation each (``role``), before any warm start."""
        self.run.seed_everything("init", role)
        return ccl.build_members(list(members), self.model_config())

    def members_checkpoint(self, model: nn.ModuleDict) -> Checkpoint:
        from cvpapers.engine.checkpoint import model_checkpoint

        return model_checkpoint(
            model, {"members": list(model.keys()), "segmenter": self.model_config()}, ccl.build_members
        )

    def single_checkpoint(self, model: nn.Module) -> Checkpoint:
        from cvpapers.da.segmenter import segmenter_checkpoint

        return segmenter_checkpoint(model, self.model_config())

    def load(self, checkpoint: Checkpoint) -> nn.Module:
        from cvpapers.da.segmenter import load_segmenter

        return load_segmenter(checkpoint, self.device)

    def load_members(self, checkpoint: Checkpoint) -> nn.ModuleDict:
        from cvpapers.engine.checkpoint import rebuild_model

        return rebuild_model(checkpoint, "expert set").to(self.device)  # type: ignore[return-value]

    # -- data ---------------------------------------------------------------------------------------------
    def domain_data(self, source: Arrays, train: Arrays) -> ccl.DomainData:
        return ccl.DomainData(
            torch.from_numpy(source["images"]),
            torch.from_numpy(source["labels"]),
            [torch.from_numpy(x) for x in domain_split(train, "images")],
            [torch.from_numpy(y) for y in domain_split(train, "hidden_labels")],
        )

    def bank(self, lab: Arrays, n_source: int) -> ccl.LabBank:
        means = [torch.from_numpy(lab["mean"][lab["domain"] == d]) for d in range(len(self.targets))]
        stds = [torch.from_numpy(lab["std"][lab["domain"] == d]) for d in range(len(self.targets))]
        return ccl.LabBank(
            means,
            stds,
            self.p.lab.reference,
            self.p.lab.redraw,
            self.p.lab.eps,
            self.run.seed("lab_fixed"),
            n_source,
        )

    def draw(self, source: Arrays, train: Arrays, lab: Arrays, plan: ccl.BatchPlan) -> Any:
        t = self.p.train
        return ccl.mtda_draw(
            self.domain_data(source, train),
            self.bank(lab, len(source["images"])),
            plan,
            t.batch_size,
            self.p.ccl.student_batch_per_target,
            self.normalise,
            t.hflip,
        )

    def recipe(self, rampup: bool) -> ccl.ExpertRecipe:
        e = self.p.expert
        ramp = round(e.st_rampup_frac * self.p.train.iters) if rampup else 0
        return ccl.ExpertRecipe(
            e.lambda_st, e.tau_conf, self.p.train.lambda_aux, ramp, self.p.ccl.teacher_mode
        )

    # -- training -----------------------------------------------------------------------------------------
    def train(
        self,
        model: nn.Module,
        draw: Any,
        step: Any,
        stage: str,
        iters: int,
        evaluate: Any,
        fingerprint: dict[str, Any],
        callbacks: Sequence[Any] = (),
    ) -> Any:
        from cvpapers.engine.iterative import train_iterations

        t = self.p.train
        return train_iterations(
            model,
            draw,
            step,
            stage=stage,
            iters=iters,
            eval_every=t.eval_every,
            lr=t.lr,
            device=self.device,
            seed=self.run.seed("batches", stage),
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
                "seed": self.p.seed,
                "model": self.model_config(),
                "train": t.model_dump(),
                "lab": self.p.lab.model_dump(),
                **fingerprint,
            },
        )

    # -- evaluation ---------------------------------------------------------------------------------------
    def evaluate(self, model: nn.Module, val: Arrays, domain: int) -> dict[str, Any]:
        m = val["domain"] == domain
        return evaluate_arrays(
            model,
            val["images"][m],
            val["labels"][m],
            self.num_classes,
            self.p.model.input_norm,
            self.device,
            self.p.eval.batch_size,
        )

    def single_scores(self, model: nn.Module, val: Arrays) -> dict[str, float]:
        """A single model (no domain label) on every target: ``<t>/val_miou`` … and ``val_miou_avg``."""
        out: dict[str, float] = {}
        for d, t in enumerate(self.targets):
            out.update(
                {
                    f"{t}/{k}": v
                    for k, v in protocol.val_scores(self.evaluate(model, val, d), self.classes).items()
                }
            )
        return self._with_avg(out)

    def routed_scores(self, experts: nn.ModuleDict, val: Arrays) -> dict[str, float]:
        """Each expert on its own target (oracle domain routing)."""
        out: dict[str, float] = {}
        for d, t in enumerate(self.targets):
            out.update(
                {
                    f"{t}/{k}": v
                    for k, v in protocol.val_scores(self.evaluate(experts[t], val, d), self.classes).items()
                }
            )
        return self._with_avg(out)

    def _with_avg(self, out: dict[str, float]) -> dict[str, float]:
        for key in ("val_miou", "val_miou_7"):
            vals = [out[f"{t}/{key}"] for t in self.targets if f"{t}/{key}" in out]
            if vals:
                out[f"{key}_avg"] = float(np.mean(vals))
        return out

    def curve(
        self,
        single: nn.Module | None = None,
        experts: nn.ModuleDict | None = None,
        val: Arrays | None = None,
    ) -> Any:
        """The per-chunk evaluation of a stage: val mIoU per target of the single model and/or routed experts."""

        def evaluate(_model: nn.Module) -> dict[str, float]:
            out: dict[str, float] = {}
            for d, t in enumerate(self.targets):
                if single is not None:
                    out[f"val_miou_by_iter/{t}"] = self.evaluate(single, val, d)["miou"]  # type: ignore[arg-type]
                if experts is not None:
                    out[f"val_miou_by_iter/expert_{t}"] = self.evaluate(experts[t], val, d)["miou"]  # type: ignore[arg-type]
            return out

        return evaluate

    def predict(self, model: nn.Module, images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return predict_arrays(model, images, self.p.model.input_norm, self.device, self.p.eval.batch_size)

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        from cvpapers.data.street_scenes import colorize

        return colorize(labels, protocol.label_colors(self.p.data.source))
