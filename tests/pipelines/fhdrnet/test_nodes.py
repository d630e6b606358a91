"""FHDRNet node behaviour: identical batches and transforms for frames and truth, any-size inference,
the domain check, and the claims' signs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cvpapers.pipelines.fhdrnet import nodes


def _set(n: int = 6, h: int = 16, w: int = 16) -> dict:
    rng = np.random.default_rng(0)
    y = rng.random((n, 3, h, w), dtype=np.float32)
    x = np.repeat(y[:, None], 3, 1)
    x = np.concatenate([x, x], 2)  # 6 channels per frame, each a copy of the truth
    return {"x": x, "y": y}


def test_each_sample_gets_one_transform_shared_by_its_frames_and_truth() -> None:
    draw = nodes._draw(_set(), batch=16, augment="dihedral", crop=8)
    x, y = draw(torch.Generator().manual_seed(3))
    assert x.shape == (16, 3, 6, 8, 8) and y.shape == (16, 3, 8, 8)
    assert torch.equal(x[:, 0, :3], y) and torch.equal(x[:, 2, 3:], y), "frames and truth move together"
    again = draw(torch.Generator().manual_seed(3))
    assert torch.equal(again[0], x), "batches depend only on the generator"


def test_per_sample_dihedral_views_match_their_codes() -> None:
    x = torch.arange(16.0).reshape(1, 1, 4, 4).repeat(3, 1, 1, 1)
    flip, vertical, k = torch.tensor([False, True, True]), torch.tensor([False, False, True]), torch.tensor([1, 0, 2])
    out, _ = nodes._dihedral(x, x.clone(), flip, vertical, k)
    assert torch.equal(out[0], torch.rot90(x[0], 1, (-2, -1)))
    assert torch.equal(out[1], x[1].flip(-1))
    assert torch.equal(out[2], torch.rot90(x[2].flip(-2), 2, (-2, -1)))


def test_inference_pads_sizes_not_divisible_by_8_and_crops_back() -> None:
    from cvpapers.models.hdr import build_hdr_model

    model = build_hdr_model("fhdrnet", nf=4, n_res_blocks=1)
    x = np.random.default_rng(1).random((2, 3, 6, 20, 30), dtype=np.float32)  # like Kalantari's 1000×1500
    out = nodes._predict(model, x, torch.device("cpu"), batch=2)
    assert out.shape == (2, 3, 20, 30) and torch.isfinite(out).all()


def test_raw_data_in_the_rgb_pipeline_is_refused_before_reading_it() -> None:
    with pytest.raises(ValueError, match="run fhdrnet_raw instead"):
        nodes.make_hdr_scenes({"data_source": "raw_official"}, domain="rgb")


def test_claims_are_fhdrnet_minus_the_baselines() -> None:
    m = {f"test/{k}/{q}": v for k, base in (("fhdrnet", 30.0), ("ahdrnet", 28.0), ("fhdrnet_nohf", 29.5))
         for q, v in (("psnr_mu", base), ("ghost_psnr_mu", base - 2), ("psnr_l", base), ("ssim_mu", 0.9))}
    table = pd.DataFrame([{"method": "naive merge", "ghost_psnr_mu": 20.0}])
    claims = nodes.check_claims(table, m)
    assert claims["claim/psnr_mu_gain_vs_ahdrnet"] == 2.0 and claims["claim/psnr_mu_gain_vs_nohf"] == 0.5
    assert claims["claim/ghost_psnr_mu_gain_vs_ahdrnet"] == 2.0
    assert claims["compare/ghost_psnr_mu_gain_vs_naive_merge/ahdrnet"] == 6.0
