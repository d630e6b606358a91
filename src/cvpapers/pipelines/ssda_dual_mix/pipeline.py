"""DDM as a DAG (spec §7, Algorithm 1): benchmark → select → split labelled → LAB-translate source →
baselines; then per round r: region-level teacher ∥ sample-level teacher → their ensemble → student
distilled from both → BDL pseudo labels → next round's target set; → report."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from cvpapers.pipelines.da_benchmark.pipeline import GENERATE
from cvpapers.pipelines.ssda_dual_mix import nodes

P = "params:ssda_dual_mix"


def _bind(func, **kwargs):
    return update_wrapper(partial(func, **kwargs), func)


def _round(D: str, r: int, rounds: int) -> list:
    ns = f"ddm_round_{r}"
    target_set = f"{D}.target_set_r{r}_arrays"
    rl, sl, s = f"{D}.teacher_rl_r{r}_checkpoint", f"{D}.teacher_sl_r{r}_checkpoint", f"{D}.student_r{r}_checkpoint"
    # With round_init: previous_round, round r starts from round r-1's models.
    prev = {"previous": f"{D}.teacher_rl_r{r - 1}_checkpoint"} if r > 1 else {}
    prev_sl = {"previous": f"{D}.teacher_sl_r{r - 1}_checkpoint"} if r > 1 else {}
    prev_s = {"previous": f"{D}.student_r{r - 1}_checkpoint"} if r > 1 else {}
    out = [
        node(_bind(nodes.train_region_teacher, round_=r),
             {"source": f"{D}.source_translated_arrays", "target_set": target_set, "val": f"{D}.target_val_arrays",
              "params": P, **prev},
             [rl, f"{D}.rl_r{r}_metrics", f"{D}.rl_r{r}_mixed_batch_plot"], name="train_region_teacher", namespace=ns),
        node(_bind(nodes.train_sample_teacher, round_=r),
             {"source": f"{D}.source_translated_arrays", "target_set": target_set, "val": f"{D}.target_val_arrays",
              "params": P, **prev_sl},
             [sl, f"{D}.sl_r{r}_metrics"], name="train_sample_teacher", namespace=ns),
        node(_bind(nodes.eval_ensemble, round_=r), {"rl": rl, "sl": sl, "val": f"{D}.target_val_arrays", "params": P},
             f"{D}.ens_r{r}_metrics", name="eval_ensemble", namespace=ns),
        node(_bind(nodes.distill_student, round_=r),
             {"rl": rl, "sl": sl, "unlabeled": f"{D}.target_unlabeled_arrays", "target_set": target_set,
              "val": f"{D}.target_val_arrays", "params": P, **prev_s},
             [s, f"{D}.s_r{r}_metrics", f"{D}.s_r{r}_predictions_plot"], name="distill_student", namespace=ns),
    ]
    if r < rounds:  # the last round's student is the result; no pseudo labels needed after it
        out += [
            node(_bind(nodes.pseudo_label, round_=r),
                 {"student": s, "unlabeled": f"{D}.target_unlabeled_arrays", "params": P},
                 [f"{D}.pseudo_r{r}_arrays", f"{D}.pl_r{r}_metrics", f"{D}.pl_r{r}_thresholds_table",
                  f"{D}.pl_r{r}_overlay_plot"], name="pseudo_label", namespace=ns),
            node(nodes.update_target_set,
                 {"labeled": f"{D}.target_labeled_arrays", "unlabeled": f"{D}.target_unlabeled_arrays",
                  "pseudo": f"{D}.pseudo_r{r}_arrays"},
                 [f"{D}.target_set_r{r + 1}_arrays", f"{D}.target_set_r{r + 1}_metrics"],
                 name="update_target_set", namespace=ns),
        ]
    return out


def create_pipeline(name: str = "ssda_dual_mix", rounds: int = 2) -> Pipeline:
    D = name  # datasets are named after the registered pipeline
    data = [
        GENERATE,
        node(nodes.select_data, ["da_benchmark.manifest", P],
             [f"{D}.source_arrays", f"{D}.target_pool_arrays", f"{D}.target_val_arrays", f"{D}.select_metrics"],
             name="ddm_select_data"),
        node(nodes.split_labeled, [f"{D}.target_pool_arrays", P],
             [f"{D}.target_labeled_arrays", f"{D}.target_unlabeled_arrays", f"{D}.split_metrics"],
             name="ddm_split_labeled"),
        node(nodes.lab_translate, [f"{D}.source_arrays", f"{D}.target_pool_arrays", P],
             [f"{D}.source_translated_arrays", f"{D}.lab_metrics", f"{D}.lab_before_after_plot"],
             name="ddm_lab_translate"),
        node(nodes.init_target_set, f"{D}.target_labeled_arrays", f"{D}.target_set_r1_arrays",
             name="ddm_init_target_set"),
    ]
    baselines = [
        node(nodes.train_target_only, [f"{D}.target_labeled_arrays", f"{D}.target_val_arrays", P],
             [f"{D}.target_only_checkpoint", f"{D}.target_only_metrics"], name="ddm_train_target_only"),
        node(nodes.train_source_only, [f"{D}.source_translated_arrays", f"{D}.target_val_arrays", P],
             [f"{D}.source_only_checkpoint", f"{D}.source_only_metrics"], name="ddm_train_source_only"),
    ]
    rounds_nodes = [n for r in range(1, rounds + 1) for n in _round(D, r, rounds)]
    metric_inputs = {"tgt": f"{D}.target_only_metrics", "src": f"{D}.source_only_metrics"}
    for r in range(1, rounds + 1):
        metric_inputs.update({f"rl{r}": f"{D}.rl_r{r}_metrics", f"sl{r}": f"{D}.sl_r{r}_metrics",
                              f"ens{r}": f"{D}.ens_r{r}_metrics", f"s{r}": f"{D}.s_r{r}_metrics"})
    report = [
        node(_bind(nodes.report, rounds=rounds), {"params": P, **metric_inputs},
             [f"{D}.results_table", f"{D}.rounds_table", f"{D}.miou_by_round_plot", f"{D}.report_metrics"],
             name="ddm_report"),
    ]
    return pipeline(data + baselines + rounds_nodes + report, tags=D)
