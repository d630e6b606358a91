"""Project pipelines: one per package under ``pipelines/``, plus registered variants.

Kedro's ``find_pipelines`` is not used: in Kedro 1.7 it narrows discovery to the pipeline names given on
the command line and fails for names that are not package folders, so variants such as
``ssda_dual_mix_paper`` or ``fhdrnet_raw`` could not be run. Import errors still surface here.
"""

import importlib
import pkgutil

from kedro.pipeline import Pipeline

FLAGSHIP = "ssda_dual_mix"


def register_pipelines() -> dict[str, Pipeline]:
    import cvpapers.pipelines as package
    from cvpapers.pipelines.fhdrnet import DOMAINS
    from cvpapers.pipelines.fhdrnet.pipeline import create_pipeline as fhdrnet
    from cvpapers.pipelines.mi_aod import VARIANTS as MI_AOD
    from cvpapers.pipelines.mi_aod.pipeline import create_pipeline as mi_aod
    from cvpapers.pipelines.ssda_dual_mix import ROUNDS
    from cvpapers.pipelines.ssda_dual_mix.pipeline import create_pipeline as ddm

    pipelines: dict[str, Pipeline] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.ispkg:
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            pipelines[info.name] = module.create_pipeline()
    # DDM's rounds are unrolled in the DAG: 2 embedded; 4 (GTA5) and 3 (SYNTHIA) as in the paper.
    for name, rounds in ROUNDS.items():
        pipelines[name] = ddm(rounds=rounds)
    # FHDRNet on RGB (Kalantari-like) and on Bayer RAW: the same nodes, two experiments.
    for name, domain in DOMAINS.items():
        pipelines[name] = fhdrnet(domain=domain)
    # MI-AOD's active-learning cycles are unrolled: 5 embedded (+ the selection ablation arm), 7 on VOC.
    for name, (cycles, ablation) in MI_AOD.items():
        pipelines[name] = mi_aod(cycles=cycles, ablation=ablation)
    # No implicit "run everything": `kedro run` without --pipelines runs the flagship.
    pipelines["__default__"] = pipelines[FLAGSHIP]
    return pipelines
