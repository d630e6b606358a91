"""Pictures for people: a montage of the scenes and side-by-side outputs, tone-mapped (μ-law) for display;
packed RAW is shown through a quick demosaic (R, mean of the G's, B)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["display", "samples", "scenes_montage", "tonemap"]

Arrays = dict[str, np.ndarray]


def display(x: np.ndarray, domain: str) -> np.ndarray:
    """H×W×C images in [0, 1]: RGB as is; packed RAW as (R, mean of G's, B)."""
    if domain == "raw":
        x = np.stack([x[..., 0], 0.5 * (x[..., 1] + x[..., 3]), x[..., 2]], -1)
    return np.clip(x, 0, 1)


def tonemap(h: np.ndarray, mu: float = 5000.0) -> np.ndarray:
    from cvpapers.metrics.hdr import mu_law

    return mu_law(torch.from_numpy(np.clip(h, 0, None)), mu).numpy()


def scenes_montage(scenes: Arrays, domain: str, n: int = 4) -> Any:
    """short | reference | long | tone-mapped HDR truth | motion mask, for the first ``n`` scenes."""
    from cvpapers.engine import plots

    rows = {}
    for i in range(min(n, len(scenes["hdr"]))):
        ldr = [display(scenes["ldr"][i, j], domain) for j in range(3)]
        gt = display(tonemap(scenes["hdr"][i]), domain)
        mask = np.repeat(scenes["mask"][i][..., None].astype(np.float32), 3, -1)
        rows[f"scene {i}"] = (np.stack([*ldr, gt, mask]) * 255).astype(np.uint8)
    return plots.labelled_rows(rows, "short | reference | long | tone-mapped HDR truth | motion mask")


def samples(scenes: Arrays, target: torch.Tensor, preds: dict[str, torch.Tensor], domain: str, n: int = 4) -> Any:
    """inputs | FHDRNet | AHDRNet | truth, tone-mapped, and FHDRNet's |error| (scaled ×4)."""
    from cvpapers.engine import plots

    def img(t: torch.Tensor) -> np.ndarray:
        return (display(tonemap(t.permute(1, 2, 0).numpy()), domain) * 255).astype(np.uint8)

    rows = {}
    for i in range(min(n, len(target))):
        ldr = [(display(scenes["ldr"][i, j], domain) * 255).astype(np.uint8) for j in range(3)]
        err = (preds["fhdrnet"][i] - target[i]).abs()
        err_img = (np.clip(4 * display(err.permute(1, 2, 0).numpy(), domain), 0, 1) * 255).astype(np.uint8)
        rows[f"scene {i}"] = np.stack([*ldr, img(preds["fhdrnet"][i]), img(preds["ahdrnet"][i]), img(target[i]), err_img])
    return plots.labelled_rows(rows, "short | reference | long | FHDRNet | AHDRNet | truth (μ-law) | FHDRNet |error|×4")
