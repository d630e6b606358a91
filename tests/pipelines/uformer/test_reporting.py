"""The evaluation node on real pairs streamed from disk (SIDD layout fixture), and the claims it feeds."""

from __future__ import annotations

import math

import pandas as pd
import torch

from cvpapers.pipelines.uformer.config import UformerParams


def test_real_test_pairs_stream_through_every_model_into_tables_samples_and_claims(tmp_path) -> None:
    from cvpapers.data.degraded import write_sidd_fixture
    from cvpapers.engine.checkpoint import model_checkpoint
    from cvpapers.pipelines.uformer.claims import claims
    from cvpapers.pipelines.uformer.models import model_config
    from cvpapers.pipelines.uformer.networks import build_restoration_model
    from cvpapers.pipelines.uformer.reporting import evaluate_all
    from cvpapers.pipelines.uformer.sets import real_manifest

    root = write_sidd_fixture(tmp_path / "SIDD", n=3, size=40)  # 40 px: padded to 64 and cropped back
    p = UformerParams.model_validate(
        {
            "data": {"source": "sidd", "real_roots": {"sidd": str(root)}, "val_images": 1},
            "model": {"embed_dim": 4},
            "unet": {"dim": 4},
            "unet_matched": {"dim": 4},
            "train": {"crop": 32},
        }
    )
    manifest = real_manifest(p.data)
    ckpts = {}
    for key in ("unet", "unet_matched", "uformer"):
        cfg = model_config(key, p)
        ckpts[f"ckpt_{key}"] = model_checkpoint(build_restoration_model(**cfg), cfg, build_restoration_model)
    log = pd.DataFrame({"iteration": [1], "train_loss": [0.1], "val_psnr": [20.0]})
    inputs = {**ckpts, "log_uformer": log, "log_unet": pd.DataFrame({"iteration": []})}
    table, per_image, samples, curves, metrics = evaluate_all({}, manifest, p, torch.device("cpu"), inputs)
    assert list(table["model"]) == [
        "degraded input",
        "UNet-4 (same width)",
        "UNet-4 (matched MACs)",
        "Uformer (C=4)",
    ]
    assert len(per_image) == 4 * 3 and math.isfinite(metrics["test/uformer/psnr"])
    assert metrics["test/uformer/gmacs_at_input"] > 0
    c = claims(metrics, (), p.ablations)
    assert math.isfinite(c["claim/psnr_gain_vs_unet_db"]) and c["claim/holds"] == 0.0
