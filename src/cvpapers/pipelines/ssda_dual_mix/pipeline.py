"""DDM as a DAG (spec §7, Algorithm 1): the shared benchmark (``da_benchmark.prepare_data``) → ``prepare_data``
(source, target pool, target val) → ``split_labelled`` → ``lab_translate`` (source → target LAB statistics) →
baselines; then per round r (namespace ``round_<r>``): region-level teacher ∥ sample-level teacher → their
ensemble → student distilled from both → BDL pseudo labels → next round's target set; → ``report``.

Datasets are named after the registered pipeline (``ssda_dual_mix_paper.student_r4_checkpoint``), so variants
never overwrite each other; nodes that train get that name too (their resume checkpoints live under it).

``streaming`` (the paper variants): image sets travel as manifests (``<name>_manifest``, CSV) instead of
in-memory arrays (``<name>_arrays``, ``.npz``), ``prepare_data`` reads the real datasets instead of the shared
benchmark, and every node reads its samples lazily (:mod:`.sets`).
"""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from cvpapers.pipelines.da_benchmark.pipeline import PREPARE_BENCHMARK
from cvpapers.pipelines.ssda_dual_mix import nodes

P = "params:ssda_dual_mix"


def _bind(func, **kwargs):
    return update_wrapper(partial(func, **kwargs), func)


def _round(D: str, r: int, rounds: int, kind: str) -> list:
    ns = f"round_{r}"
    target_set, val = f"{D}.target_set_r{r}_{kind}", f"{D}.target_val_{kind}"
    rl, sl, s = f"{D}.teacher_rl_r{r}_checkpoint", f"{D}.teacher_sl_r{r}_checkpoint", f"{D}.student_r{r}_checkpoint"
    # With round_init: previous_round, round r starts from round r-1's models.
    prev = {"previous": f"{D}.teacher_rl_r{r - 1}_checkpoint"} if r > 1 else {}
    prev_sl = {"previous": f"{D}.teacher_sl_r{r - 1}_checkpoint"} if r > 1 else {}
    prev_s = {"previous": f"{D}.student_r{r - 1}_checkpoint"} if r > 1 else {}
    teacher_inputs = {"source": f"{D}.source_translated_{kind}", "target_set": target_set, "val": val, "params": P}
    out = [
        node(_bind(nodes.train_region_teacher, pipeline=D, round_=r), {**teacher_inputs, **prev},
             [rl, f"{D}.rl_r{r}_metrics", f"{D}.rl_r{r}_mixed_batch_plot"], name="train_region_teacher", namespace=ns),
        node(_bind(nodes.train_sample_teacher, pipeline=D, round_=r), {**teacher_inputs, **prev_sl},
             [sl, f"{D}.sl_r{r}_metrics"], name="train_sample_teacher", namespace=ns),
        node(_bind(nodes.eval_ensemble, pipeline=D), {"rl": rl, "sl": sl, "val": val, "params": P},
             f"{D}.ens_r{r}_metrics", name="eval_ensemble", namespace=ns),
        node(_bind(nodes.distill_student, pipeline=D, round_=r),
             {"rl": rl, "sl": sl, "unlabelled": f"{D}.target_unlabelled_{kind}", "target_set": target_set,
              "val": val, "params": P, **prev_s},
             [s, f"{D}.s_r{r}_metrics", f"{D}.s_r{r}_predictions_plot"], name="distill_student", namespace=ns),
    ]
    if r < rounds:  # the last round's student is the result; no pseudo labels needed after it
        out += [
            node(_bind(nodes.pseudo_label, pipeline=D, round_=r),
                 {"student": s, "unlabelled": f"{D}.target_unlabelled_{kind}", "params": P},
                 [f"{D}.pseudo_r{r}_{kind}", f"{D}.pl_r{r}_metrics", f"{D}.pl_r{r}_thresholds_table",
                  f"{D}.pl_r{r}_overlay_plot"], name="pseudo_label", namespace=ns),
            node(nodes.update_target_set,
                 {"labelled": f"{D}.target_labelled_{kind}", "unlabelled": f"{D}.target_unlabelled_{kind}",
                  "pseudo": f"{D}.pseudo_r{r}_{kind}"},
                 [f"{D}.target_set_r{r + 1}_{kind}", f"{D}.target_set_r{r + 1}_metrics"],
                 name="update_target_set", namespace=ns),
        ]
    return out


def _data(D: str, kind: str, streaming: bool) -> list:
    if streaming:  # the real datasets' manifests, checked file by file
        prepare = [node(_bind(nodes.prepare_data, streaming=True), {"params": P},
                        [f"{D}.source_{kind}", f"{D}.target_pool_{kind}", f"{D}.target_val_{kind}",
                         f"{D}.prepare_data_metrics"], name="prepare_data")]
    else:  # the shared street-scene benchmark
        prepare = [PREPARE_BENCHMARK,
                   node(nodes.prepare_data, {"manifest": "da_benchmark.manifest", "params": P},
                        [f"{D}.source_{kind}", f"{D}.target_pool_{kind}", f"{D}.target_val_{kind}",
                         f"{D}.prepare_data_metrics"], name="prepare_data")]
    return prepare + [
        node(nodes.split_labelled, [f"{D}.target_pool_{kind}", P],
             [f"{D}.target_labelled_{kind}", f"{D}.target_unlabelled_{kind}", f"{D}.split_metrics"],
             name="split_labelled"),
        node(_bind(nodes.lab_translate, pipeline=D), [f"{D}.source_{kind}", f"{D}.target_pool_{kind}", P],
             [f"{D}.source_translated_{kind}", f"{D}.lab_metrics", f"{D}.lab_before_after_plot"],
             name="lab_translate"),
        node(nodes.init_target_set, f"{D}.target_labelled_{kind}", f"{D}.target_set_r1_{kind}",
             name="init_target_set"),
    ]


def create_pipeline(name: str = "ssda_dual_mix", rounds: int = 2, streaming: bool = False) -> Pipeline:
    D = name  # datasets (and the train-state folder of the nodes that train) are named after it
    kind = "manifest" if streaming else "arrays"
    data = _data(D, kind, streaming)
    baselines = [
        node(_bind(nodes.train_target_only, pipeline=D), [f"{D}.target_labelled_{kind}", f"{D}.target_val_{kind}", P],
             [f"{D}.target_only_checkpoint", f"{D}.target_only_metrics"], name="train_target_only"),
        node(_bind(nodes.train_source_only, pipeline=D), [f"{D}.source_translated_{kind}", f"{D}.target_val_{kind}", P],
             [f"{D}.source_only_checkpoint", f"{D}.source_only_metrics"], name="train_source_only"),
    ]
    rounds_nodes = [n for r in range(1, rounds + 1) for n in _round(D, r, rounds, kind)]
    scores = {"target_only": f"{D}.target_only_metrics", "source_only": f"{D}.source_only_metrics"}
    for r in range(1, rounds + 1):
        scores.update({f"{m}_r{r}": f"{D}.{m}_r{r}_metrics" for m in ("rl", "sl", "ens", "s")})
    report = [
        node(_bind(nodes.report, rounds=rounds), {"params": P, **scores},
             [f"{D}.results_table", f"{D}.rounds_table", f"{D}.miou_by_round_plot", f"{D}.report_metrics"],
             name="report"),
    ]
    return pipeline(data + baselines + rounds_nodes + report, tags=D)
