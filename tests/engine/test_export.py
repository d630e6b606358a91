"""engine/export: the ONNX and torch.export round trips of a model agree with PyTorch, and an exporter that
cannot export is a reported row, not an exception."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from cvpapers.engine.export import (
    IDENTICAL_PSNR_DB,
    _attention_math,
    agreement,
    check_export,
    export_report,
    onnx_is_batch_dynamic,
    to_numpy_batches,
)
from cvpapers.models.classification import build_classifier


def _batches(*shape: int, n: int = 2) -> list[tuple[torch.Tensor, ...]]:
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(*shape, generator=g),) for _ in range(n)]


@pytest.fixture(scope="module")
def compact_vgg() -> nn.Module:
    """A DCFF-style compact VGG: the embedded vgg_small with pruned (narrower) convs."""
    torch.manual_seed(0)
    model = build_classifier("vgg_small", num_classes=10, layer_rates=[0.5] * 6)
    model.eval()
    with torch.no_grad():  # non-trivial BN statistics, as a trained model has
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2), m.running_var.uniform_(0.5, 1.5)
    return model


def test_onnx_round_trip_of_a_compact_vgg_agrees_with_pytorch(compact_vgg: nn.Module, tmp_path: Path) -> None:
    check = check_export(
        compact_vgg, _batches(3, 3, 32, 32), tmp_path / "vgg", "classification", "onnx", latency_runs=2
    )
    assert check.ok, check.error
    assert check.dynamic_batch and onnx_is_batch_dynamic(tmp_path / "vgg.onnx")
    assert check.samples == 6 and check.max_abs_err < 1e-4 and check.agreement == 1.0
    assert check.size_mb > 0 and check.latency_ms > 0


def test_torch_export_round_trip_reads_the_saved_program(compact_vgg: nn.Module, tmp_path: Path) -> None:
    rows = export_report(
        compact_vgg,
        _batches(2, 3, 32, 32),
        tmp_path / "vgg",
        "classification",
        ["torch_export"],
        latency_runs=2,
    )
    eager, program = rows
    assert eager.runtime == "pytorch" and eager.agreement == 1.0
    assert program.ok and program.file == "vgg.pt2" and (tmp_path / "vgg.pt2").is_file()
    assert program.dynamic_batch and program.max_abs_err < 1e-5 and program.agreement == 1.0


class _DataDependent(nn.Module):
    """Python control flow on a tensor's value: no exporter can trace it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if float(x.sum()) > 0 else x


class _FixedBatch(nn.Module):
    """Specialises the batch size (a Python int of it): only a static export works."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(int(x.shape[0]), -1).relu()


def test_a_dotted_model_label_keeps_its_own_file(compact_vgg: nn.Module, tmp_path: Path) -> None:
    """PSS-Net labels its subnets by FLOPs target (``retained_t1.5``): the file is ``retained_t1.5.pt2``."""
    check = check_export(
        compact_vgg,
        _batches(2, 3, 32, 32, n=1),
        tmp_path / "retained_t1.5",
        "classification",
        "torch_export",
        latency_runs=1,
    )
    assert check.file == "retained_t1.5.pt2" and (tmp_path / "retained_t1.5.pt2").is_file()


def test_an_exporter_failure_is_a_row_with_its_error(tmp_path: Path) -> None:
    check = check_export(_DataDependent(), _batches(2, 3), tmp_path / "bad", "restoration", "torch_export")
    assert not check.ok and check.error and not (tmp_path / "bad.pt2").exists()
    assert len(check.attempts) == 2  # dynamic, then static batch


def test_a_batch_specialised_model_falls_back_to_a_static_batch_of_one(tmp_path: Path) -> None:
    check = check_export(
        _FixedBatch(), _batches(3, 4), tmp_path / "fixed", "restoration", "torch_export", latency_runs=1
    )
    assert check.ok and not check.dynamic_batch and check.how == "direct, static batch"
    assert check.samples == 6 and check.agreement == IDENTICAL_PSNR_DB  # fed one sample at a time


def test_agreement_is_top1_for_logits_and_psnr_for_images() -> None:
    ref = torch.tensor([[2.0, 1.0], [0.0, 1.0]])
    assert agreement(ref, ref.flip(1), "classification") == (1.0, 0.0)
    image = torch.zeros(1, 3, 4, 4)
    assert agreement(image, image, "restoration")[1] == IDENTICAL_PSNR_DB
    assert agreement(image, image + 0.1, "restoration")[1] == pytest.approx(20.0)


def test_numpy_batches_keep_the_inputs_aligned() -> None:
    import numpy as np

    a, b = np.arange(10.0).reshape(5, 2), -np.arange(10.0).reshape(5, 2)
    batches = to_numpy_batches([a, b], 2)
    assert [len(x) for x, _ in batches] == [2, 2, 1] and batches[0][0].dtype == torch.float32
    assert torch.equal(torch.cat([x for x, _ in batches]), -torch.cat([y for _, y in batches]))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"is_causal": True},
        {"scale": 0.3},
        {"mask": "bool"},
        {"mask": "float"},
        {"enable_gqa": True},
    ],
)
def test_lowered_attention_equals_scaled_dot_product_attention(kwargs: dict) -> None:
    torch.manual_seed(0)
    q = torch.randn(2, 3, 4, 5, 8)  # 5-D, as Uformer's window attention
    kv_heads = 2 if kwargs.get("enable_gqa") else 4
    k, v = torch.randn(2, 3, kv_heads, 6, 8), torch.randn(2, 3, kv_heads, 6, 8)
    if kwargs.get("is_causal"):
        k, v = k[..., :5, :], v[..., :5, :]
    kwargs = dict(kwargs)
    mask = kwargs.pop("mask", None)
    if mask == "bool":
        kwargs["attn_mask"] = torch.rand(5, 6) > 0.3
        kwargs["attn_mask"][:, 0] = True  # no fully masked row (both would give NaN)
    elif mask == "float":
        kwargs["attn_mask"] = torch.randn(5, 6)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, **kwargs)
    torch.testing.assert_close(_attention_math(q, k, v, **kwargs), expected, atol=1e-5, rtol=1e-5)


def test_lowered_attention_refuses_dropout() -> None:
    q = torch.randn(1, 1, 2, 4)
    with pytest.raises(ValueError, match="eval mode"):
        _attention_math(q, q, q, dropout_p=0.1)
