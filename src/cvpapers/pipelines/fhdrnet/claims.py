"""The paper's claims on the test scenes (papers/fhdrnet.md §8), as FHDRNet minus each baseline (dB):

- ``claim/psnr_mu_gain_vs_ahdrnet``: FHDRNet − AHDRNet, PSNR-μ over the whole image (the main claim);
- ``claim/ghost_psnr_mu_gain_vs_ahdrnet``: the same inside the motion mask (ghosts);
- ``claim/psnr_mu_gain_vs_nohf``: FHDRNet − its no-high-frequency ablation (the secondary claim:
  frequency-guided up-sampling helps).

Not claimed, under ``compare/``: PSNR-L and SSIM-μ gains over AHDRNet, and each network minus the naive
merge inside the motion mask (spec: every learned model must beat it by a wide margin).

``claim/holds`` (:func:`claim_holds`) is the one flag of a run: FHDRNet beats AHDRNet in PSNR-μ both over
the image and inside the motion mask, and both networks beat the naive merge inside the motion mask (a
run whose networks learned nothing cannot beat it, so it never reports the claim as holding). The
ablation margin is reported beside it but is not part of the rule.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["claim_holds", "claims"]


def claims(metrics: Mapping[str, float], naive_ghost_psnr_mu: float) -> dict[str, float]:
    """``claim/…``, ``compare/…`` and ``claim/holds`` from the networks' ``<network>/<metric>`` test metrics
    and the naive merge's PSNR-μ inside the motion mask."""
    f, a, n = "fhdrnet/", "ahdrnet/", "fhdrnet_nohf/"
    out = {
        "claim/psnr_mu_gain_vs_ahdrnet": metrics[f + "psnr_mu"] - metrics[a + "psnr_mu"],
        "claim/ghost_psnr_mu_gain_vs_ahdrnet": metrics[f + "ghost_psnr_mu"] - metrics[a + "ghost_psnr_mu"],
        "claim/psnr_mu_gain_vs_nohf": metrics[f + "psnr_mu"] - metrics[n + "psnr_mu"],
        "compare/psnr_l_gain_vs_ahdrnet": metrics[f + "psnr_l"] - metrics[a + "psnr_l"],
        "compare/ssim_mu_gain_vs_ahdrnet": metrics[f + "ssim_mu"] - metrics[a + "ssim_mu"],
    }
    for key in ("fhdrnet", "fhdrnet_nohf", "ahdrnet"):
        out[f"compare/ghost_psnr_mu_gain_vs_naive_merge/{key}"] = metrics[f"{key}/ghost_psnr_mu"] - naive_ghost_psnr_mu
    out["claim/holds"] = claim_holds(out)
    return out


def claim_holds(c: Mapping[str, float]) -> float:
    """1.0 when FHDRNet beats AHDRNet in PSNR-μ over the image and inside the motion mask, and FHDRNet and
    AHDRNet both beat the naive merge inside the motion mask; else 0.0 (NaN counts as not beating)."""
    holds = (c["claim/psnr_mu_gain_vs_ahdrnet"] > 0 and c["claim/ghost_psnr_mu_gain_vs_ahdrnet"] > 0
             and c["compare/ghost_psnr_mu_gain_vs_naive_merge/fhdrnet"] > 0
             and c["compare/ghost_psnr_mu_gain_vs_naive_merge/ahdrnet"] > 0)
    return float(holds)
