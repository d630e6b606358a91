"""Table E's GMACs through the one counter, mode ``restoration``, on ``meta`` tensors (§9 check 1), and the
arch-check node's rows."""

from __future__ import annotations

import pytest

from cvpapers.pipelines.uformer.arch import arch_rows, count
from cvpapers.pipelines.uformer.networks import VARIANTS, Uformer, UNet


@pytest.mark.parametrize(("variant", "gmacs"), [("T", 11.997), ("S", 43.858), ("B", 89.456)])
def test_t_s_b_gmacs_at_256_match_table_e_within_half_a_percent(variant: str, gmacs: float) -> None:
    macs, _ = count(lambda: Uformer(img_size=256, **VARIANTS[variant]), 256)
    assert macs / 1e9 == pytest.approx(gmacs, rel=0.005)


def test_nano_and_unet_gmacs_match_table_e() -> None:
    nano = {"embed_dim": 8, "depths": (1,) * 9, "win_size": 4}
    assert count(lambda: Uformer(img_size=32, **nano), 32)[0] / 1e9 == pytest.approx(0.026, abs=5e-4)
    assert count(lambda: Uformer(img_size=256, **nano), 256)[0] / 1e9 == pytest.approx(1.68, abs=5e-3)
    assert count(lambda: UNet(8), 32)[0] / 1e9 == pytest.approx(0.015, abs=5e-4)
    assert count(lambda: UNet(10), 32)[0] / 1e9 == pytest.approx(0.024, abs=5e-4)
    assert count(lambda: UNet(32), 256)[0] / 1e9 == pytest.approx(15.49, abs=5e-3)


def test_arch_rows_check_every_figure_and_report_them() -> None:
    rows = {r["model"]: r for r in arch_rows(("T",), 256)}
    assert rows["Uformer-T"]["params"] == 5_291_853 and rows["Uformer-T"]["params_no_modulator"] == 5_230_413
    assert rows["unet_8"]["params"] == 595_339
