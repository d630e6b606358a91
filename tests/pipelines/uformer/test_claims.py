"""The claim metrics and the one ``claim/holds`` rule (§8)."""

from __future__ import annotations

import math

from cvpapers.pipelines.uformer.claims import claims


def _metrics(uformer: float, unet: float, matched: float, inp: float = 20.0) -> dict[str, float]:
    m = {"test/input/psnr": inp}
    for key, v in (("uformer", uformer), ("unet", unet), ("unet_matched", matched)):
        m |= {
            f"test/{key}/psnr": v,
            f"test/{key}/ssim": v / 40,
            f"test/{key}/gmacs_at_input": 0.02,
            f"test/{key}/psnr/sigma25": v,
        }
    return m


def test_claim_is_uformer_minus_unet_and_holds_only_when_both_learned() -> None:
    c = claims(_metrics(27.0, 26.0, 27.2), [25])
    assert c["claim/psnr_gain_vs_unet_db"] == 1.0 and c["claim/holds"] == 1.0
    assert math.isclose(c["compare/psnr_gain_vs_unet_matched_db"], -0.2)
    assert c["compare/psnr_gain_vs_unet_db/sigma25"] == 1.0
    assert claims(_metrics(25.0, 26.0, 26.0), [25])["claim/holds"] == 0.0
    # learned nothing: a gain over the baseline does not count
    assert claims(_metrics(20.5, 20.2, 20.2), [25])["claim/holds"] == 0.0
    assert claims(_metrics(float("nan"), 26.0, 26.0), [25])["claim/holds"] == 0.0


def test_ablations_are_compared_not_claimed() -> None:
    m = _metrics(27.0, 26.0, 27.0) | {"test/abl_no_modulator/psnr": 26.5}
    c = claims(m, [25], ["no_modulator", "ffn_mlp"])
    assert c["compare/abl/no_modulator/psnr_gain_db"] == 0.5 and "compare/abl/ffn_mlp/psnr_gain_db" not in c
    assert [k for k in c if k.startswith("claim/")] == ["claim/psnr_gain_vs_unet_db", "claim/holds"]
