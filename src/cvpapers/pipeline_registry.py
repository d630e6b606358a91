"""Project pipelines: every declared pipeline and variant (``cvpapers.registry``), built under its own name.

Kedro's ``find_pipelines`` is not used: in Kedro 1.7 it narrows discovery to the names given on the
command line and fails for names that are not package folders, so variants could not be run.
"""

from kedro.pipeline import Pipeline

from cvpapers.registry import FLAGSHIP, registrations


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {name: reg.declaration.build(name) for name, reg in registrations().items()}
    # No implicit "run everything": `kedro run` without --pipelines runs the flagship.
    pipelines["__default__"] = pipelines[FLAGSHIP]
    return pipelines
