"""Project pipelines: every folder under ``pipelines/`` with a ``create_pipeline``."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    # No implicit "run everything": each paper is run on its own, so `kedro run` names a pipeline.
    pipelines["__default__"] = pipelines["dcff"]
    return pipelines
