"""FHDRNet training loss: L1 on μ-law tonemapped images plus a Sobel-gradient L1 (``fhdrnet.md`` §3.5).

    L = mean|T(Ĥ) − T(H)| + w·mean|Sx(T(Ĥ)) − Sx(T(H))| + w·mean|Sy(T(Ĥ)) − Sy(T(H))|,   w = 0.25

The loss is taken after the μ-law tonemapper T because HDR values span decades: an L1 on linear
values would be dominated by highlights and ignore the shadows the metric (PSNR-μ) cares about. The
Sobel terms (in the official code of both branches, not in the abstract) penalise misplaced edges and
textures — exactly what the frequency-guided up-sampling is meant to restore — while being blind to a
smooth brightness error. Sx, Sy are the 3×3 Sobel kernels of §3.5, applied per channel (depthwise)
with zero padding 1, as the code does; so a constant offset still shows along the image border.
The code's 45°/135° responses are computed there but unused, so they are omitted here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cvpapers.engine.device import device_constant
from cvpapers.metrics.hdr import mu_law

__all__ = ["SOBEL_X", "SOBEL_Y", "mu_sobel_loss", "sobel_xy"]

#: §3.5's kernels (cross-correlation, as ``F.conv2d`` applies them). The sign convention is irrelevant
#: to the loss, which takes absolute values.
SOBEL_X = torch.tensor([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]])
SOBEL_Y = SOBEL_X.t().contiguous()


def sobel_xy(x: Tensor) -> tuple[Tensor, Tensor]:
    """Depthwise Sobel responses (Sx, Sy) of B×C×H×W ``x``, zero padding 1, each B×C×H×W.

    One grouped convolution computes both responses for all channels at once (its filter bank is made once
    per channel count, dtype and device).
    """
    if x.ndim != 4:
        raise ValueError(f"expected B×C×H×W, got shape {tuple(x.shape)}")
    out = F.conv2d(x, _sobel_bank(x.shape[1], x.dtype, x.device), padding=1, groups=x.shape[1])
    return out[:, 0::2], out[:, 1::2]


@device_constant
def _sobel_bank(channels: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """(2C)×1×3×3: channel k → outputs 2k (x), 2k+1 (y)."""
    kernels = torch.stack([SOBEL_X, SOBEL_Y]).to(dtype=dtype, device=device)  # 2×3×3
    return kernels.repeat(channels, 1, 1).unsqueeze(1)


def mu_sobel_loss(
    pred: Tensor, target: Tensor, mu: float = 5000.0, sobel_weight: float = 0.25
) -> tuple[Tensor, dict[str, float]]:
    """μ-law L1 + ``sobel_weight`` × (Sobel-x L1 + Sobel-y L1) of B×C×H×W HDR images (§3.5).

    Returns the differentiable scalar loss and, for logging, ``{"l1_mu": …, "sobel": …}`` where
    ``sobel`` is the *unweighted* sum of the x and y gradient L1 terms (so the logged curve does not
    change meaning when the weight is tuned). The convolution is linear, so the Sobel of the
    difference T(Ĥ) − T(H) equals the difference of the Sobels: one convolution instead of two.
    """
    if pred.shape != target.shape:
        raise ValueError(
            f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape"
        )
    diff = mu_law(pred, mu) - mu_law(target, mu)
    l1 = diff.abs().mean()
    gx, gy = sobel_xy(diff)
    sobel = gx.abs().mean() + gy.abs().mean()
    loss = l1 + sobel_weight * sobel
    return loss, {"l1_mu": l1.detach(), "sobel": sobel.detach()}
