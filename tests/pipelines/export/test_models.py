"""pipelines/export/models: the export-friendly forms compute what the trained networks compute, and export."""

from __future__ import annotations

from pathlib import Path

import torch

from cvpapers.engine.export import check_export
from cvpapers.pipelines.export.models import PaddedRestore, SignConv2d, freeze_binary_convs
from cvpapers.pipelines.recu.binary import BinaryConv2d
from cvpapers.pipelines.recu.models import build_recu_net


def _trained_like_recu() -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_recu_net("resnet_bireal_tiny", widths=(8, 16), blocks_per_stage=1, tau=0.9)
    with torch.no_grad():  # BN statistics a trained net would have, so the signs of the activations vary
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3), m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def test_frozen_binary_convs_give_bitwise_equal_outputs() -> None:
    """sign(W_c) stored once, sign(x) → conv → α: the eval forward of every method, to the bit."""
    model = _trained_like_recu()
    frozen, n = freeze_binary_convs(model)
    assert n == len([m for m in model.modules() if isinstance(m, BinaryConv2d)]) > 0
    assert not any(isinstance(m, BinaryConv2d) for m in frozen.modules())
    signs = [m.binary_weight for m in frozen.modules() if isinstance(m, SignConv2d)]
    assert all(set(w.unique().tolist()) <= {-1.0, 0.0, 1.0} for w in signs)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(frozen(x), model(x))
    assert any(isinstance(m, BinaryConv2d) for m in model.modules())  # the trained model is left as it was


def test_binarised_net_onnx_round_trip_computes_signs(tmp_path: Path) -> None:
    import onnx

    frozen, _ = freeze_binary_convs(_trained_like_recu())
    batches = [(torch.randn(4, 3, 32, 32),)]
    check = check_export(frozen, batches, tmp_path / "recu", "classification", "onnx", latency_runs=1)
    assert check.ok and check.dynamic_batch, check.error
    assert check.max_abs_err < 1e-3 and check.agreement == 1.0
    ops = {n.op_type for n in onnx.load(str(tmp_path / "recu.onnx")).graph.node}
    assert "Sign" in ops and "Conv" in ops  # the inference-time computation, not the training surrogate


def test_padded_restore_equals_uformer_restore() -> None:
    """Uformer's traceable padding path (a size that is not a multiple of its windows) equals ``restore``."""
    from cvpapers.pipelines.uformer.networks import build_restoration_model

    torch.manual_seed(0)
    net = build_restoration_model("uformer", embed_dim=4, win_size=4, depths=[1] * 9).eval()
    x = torch.rand(2, 3, 24, 40)
    assert net.size_multiple > 24
    with torch.no_grad():
        assert torch.allclose(PaddedRestore(net)(x), net.restore(x), atol=1e-6)


def test_lowered_window_attention_equals_sdpa() -> None:
    """The lowering the ONNX path applies to Uformer's 5-D window attention computes the same attention."""
    from cvpapers.engine.export import ONNX_LOWERINGS

    q, k, v = (torch.randn(2, 4, 3, 16, 8) for _ in range(3))
    mask = torch.where(torch.rand(2, 4, 1, 1, 16) > 0.8, -100.0, 0.0)
    lowered = ONNX_LOWERINGS[torch.ops.aten.scaled_dot_product_attention.default]
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, mask)
    assert torch.allclose(lowered(q, k, v, mask), expected, atol=1e-5)


def test_restoration_net_onnx_round_trip(tmp_path: Path) -> None:
    """A restoration network (Uformer's UNet baseline) round-trips through ONNX at a dynamic batch size."""
    from cvpapers.pipelines.uformer.networks import build_restoration_model

    torch.manual_seed(0)
    net = build_restoration_model("unet", dim=4).eval()
    batches = [(torch.rand(3, 3, 32, 32),)]
    check = check_export(net, batches, tmp_path / "unet", "restoration", "onnx", latency_runs=1)
    assert check.ok and check.dynamic_batch, (check.error, check.attempts)
    assert check.max_abs_err < 1e-4 and check.agreement > 60.0  # PSNR (dB) between the two outputs


def test_a_materialised_pss_subnet_equals_the_activated_supernet() -> None:
    """The retained subnet exported as plain layers with only its active slices: same outputs, fewer weights."""
    from cvpapers.pipelines.export.models import pss_subnet
    from cvpapers.pipelines.pss_net import space as sp
    from cvpapers.pipelines.pss_net.calibrate import recalibrate_bn
    from cvpapers.pipelines.pss_net.slimmable import SlimConv2d, build_supernet

    torch.manual_seed(0)
    supernet = build_supernet("mbv1_tiny", 10, 8, (0.5, 1.0), (24, 32)).eval()
    res, mults = sp.min_cfg(supernet.space)
    key = sp.cfg_key(res, mults)
    calib = torch.randn(16, 3, 32, 32)
    subnet = pss_subnet(supernet, key, calib.numpy(), 8)
    assert not any(isinstance(m, SlimConv2d) for m in subnet.modules())
    supernet.activate(res, mults)  # the pipeline's own evaluation path: activate, re-calibrate, run
    recalibrate_bn(supernet, [(calib[:8], None), (calib[8:], None)], 2, torch.device("cpu"))
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(subnet(x), supernet(x), atol=1e-6)
    assert sum(p.numel() for p in subnet.parameters()) < sum(p.numel() for p in supernet.parameters())
