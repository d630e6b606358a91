"""Spec §9.8: the exponential τ schedule, and the callback that sets τ and reports the diagnostics."""

from __future__ import annotations

import math

import pytest
import torch

from cvpapers.pipelines.recu.binary import binary_convs
from cvpapers.pipelines.recu.models import build_recu_net
from cvpapers.pipelines.recu.schedule import TauSchedule, tau_at


def test_tau_schedule_endpoints_midpoint_and_shape() -> None:
    e = 600
    assert tau_at(0, e) == pytest.approx(0.85, abs=1e-12)
    assert tau_at(e, e) == pytest.approx(0.99, abs=1e-12)
    mid = 0.85 + 0.14 * (math.sqrt(math.e) - 1) / (math.e - 1)
    assert tau_at(e / 2, e) == pytest.approx(mid, abs=1e-6) and mid == pytest.approx(0.902856, abs=1e-6)
    taus = [tau_at(i, e) for i in range(e + 1)]
    steps = [b - a for a, b in zip(taus, taus[1:], strict=False)]
    assert all(s > 0 for s in steps)  # strictly increasing
    assert all(b > a for a, b in zip(steps, steps[1:], strict=False))  # convex


def test_callback_sets_tau_on_every_binarised_conv_and_reports_diagnostics() -> None:
    torch.manual_seed(0)
    model = build_recu_net("resnet_bireal_tiny", 10, "recu", widths=(8, 16, 16))
    cb = TauSchedule(epochs=10)
    cb.on_epoch_start(3, model)
    assert {round(c.tau.item(), 6) for c in binary_convs(model)} == {round(tau_at(3, 10), 6)}
    m = cb.epoch_metrics(3)
    assert set(m) == {
        "tau",
        "clamp_fraction",
        "flip_rate",
        "weight_sign_entropy",
        "quant_error",
        "quant_error_rel",
    }
    assert m["flip_rate"] == 0.0  # no step taken since the epoch started
    assert m["tau"] == pytest.approx(tau_at(3, 10))
    with torch.no_grad():
        for conv in binary_convs(model):
            conv.weight.mul_(-1)  # every sign flips
    assert cb.epoch_metrics(3)["flip_rate"] > 0.99


def test_callback_state_is_primitives_and_checks_the_schedule_length() -> None:
    cb = TauSchedule(epochs=10)
    cb.on_epoch_start(4, build_recu_net("resnet_bireal_tiny", 10, "bnn", widths=(8, 16, 16)))
    state = cb.state_dict()
    assert state == {"epoch": 4, "epochs": 10}
    metrics = cb.epoch_metrics(4)
    assert metrics["tau"] == 1.0 and metrics["clamp_fraction"] == 0.0  # no clamp in bnn
    fresh = TauSchedule(epochs=10)
    fresh.load_state_dict(state)
    assert fresh.epoch == 4
    with pytest.raises(ValueError, match="epochs"):
        TauSchedule(epochs=20).load_state_dict(state)


def test_full_precision_model_reports_no_diagnostics() -> None:
    cb = TauSchedule(epochs=5)
    cb.on_epoch_start(0, build_recu_net("resnet_bireal_tiny", 10, "fp", widths=(8, 16, 16)))
    assert cb.epoch_metrics(0) == {}
