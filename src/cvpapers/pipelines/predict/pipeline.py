"""Predict as a DAG: list and check the user's folder → apply the trained model, streaming, writing each
prediction → summarise. Datasets are named after the registered pipeline (``dcff_predict.predictions``)."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from cvpapers.pipelines.predict import nodes

P = "params:predict"


def _bind(func, **kwargs):
    """``func`` with keyword arguments fixed (the registered pipeline name), keeping its name for Kedro."""
    return update_wrapper(partial(func, **kwargs), func)


def create_pipeline(name: str = "predict", model: str | None = None) -> Pipeline:
    d = name
    run = partial(_bind, pipeline=name, model=model)
    # The trained pipeline's own parameters give its preprocessing (as its training ran in this environment);
    # the plain `predict` reads `predict.model` at run time, so it takes every parameter.
    with_model = {"params": P, "model_params": f"params:{model}" if model else "parameters"}
    return pipeline(
        [
            node(
                run(nodes.prepare_data),
                {"params": P},
                [f"{d}.inputs_manifest", f"{d}.data_metrics"],
                name="prepare_data",
            ),
            node(
                run(nodes.predict),
                {"manifest": f"{d}.inputs_manifest", **with_model},
                [f"{d}.predictions", f"{d}.predict_metrics"],
                name="predict",
            ),
            node(
                run(nodes.report),
                {"predictions": f"{d}.predictions", "params": P},
                [f"{d}.summary_table", f"{d}.report_metrics"],
                name="report",
            ),
        ]
    )
