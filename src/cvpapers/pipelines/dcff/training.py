"""DCFF's training schedule as a loop callback: temperature and dynamic re-coding of the fusion.

At each recompute point (§3.5: the start of every epoch, or every ``recompute_every_iters`` iterations
with ``schedule_unit: iter``) the temperature T(e) of §3.4 is evaluated and every fused layer's
similarity distribution, KL scores, selection and fusion matrix are refreshed. Every recompute is
recorded for the selection log, so users can see when selections change and when layers freeze.
"""

from __future__ import annotations

from typing import Any, Literal

from torch import nn

from cvpapers.engine.loop import LoopCallback
from cvpapers.pipelines.dcff.fusion import FusionController, fusion_summary, temperature


class FusionSchedule(LoopCallback):
    def __init__(
        self,
        controller: FusionController,
        epochs: int,
        t_start: float = 1.0,
        t_end: float = 1e4,
        slope: float = 1.0,
        unit: Literal["epoch", "iter"] = "epoch",
        recompute_every_iters: int = 1,
    ) -> None:
        self.controller = controller
        self.epochs = epochs
        self.t_args = (t_start, t_end, slope)
        self.unit = unit
        self.every = max(int(recompute_every_iters), 1)
        self.log: list[dict[str, Any]] = []
        self._last_rows: list[dict[str, Any]] = []
        self._epoch_changes = 0
        self._last_t = t_start

    def _recompute(self, epoch: int, iteration: int, t: float) -> None:
        rows = self.controller.recompute(t)
        for r in rows:
            self.log.append(
                {
                    "epoch": epoch,
                    "iteration": iteration,
                    "layer": r["layer"],
                    "temperature": t,
                    "selected": " ".join(map(str, r["selected"])),
                    "n_changed": int(r["n_changed"]),
                    "frozen": bool(r["frozen"]),
                    "mean_diag_q": float(r["mean_diag_q"]),
                }
            )
        self._epoch_changes += sum(int(r["n_changed"]) for r in rows)
        self._last_rows = rows
        self._last_t = t

    def on_epoch_start(self, epoch: int, model: nn.Module) -> None:
        self._epoch_changes = 0
        if self.unit == "epoch":
            self._recompute(epoch, 0, temperature(epoch, self.epochs, *self.t_args))

    def on_iteration_start(self, epoch: int, iteration: int, iters_per_epoch: int, model: nn.Module) -> None:
        if self.unit == "iter" and iteration % self.every == 0:
            t = temperature(epoch + iteration / max(iters_per_epoch, 1), self.epochs, *self.t_args)
            self._recompute(epoch, iteration, t)

    def epoch_metrics(self, epoch: int) -> dict[str, float]:
        # Frozen layers and one-hotness as of the latest recompute; selection changes over the epoch.
        summary = fusion_summary(self._last_rows)
        summary["selection_changes"] = float(self._epoch_changes)
        return {"temperature": self._last_t, **summary}

    def state_dict(self) -> dict[str, Any]:
        return {"controller": self.controller.state_dict(), "log": self.log, "last_t": self._last_t}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.controller.load_state_dict(state["controller"])
        self.log = list(state.get("log") or [])
        self._last_t = float(state.get("last_t", self._last_t))
