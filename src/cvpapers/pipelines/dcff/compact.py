"""From the trained fused network to the compact one (spec §3.6), and the compact model's evaluation.

The export materialises ``Q·W`` into an ordinary smaller network with the same module names and checks,
on a batch of test images, that it computes the fused network's function (§9.2: max abs diff < 1e-4).
Both the last-epoch and the best-epoch weights are exported and evaluated (the official code reports the
best test epoch; we report both).
"""

from __future__ import annotations

from typing import Any

import torch

from cvpapers.engine.checkpoint import model_checkpoint, rebuild_model


def _export_checked(
    fused: torch.nn.Module, compact: torch.nn.Module, x: torch.Tensor
) -> tuple[dict[str, torch.Tensor], float]:
    """The compact state of ``fused`` (loaded into ``compact``) and max |fused(x) − compact(x)| in eval mode."""
    from cvpapers.pipelines.dcff.fusion import export_compact_state_dict

    compact_state = export_compact_state_dict(fused)
    compact.load_state_dict(compact_state, strict=True)
    fused.eval()
    compact.eval()
    with torch.inference_mode():
        diff = (fused(x) - compact(x)).abs().max().item()
    return compact_state, diff


def export_compact_checkpoint(
    fused_checkpoint: dict[str, Any], x: torch.Tensor, device: torch.device
) -> tuple[dict[str, Any], float, float]:
    """The compact model checkpoint (with its best epoch's weights when the fused one has them) and the
    export's max abs difference for the last and the best weights (NaN when there is no best)."""
    from cvpapers.models.classification import build_classifier

    source = "dcff.fused_checkpoint"
    fused = rebuild_model(fused_checkpoint, source).to(device)
    config = fused_checkpoint["config"]
    compact = build_classifier(**config).to(device)
    last_state, diff_last = _export_checked(fused, compact, x)
    out = model_checkpoint(last_state, config, build_classifier)
    best = fused_checkpoint.get("best") or {}
    diff_best = float("nan")
    if best.get("state_dict") is not None:
        fused = rebuild_model(fused_checkpoint, source, weights="best").to(device)
        best_state, diff_best = _export_checked(fused, compact, x)
        out["best"] = {
            "epoch": best["epoch"],
            "state_dict": model_checkpoint(best_state, config)["state_dict"],
        }
    return out, diff_last, diff_best


def evaluate_compact_checkpoint(
    checkpoint: dict[str, Any], test: Any, device: torch.device, ks: tuple[int, ...]
) -> tuple[dict[str, float], dict[str, float], int]:
    """Top-k of the compact model with its last-epoch and its best-epoch weights, and the best epoch
    (the last weights and -1 when the checkpoint has no best)."""
    from cvpapers.metrics.classification import evaluate_classifier

    source = "dcff.compact_checkpoint"
    last = evaluate_classifier(rebuild_model(checkpoint, source).to(device), test.batches(0), device, ks)
    best, best_epoch = last, -1
    if (checkpoint.get("best") or {}).get("state_dict") is not None:
        model = rebuild_model(checkpoint, source, weights="best").to(device)
        best = evaluate_classifier(model, test.batches(0), device, ks)
        best_epoch = checkpoint["best"]["epoch"]
    return last, best, best_epoch
