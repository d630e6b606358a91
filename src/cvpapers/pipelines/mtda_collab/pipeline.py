"""MTDA-CCL as a DAG (spec §7): the shared benchmark (``da_benchmark.prepare_data``) → ``prepare_data`` (source,
targets' train and val sets) → ``lab_stats`` (the bridge's references) → ``train_source_only`` (θ0) →
``train_experts_stage1`` → {``train_experts_indep`` (baseline), ``train_ccl`` (the method: experts + student
jointly)} ∥ ``train_mixed_single`` (baseline) → ``report``.

Datasets are named after the registered pipeline; nodes that train get that name too (their resume checkpoints
live under it). ``ablation``: two more CCL runs, without the bridge and without the weight regulariser.
``real``: the paper's datasets instead of the benchmark (``prepare_data`` reads them; no generator node).
"""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from cvpapers.pipelines.da_benchmark.pipeline import PREPARE_BENCHMARK
from cvpapers.pipelines.mtda_collab import nodes

P = "params:mtda_collab"
ABLATIONS: dict[str, dict[str, float]] = {"no_bridge": {"lambda_con": 0.0}, "no_wreg": {"lambda_w": 0.0}}


def _bind(func, **kwargs):
    return update_wrapper(partial(func, **kwargs), func)


def create_pipeline(name: str = "mtda_collab", ablation: bool = False, real: bool = False) -> Pipeline:
    D = name
    sets = [f"{D}.source_arrays", f"{D}.targets_train_arrays", f"{D}.targets_val_arrays"]
    data = {"source": sets[0], "train": sets[1], "lab": f"{D}.lab_stats_arrays", "val": sets[2], "params": P}
    theta0, s1 = f"{D}.source_only_checkpoint", f"{D}.experts_s1_checkpoint"
    prepare = (
        [node(nodes.prepare_data, {"params": P}, [*sets, f"{D}.prepare_data_metrics"], name="prepare_data")]
        if real
        else [
            PREPARE_BENCHMARK,
            node(
                nodes.prepare_data,
                {"manifest": "da_benchmark.manifest", "params": P},
                [*sets, f"{D}.prepare_data_metrics"],
                name="prepare_data",
            ),
        ]
    )
    nodes_ = prepare + [
        node(
            _bind(nodes.lab_stats, pipeline=D),
            {"source": sets[0], "train": sets[1], "params": P},
            [f"{D}.lab_stats_arrays", f"{D}.lab_metrics", f"{D}.translation_plot"],
            name="lab_stats",
        ),
        node(
            _bind(nodes.train_source_only, pipeline=D),
            data,
            [theta0, f"{D}.source_only_metrics"],
            name="train_source_only",
        ),
        node(
            _bind(nodes.train_experts_stage1, pipeline=D),
            {"theta0": theta0, **data},
            [s1, f"{D}.experts_s1_metrics"],
            name="train_experts_stage1",
        ),
        node(
            _bind(nodes.train_experts_indep, pipeline=D),
            {"experts_s1": s1, **data},
            [f"{D}.experts_indep_checkpoint", f"{D}.experts_indep_metrics"],
            name="train_experts_indep",
        ),
        node(
            _bind(nodes.train_ccl, pipeline=D),
            {"experts_s1": s1, "theta0": theta0, **data},
            [f"{D}.experts_ccl_checkpoint", f"{D}.student_checkpoint", f"{D}.ccl_metrics"],
            name="train_ccl",
        ),
        node(
            _bind(nodes.train_mixed_single, pipeline=D),
            {"theta0": theta0, **data},
            [f"{D}.mixed_single_checkpoint", f"{D}.mixed_single_metrics"],
            name="train_mixed_single",
        ),
    ]
    scores = {
        m: f"{D}.{m}_metrics" for m in ("source_only", "experts_s1", "experts_indep", "ccl", "mixed_single")
    }
    if ablation:
        for abl, overrides in ABLATIONS.items():
            nodes_.append(
                node(
                    _bind(nodes.train_ccl, pipeline=D, stage=f"ccl_{abl}", overrides=overrides),
                    {"experts_s1": s1, "theta0": theta0, **data},
                    [
                        f"{D}.experts_ccl_{abl}_checkpoint",
                        f"{D}.student_{abl}_checkpoint",
                        f"{D}.ccl_{abl}_metrics",
                    ],
                    name=f"train_ccl_{abl}",
                )
            )
            scores[f"abl_{abl}"] = f"{D}.ccl_{abl}_metrics"
    nodes_.append(
        node(
            _bind(nodes.report, pipeline=D),
            {
                "params": P,
                "val": sets[2],
                "student": f"{D}.student_checkpoint",
                "mixed": f"{D}.mixed_single_checkpoint",
                "theta0": theta0,
                **scores,
            },
            [
                f"{D}.results_table",
                f"{D}.per_target_table",
                f"{D}.miou_bar_plot",
                f"{D}.predictions_plot",
                f"{D}.report_metrics",
            ],
            name="report",
        )
    )
    return pipeline(nodes_, tags=D)
