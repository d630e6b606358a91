"""Project pipelines: every folder under ``pipelines/`` with a ``create_pipeline``, plus variants."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

FLAGSHIP = "ssda_dual_mix"


def register_pipelines() -> dict[str, Pipeline]:
    from cvpapers.pipelines.ssda_dual_mix import ROUNDS
    from cvpapers.pipelines.ssda_dual_mix.pipeline import create_pipeline as ddm

    pipelines = find_pipelines(raise_errors=True)
    # DDM's rounds are unrolled in the DAG: 2 for the embedded run, 4 as in the paper (GTA5 → Cityscapes).
    for name, rounds in ROUNDS.items():
        pipelines[name] = ddm(rounds=rounds)
    # No implicit "run everything": `kedro run` without --pipelines runs the flagship.
    pipelines["__default__"] = pipelines[FLAGSHIP]
    return pipelines
