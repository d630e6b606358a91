"""MSCL as a DAG (spec §7): the shared benchmark (``da_benchmark.prepare_data``; real data: the readers) →
``prepare_data`` (stacked sources, target pool, target val) → ``lab_translate`` (every source → target LAB
statistics) → the arms on the same budget — independent source-only models, source-combined (with and without
LAB), collaborative-only (ablation, off by default) and MSCL (stages A + B in one node) → ``report``.

Datasets are named after the registered pipeline, so variants and environments never overwrite each other.
"""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from cvpapers.pipelines.da_benchmark.pipeline import PREPARE_BENCHMARK
from cvpapers.pipelines.msda_collab import nodes

P = "params:msda_collab"


def _bind(func, **kwargs):
    return update_wrapper(partial(func, **kwargs), func)


def create_pipeline(name: str = "msda_collab") -> Pipeline:
    D = name
    sources, translated = f"{D}.sources_arrays", f"{D}.sources_translated_arrays"
    pool, val = f"{D}.target_pool_arrays", f"{D}.target_val_arrays"
    arms = {
        "source_only": translated,
        "combined": translated,
        "combined_no_lab": sources,
        "collab_only": translated,
    }
    nodes_ = [
        PREPARE_BENCHMARK,
        node(
            nodes.prepare_data,
            {"manifest": "da_benchmark.manifest", "params": P},
            [sources, pool, val, f"{D}.prepare_data_metrics"],
            name="prepare_data",
        ),
        node(
            _bind(nodes.lab_translate, pipeline=D),
            [sources, pool, P],
            [translated, f"{D}.lab_metrics", f"{D}.lab_before_after_plot"],
            name="lab_translate",
        ),
    ]
    nodes_ += [
        node(
            _bind(getattr(nodes, f"train_{arm}"), pipeline=D),
            [data, val, P],
            [f"{D}.{arm}_checkpoint", f"{D}.{arm}_metrics"],
            name=f"train_{arm}",
        )
        for arm, data in arms.items()
    ]
    nodes_ += [
        node(
            _bind(nodes.train_mscl, pipeline=D),
            [translated, pool, val, P],
            [f"{D}.mscl_checkpoint", f"{D}.mscl_metrics", f"{D}.pseudo_labels_plot"],
            name="train_mscl",
        ),
        node(
            _bind(nodes.report, pipeline=D),
            {
                "params": P,
                "val": val,
                "mscl_model": f"{D}.mscl_checkpoint",
                "source_only_model": f"{D}.source_only_checkpoint",
                "combined_model": f"{D}.combined_checkpoint",
                **{arm: f"{D}.{arm}_metrics" for arm in (*arms, "mscl")},
            },
            [f"{D}.results_table", f"{D}.miou_bar_plot", f"{D}.predictions_plot", f"{D}.report_metrics"],
            name="report",
        ),
    ]
    return pipeline(nodes_, tags=D)
