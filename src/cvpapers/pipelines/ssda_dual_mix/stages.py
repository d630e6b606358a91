"""How every DDM stage builds, trains, scores and saves its segmenter, written once for all of them.

A :class:`Stages` binds one run's parameters to its :class:`~cvpapers.engine.run.RunContext`: a role's model is
initialised from the same seed in every round (``round_init: fresh``, spec §3.6) or continues from the previous
round's, each training stage draws its batches from a seed of its own (rounds and teachers never replay each
other's boxes and pairs), trains through the engine's iteration loop with a resume checkpoint per stage, and is
scored by the DA evaluation protocol (:mod:`cvpapers.da.protocol`). What a stage does with its image sets —
in memory (the embedded benchmark) or streamed from disk (real data) — is :mod:`.sets`'. Plain PyTorch; no Kedro.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from cvpapers.da import protocol
from cvpapers.da.segmenter import (
    build_da_segmenter,
    load_segmenter,
    predict_arrays,
    segmenter_checkpoint,
    segmenter_config,
)
from cvpapers.data.streaming import SkipLog
from cvpapers.engine.run import RunContext
from cvpapers.pipelines.ssda_dual_mix.config import SsdaParams
from cvpapers.pipelines.ssda_dual_mix.sets import sets_of

Arrays = dict[str, np.ndarray]
Checkpoint = dict[str, Any]


class Stages:
    def __init__(self, params: SsdaParams, run: RunContext) -> None:
        self.p, self.run = params, run
        self.classes = protocol.class_names(params.data.source)
        self.num_classes = len(self.classes)
        self.skips = SkipLog()  # real data: samples left out under data.on_bad_sample: skip

    @property
    def device(self) -> torch.device:
        return self.run.device

    def model_config(self) -> dict[str, Any]:
        return segmenter_config(self.p.model, self.num_classes)

    # -- models -----------------------------------------------------------------------------------------
    def fresh_model(self, role: str, previous: Checkpoint | None = None) -> nn.Module:
        """The role's seeded initialisation, or (``round_init: previous_round``) the previous round's weights."""
        self.run.seed_everything("init", role)
        return self.warm(build_da_segmenter(**self.model_config()), previous)

    def warm(self, model: nn.Module, previous: Checkpoint | None) -> nn.Module:
        if self.p.round_init == "previous_round" and previous is not None and previous.get("format") != "skipped":
            model.load_state_dict(previous["state_dict"])
        return model

    def student_model(self, rl: Checkpoint, sl: Checkpoint, previous: Checkpoint | None = None) -> nn.Module:
        """The student before distillation: fresh, a teacher's copy, or the previous round's student."""
        init = self.p.student.init
        model = self.fresh_model("student")
        if init in ("from_sl", "from_rl"):
            model.load_state_dict((sl if init == "from_sl" else rl)["state_dict"])
        elif init == "previous_round":
            model = self.warm(model, previous)
        return model

    def load(self, checkpoint: Checkpoint) -> nn.Module:
        return load_segmenter(checkpoint, self.device)

    def checkpoint(self, model: nn.Module) -> Checkpoint:
        return segmenter_checkpoint(model, self.model_config())

    # -- training ---------------------------------------------------------------------------------------
    def iters(self, round_: int) -> int:
        """``train.iters`` per stage; later rounds may train shorter when they continue from the previous one."""
        if round_ > 1 and self.p.round_init == "previous_round" and self.p.train.iters_later_rounds:
            return self.p.train.iters_later_rounds
        return self.p.train.iters

    def train(self, model: nn.Module, draw: Any, step: Any, stage: str, round_: int, val: Any,
              fingerprint: dict[str, Any]) -> Any:
        """``iters(round_)`` iterations of ``step`` on ``draw``'s batches (an in-memory draw, or a file-backed
        :class:`~cvpapers.da.streams.StreamSource`); val mIoU every ``eval_every``."""
        from cvpapers.da.streams import StreamSource
        from cvpapers.engine.iterative import train_iterations

        p, t = self.p, self.p.train
        draw, source = (None, draw) if isinstance(draw, StreamSource) else (draw, None)
        return train_iterations(
            model, draw, step, source=source, stage=stage, iters=self.iters(round_), eval_every=t.eval_every, lr=t.lr,
            device=self.device, seed=self.run.seed("batches", stage), optimizer=t.optimizer, momentum=t.momentum,
            weight_decay=t.weight_decay, poly_power=t.poly_power,
            evaluate=lambda m: {"val_miou_by_iter": self.evaluate(m, val)["miou"]},
            checkpoint_path=self.run.checkpoint_path(stage), resume=self.run.resume, log_prefix="",
            fingerprint={"stage": stage, "seed": p.seed, "model": self.model_config(), "train": t.model_dump(),
                         **fingerprint},
        )

    def stream_run(self, stage: str, round_: int) -> dict[str, Any]:
        """What a streamed stage's batch source takes from the run (its seed and chunks come from :meth:`train`)."""
        return {"workers": self.p.data.workers, "skips": self.skips}

    def stream(self, dataset: Any, desc: str, batch_size: int = 1) -> Any:
        """An ordered pass over a file-backed set (progress bar, workers, skipped samples counted)."""
        from cvpapers.data.streaming import stream

        return stream(dataset, batch_size, workers=self.p.data.workers, desc=desc, skips=self.skips)

    def skip_metrics(self) -> dict[str, float]:
        """``skipped_samples`` of real-data nodes (the embedded benchmark's metrics stay as they were)."""
        return self.skips.metrics() if self.p.data.real else {}

    def finish(self, model: nn.Module, result: Any, val: Any) -> tuple[Checkpoint, dict[str, float]]:
        """The trained model's checkpoint and its scores (plus training time and last loss)."""
        metrics = self.scores(model, val)
        metrics["train_time_s"] = float(sum(h.get("epoch_time_s", 0.0) for h in result.history))
        metrics["final_loss"] = float(result.last.get("train_loss", float("nan")))
        return self.checkpoint(model), {**metrics, **self.skip_metrics()}

    # -- evaluation -------------------------------------------------------------------------------------
    def evaluate(self, model: nn.Module, val: Any) -> dict[str, Any]:
        return sets_of(val).evaluate(self, model, val)

    def scores(self, model: nn.Module, val: Any) -> dict[str, float]:
        """The protocol's validation scores (``val_miou``, per-class IoU, …)."""
        return protocol.val_scores(self.evaluate(model, val), self.classes)

    def predict(self, model: nn.Module, images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return predict_arrays(model, images, self.p.model.input_norm, self.device, self.p.eval.batch_size)

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        from cvpapers.data.street_scenes import colorize

        return colorize(labels, protocol.label_colors(self.p.data.source))

    def overlays(self, model: nn.Module, val: Any, title: str, n: int = 4) -> Any:
        """image | truth | prediction for the first ``n`` validation images."""
        from cvpapers.engine import plots

        return plots.segmentation_panels(sets_of(val).overlays(self, model, val, n), n, title)
