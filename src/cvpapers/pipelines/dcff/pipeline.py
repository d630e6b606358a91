"""DCFF as a DAG: data → architecture plan → train with dynamic-coded fusion → export compact → evaluate,
with the L1 prune-then-fine-tune, scratch and (optional) full-width baselines beside it → report."""

from kedro.pipeline import Pipeline, node, pipeline

from cvpapers.pipelines.dcff import nodes

_RUN = {
    "seed": "params:dcff.seed",
    "device": "params:dcff.device",
}
_TRAIN_RUN = {
    **_RUN,
    "resume": "params:dcff.resume",
    "checkpoint_dir": "params:dcff.checkpoint_dir",
    "report_best_epoch": "params:dcff.report_best_epoch",
}
_DATA = {"manifest": "dcff.manifest", "plan": "dcff.arch_plan", "data": "params:dcff.data", "train": "params:dcff.train"}


def create_pipeline(**kwargs) -> Pipeline:
    method = [
        node(nodes.prepare_data, "params:dcff.data",
             ["dcff.manifest", "dcff.data_metrics", "dcff.samples_plot"], name="prepare_data"),
        node(nodes.plan_architecture, ["dcff.manifest", "params:dcff.model", "params:dcff.data"],
             ["dcff.arch_plan", "dcff.plan_metrics", "dcff.widths_table"], name="plan_architecture"),
        node(nodes.train_dcff, {**_DATA, "fusion": "params:dcff.fusion", **_TRAIN_RUN},
             ["dcff.fused_checkpoint", "dcff.selection_log", "dcff.train_metrics", "dcff.selection_heatmap_plot"],
             name="train_dcff"),
        node(nodes.export_compact,
             {"fused_checkpoint": "dcff.fused_checkpoint", **_DATA, **_RUN},
             ["dcff.compact_checkpoint", "dcff.export_metrics"], name="export_compact"),
        node(nodes.evaluate_compact,
             {"compact_checkpoint": "dcff.compact_checkpoint", "manifest": "dcff.manifest",
              "data": "params:dcff.data", "train": "params:dcff.train", **_RUN,
              "report_best_epoch": "params:dcff.report_best_epoch"},
             "dcff.compact_metrics", name="evaluate_compact"),
    ]
    baselines = [
        node(nodes.train_baseline_l1, {**_DATA, "baselines": "params:dcff.baselines", **_TRAIN_RUN},
             ["dcff.l1_checkpoint", "dcff.l1_metrics"], name="train_baseline_l1"),
        node(nodes.train_baseline_scratch, {**_DATA, "baselines": "params:dcff.baselines", **_TRAIN_RUN},
             "dcff.scratch_metrics", name="train_baseline_scratch"),
        node(nodes.train_full_reference, {**_DATA, "baselines": "params:dcff.baselines", **_TRAIN_RUN},
             "dcff.full_metrics", name="train_full_reference"),
    ]
    compare = [
        node(nodes.report,
             {"plan": "dcff.arch_plan", "dcff": "dcff.train_metrics", "compact": "dcff.compact_metrics",
              "export": "dcff.export_metrics", "l1": "dcff.l1_metrics", "scratch": "dcff.scratch_metrics",
              "full": "dcff.full_metrics"},
             ["dcff.results_table", "dcff.acc_vs_flops_plot", "dcff.curves_plot", "dcff.report_metrics"],
             name="report"),
    ]
    return pipeline(method + baselines + compare, tags="dcff")
