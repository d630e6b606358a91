"""The claims are FHDRNet minus each baseline; ``claim/holds`` is one rule (papers/fhdrnet.md §8)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from cvpapers.pipelines.fhdrnet import nodes
from cvpapers.pipelines.fhdrnet.claims import claim_holds, claims


def _metrics(fhdrnet: float = 30.0, ahdrnet: float = 28.0, nohf: float = 29.5) -> dict[str, float]:
    return {f"{k}/{q}": v for k, base in (("fhdrnet", fhdrnet), ("ahdrnet", ahdrnet), ("fhdrnet_nohf", nohf))
            for q, v in (("psnr_mu", base), ("ghost_psnr_mu", base - 2), ("psnr_l", base), ("ssim_mu", 0.9))}


def test_claims_are_fhdrnet_minus_the_baselines_and_the_node_reads_the_table() -> None:
    table = pd.DataFrame([{"method": "naive merge", "ghost_psnr_mu": 20.0}])
    c = nodes.check_claims(table, _metrics())
    assert c["claim/psnr_mu_gain_vs_ahdrnet"] == 2.0 and c["claim/psnr_mu_gain_vs_nohf"] == 0.5
    assert c["claim/ghost_psnr_mu_gain_vs_ahdrnet"] == 2.0
    assert c["compare/ghost_psnr_mu_gain_vs_naive_merge/ahdrnet"] == 6.0
    assert c["claim/holds"] == 1.0
    assert all(k.startswith(("claim/", "compare/")) and isinstance(v, float) for k, v in c.items())
    assert [k for k in c if k.endswith("holds")] == ["claim/holds"], "one flag per run"


@pytest.mark.parametrize("fhdrnet, ahdrnet, naive, holds", [
    (30.0, 28.0, 20.0, 1.0),
    (27.0, 28.0, 20.0, 0.0),   # AHDRNet wins
    (30.0, 28.0, 27.0, 0.0),   # AHDRNet (26 dB in the mask) below the naive merge: a baseline that learned nothing
    (12.0, 10.0, 23.0, 0.0),   # smoke-like: both far below the naive merge
])
def test_claim_holds_needs_the_win_and_networks_that_learned(fhdrnet: float, ahdrnet: float, naive: float,
                                                              holds: float) -> None:
    assert claims(_metrics(fhdrnet, ahdrnet), naive)["claim/holds"] == holds


def test_no_motion_in_the_test_set_never_holds() -> None:
    c = claims(_metrics(), 20.0)
    c["claim/ghost_psnr_mu_gain_vs_ahdrnet"] = math.nan
    assert claim_holds(c) == 0.0


def test_raw_data_in_the_rgb_pipeline_is_refused_before_reading_it() -> None:
    with pytest.raises(ValueError, match="run fhdrnet_raw instead"):
        nodes.prepare_data({"data": {"source": "raw_official"}}, domain="rgb")
