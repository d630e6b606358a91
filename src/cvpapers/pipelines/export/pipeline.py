"""Export as a DAG: read a sample of the trained pipeline's test set → export the trained model with each
exporter and check every file against PyTorch. Datasets are named after the registered pipeline
(``dcff_export.exports_table``)."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from cvpapers.pipelines.export import nodes

P = "params:export"


def _bind(func, **kwargs):
    """``func`` with keyword arguments fixed (the registered pipeline name), keeping its name for Kedro."""
    return update_wrapper(partial(func, **kwargs), func)


def create_pipeline(name: str = "export", model: str | None = None) -> Pipeline:
    d = name
    run = partial(_bind, pipeline=name, model=model)
    # The trained pipeline's own parameters say where its test set is and how it was normalised (as its training
    # ran in this environment); the plain `export` reads `export.model` at run time, so it takes every parameter.
    common = {"params": P, "model_params": f"params:{model}" if model else "parameters"}
    return pipeline(
        [
            node(
                run(nodes.prepare_data),
                common,
                [f"{d}.test_sample_arrays", f"{d}.data_metrics"],
                name="prepare_data",
            ),
            node(
                run(nodes.export_models),
                {"sample": f"{d}.test_sample_arrays", **common},
                [f"{d}.exports_table", f"{d}.export_metrics"],
                name="export_models",
            ),
        ]
    )
