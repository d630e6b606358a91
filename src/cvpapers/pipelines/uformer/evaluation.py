"""The test protocol (papers/uformer.md §3.7, §8): outputs clamped to [0, 1]; PSNR (peak 1) and SSIM
(``data_range`` 1, skimage's definition) per image through ``metrics/hdr``; means over the test set and per
test σ; params, MACs at the test size and at 256² (the project counter, mode ``restoration``), inference time.
Embedded test sets are arrays; real test pairs stream from disk one at a time, each read once for every model.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from cvpapers.pipelines.uformer.training import predict

__all__ = ["INPUT", "evaluate_arrays", "evaluate_streamed", "label", "results_table", "summarise"]

Arrays = dict[str, np.ndarray]
INPUT = "input"  # the degraded input itself (clamped to [0, 1]), the do-nothing reference


def label(key: str, ckpt: Mapping[str, Any] | None = None) -> str:
    """Human names of the table's rows."""
    if key == INPUT:
        return "degraded input"
    cfg = (ckpt or {}).get("config", {})
    if key.startswith("unet"):
        return f"UNet-{cfg.get('dim', '?')}" + (
            " (matched MACs)" if key == "unet_matched" else " (same width)"
        )
    if key == "uformer":
        return f"Uformer (C={cfg.get('embed_dim', '?')})"
    return f"Uformer ablation: {key.removeprefix('abl_')}"


def _per_image(pred: torch.Tensor, target: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    from cvpapers.metrics.hdr import psnr, ssim

    return psnr(pred, target).numpy(), ssim(pred, target).numpy()


def summarise(rows: pd.DataFrame, sigmas: Iterable[float]) -> dict[str, dict[str, float]]:
    """Per model: ``psnr``, ``ssim`` (means over the test rows) and ``psnr/sigma<σ>``, ``ssim/sigma<σ>``."""
    out: dict[str, dict[str, float]] = {}
    for key, part in rows.groupby("model", sort=False):
        m = {"psnr": float(part["psnr"].mean()), "ssim": float(part["ssim"].mean())}
        for s in sigmas:
            at = part[part["sigma"] == s]
            if len(at):
                m[f"psnr/sigma{s:g}"], m[f"ssim/sigma{s:g}"] = (
                    float(at["psnr"].mean()),
                    float(at["ssim"].mean()),
                )
        out[str(key)] = m
    return out


def costs(model: nn.Module, ckpt: Mapping[str, Any], size: tuple[int, int]) -> dict[str, float]:
    """``params_count``, ``gmacs_at_input`` (one test image), ``gmacs256`` (Uformer built at 256, Table E)."""
    from cvpapers.pipelines.uformer.arch import model_macs

    cfg, kind = dict(ckpt["config"]), ckpt["config"].get("kind", "uformer")
    cfg.pop("kind", None)
    at_input, params = model_macs(kind, cfg, size[0]) if size[0] == size[1] else (float("nan"), 0)
    at256, _ = model_macs(kind, {**cfg, "img_size": 256} if kind == "uformer" else cfg, 256)
    return {
        "params_count": float(sum(p.numel() for p in model.parameters())),
        "gmacs_at_input": at_input / 1e9,
        "gmacs256": at256 / 1e9,
    }


def evaluate_arrays(
    models: Mapping[str, nn.Module], ckpts: Mapping[str, Any], test: Arrays, device: torch.device, batch: int
) -> tuple[pd.DataFrame, dict[str, dict[str, float]], dict[str, torch.Tensor]]:
    """Every model on the fixed test set: per-image rows, per-model costs and timing, predictions."""
    target = torch.from_numpy(test["clean"]).float() / 255
    noisy = torch.from_numpy(test["noisy"])
    preds = {INPUT: noisy.clamp(0, 1)}
    extra: dict[str, dict[str, float]] = {}
    for key, model in models.items():
        model.to(device)
        t0 = time.perf_counter()
        preds[key] = predict(model, noisy, device, batch)
        extra[key] = {
            **costs(model, ckpts[key], tuple(noisy.shape[-2:])),
            "infer_ms": 1000 * (time.perf_counter() - t0) / len(noisy),
        }
    frames = []
    for key, pred in preds.items():
        p, s = _per_image(pred, target)
        frames.append(
            pd.DataFrame({"model": key, "image": test["image"], "sigma": test["sigma"], "psnr": p, "ssim": s})
        )
    return pd.concat(frames, ignore_index=True), extra, preds


def evaluate_streamed(
    models: Mapping[str, nn.Module],
    ckpts: Mapping[str, Any],
    pairs: Iterable[dict[str, Any]],
    device: torch.device,
    count_size: int,
    keep: int = 3,
) -> tuple[pd.DataFrame, dict[str, dict[str, float]], list]:
    """Real test pairs one at a time (whole images, padded to the model's multiple and cropped back); MACs
    are counted on a ``count_size``² input (the training crop: real test images vary in size)."""
    frames, shown, times = [], [], dict.fromkeys(models, 0.0)
    for i, b in enumerate(pairs):
        x, y = b["x"], b["y"]
        outs = {INPUT: x.clamp(0, 1)}
        for key, model in models.items():
            model.to(device)
            t0 = time.perf_counter()
            outs[key] = predict(model, x, device, 1)
            times[key] += time.perf_counter() - t0
        for key, pred in outs.items():
            p, s = _per_image(pred, y)
            frames.append(pd.DataFrame({"model": key, "image": i, "sigma": np.nan, "psnr": p, "ssim": s}))
        if len(shown) < keep:
            shown.append({"x": x, "y": y, **{k: v for k, v in outs.items() if k != INPUT}})
    if not frames:
        raise ValueError("no test pair could be read")
    n = len(frames) // (len(models) + 1)
    extra = {
        k: {**costs(m, ckpts[k], (count_size, count_size)), "infer_ms": 1000 * times[k] / n}
        for k, m in models.items()
    }
    return pd.concat(frames, ignore_index=True), extra, shown


def results_table(
    summary: Mapping[str, Mapping[str, float]],
    extra: Mapping[str, Mapping[str, float]],
    labels: Mapping[str, str],
) -> pd.DataFrame:
    """One row per model (first column the model, first numeric column its mean test PSNR)."""
    rows = []
    for key, m in summary.items():
        rows.append({"model": labels[key], **m, **extra.get(key, {})})
    return pd.DataFrame(rows)
