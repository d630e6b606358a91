"""The budget study: a validation share carved from the training images only, and the plateau rule."""

from __future__ import annotations

import pandas as pd
import pytest

from cvpapers.pipelines.dcff.budget import carve_validation, plateau_budget, run_study, study_metrics


def _manifest() -> pd.DataFrame:
    train = pd.DataFrame(
        {"path": [f"tr{i}.png" for i in range(100)], "label": [i % 4 for i in range(100)], "split": "train"}
    )
    test = pd.DataFrame(
        {"path": [f"te{i}.png" for i in range(40)], "label": [i % 4 for i in range(40)], "split": "test"}
    )
    return pd.concat([train, test], ignore_index=True)


def test_validation_is_a_stratified_share_of_the_training_images_never_the_test_images() -> None:
    carved = carve_validation(_manifest(), 0.2, seed=3)
    assert not carved["path"].str.startswith("te").any()  # the test images are never read
    assert len(carved) == 100 and set(carved["split"]) == {"train", "test"}
    val = carved[carved["split"] == "test"]
    assert val["label"].value_counts().tolist() == [5, 5, 5, 5]  # 20 % of each class
    assert carved.equals(carve_validation(_manifest(), 0.2, seed=3))  # reproducible from the seed
    assert not val["path"].equals(carve_validation(_manifest(), 0.2, seed=4).query("split == 'test'")["path"])


def _table() -> pd.DataFrame:
    curves = {
        ("dcff", 10): 60.0,
        ("dcff", 20): 80.0,
        ("dcff", 40): 85.0,
        ("dcff", 60): 85.5,
        ("l1", 10): 70.0,
        ("l1", 20): 84.5,
        ("l1", 40): 85.0,
        ("l1", 60): 84.8,
    }
    return run_study(lambda arm, e: [curves[arm, e] - 5, curves[arm, e]], [10, 20, 40, 60], ("dcff", "l1"))


def test_every_arm_has_plateaued_at_the_smallest_budget_within_a_point_of_its_best() -> None:
    overall, per_arm = plateau_budget(_table())
    assert per_arm == {"dcff": 40, "l1": 20} and overall == 40


def test_study_metrics_are_floats_under_bare_keys() -> None:
    metrics = study_metrics(_table())
    assert metrics["plateau_epochs"] == 40.0 and metrics["dcff_val_top1_e20"] == 80.0
    assert all(isinstance(v, float) and "/" not in k for k, v in metrics.items())
    assert _table()["val_top1_last3"].iloc[0] == pytest.approx(57.5)


def test_budget_pipeline_runs_end_to_end_on_the_validation_split(tmp_path) -> None:
    from tests.conftest import make_project, run_in

    project = run_in(make_project(tmp_path / "p"), "dcff_budget", params={"dcff.budget_study.epochs": "2 3"})
    out = project / "data/08_reporting/dcff_budget/smoke"
    table = pd.read_csv(out / "budget.csv")
    assert sorted(set(table["budget"])) == [2, 3] and set(table["arm"]) == {"dcff", "l1", "scratch"}
    assert (out / "plateau.png").is_file() and (out / "budget_metrics.json").is_file()
    assert not (project / "data/08_reporting/dcff").exists()  # nothing of the comparison itself ran
