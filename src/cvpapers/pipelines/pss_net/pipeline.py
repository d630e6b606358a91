"""PSS-Net as a DAG: data → structure space (targets, subnet map) → the PSS supernet and the US-Net supernet,
trained with the same budget from the same weights → BN-recalibrated evaluation of retained, random and
uniform-width subnets → report."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from cvpapers.pipelines.pss_net import nodes

P = "params:pss_net"


def _bind(func, **kwargs):
    """``func`` with keyword arguments fixed (the registered pipeline name), keeping its name for Kedro."""
    return update_wrapper(partial(func, **kwargs), func)


def create_pipeline(name: str = "pss_net") -> Pipeline:
    d = name  # datasets, checkpoints and train state are named after the registered pipeline
    run = partial(_bind, pipeline=name)
    common = {"manifest": f"{d}.manifest", "plan": f"{d}.space_plan", "params": P}
    nodes_ = [
        node(
            nodes.prepare_data,
            P,
            [f"{d}.manifest", f"{d}.data_metrics", f"{d}.samples_plot"],
            name="prepare_data",
        ),
        node(
            run(nodes.build_subnet_space),
            {"manifest": f"{d}.manifest", "params": P},
            [f"{d}.subnet_map_arrays", f"{d}.space_plan", f"{d}.space_metrics", f"{d}.map_flops_plot"],
            name="build_subnet_space",
        ),
        node(
            run(nodes.train_pss),
            {**common, "subnet_map": f"{d}.subnet_map_arrays"},
            [f"{d}.pss_checkpoint", f"{d}.pss_pools_plan", f"{d}.pss_log", f"{d}.pss_train_metrics"],
            name="train_pss",
        ),
        node(
            run(nodes.train_usnet),
            common,
            [f"{d}.usnet_checkpoint", f"{d}.usnet_log", f"{d}.usnet_train_metrics"],
            name="train_usnet",
        ),
        node(
            run(nodes.evaluate_pss),
            {
                **common,
                "pss_checkpoint": f"{d}.pss_checkpoint",
                "pools": f"{d}.pss_pools_plan",
                "subnet_map": f"{d}.subnet_map_arrays",
            },
            [f"{d}.pss_subnets_table", f"{d}.pss_eval_metrics"],
            name="evaluate_pss",
        ),
        node(
            run(nodes.evaluate_usnet),
            {**common, "usnet_checkpoint": f"{d}.usnet_checkpoint"},
            [f"{d}.usnet_subnets_table", f"{d}.usnet_eval_metrics"],
            name="evaluate_usnet",
        ),
        node(
            nodes.report,
            {
                "pss_table": f"{d}.pss_subnets_table",
                "usnet_table": f"{d}.usnet_subnets_table",
                "pss_train": f"{d}.pss_train_metrics",
                "usnet_train": f"{d}.usnet_train_metrics",
                "pss_log": f"{d}.pss_log",
                "usnet_log": f"{d}.usnet_log",
                "params": P,
            },
            [
                f"{d}.results_table",
                f"{d}.per_target_table",
                f"{d}.retained_table",
                f"{d}.acc_vs_flops_plot",
                f"{d}.curves_plot",
                f"{d}.pools_plot",
                f"{d}.report_metrics",
            ],
            name="report",
        ),
    ]
    return pipeline(nodes_, tags=d)
