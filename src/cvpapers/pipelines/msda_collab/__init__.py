"""MSCL: Multi-Source Domain Adaptation with Collaborative Learning for Semantic Segmentation (arXiv 2103.04717).

A reproduction of the described method; hyper-parameters partly inferred (no full text, no official code: see
the spec's evidence tags). The method lives in plain-PyTorch modules of this room — ``collab.py`` (the
collaborative KL, the online ensemble pseudo labels, the one step of N models and its iteration clock),
``arms.py`` (how an arm builds, trains, scores and saves its models), ``sets.py`` (the image sets and the LAB
translation of every source), ``claims.py`` and ``tables.py`` (the report) — and in the shared DA room
``cvpapers.da`` (LAB, BDL thresholds, ensembles, KD, the segmenter, the evaluation protocol). ``nodes.py`` is the
Kedro glue; the DAG is imported only when the pipeline is built.
"""

from cvpapers.declaration import Declaration
from cvpapers.pipelines.msda_collab.config import MsdaParams, preflight

DECLARATION = Declaration(
    name="msda_collab",
    title="Multi-Source Domain Adaptation with Collaborative Learning for Semantic Segmentation",
    arxiv="2103.04717",
    family="DA segmentation",
    schema=MsdaParams,
    builder="cvpapers.pipelines.msda_collab.pipeline:create_pipeline",
    includes=("da_benchmark",),
    preflight=preflight,
    base_envs=("base", "smoke", "paper"),
)
