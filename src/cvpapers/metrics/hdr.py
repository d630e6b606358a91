"""HDR image metrics: μ-law tonemapping, PSNR (optionally inside a mask) and SSIM (``papers/fhdrnet.md`` §3.7).

The HDR literature (Kalantari 2017, AHDRNet, FHDRNet) reports four numbers per test image, then
averages them over images: PSNR-μ and SSIM-μ on μ-law tonemapped images (how the result looks on a
display, dominated by shadows and mid-tones), and PSNR-L and SSIM-L on the linear HDR values
(dominated by the highlights). Every metric here is therefore returned *per image* (shape ``(B,)``) so
that callers average over images exactly as the papers do, not over pixels of a stacked batch.

SSIM convention (§11 pitfall). The papers compute SSIM with ``skimage.metrics.structural_similarity``;
:func:`ssim` reproduces that function with ``channel_axis=-1`` and its defaults: a 7×7 uniform window,
K1 = 0.01, K2 = 0.03, sample (co)variances (``use_sample_covariance=True``: a factor N/(N−1) with
N = 49), the SSIM map averaged over the valid region only (the ``(7−1)/2 = 3``-pixel border, where the
window would reach outside the image, is discarded — so the boundary mode of the filter never matters),
then averaged over channels. We use ``data_range=1`` because our images live in [0, 1]. The official
FHDRNet code called skimage 0.17 *without* ``data_range`` on float images, which silently used the
float dtype's range −1..1, i.e. ``data_range=2``: larger C1, C2 constants and inflated SSIM. To compare
with numbers in the paper, :func:`ssim_dr2` (and the ``ssim_mu_dr2`` key of :func:`hdr_metrics`) gives
that variant; it is never used for our own claims.

Everything is computed in float64 (skimage works in float64 too; SSIM's ``E[x²] − E[x]²`` cancels
catastrophically in float32 on flat regions), fully vectorised (one ``avg_pool2d`` for all five local
moments), on the inputs' device.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["hdr_metrics", "mu_law", "psnr", "ssim", "ssim_dr2"]

#: skimage ``structural_similarity`` defaults (uniform window).
SSIM_WIN_SIZE = 7
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def mu_law(x: Tensor, mu: float = 5000.0) -> Tensor:
    """μ-law tonemapper T(x) = log(1 + μx) / log(1 + μ), with T(0) = 0 and T(1) = 1.

    This is the differentiable tonemapper that the HDR networks are trained and evaluated through
    (μ = 5000 in Kalantari/AHDRNet/FHDRNet), so errors in dark regions weigh as much as they do for a
    viewer. ``log1p`` keeps small values accurate. Defined for x > −1/μ; HDR images are ≥ 0.
    """
    return torch.log1p(mu * x) / math.log1p(mu)


def _check_pair(pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(
            f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape"
        )
    if pred.ndim < 2:
        raise ValueError(f"expected a batch (B, ...) of images, got shape {tuple(pred.shape)}")


def psnr(pred: Tensor, target: Tensor, peak: float = 1.0, mask: Tensor | None = None) -> Tensor:
    """Per-image PSNR ``10·log10(peak² / MSE)``, shape ``(B,)`` (float64); ``inf`` where MSE = 0.

    Without ``mask`` the MSE is over all of an image's elements (any shape ``(B, ...)``). With a
    ``mask`` of shape B×H×W (bool, or 0/1 values: nonzero counts as inside) and images B×C×H×W, the MSE
    is over the masked pixels only, all channels — this is how the ghost-region PSNR isolates the
    moving objects, which a whole-image PSNR dilutes. An image whose mask is empty has no defined
    error and gets NaN, so a nan-mean over images skips it instead of counting it as perfect.
    """
    _check_pair(pred, target)
    sq = (pred.double() - target.double()).square()
    if mask is None:
        mse = sq.flatten(1).mean(dim=1)
    else:
        if pred.ndim != 4 or mask.shape != (pred.shape[0], *pred.shape[2:]):
            raise ValueError(
                f"mask must be B×H×W for B×C×H×W images; got mask {tuple(mask.shape)}, "
                f"images {tuple(pred.shape)}"
            )
        m = (mask != 0).to(sq.dtype)
        count = m.flatten(1).sum(dim=1) * pred.shape[1]
        total = (sq.sum(dim=1) * m).flatten(1).sum(dim=1)
        mse = torch.where(count > 0, total / count.clamp_min(1), torch.full_like(total, math.nan))
    return 10.0 * torch.log10(peak**2 / mse)


def ssim(pred: Tensor, target: Tensor, data_range: float = 1.0) -> Tensor:
    """Per-image SSIM of B×C×H×W images, shape ``(B,)`` (float64), as skimage computes it.

    Matches ``skimage.metrics.structural_similarity(p, t, channel_axis=-1, data_range=data_range)`` on
    each H×W×C image (see the module docstring for the convention and why ``data_range`` matters).
    Local means and second moments come from one 7×7 average pool without padding, which yields exactly
    the valid region that skimage keeps after cropping its 3-pixel border. H and W must be ≥ 7.
    """
    _check_pair(pred, target)
    if pred.ndim != 4:
        raise ValueError(f"ssim expects B×C×H×W images, got shape {tuple(pred.shape)}")
    win = SSIM_WIN_SIZE
    if min(pred.shape[-2:]) < win:
        raise ValueError(f"ssim needs H and W ≥ {win} (the window size), got {tuple(pred.shape[-2:])}")
    x, y = pred.double(), target.double()
    c = x.shape[1]
    moments = F.avg_pool2d(torch.cat([x, y, x * x, y * y, x * y], dim=1), kernel_size=win, stride=1)
    ux, uy, uxx, uyy, uxy = moments.split(c, dim=1)
    n = win * win
    cov_norm = n / (n - 1)  # sample (co)variance, skimage's use_sample_covariance=True
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(dim=(2, 3)).mean(dim=1)  # valid region per channel, then over channels


def ssim_dr2(pred: Tensor, target: Tensor) -> Tensor:
    """SSIM with ``data_range=2``: what the official FHDRNet code (skimage 0.17, no ``data_range`` on
    float images) actually computed. Only for comparing with the paper's tables (§11)."""
    return ssim(pred, target, data_range=2.0)


