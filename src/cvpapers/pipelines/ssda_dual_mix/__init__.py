"""DDM: Semi-supervised Domain Adaptation based on Dual-level Domain Mixing (arXiv 2103.04705).

The method lives in plain-PyTorch modules of this room — ``mixing.py`` (region boxes), ``training.py`` (the
stages' batches and losses), ``rounds.py`` (labelled split, next target set), ``stages.py`` (how a stage builds,
trains, scores and saves its model), ``claims.py`` and ``tables.py`` (the report) — and in the shared DA room
``cvpapers.da`` (LAB, BDL pseudo labels, distillation and the teachers' ensemble, the segmenter, the evaluation
protocol). ``nodes.py`` is the Kedro glue; the DAG is imported only when the pipeline is built.
"""

from cvpapers.declaration import Declaration, Variant
from cvpapers.pipelines.ssda_dual_mix.config import SsdaParams, preflight

# Rounds are unrolled in the DAG, so their number belongs to the registered pipeline: embedded 2; the
# paper's GTA5 → Cityscapes 4 and SYNTHIA → Cityscapes 3 (with ssda_dual_mix.data.source: synthia). The paper
# variants read the real datasets lazily: their image sets travel between nodes as manifests.
DECLARATION = Declaration(
    name="ssda_dual_mix",
    title="Semi-supervised Domain Adaptation based on Dual-level Domain Mixing",
    arxiv="2103.04705",
    family="DA segmentation",
    schema=SsdaParams,
    builder="cvpapers.pipelines.ssda_dual_mix.pipeline:create_pipeline",
    variants=(
        Variant("ssda_dual_mix_paper", "GTA5 → Cityscapes, 4 rounds, streamed from disk",
                {"rounds": 4, "streaming": True}, envs=("paper",)),
        Variant("ssda_dual_mix_paper_synthia", "SYNTHIA → Cityscapes, 3 rounds (data.source: synthia), streamed",
                {"rounds": 3, "streaming": True}, envs=("paper",)),
    ),
    includes=("da_benchmark",),
    preflight=preflight,
    base_envs=("base", "smoke", "paper"),
)
