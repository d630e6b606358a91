"""§9: the exponential fit recovers exact data; the sensitivity path removes units cumulatively in
single-unit-loss order with the spec's FLOPs ratio."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cvpapers.pipelines.collab_compression.sensitivity import fit_exponential, removal_path, sensitivity_curve
from cvpapers.pipelines.collab_compression.units import LayerGeometry, channel_losses, unfold


def test_exponential_fit_recovers_p1_and_p2() -> None:
    cr = np.linspace(0.05, 0.95, 30)
    p1, p2, r2 = fit_exponential(cr, 0.02 * np.exp(4.0 * cr))
    assert (
        p1 == pytest.approx(0.02, rel=1e-6)
        and p2 == pytest.approx(4.0, rel=1e-6)
        and r2 == pytest.approx(1.0)
    )


def test_prune_only_path_follows_single_unit_order_and_ends_at_full_removal() -> None:
    torch.manual_seed(0)
    w, g = torch.randn(6, 5, 3, 3), torch.randn(6, 5, 3, 3, dtype=torch.float64)
    geom = LayerGeometry(n=6, c=5, k=3, hw=16, rank=6)
    cr, loss = removal_path(w, g, geom, ("pruning",))
    single = channel_losses(unfold(w), unfold(g), 9).numpy()
    np.testing.assert_allclose(loss, np.cumsum(np.sort(single)), rtol=1e-10)  # disjoint columns add up
    np.testing.assert_allclose(cr, np.arange(1, 6) / 5)


def test_curves_keep_positive_ratios_and_end_at_one() -> None:
    torch.manual_seed(1)
    w, g = torch.randn(16, 8, 3, 3), torch.randn(16, 8, 3, 3, dtype=torch.float64)
    geom = LayerGeometry(n=16, c=8, k=3, hw=16, rank=16)
    cr_all, _ = removal_path(w, g, geom, ("td",))
    assert (cr_all <= 0).any()  # early rank removals add FLOPs (§3.3)
    curve = sensitivity_curve(w, g, geom, ("pruning", "td"))
    assert (curve.cr > 0).all() and np.all(np.diff(curve.cr) >= 0)
    assert curve.loss.max() == pytest.approx(1.0) and curve.p2 > 0
