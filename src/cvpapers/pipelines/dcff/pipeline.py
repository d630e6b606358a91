"""DCFF as a DAG: data → architecture plan → train with dynamic-coded fusion → export compact → evaluate,
with the L1 prune-then-fine-tune, scratch and (optional) full-width baselines beside it → report."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from cvpapers.pipelines.dcff import nodes

P = "params:dcff"


def _bind(func, **kwargs):
    """``func`` with keyword arguments fixed (the registered pipeline name), keeping its name for Kedro."""
    return update_wrapper(partial(func, **kwargs), func)


def create_pipeline(name: str = "dcff", budget_study: bool = False) -> Pipeline:
    """The DCFF comparison; ``budget_study``: instead, every arm at each budget on a validation split."""
    d = name  # datasets, checkpoints and train state are named after the registered pipeline
    run = partial(_bind, pipeline=name)
    data = {"manifest": f"{d}.manifest", "plan": f"{d}.arch_plan", "params": P}
    head = [
        node(
            nodes.prepare_data,
            P,
            [f"{d}.manifest", f"{d}.data_metrics", f"{d}.samples_plot"],
            name="prepare_data",
        ),
        node(
            nodes.plan_architecture,
            [f"{d}.manifest", P],
            [f"{d}.arch_plan", f"{d}.plan_metrics", f"{d}.widths_table"],
            name="plan_architecture",
        ),
    ]
    if budget_study:
        study = node(
            run(nodes.study_budget),
            data,
            [f"{d}.budget_table", f"{d}.plateau_plot", f"{d}.budget_metrics"],
            name="study_budget",
        )
        return pipeline([*head, study], tags=d)
    method = [
        *head,
        node(
            run(nodes.train_dcff),
            data,
            [
                f"{d}.fused_checkpoint",
                f"{d}.selection_log",
                f"{d}.train_metrics",
                f"{d}.dcff_history_log",
                f"{d}.selection_heatmap_plot",
            ],
            name="train_dcff",
        ),
        node(
            run(nodes.export_compact),
            {"fused_checkpoint": f"{d}.fused_checkpoint", **data},
            [f"{d}.compact_checkpoint", f"{d}.export_metrics"],
            name="export_compact",
        ),
        node(
            run(nodes.evaluate_compact),
            {"compact_checkpoint": f"{d}.compact_checkpoint", "manifest": f"{d}.manifest", "params": P},
            f"{d}.compact_metrics",
            name="evaluate_compact",
        ),
    ]
    baselines = [
        node(
            run(nodes.train_baseline_l1),
            data,
            [f"{d}.l1_checkpoint", f"{d}.l1_metrics", f"{d}.l1_history_log"],
            name="train_baseline_l1",
        ),
        node(
            run(nodes.train_baseline_scratch),
            data,
            [f"{d}.scratch_metrics", f"{d}.scratch_history_log"],
            name="train_baseline_scratch",
        ),
        node(
            run(nodes.train_full_reference),
            data,
            [f"{d}.full_metrics", f"{d}.full_history_log"],
            name="train_full_reference",
        ),
    ]
    compare = [
        node(
            nodes.report,
            {
                "plan": f"{d}.arch_plan",
                "dcff": f"{d}.train_metrics",
                "compact": f"{d}.compact_metrics",
                "export": f"{d}.export_metrics",
                "l1": f"{d}.l1_metrics",
                "scratch": f"{d}.scratch_metrics",
                "full": f"{d}.full_metrics",
                "dcff_history": f"{d}.dcff_history_log",
                "l1_history": f"{d}.l1_history_log",
                "scratch_history": f"{d}.scratch_history_log",
                "full_history": f"{d}.full_history_log",
            },
            [f"{d}.results_table", f"{d}.acc_vs_flops_plot", f"{d}.curves_plot", f"{d}.report_metrics"],
            name="report",
        ),
    ]
    return pipeline(method + baselines + compare, tags=d)
