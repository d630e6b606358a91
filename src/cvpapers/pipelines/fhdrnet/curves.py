"""Has every network stopped improving? The validation curves of the three networks (PSNR-μ on the
validation scenes, never the test scenes) side by side, and one number per curve that says whether its
budget was long enough: the validation PSNR-μ gained in the last quarter of the budget.

A benchmark that stops while one network is still climbing measures learning speed, not the method (issue
19): the claim is judged at a budget where every ``plateau_gain_db`` is below :data:`PLATEAU_DB`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MIN_EVALUATIONS", "PLATEAU_DB", "curves_figure", "plateau_metrics"]

#: A curve has plateaued when its best validation PSNR-μ of the last quarter of the budget is less than this
#: many dB above its best before (about the spread between evaluations of a converged network here).
PLATEAU_DB = 0.2
#: Fewer evaluations than this cannot tell a plateau from noise (the last quarter would be one point).
MIN_EVALUATIONS = 4


def plateau_metrics(curves: Mapping[str, pd.DataFrame], tail: float = 0.25) -> dict[str, float]:
    """Per network ``<net>/final_val_psnr_mu``, ``<net>/best_val_psnr_mu`` and ``<net>/plateau_gain_db`` (best
    validation PSNR-μ over the last ``tail`` share of evaluations minus the best before them; NaN with fewer
    than :data:`MIN_EVALUATIONS`), and ``all_plateaued`` (1.0 when every gain is below :data:`PLATEAU_DB`)."""
    out: dict[str, float] = {}
    gains = []
    for name, curve in curves.items():
        values = curve["val_psnr_mu"].to_numpy(dtype=float)
        split = len(values) - max(1, round(tail * len(values)))
        enough = len(values) >= MIN_EVALUATIONS
        gain = float(np.max(values[split:]) - np.max(values[:split])) if enough else float("nan")
        gains.append(gain)
        out.update(
            {
                f"{name}/final_val_psnr_mu": float(values[-1]) if len(values) else float("nan"),
                f"{name}/best_val_psnr_mu": float(np.max(values)) if len(values) else float("nan"),
                f"{name}/plateau_gain_db": gain,
            }
        )
    out["all_plateaued"] = float(all(np.isfinite(g) and g < PLATEAU_DB for g in gains))
    return out


def curves_figure(curves: Mapping[str, pd.DataFrame], labels: Mapping[str, str]) -> Any:
    """Validation PSNR-μ against iterations, one line per network (``labels``: display names)."""
    from cvpapers.engine.plots import xy_curves

    series = {
        labels.get(name, name): (c["iteration"].tolist(), c["val_psnr_mu"].tolist())
        for name, c in curves.items()
    }
    return xy_curves(
        series,
        "iteration",
        "validation PSNR-μ (dB)",
        title="validation curves (validation scenes; best checkpoint kept)",
    )
