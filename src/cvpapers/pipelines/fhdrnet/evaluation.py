"""The test protocol (papers/fhdrnet.md §3.7, §7 nodes 3 and 7): PSNR-μ, PSNR-L, SSIM-μ/L and PSNR-μ inside
the motion mask (ghosts), averaged over the test scenes, for the classical merges and for each network,
with the network's size and cost; and the results table that puts them side by side. The embedded test set
is evaluated from its arrays; real test scenes stream from disk one full-size scene at a time
(:func:`evaluate_networks_streamed`, and :func:`evaluate_classical` over an iterable of scenes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from cvpapers.pipelines.fhdrnet.inference import predict

__all__ = ["LABELS", "NETWORKS", "classical_per_image", "evaluate_classical", "evaluate_network",
           "evaluate_networks_streamed", "exposure_times", "mean_metric", "results_table", "scaled_macs"]

Arrays = dict[str, np.ndarray]
NETWORKS = ("ahdrnet", "fhdrnet_nohf", "fhdrnet")
CLASSICAL = ("reference_only", "naive_merge")
LABELS = {"ahdrnet": "AHDRNet", "fhdrnet_nohf": "FHDRNet w/o HF", "fhdrnet": "FHDRNet",
          "naive_merge": "naive merge", "reference_only": "reference only"}


def mean_metric(key: str, values: Tensor) -> float:
    """Mean over test images. Only the ghost metric may be NaN for an image (no motion in it); any other
    NaN means a broken prediction and must show, not be averaged away."""
    v = values.double().numpy()
    if key == "ghost_psnr_mu":
        return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
    return float(v.mean())


def exposure_times(scenes: Arrays, domain: str) -> np.ndarray:
    """Relative exposure times t_i (t_1 = 1): 2^(stops − min) for RGB, the EXIF ratios for RAW."""
    e = scenes["exposure"].astype(np.float32)
    return np.exp2(e - e.min(axis=1, keepdims=True)) if domain == "rgb" else e


def classical_per_image(scenes: Arrays, domain: str, gamma: float, mu: float) -> dict[str, Tensor]:
    """``<merge>/<metric>`` per image of the two references without learning: the reference frame (short
    where it saturates), and a hat-weighted exposure merge with no motion handling (it shows the ghosts).
    ``gamma`` linearises RGB frames; RAW frames are linear already (their HDR domain is r / ER)."""
    from cvpapers.metrics.hdr import hdr_metrics
    from cvpapers.pipelines.fhdrnet.classical import naive_merge, reference_only

    gamma = gamma if domain == "rgb" else 1.0
    ldr = torch.from_numpy(scenes["ldr"]).permute(0, 1, 4, 2, 3).float()
    times = torch.from_numpy(exposure_times(scenes, domain))
    target, mask = torch.from_numpy(scenes["hdr"]).permute(0, 3, 1, 2), torch.from_numpy(scenes["mask"])
    out: dict[str, Tensor] = {}
    for name, merge in zip(CLASSICAL, (reference_only, naive_merge), strict=True):
        m = hdr_metrics(merge(ldr, times, gamma), target, mask, mu)
        out.update({f"{name}/{k}": v for k, v in m.items()})
    return out


def evaluate_classical(scenes: Arrays | Iterable[Arrays], domain: str, gamma: float, mu: float) -> dict[str, float]:
    """``<merge>/<metric>`` means over the test scenes (:func:`classical_per_image`): one array set, or
    (real data) scene after scene from a stream."""
    if isinstance(scenes, Mapping):
        scenes = [scenes]
    per: dict[str, list[Tensor]] = {}
    for s in scenes:
        for k, v in classical_per_image(s, domain, gamma, mu).items():
            per.setdefault(k, []).append(v)
    return {k: mean_metric(k.rsplit("/", 1)[-1], torch.cat(v)) for k, v in per.items()}


def evaluate_network(model: nn.Module, test: Arrays, device: torch.device, batch: int, mu: float,
                     ) -> tuple[Tensor, dict[str, float]]:
    """The network's test predictions and its metrics: image quality, ``params_count``, ``macs_per_image``
    (conv and linear MACs of one test image) and ``infer_time_ms`` per image."""
    from cvpapers.engine.flops import count_macs_params
    from cvpapers.metrics.hdr import hdr_metrics
    from cvpapers.pipelines.fhdrnet.networks import StackedFrames

    model.to(device)
    t0 = time.perf_counter()
    pred = predict(model, test["x"], device, batch)
    infer_ms = 1000 * (time.perf_counter() - t0) / len(pred)
    target, mask = torch.from_numpy(test["y"]), torch.from_numpy(test["mask"])
    m = {k: mean_metric(k, v) for k, v in hdr_metrics(pred, target, mask, mu).items()}
    _, frames, ch, h, w = test["x"].shape
    macs, params_count = count_macs_params(StackedFrames(model.cpu()), (1, frames * ch, h, w), mode="conv_linear")
    return pred, {**m, "params_count": float(params_count), "macs_per_image": float(macs), "infer_time_ms": infer_ms}


def scaled_macs(model: nn.Module, frames: int, ch: int, h: int, w: int) -> tuple[int, int]:
    """(conv + linear MACs of one ``h``×``w`` image (H, W multiples of 8), parameters), counted on a 64×64
    input and scaled: every layer of these fully convolutional networks works on H·W / 4^level pixels, so
    the count is exactly proportional to H·W — no full-size forward pass on the CPU just to count."""
    from cvpapers.engine.flops import count_macs_params
    from cvpapers.pipelines.fhdrnet.networks import StackedFrames

    macs, params = count_macs_params(StackedFrames(model), (1, frames * ch, 64, 64), mode="conv_linear")
    return macs * h * w // (64 * 64), params


def evaluate_networks_streamed(models: Mapping[str, nn.Module], scenes: Iterable[Arrays], device: torch.device,
                               mu: float, keep: Callable[[dict], dict] = dict, n_keep: int = 4,
                               ) -> tuple[dict[str, dict[str, float]], list[dict]]:
    """Every network on the test scenes of a stream, one full-size scene at a time (batch 1, padded as the
    official test code pads): per network the metrics of :func:`evaluate_network`; and ``keep`` of the
    inputs, truth and predictions of the first ``n_keep`` scenes (e.g. shrunk for the sample figure)."""
    from cvpapers.metrics.hdr import hdr_metrics
    from cvpapers.pipelines.fhdrnet.inference import padded_size

    per: dict[str, dict[str, list[Tensor]]] = {key: {} for key in models}
    seconds, shown, size, n = dict.fromkeys(models, 0.0), [], None, 0
    for m in models.values():
        m.to(device)
    for s in scenes:
        x, y, mask = (torch.from_numpy(s[k]) for k in ("x", "y", "mask"))
        size, n, preds = x.shape[1:], n + 1, {}
        for key, model in models.items():
            t0 = time.perf_counter()
            preds[key] = predict(model, x, device, 1)
            seconds[key] += time.perf_counter() - t0
            for k, v in hdr_metrics(preds[key], y, mask, mu).items():
                per[key].setdefault(k, []).append(v)
        if len(shown) < n_keep:
            shown.append(keep({"x": s["x"], "y": y, "preds": preds}))
    if size is None:
        raise ValueError("no test scene could be read (every one was skipped as a bad sample)")
    frames, ch, h, w = size
    out = {}
    for key, model in models.items():
        macs, params_count = scaled_macs(model.cpu(), frames, ch, *padded_size(h, w))
        out[key] = {**{k: mean_metric(k, torch.cat(v)) for k, v in per[key].items()},
                    "params_count": float(params_count), "macs_per_image": float(macs),
                    "infer_time_ms": 1000 * seconds[key] / n}
    return out, shown


def results_table(networks: Mapping[str, Mapping[str, float]], classical: Mapping[str, float]) -> pd.DataFrame:
    """One row per method: the networks (metrics of :func:`evaluate_network`), then the classical merges
    (``<merge>/<metric>`` of :func:`evaluate_classical`); quality rounded to 4 decimals."""
    cost = ("params_count", "macs_per_image", "infer_time_ms")
    rows = [{"method": LABELS[key], **{k: round(v, 4) for k, v in m.items() if k not in cost},
             "params": int(m["params_count"]), "GMACs/image": round(m["macs_per_image"] / 1e9, 3),
             "infer_ms": round(m["infer_time_ms"], 1)} for key, m in networks.items()]
    for name in ("naive_merge", "reference_only"):
        rows.append({"method": LABELS[name], **{k.split("/")[-1]: round(v, 4) for k, v in classical.items()
                                                if k.startswith(f"{name}/")}})
    return pd.DataFrame(rows)
