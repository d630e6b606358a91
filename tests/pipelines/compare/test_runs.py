"""Parameters back from their logged text; settings and the mean ± std over the runs of one setting."""

from __future__ import annotations

import math

import pandas as pd

from cvpapers.pipelines.compare.runs import aggregate, parse_value, setting_labels, setting_of


def test_parse_value_reverses_str() -> None:
    assert parse_value("0.08") == 0.08 and parse_value("None") is None and parse_value("False") is False
    assert parse_value("[0.5, 0.75]") == [0.5, 0.75] and parse_value("['city', 'fog']") == ["city", "fog"]
    assert parse_value("[0.5]*6") == "[0.5]*6" and parse_value("vgg_small") == "vgg_small"


def test_setting_leaves_out_seed_and_bookkeeping() -> None:
    params = {
        "dcff.seed": "3",
        "dcff.data.root": "x",
        "dcff.cuda.amp": "True",
        "dcff.train.epochs": "10",
        "da_benchmark.height": "64",
    }
    ignore = ["seed", "data.root", "cuda"]
    assert setting_of(params, ignore) == {"da_benchmark.height": "64", "dcff.train.epochs": "10"}


def test_setting_labels_name_what_differs() -> None:
    labels = setting_labels(
        {"a": {"p.train.epochs": "10", "p.x": "1"}, "b": {"p.train.epochs": "20", "p.x": "1"}}
    )
    assert labels == {"a": "train.epochs=10", "b": "train.epochs=20"}
    assert setting_labels({"a": {"p.x": "1"}}) == {"a": ""}


def test_aggregate_is_mean_and_sample_std_over_runs() -> None:
    rows = pd.DataFrame(
        {
            "arm": ["x", "x", "y"],
            "acc": [70.0, 74.0, 60.0],
            "experiment": "e",
            "run_id": ["r1", "r2", "r3"],
            "start": "t",
            "seed": ["0", "1", "0"],
            "env": "local",
        }
    )
    out = aggregate(rows, ["arm"], ["acc"]).set_index("arm")
    assert out.loc["x", "acc"] == 72.0 and math.isclose(out.loc["x", "acc_std"], 2**0.5 * 2)
    assert (
        out.loc["x", "n_runs"] == 2 and out.loc["x", "run_id"] == "r1; r2" and out.loc["x", "seed"] == "0; 1"
    )
    assert math.isnan(out.loc["y", "acc_std"])  # one run: no spread
