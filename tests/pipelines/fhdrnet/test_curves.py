"""Validation curves and the plateau rule that sizes the benchmark's budget (issue 19)."""

from __future__ import annotations

import math

import pandas as pd

from cvpapers.pipelines.fhdrnet.curves import PLATEAU_DB, curves_figure, plateau_metrics


def _curve(values: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "iteration": [100 * (i + 1) for i in range(len(values))],
            "val_psnr_mu": values,
            "train_loss": [0.1] * len(values),
        }
    )


def test_a_flat_tail_has_plateaued_and_a_climbing_one_has_not() -> None:
    flat = _curve([20, 25, 27, 28.0, 28.1, 28.05, 28.1, 28.15])  # last quarter: +0.05 dB over the best before
    climbing = _curve([20, 22, 24, 26, 28, 30, 32, 34.0])
    m = plateau_metrics({"fhdrnet": flat, "ahdrnet": climbing})
    assert (
        math.isclose(m["fhdrnet/plateau_gain_db"], 0.05, abs_tol=1e-9)
        and m["fhdrnet/plateau_gain_db"] < PLATEAU_DB
    )
    assert math.isclose(m["ahdrnet/plateau_gain_db"], 4.0)
    assert m["fhdrnet/final_val_psnr_mu"] == 28.15 and m["ahdrnet/best_val_psnr_mu"] == 34.0
    assert m["all_plateaued"] == 0.0
    assert plateau_metrics({"fhdrnet": flat})["all_plateaued"] == 1.0


def test_fewer_than_four_evaluations_cannot_show_a_plateau() -> None:
    m = plateau_metrics({"fhdrnet": _curve([25.0, 25.0, 25.0])})
    assert math.isnan(m["fhdrnet/plateau_gain_db"]) and m["all_plateaued"] == 0.0


def test_the_figure_has_one_line_per_network() -> None:
    fig = curves_figure({"ahdrnet": _curve([1, 2]), "fhdrnet": _curve([2, 3])}, {"fhdrnet": "FHDRNet"})
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["ahdrnet", "FHDRNet"]
