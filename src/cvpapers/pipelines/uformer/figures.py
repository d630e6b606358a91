"""Pictures for people: clean | degraded montage, sample restorations with error maps, validation curves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

__all__ = ["curves", "montage", "samples"]


def _u8(t: torch.Tensor | np.ndarray) -> np.ndarray:
    a = torch.as_tensor(t).float().clamp(0, 1).permute(1, 2, 0).numpy()
    return (a * 255).round().astype(np.uint8)


def montage(test: Mapping[str, np.ndarray], n: int = 4) -> Any:
    """Clean | degraded at each test σ, for the first ``n`` test images."""
    from cvpapers.engine import plots

    rows = {}
    for i in range(min(n, int(test["image"].max()) + 1)):
        sel = np.flatnonzero(test["image"] == i)
        clean = test["clean"][sel[0]].transpose(1, 2, 0)
        rows[f"image {i}"] = np.stack([clean, *(_u8(torch.from_numpy(test["noisy"][j])) for j in sel)])
    sig = ", ".join(f"σ={s:g}" for s in dict.fromkeys(test["sigma"].tolist()))
    return plots.labelled_rows(rows, f"clean | degraded ({sig})")


def samples(
    inputs: torch.Tensor,
    target: torch.Tensor,
    preds: Mapping[str, torch.Tensor],
    labels: Mapping[str, str],
    idx: list[int],
) -> Any:
    """degraded | each model | clean, then |error|×4 of each model, one row per chosen test image."""
    from cvpapers.engine import plots

    rows = {}
    for i in idx:
        outs = [_u8(preds[k][i]) for k in preds]
        errs = [_u8(4 * (preds[k][i] - target[i]).abs()) for k in preds]
        rows[f"test {i}"] = np.stack([_u8(inputs[i]), *outs, _u8(target[i]), *errs])
    names = " | ".join(labels[k] for k in preds)
    return plots.labelled_rows(rows, f"degraded | {names} | clean | |error|×4 of each")


def curves(logs: Mapping[str, pd.DataFrame], labels: Mapping[str, str]) -> Any:
    """Validation PSNR and training loss against iterations, one line per model."""
    from cvpapers.engine import plots

    panels = {
        "validation PSNR (dB)": {labels[k]: list(v["val_psnr"]) for k, v in logs.items() if "val_psnr" in v},
        "training Charbonnier loss": {
            labels[k]: list(v["train_loss"]) for k, v in logs.items() if "train_loss" in v
        },
    }
    first = next((v for v in logs.values() if len(v)), None)
    every = int(first["iteration"].iloc[0]) if first is not None else 0
    return plots.curve_panels(panels, xlabel=f"evaluation (every {every} iterations)")


def _shrunk(t: torch.Tensor, max_side: int = 256) -> torch.Tensor:
    stride = max(1, -(-max(t.shape[-2:]) // max_side))
    return t[..., ::stride, ::stride]


def pairs_montage(manifest: pd.DataFrame, n: int = 3) -> Any:
    """Real data: degraded | clean for the first ``n`` test pairs (shrunk by striding)."""
    from cvpapers.data.degraded import read_pair
    from cvpapers.engine import plots

    rows = {}
    for i, row in enumerate(manifest[manifest["split"] == "test"].head(n).to_dict("records")):
        pair = read_pair(row)
        rows[f"test {i}"] = np.stack(
            [
                _u8(_shrunk(torch.from_numpy(pair[k]).permute(2, 0, 1).float() / 255))
                for k in ("input", "target")
            ]
        )
    return plots.labelled_rows(rows, "degraded | clean")


def streamed_samples(kept: list[dict[str, torch.Tensor]], labels: Mapping[str, str]) -> Any:
    """Real data: degraded | each model | clean, then |error|×4, for the first streamed test pairs (shrunk)."""
    from cvpapers.engine import plots

    rows = {}
    keys = [k for k in kept[0] if k not in ("x", "y")] if kept else []
    for i, s in enumerate(kept):
        x, y = _shrunk(s["x"][0]), _shrunk(s["y"][0])
        outs = [_shrunk(s[k][0]) for k in keys]
        rows[f"test {i}"] = np.stack(
            [_u8(x), *(_u8(o) for o in outs), _u8(y), *(_u8(4 * (o - y).abs()) for o in outs)]
        )
    return plots.labelled_rows(rows, f"degraded | {' | '.join(labels[k] for k in keys)} | clean | |error|×4")
