"""The DA chart: each run's mIoU per target style it adapted to, grouped by style."""

from __future__ import annotations

import copy

import pandas as pd

from cvpapers.pipelines.compare.config import CompareParams
from cvpapers.pipelines.compare.da import da_metrics, da_table, target_styles


def _drawn(table: pd.DataFrame) -> pd.Series:
    return table[table["status"] == "drawn"].set_index(["target_style", "pipeline", "arm"])["miou"]


def test_target_styles_from_one_name_or_a_list() -> None:
    assert target_styles({"k": "city"}, "k") == ["city"]
    assert target_styles({"k": "['city', 'fog']"}, "k") == ["city", "fog"]
    assert target_styles({}, "k") == []


def test_bars_per_target_style(snapshot_of) -> None:
    table = da_table(snapshot_of(), CompareParams())
    miou = _drawn(table)
    assert miou[("city", "ssda_dual_mix", "DDM student")] == 41.0
    assert miou[("city", "ssda_dual_mix", "source only")] == 30.0
    assert (
        miou[("city", "mtda_collab", "CCL student")] == 40.0
        and miou[("fog", "mtda_collab", "CCL student")] == 35.0
    )
    assert miou[("fog", "mtda_collab", "source only")] == 27.0
    assert ("fog", "ssda_dual_mix", "DDM student") not in miou.index
    assert da_metrics(table) == {
        "n_bars": 6.0,
        "n_target_styles": 2.0,
        "n_papers": 2.0,
        "n_benchmarks": 1.0,
        "n_not_drawn": 1.0,
    }
    assert (
        table.loc[table["pipeline"] == "msda_collab", "status"].iloc[0].startswith("missing: no experiment")
    )


def test_a_run_adapted_to_another_style_lands_in_its_group(snapshot_of) -> None:
    snap = copy.deepcopy(snapshot_of())
    ssda = next(r for r in snap["runs"] if r["pipeline"] == "ssda_dual_mix")
    ssda["params"]["ssda_dual_mix.data.target_style"] = "fog"
    assert _drawn(da_table(snap, CompareParams()))[("fog", "ssda_dual_mix", "DDM student")] == 41.0


def test_other_street_scene_settings_are_another_panel(snapshot_of) -> None:
    snap = copy.deepcopy(snapshot_of())
    ssda = next(r for r in snap["runs"] if r["pipeline"] == "ssda_dual_mix")
    ssda["params"]["da_benchmark.height"] = "32"
    table = da_table(snap, CompareParams())
    assert table[table["status"] == "drawn"].groupby("pipeline")["benchmark"].nunique().max() == 1
    assert da_metrics(table)["n_benchmarks"] == 2.0


def test_a_metric_the_run_did_not_log_is_listed(snapshot_of) -> None:
    snap = copy.deepcopy(snapshot_of())
    mtda = next(r for r in snap["runs"] if r["pipeline"] == "mtda_collab")
    del mtda["metrics"]["report/student_ccl/fog/val_miou"]
    table = da_table(snap, CompareParams())
    assert "metric report/student_ccl/fog/val_miou not logged by the run" in set(table["status"])
