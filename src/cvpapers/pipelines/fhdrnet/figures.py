"""Pictures for people: a montage of the scenes and side-by-side outputs, tone-mapped (μ-law) for display;
packed RAW is shown through a quick demosaic (R, mean of the G's, B). Full-size real scenes are shown
shrunk by striding (:func:`streamed_montage`, :func:`streamed_samples`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["display", "samples", "scenes_montage", "shrunk", "streamed_montage", "streamed_samples", "tonemap"]

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


def _stride(h: int, w: int, max_side: int) -> int:
    return max(1, -(-max(h, w) // max_side))


def shrunk(sample: dict[str, Any], max_side: int = 384) -> dict[str, Any]:
    """A batch-1 sample (scene arrays ``ldr``/``hdr``/``mask``, or ``x``/``y``/``preds``) strided down so its
    long side is at most ``max_side``: what a figure keeps of a full-size scene (copies, so the scene is freed;
    of ``x`` only the LDR-domain half of each frame's channels)."""
    h, w = (sample["hdr"].shape[1:3] if "hdr" in sample else sample["y"].shape[-2:])
    s = _stride(int(h), int(w), max_side)
    axes = {"ldr": 2, "hdr": 1, "mask": 1, "x": 3, "y": 2}

    def cut(a: Any, first: int) -> Any:
        view = a[(slice(None),) * first + (slice(None, None, s), slice(None, None, s))]
        return view.clone() if isinstance(view, torch.Tensor) else np.ascontiguousarray(view)

    out = {k: cut(v, axes[k]) for k, v in sample.items() if k in axes and k != "x"}
    if "x" in sample:  # the frames' LDR-domain channels are all a figure shows
        out["x"] = cut(sample["x"][:, :, : sample["x"].shape[2] // 2], axes["x"])
    if "preds" in sample:
        out["preds"] = {k: cut(v, 2) for k, v in sample["preds"].items()}
    return out


def streamed_montage(shown: list[Arrays], domain: str) -> Any:
    """:func:`scenes_montage` of a few :func:`shrunk` scenes read from disk (cut to a common size)."""
    h, w = (min(a["hdr"].shape[axis] for a in shown) for axis in (1, 2))
    return scenes_montage({"ldr": np.concatenate([a["ldr"][:, :, :h, :w] for a in shown]),
                           "hdr": np.concatenate([a["hdr"][:, :h, :w] for a in shown]),
                           "mask": np.concatenate([a["mask"][:, :h, :w] for a in shown])}, domain)


def streamed_samples(shown: list[dict[str, Any]], domain: str, gamma: float) -> Any:
    """:func:`samples` of the first test scenes of a stream (:func:`shrunk` ``x`` inputs, ``y`` truth, ``preds``
    per network): the frames are the LDR-domain part of the inputs (RAW: raised back to the linear ``r``)."""
    h, w = (min(int(a["y"].shape[axis]) for a in shown) for axis in (-2, -1))
    c = shown[0]["y"].shape[1]
    ldr = np.concatenate([np.asarray(a["x"])[:, :, :c, :h, :w] for a in shown]).transpose(0, 1, 3, 4, 2)
    ldr = ldr if domain == "rgb" else np.power(ldr, gamma)
    target = torch.cat([a["y"][..., :h, :w] for a in shown])
    preds = {k: torch.cat([a["preds"][k][..., :h, :w] for a in shown]) for k in shown[0]["preds"]}
    return samples({"ldr": ldr}, target, preds, domain)
