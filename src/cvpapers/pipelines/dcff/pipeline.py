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
def _data(d: str) -> dict[str, str]:
    return {"manifest": f"{d}.manifest", "plan": f"{d}.arch_plan", "data": "params:dcff.data", "train": "params:dcff.train"}


def create_pipeline(name: str = "dcff") -> Pipeline:
    d = name  # datasets are named after the registered pipeline
    method = [
        node(nodes.prepare_data, "params:dcff.data",
             [f"{d}.manifest", f"{d}.data_metrics", f"{d}.samples_plot"], name="prepare_data"),
        node(nodes.plan_architecture, [f"{d}.manifest", "params:dcff.model", "params:dcff.data"],
             [f"{d}.arch_plan", f"{d}.plan_metrics", f"{d}.widths_table"], name="plan_architecture"),
        node(nodes.train_dcff, {**_data(d), "fusion": "params:dcff.fusion", **_TRAIN_RUN},
             [f"{d}.fused_checkpoint", f"{d}.selection_log", f"{d}.train_metrics", f"{d}.selection_heatmap_plot"],
             name="train_dcff"),
        node(nodes.export_compact,
             {"fused_checkpoint": f"{d}.fused_checkpoint", **_data(d), **_RUN},
             [f"{d}.compact_checkpoint", f"{d}.export_metrics"], name="export_compact"),
        node(nodes.evaluate_compact,
             {"compact_checkpoint": f"{d}.compact_checkpoint", "manifest": f"{d}.manifest",
              "data": "params:dcff.data", "train": "params:dcff.train", **_RUN,
              "report_best_epoch": "params:dcff.report_best_epoch"},
             f"{d}.compact_metrics", name="evaluate_compact"),
    ]
    baselines = [
        node(nodes.train_baseline_l1, {**_data(d), "baselines": "params:dcff.baselines", **_TRAIN_RUN},
             [f"{d}.l1_checkpoint", f"{d}.l1_metrics"], name="train_baseline_l1"),
        node(nodes.train_baseline_scratch, {**_data(d), "baselines": "params:dcff.baselines", **_TRAIN_RUN},
             f"{d}.scratch_metrics", name="train_baseline_scratch"),
        node(nodes.train_full_reference, {**_data(d), "baselines": "params:dcff.baselines", **_TRAIN_RUN},
             f"{d}.full_metrics", name="train_full_reference"),
    ]
    compare = [
        node(nodes.report,
             {"plan": f"{d}.arch_plan", "dcff": f"{d}.train_metrics", "compact": f"{d}.compact_metrics",
              "export": f"{d}.export_metrics", "l1": f"{d}.l1_metrics", "scratch": f"{d}.scratch_metrics",
              "full": f"{d}.full_metrics"},
             [f"{d}.results_table", f"{d}.acc_vs_flops_plot", f"{d}.curves_plot", f"{d}.report_metrics"],
             name="report"),
    ]
    return pipeline(method + baselines + compare, tags=d)
