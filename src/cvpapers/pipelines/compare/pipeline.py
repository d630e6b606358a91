"""The comparison as a DAG: read the MLflow store once (the runs and the tables the charts need), then draw the
compression frontier and the DA papers' mIoU per target style, each with the table of the runs behind it."""

from kedro.pipeline import Pipeline, node, pipeline

from cvpapers.pipelines.compare import nodes

P = "params:compare"


def create_pipeline(name: str = "compare") -> Pipeline:
    d = name
    return pipeline(
        [
            node(
                nodes.prepare_data,
                P,
                [f"{d}.store_snapshot", f"{d}.runs_table", f"{d}.data_metrics"],
                name="prepare_data",
            ),
            node(
                nodes.draw_frontier,
                {"snapshot": f"{d}.store_snapshot", "params": P},
                [f"{d}.frontier_table", f"{d}.frontier_plot", f"{d}.frontier_metrics"],
                name="draw_frontier",
            ),
            node(
                nodes.draw_da_targets,
                {"snapshot": f"{d}.store_snapshot", "params": P},
                [f"{d}.da_targets_table", f"{d}.da_targets_plot", f"{d}.da_targets_metrics"],
                name="draw_da_targets",
            ),
        ],
        tags=d,
    )
