"""The official model in the step benchmark is FHDRNet itself: its matrix-product wavelet layers give the outputs
of the project's convolutional ones."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from official_dwt import MatrixHaarDWT, MatrixHaarIDWT, officialise  # noqa: E402

from cvpapers.models.wavelet import haar_dwt, haar_idwt  # noqa: E402
from cvpapers.pipelines.fhdrnet.networks import FHDRNet  # noqa: E402


def test_matrix_dwt_equals_the_convolutional_dwt_and_inverts() -> None:
    x = torch.randn(2, 3, 8, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    bands = MatrixHaarDWT()(x)
    for ours, official in zip(haar_dwt(x), bands, strict=True):
        torch.testing.assert_close(official, ours)
    torch.testing.assert_close(MatrixHaarIDWT()(*bands), x)
    torch.testing.assert_close(MatrixHaarIDWT()(bands[0], None, None, None), haar_idwt(bands[0], None, None, None))


def test_officialised_fhdrnet_gives_the_same_fused_image() -> None:
    torch.manual_seed(0)
    model = FHDRNet(nf=8, n_res_blocks=1, use_bn=True).eval()
    frames = [torch.rand(1, 6, 16, 24) for _ in range(3)]
    with torch.no_grad():
        ours = model(*frames)
        official = officialise(model)(*frames)
    assert not any(type(m).__name__ in ("HaarDWT", "HaarIDWT") for m in model.modules())
    torch.testing.assert_close(official, ours, atol=1e-6, rtol=1e-5)
