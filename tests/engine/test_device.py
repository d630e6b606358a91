"""Determinism is a run setting: bitwise reproducible on CPU, fast on CUDA; CUDA speed settings never act on a CPU."""

from __future__ import annotations

import pytest
import torch

from cvpapers.engine.config import CudaParams, ParameterError, RunParams, validate_params
from cvpapers.engine.device import acceleration, acceleration_for, autocast, configure, device_constant

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
ALL_ON = CudaParams(amp=True, tf32=True, channels_last=True, compile=True)


def test_auto_is_deterministic_on_cpu_and_fast_on_cuda() -> None:
    assert acceleration_for(CPU, "auto", ALL_ON).deterministic is True
    assert acceleration_for(CUDA, "auto", ALL_ON).deterministic is False
    assert acceleration_for(CUDA, True, ALL_ON).deterministic is True
    assert acceleration_for(CPU, False, ALL_ON).deterministic is False


def test_cuda_settings_never_act_on_a_cpu() -> None:
    accel = acceleration_for(CPU, "auto", ALL_ON)
    assert not (accel.amp or accel.tf32 or accel.channels_last or accel.compile)
    assert accel.tags() == {"deterministic": "true", "accel": "none"}
    on_gpu = acceleration_for(CUDA, "auto", ALL_ON)
    assert on_gpu.tags() == {"deterministic": "false", "accel": "amp,tf32,channels_last,compile"}


def test_configure_on_cpu_keeps_cudnn_deterministic_and_autocast_off() -> None:
    accel = configure(CPU, "auto", ALL_ON)
    assert acceleration() == accel
    assert torch.backends.cudnn.deterministic is True and torch.backends.cudnn.benchmark is False
    with autocast(CPU):
        assert not torch.is_autocast_enabled("cpu")
    assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_deterministic_accepts_auto_true_false_and_names_a_bad_value() -> None:
    for value in ("auto", True, False):
        assert validate_params(RunParams, {"deterministic": value}, "p").deterministic == value
    with pytest.raises(ParameterError, match=r"p\.deterministic"):
        validate_params(RunParams, {"deterministic": "fast"}, "p")
    with pytest.raises(ParameterError, match=r"p\.cuda: unknown key|p\.cuda\.bf16"):
        validate_params(RunParams, {"cuda": {"bf16": True}}, "p")


def test_device_constant_is_built_once_and_usable_in_training_after_inference() -> None:
    calls = []

    @device_constant
    def bank(channels: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        calls.append(channels)
        return torch.ones(channels, dtype=dtype, device=device)

    with torch.inference_mode():  # first built during evaluation ...
        first = bank(3, torch.float32, CPU)
    assert bank(3, torch.float32, CPU) is first and calls == [3]
    w = torch.ones(3, requires_grad=True)
    (w * bank(3, torch.float32, CPU)).sum().backward()  # ... then saved for backward in training
    assert not first.is_inference() and torch.equal(w.grad, torch.ones(3))
