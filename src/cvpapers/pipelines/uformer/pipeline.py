"""Uformer as a DAG (papers/uformer.md §7): data → Table E check ∥ UNet-8 ∥ UNet-10 ∥ Uformer (∥ the
ablations in ``uformer_ablation``) → evaluation on the test set → claims."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from cvpapers.pipelines.uformer import nodes
from cvpapers.pipelines.uformer.config import ABLATIONS

P = "params:uformer"


def _bind(func, **kwargs):
    return update_wrapper(partial(func, **kwargs), func)


def create_pipeline(name: str = "uformer", ablation: bool = False) -> Pipeline:
    d = name  # datasets are named after the registered pipeline
    keys = ["unet", "unet_matched", "uformer", *([f"abl_{a}" for a in ABLATIONS] if ablation else [])]
    data = [
        node(nodes.prepare_data, P, [f"{d}.manifest", f"{d}.prepare_metrics"], name="prepare_data"),
        node(
            nodes.select_data,
            [f"{d}.manifest", P],
            [
                f"{d}.train_arrays",
                f"{d}.val_arrays",
                f"{d}.test_arrays",
                f"{d}.select_metrics",
                f"{d}.samples_plot",
            ],
            name="select_data",
        ),
        node(
            nodes.arch_check,
            [f"{d}.manifest", P],
            [f"{d}.arch_table", f"{d}.arch_metrics"],
            name="arch_check",
        ),
    ]
    training = [
        node(
            _bind(nodes.train_model, pipeline=name, key=key),
            {
                "train": f"{d}.train_arrays",
                "val": f"{d}.val_arrays",
                "manifest": f"{d}.manifest",
                "params": P,
            },
            [f"{d}.{key}_checkpoint", f"{d}.{key}_metrics", f"{d}.{key}_history_log"],
            name=f"train_{key}",
        )
        for key in keys
    ]
    report = [
        node(
            _bind(nodes.evaluate, pipeline=name),
            {
                "test": f"{d}.test_arrays",
                "manifest": f"{d}.manifest",
                "params": P,
                **{f"ckpt_{k}": f"{d}.{k}_checkpoint" for k in keys},
                **{f"log_{k}": f"{d}.{k}_history_log" for k in keys},
            },
            [
                f"{d}.results_table",
                f"{d}.per_image_table",
                f"{d}.test_samples_plot",
                f"{d}.curves_plot",
                f"{d}.test_metrics",
            ],
            name="evaluate",
        ),
        node(nodes.check_claims, [f"{d}.test_metrics", P], f"{d}.claims_metrics", name="check_claims"),
    ]
    return pipeline(data + training + report, tags=d)
