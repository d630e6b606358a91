"""Collaborative Compression as a DAG: data → pretrained model → mean gradients → for each variant (cc,
prune_only, td_only): sensitivity curves → GCRO → heuristic compression + export → fine-tuning → report.

The three variants are three chains built by one function (node namespace = the variant, for kedro-viz
only; dataset names stay explicit, ``<pipeline>.<variant>_<name>_<kind>``, spec pitfall 17)."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from cvpapers.pipelines.collab_compression import nodes
from cvpapers.pipelines.collab_compression.config import VARIANTS

P = "params:collab_compression"


def _bind(func, **kwargs):
    """``func`` with keyword arguments fixed (registered pipeline name, variant), keeping its name for Kedro."""
    return update_wrapper(partial(func, **kwargs), func)


def _variant_chain(d: str, v: str, run) -> list:
    shared = {
        "pretrained": f"{d}.pretrained_checkpoint",
        "grads": f"{d}.mean_grads_checkpoint",
        "geometry": f"{d}.geometry_plan",
        "params": P,
    }
    return [
        node(
            run(nodes.sensitivity, variant=v),
            shared,
            [f"{d}.{v}_curves_plan", f"{d}.{v}_sensitivity_plot", f"{d}.{v}_sensitivity_metrics"],
            name="sensitivity",
            namespace=v,
        ),
        node(
            nodes.gcro,
            {"curves": f"{d}.{v}_curves_plan", "geometry": f"{d}.geometry_plan", "params": P},
            [f"{d}.{v}_allocation_plan", f"{d}.{v}_gcro_metrics"],
            name="gcro",
            namespace=v,
        ),
        node(
            run(nodes.compress, variant=v),
            {**shared, "allocation": f"{d}.{v}_allocation_plan", "manifest": f"{d}.manifest"},
            [f"{d}.{v}_compressed_checkpoint", f"{d}.{v}_layers_table", f"{d}.{v}_compress_metrics"],
            name="compress",
            namespace=v,
        ),
        node(
            run(nodes.finetune, variant=v),
            {"compressed": f"{d}.{v}_compressed_checkpoint", "manifest": f"{d}.manifest", "params": P},
            [f"{d}.{v}_finetuned_checkpoint", f"{d}.{v}_finetune_metrics", f"{d}.{v}_history_log"],
            name="finetune",
            namespace=v,
        ),
    ]


def create_pipeline(name: str = "collab_compression") -> Pipeline:
    d = name  # datasets, checkpoints and train state are named after the registered pipeline
    run = partial(_bind, pipeline=name)
    common = [
        node(
            nodes.prepare_data,
            P,
            [f"{d}.manifest", f"{d}.data_metrics", f"{d}.samples_plot"],
            name="prepare_data",
        ),
        node(
            run(nodes.pretrain),
            {"manifest": f"{d}.manifest", "params": P},
            [f"{d}.pretrained_checkpoint", f"{d}.pretrain_metrics", f"{d}.pretrain_history_log"],
            name="pretrain",
        ),
        node(
            run(nodes.mean_gradients),
            {"pretrained": f"{d}.pretrained_checkpoint", "manifest": f"{d}.manifest", "params": P},
            [f"{d}.mean_grads_checkpoint", f"{d}.geometry_plan", f"{d}.grads_metrics"],
            name="mean_gradients",
        ),
    ]
    chains = [n for v in VARIANTS for n in _variant_chain(d, v, run)]
    kinds = {
        "compress": "compress_metrics",
        "finetune": "finetune_metrics",
        "sensitivity": "sensitivity_metrics",
        "allocation": "allocation_plan",
        "layers": "layers_table",
        "history": "history_log",
    }
    report_inputs = {f"{v}_{kind}": f"{d}.{v}_{dataset}" for v in VARIANTS for kind, dataset in kinds.items()}
    report = node(
        nodes.report,
        {"params": P, "pretrain": f"{d}.pretrain_metrics", **report_inputs},
        [
            f"{d}.results_table",
            f"{d}.acc_vs_flops_plot",
            f"{d}.rates_plot",
            f"{d}.curves_plot",
            f"{d}.report_metrics",
        ],
        name="report",
    )
    return pipeline(common + chains + [report], tags=d)
