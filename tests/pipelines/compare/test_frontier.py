"""The compression frontier: points only from the runs' logged keys, binary ops converted by the parameter,
one panel per test set, the Pareto front, and every point not drawn listed with why."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cvpapers.pipelines.compare.config import CompareParams
from cvpapers.pipelines.compare.frontier import frontier_metrics, frontier_table, macs_equivalent, pareto_mask


def _drawn(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["status"] == "drawn"].set_index(["pipeline", "arm", "label"]).sort_index()


def test_macs_equivalent_converts_binary_ops_by_the_parameter() -> None:
    assert macs_equivalent(111232, 2949120, 64) == 111232 + 46080
    assert macs_equivalent(111232, 2949120, 1) == 3060352


def test_recu_points_sit_at_their_macs_equivalent(snapshot_of) -> None:
    for per_mac in (64.0, 32.0):
        p = CompareParams(frontier={"bops_per_mac": per_mac})
        recu = _drawn(frontier_table(snapshot_of(), p)).loc[("recu", "ReCU", "")]
        assert recu["macs"] == 111232 and recu["bops"] == 2949120
        assert recu["macs_equiv"] == 111232 + 2949120 / per_mac and recu["accuracy"] == 89.1


def test_points_are_the_logged_numbers(snapshot_of) -> None:
    drawn = _drawn(frontier_table(snapshot_of(), CompareParams()))
    assert drawn.loc[("dcff", "DCFF compact", ""), ["accuracy", "macs"]].tolist() == [
        77.0,
        659936.0,
    ]  # latest run
    assert drawn.loc[("dcff", "compact from scratch", ""), "accuracy"] == 74.3
    assert drawn.loc[("collab_compression", "CC", ""), ["accuracy", "macs"]].tolist() == [88.0, 1659786.0]
    pss = drawn.loc[("pss_net", "PSS retained subnet")]
    assert pss.index.tolist() == ["target 2", "target 3"]  # each retained subnet, MFLOPs × 1e6
    assert pss["macs"].tolist() == [2034964.0, 3402432.0] and pss["accuracy"].tolist() == [55.0, 58.5]
    assert len(drawn.loc[("pss_net", "US-Net uniform width")]) == 2
    assert (drawn["n_runs"] == 1).all()


def test_only_runs_on_the_same_test_set_share_a_panel(snapshot_of) -> None:
    table = frontier_table(snapshot_of(), CompareParams())
    drawn = table[table["status"] == "drawn"]
    by_pipeline = drawn.groupby("pipeline")["benchmark"].unique()
    assert by_pipeline["dcff"].tolist() == by_pipeline["collab_compression"].tolist()
    assert len({by_pipeline[p][0] for p in ("dcff", "recu", "pss_net")}) == 3
    assert frontier_metrics(table)["n_benchmarks"] == 3.0


def test_skip_mode_keeps_the_benchmark_most_papers_share(snapshot_of) -> None:
    table = frontier_table(snapshot_of(), CompareParams(frontier={"other_benchmarks": "skip"}))
    drawn = table[table["status"] == "drawn"]
    assert set(drawn["pipeline"]) == {"dcff", "collab_compression"}
    skipped = table[table["pipeline"].isin(["recu", "pss_net"]) & table["accuracy"].notna()]
    assert len(skipped) == 6
    assert (
        skipped["status"].str.startswith("skipped: another test set than the reference (shapes 16 px").all()
    )


def test_points_not_drawn_are_listed_with_the_reason(snapshot_of) -> None:
    table = frontier_table(snapshot_of(), CompareParams())
    status = table[table["status"] != "drawn"].set_index(["pipeline", "arm"])["status"]
    assert status[("dcff", "unpruned")] == "arm switched off in this run (train_full_reference/enabled = 0)"
    assert status[("recu", "full precision")] == "arm switched off in this run (train_fp/enabled = 0)"
    renamed = CompareParams(
        frontier={
            "metric_points": [
                {
                    "pipeline": "dcff",
                    "arm": "DCFF",
                    "accuracy": "evaluate_compact/top9",
                    "macs": "export_compact/compact_flops",
                }
            ]
        }
    )
    table = frontier_table(snapshot_of(), renamed)
    (row,) = table[table["pipeline"] == "dcff"].itertuples()
    assert row.status == "metric evaluate_compact/top9 not logged by the run"


def test_a_missing_pipeline_is_a_row_of_the_table() -> None:
    snapshot = {
        "runs": [],
        "mode": "latest",
        "pipelines": {"dcff": "frontier"},
        "missing": [{"pipeline": "dcff", "chart": "frontier", "reason": "no experiment 'dcff' in x"}],
    }
    table = frontier_table(snapshot, CompareParams())
    assert table["status"].tolist() == ["missing: no experiment 'dcff' in x"]
    assert frontier_metrics(table)["n_points"] == 0.0


def test_all_runs_give_mean_and_std_per_setting(snapshot_of) -> None:
    drawn = _drawn(frontier_table(snapshot_of(runs="all"), CompareParams(runs="all")))
    compact = drawn.loc[("dcff", "DCFF compact", "")]
    assert compact["accuracy"] == 76.0 and math.isclose(compact["accuracy_std"], 2**0.5)
    assert compact["n_runs"] == 2 and sorted(compact["seed"].split("; ")) == ["0", "1"]


def test_runs_of_another_setting_are_another_series(snapshot_of) -> None:
    snap = snapshot_of(runs="all")
    longer = next(r for r in snap["runs"] if r["pipeline"] == "dcff" and r["seed"] == "0")
    longer["params"] = {**longer["params"], "dcff.train.epochs": "20"}
    drawn = frontier_table(snap, CompareParams(runs="all"))
    compact = drawn[(drawn["status"] == "drawn") & (drawn["arm"] == "DCFF compact")]
    assert sorted(compact["setting_label"]) == ["train.epochs=10", "train.epochs=20"]
    assert (compact["n_runs"] == 1).all()


@pytest.mark.parametrize(
    ("cost", "acc", "front"),
    [
        ([1, 2, 3], [10, 20, 30], [True, True, True]),
        ([1, 2, 3], [30, 20, 10], [True, False, False]),
        ([1, 1, 2], [10, 10, 5], [True, True, False]),  # equal points do not dominate each other
    ],
)
def test_pareto_mask(cost: list, acc: list, front: list) -> None:
    assert pareto_mask(np.array(cost), np.array(acc)).tolist() == front
