"""ReCU as a DAG: data → architecture plan → the ReCU arm and the BNN baseline (plus the optional WS-only
ablation and full-precision reference) on the same initial weights and batches → report."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from cvpapers.pipelines.recu import nodes

P = "params:recu"
ARMS = ("recu", "bnn", "ws_only", "fp")


def _bind(func, **kwargs):
    """``func`` with keyword arguments fixed (pipeline name, arm), keeping its name for Kedro."""
    return update_wrapper(partial(func, **kwargs), func)


def create_pipeline(name: str = "recu") -> Pipeline:
    d = name  # datasets, checkpoints and train state are named after the registered pipeline
    data = {"manifest": f"{d}.manifest", "plan": f"{d}.arch_plan", "params": P}
    nodes_ = [
        node(
            nodes.prepare_data,
            P,
            [f"{d}.manifest", f"{d}.data_metrics", f"{d}.samples_plot"],
            name="prepare_data",
        ),
        node(
            nodes.plan_model, [f"{d}.manifest", P], [f"{d}.arch_plan", f"{d}.plan_metrics"], name="plan_model"
        ),
    ]
    for arm in ("recu", "bnn"):  # always run: the method and its baseline
        nodes_.append(
            node(
                _bind(nodes.train_arm, pipeline=name, method=arm),
                data,
                [f"{d}.{arm}_checkpoint", f"{d}.{arm}_log", f"{d}.{arm}_metrics"],
                name=f"train_{arm}",
            )
        )
    for arm in ("ws_only", "fp"):  # behind the arms.* switches
        nodes_.append(
            node(
                _bind(nodes.train_optional_arm, pipeline=name, method=arm),
                data,
                [f"{d}.{arm}_log", f"{d}.{arm}_metrics"],
                name=f"train_{arm}",
            )
        )
    report_inputs = {
        "plan": f"{d}.arch_plan",
        **{a: f"{d}.{a}_metrics" for a in ARMS},
        **{f"{a}_log": f"{d}.{a}_log" for a in ARMS},
    }
    nodes_.append(
        node(
            nodes.report,
            report_inputs,
            [f"{d}.results_table", f"{d}.curves_plot", f"{d}.acc_vs_macs_plot", f"{d}.report_metrics"],
            name="report",
        )
    )
    return pipeline(nodes_, tags=d)
