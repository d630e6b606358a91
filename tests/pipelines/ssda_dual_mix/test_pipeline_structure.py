"""The unrolled rounds are wired as Algorithm 1 says, for any number of rounds, under the registered name."""

from __future__ import annotations

from cvpapers.pipelines.ssda_dual_mix.pipeline import create_pipeline


def _node(pipe, name):
    return next(n for n in pipe.nodes if n.name == name)


def test_round_r_target_set_is_true_labels_plus_round_r_pseudo_labels() -> None:
    pipe = create_pipeline(rounds=3)
    update = _node(pipe, "round_2.update_target_set")
    assert set(update.inputs) == {"ssda_dual_mix.target_labelled_arrays", "ssda_dual_mix.target_unlabelled_arrays",
                                  "ssda_dual_mix.pseudo_r2_arrays"}, "pseudo labels replace, never accumulate"
    assert update.outputs == ["ssda_dual_mix.target_set_r3_arrays", "ssda_dual_mix.target_set_r3_metrics"]
    for stage in ("train_region_teacher", "train_sample_teacher", "distill_student"):
        assert "ssda_dual_mix.target_set_r3_arrays" in _node(pipe, f"round_3.{stage}").inputs
    pseudo = _node(pipe, "round_2.pseudo_label")
    assert "ssda_dual_mix.student_r2_checkpoint" in pseudo.inputs
    assert not any(n.name == "round_3.pseudo_label" for n in pipe.nodes), "no pseudo labels after the last round"


def test_the_student_distils_its_own_rounds_teachers() -> None:
    pipe = create_pipeline(rounds=2)
    distill = _node(pipe, "round_2.distill_student")
    assert {"ssda_dual_mix.teacher_rl_r2_checkpoint", "ssda_dual_mix.teacher_sl_r2_checkpoint"} <= set(distill.inputs)
    assert "ssda_dual_mix.target_unlabelled_arrays" in distill.inputs


def test_the_dag_starts_with_the_shared_benchmark_then_its_own_prepare_data() -> None:
    pipe = create_pipeline(rounds=2)
    sources = [n.name for n in pipe.nodes if all(i.startswith("params:") for i in n.inputs)]
    assert sources == ["da_benchmark.prepare_data"]
    assert set(_node(pipe, "prepare_data").inputs) == {"da_benchmark.manifest", "params:ssda_dual_mix"}


def test_a_variant_names_its_datasets_and_train_state_after_itself() -> None:
    pipe = create_pipeline(name="ssda_dual_mix_paper", rounds=4)
    own = {d for d in pipe.all_outputs() if not d.startswith("da_benchmark.")}
    assert own and all(d.startswith("ssda_dual_mix_paper.") for d in own)
    assert "ssda_dual_mix_paper.student_r4_checkpoint" in own
    teacher = _node(pipe, "round_4.train_region_teacher")
    assert teacher.func.keywords == {"pipeline": "ssda_dual_mix_paper", "round_": 4}


def test_the_paper_variants_pass_manifests_and_read_the_real_datasets_first() -> None:
    from cvpapers.pipelines.ssda_dual_mix import DECLARATION

    pipe = DECLARATION.build("ssda_dual_mix_paper")
    assert not any(d.endswith("_arrays") for d in pipe.all_outputs()), "no pixel arrays between nodes"
    assert "ssda_dual_mix_paper.target_set_r4_manifest" in _node(pipe, "round_4.distill_student").inputs
    assert _node(pipe, "prepare_data").inputs == ["params:ssda_dual_mix"]
    assert not any(n.name.startswith("da_benchmark.") for n in pipe.nodes), "no generated benchmark"
    assert len({n.name for n in pipe.nodes if n.name.startswith("round_")}) == 4 * 6 - 2
