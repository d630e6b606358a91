"""The unrolled rounds are wired as Algorithm 1 says, for any number of rounds."""

from __future__ import annotations

from cvpapers.pipelines.ssda_dual_mix.pipeline import create_pipeline


def _node(pipe, name):
    return next(n for n in pipe.nodes if n.name == name)


def test_round_r_target_set_is_true_labels_plus_round_r_pseudo_labels() -> None:
    pipe = create_pipeline(rounds=3)
    update = _node(pipe, "ddm_round_2.update_target_set")
    assert set(update.inputs) == {"ssda_dual_mix.target_labeled_arrays", "ssda_dual_mix.target_unlabeled_arrays",
                                  "ssda_dual_mix.pseudo_r2_arrays"}, "pseudo labels replace, never accumulate"
    assert update.outputs == ["ssda_dual_mix.target_set_r3_arrays", "ssda_dual_mix.target_set_r3_metrics"]
    for stage in ("train_region_teacher", "train_sample_teacher", "distill_student"):
        assert "ssda_dual_mix.target_set_r3_arrays" in _node(pipe, f"ddm_round_3.{stage}").inputs
    pseudo = _node(pipe, "ddm_round_2.pseudo_label")
    assert "ssda_dual_mix.student_r2_checkpoint" in pseudo.inputs
    assert not any(n.name == "ddm_round_3.pseudo_label" for n in pipe.nodes), "no pseudo labels after the last round"


def test_the_student_distils_its_own_rounds_teachers() -> None:
    pipe = create_pipeline(rounds=2)
    distill = _node(pipe, "ddm_round_2.distill_student")
    assert {"ssda_dual_mix.teacher_rl_r2_checkpoint", "ssda_dual_mix.teacher_sl_r2_checkpoint"} <= set(distill.inputs)
    assert "ssda_dual_mix.target_unlabeled_arrays" in distill.inputs