@torch.inference_mode()
def hdr_metrics(
    pred: Tensor, target: Tensor, mask: Tensor | None = None, mu: float = 5000.0
) -> dict[str, Tensor]:
    """The per-image metrics of ``fhdrnet.md`` §3.7 for B×C×H×W HDR images in [0, 1].

    Returns float64 tensors of shape ``(B,)``: ``psnr_mu`` / ``ssim_mu`` on μ-law tonemapped images
    (peak / data range 1), ``psnr_l`` / ``ssim_l`` on linear values, ``ssim_mu_dr2`` (the paper's
    implied data_range=2 variant, for comparison only) and ``ghost_psnr_mu``: PSNR-μ inside the motion
    ``mask`` (B×H×W), where ghosting artefacts live. ``ghost_psnr_mu`` is NaN for an image whose mask is
    empty, and for every image when no mask is given, so the keys are always the same.
    """
    _check_pair(pred, target)
    tp, tt = mu_law(pred.double(), mu), mu_law(target.double(), mu)
    if mask is None:
        ghost = torch.full((pred.shape[0],), math.nan, dtype=torch.float64, device=pred.device)
    else:
        ghost = psnr(tp, tt, mask=mask)
    return {
        "psnr_mu": psnr(tp, tt),
        "psnr_l": psnr(pred, target),
        "ssim_mu": ssim(tp, tt),
        "ssim_l": ssim(pred, target),
        "ssim_mu_dr2": ssim_dr2(tp, tt),
        "ghost_psnr_mu": ghost,
    }
