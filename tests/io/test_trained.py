"""cvpapers.io.trained: where each pipeline's final model is, which task it serves, how images enter it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cvpapers.engine.checkpoint import MODEL_FORMAT, model_checkpoint
from cvpapers.io import trained
from cvpapers.io.trained import TrainedModelError


def _fake_checkpoint(path: Path, builder: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": MODEL_FORMAT, "config": {}, "state_dict": {}, "builder": builder}, path)
    return path


def _classifier_checkpoint(path: Path) -> Path:
    from cvpapers.models.classification import build_classifier

    path.parent.mkdir(parents=True, exist_ok=True)
    config = {"arch": "vgg_small", "num_classes": 10}
    torch.save(model_checkpoint(build_classifier(**config), config, build_classifier), path)
    return path


def test_every_trained_pipeline_has_a_family_a_final_model_and_a_declaration() -> None:
    from cvpapers.registry import declarations

    assert set(trained.FAMILIES) == set(trained.FINAL_MODELS)
    assert set(trained.FAMILIES) <= set(declarations())
    assert set(trained.BUILDER_FAMILIES.values()) == set(trained.FAMILIES.values())


@pytest.mark.parametrize(
    ("builder", "family"),
    [
        ("cvpapers.pipelines.dcff.fusion:build_fused_classifier", "classification"),
        ("cvpapers.pipelines.mtda_collab.ccl:build_members", "segmentation"),
        # Not in the table: classified by the words of its module path.
        ("cvpapers.models.detection:build_retina_detector", "detection"),
        ("cvpapers.somewhere:build_thing", None),
    ],
)
def test_builder_family_reads_the_table_then_the_module_path(builder: str, family: str | None) -> None:
    assert trained.builder_family(builder) == family


def test_a_checkpoint_of_another_task_is_refused_naming_file_builder_and_task(tmp_path: Path) -> None:
    path = _fake_checkpoint(tmp_path / "miaod_c4.pt", "cvpapers.pipelines.mi_aod.heads:build_miaod_detector")
    with pytest.raises(
        TrainedModelError,
        match=r"miaod_c4\.pt holds a detection model \(cvpapers\.pipelines\.mi_aod"
        r"\.heads:build_miaod_detector\); dcff_predict expects classification",
    ):
        trained.load_trained("dcff", str(path), expected="dcff_predict")


def test_default_checkpoint_is_the_final_model_of_the_environment(tmp_path: Path) -> None:
    folder = tmp_path / "data/06_models/ssda_dual_mix/smoke"
    for r in (1, 2, 10):  # the last round by number, not by string order
        _fake_checkpoint(folder / f"student_r{r}.pt", "cvpapers.da.segmenter:build_da_segmenter")
    assert trained.default_checkpoint("ssda_dual_mix", "/smoke", tmp_path) == folder / "student_r10.pt"
    with pytest.raises(
        TrainedModelError,
        match=r"data/06_models/ssda_dual_mix/student_r\*\.pt.*kedro run "
        r"--pipelines ssda_dual_mix",
    ):
        trained.default_checkpoint("ssda_dual_mix", "", tmp_path)
    with pytest.raises(TrainedModelError, match="no trained model is known for pipeline 'nope'"):
        trained.resolve_checkpoint("", "nope")


def test_a_missing_checkpoint_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TrainedModelError, match=r"checkpoint .*missing\.pt not found"):
        trained.resolve_checkpoint(str(tmp_path / "missing.pt"), "dcff")


def test_a_runs_uri_without_an_artifact_path_is_refused() -> None:
    # Resolving run ids in a store is tested end to end in tests/pipelines/predict (the smoke run's store).
    with pytest.raises(TrainedModelError, match=r"expected runs:/<run_id>/<artifact path>"):
        trained.resolve_checkpoint("runs:/0123", "dcff")


def test_load_trained_rebuilds_the_module_in_eval_mode_with_the_pipelines_preprocessing(
    tmp_path: Path,
) -> None:
    path = _classifier_checkpoint(tmp_path / "compact.pt")
    model = trained.load_trained("dcff", str(path), {"data": {"image_size": 24}})
    assert model.family == "classification" and not model.module.training
    assert model.preprocess.size == (24, 24)
    assert model.class_names[:2] == ("disc", "square")
    x = trained.to_model_input(torch.full((1, 3, 24, 24), 0.5), model.preprocess)
    assert torch.equal(x, torch.zeros_like(x))  # (0.5 - mean 0.5) / std
    assert model.module(x).shape == (1, 10)


def test_preprocessing_follows_each_pipelines_own_parameters() -> None:
    from cvpapers.da.segmenter import INPUT_NORMS

    assert trained.preprocessing("recu")[0].std == (0.25, 0.25, 0.25)
    seg, names = trained.preprocessing("mtda_collab", {"model": {"input_norm": "caffe"}})
    assert seg.bgr and seg.mean == INPUT_NORMS["caffe"][0] and names[0] == "road"
    det, _ = trained.preprocessing("mi_aod")
    assert det.fit == (96, 96) and det.detect["score_thr"] == 0.05
    assert trained.preprocessing("fhdrnet")[0].multiple == 8
