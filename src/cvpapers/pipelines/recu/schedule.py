"""The adaptive exponential τ schedule (spec §3.6) and the per-epoch weight diagnostics, as one loop callback.

τ_e = A·exp(e / E) + B with A = (τ_max − τ_min)/(e − 1), B = τ_min − A (e = Euler's number): τ_0 = τ_min,
τ_E = τ_max, set once at the start of every epoch e = 0 … E−1 on every binarised conv (pitfall 10: the
schedule spans the run's total epochs).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from cvpapers.engine.loop import LoopCallback
from cvpapers.pipelines.recu.binary import BinaryConv2d, binary_convs, layer_diagnostics


def tau_at(epoch: float, epochs: int, tau_min: float = 0.85, tau_max: float = 0.99) -> float:
    """τ at ``epoch`` of ``epochs``: exponential from τ_min (epoch 0) to τ_max (epoch = epochs)."""
    a = (tau_max - tau_min) / (math.e - 1.0)
    return a * math.exp(epoch / epochs) + (tau_min - a)


class TauSchedule(LoopCallback):
    """Sets τ on every :class:`BinaryConv2d` at each epoch start and reports the epoch's weight diagnostics.

    ``epoch_metrics``: ``tau`` (1.0 for methods without a clamp), ``clamp_fraction``, ``flip_rate`` (share of
    binary weights whose sign changed since this epoch's start), ``weight_sign_entropy``, ``quant_error`` and
    ``quant_error_rel``, each averaged over the binarised layers. τ is a pure function of the epoch and the
    sign snapshot is retaken at every epoch start, so a resumed run needs only the epoch (kept for the check).
    """

    def __init__(self, epochs: int, tau_min: float = 0.85, tau_max: float = 0.99) -> None:
        self.epochs, self.tau_min, self.tau_max = epochs, tau_min, tau_max
        self.epoch = -1
        self._convs: list[BinaryConv2d] = []
        self._signs: list[torch.Tensor] = []

    def tau(self, epoch: int) -> float:
        return tau_at(epoch, self.epochs, self.tau_min, self.tau_max)

    def on_epoch_start(self, epoch: int, model: nn.Module) -> None:
        self.epoch = epoch
        self._convs = binary_convs(model)
        tau = self.tau(epoch)
        with torch.no_grad():
            for conv in self._convs:
                conv.set_tau(tau)
            self._signs = [torch.sign(conv.clamped_weight()) for conv in self._convs]

    def epoch_metrics(self, epoch: int) -> dict[str, float]:
        if not self._convs:  # the full-precision reference has no binarised conv
            return {}
        per_layer = [layer_diagnostics(conv) for conv in self._convs]
        out = {k: sum(d[k] for d in per_layer) / len(per_layer) for k in per_layer[0]}
        with torch.no_grad():
            flips = [
                (torch.sign(c.clamped_weight()) != s).float().mean()
                for c, s in zip(self._convs, self._signs, strict=True)
            ]
        out["flip_rate"] = float(torch.stack(flips).mean())
        out["tau"] = self.tau(epoch) if self._convs[0].method == "recu" else 1.0
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": int(self.epoch), "epochs": int(self.epochs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state and int(state.get("epochs", self.epochs)) != self.epochs:
            raise ValueError(f"τ schedule over {state['epochs']} epochs in the checkpoint, {self.epochs} now")
        self.epoch = int(state.get("epoch", -1)) if state else -1
