"""MTDA-CCL: Multi-Target Domain Adaptation with Collaborative Consistency Learning (arXiv 2106.03418).

The method lives in plain-PyTorch modules of this room — ``ccl.py`` (the per-batch LAB bridge, loss terms,
weight regulariser, batch draws and steps), ``stages.py`` (source-only θ0, Stage-1 experts, the independent
continuation, Stage 2 with the student, the merged-targets baseline), ``room.py`` (how a stage builds, trains
and scores its networks), ``sets.py`` (image sets, LAB statistics), ``claims.py`` and ``tables.py`` (the
report) — and in the shared DA room ``cvpapers.da`` (LAB transfer, pseudo labels, KL, the segmenter, the
evaluation protocol). ``nodes.py`` is the Kedro glue; the DAG is imported only when the pipeline is built.
"""

from cvpapers.declaration import Declaration, Variant
from cvpapers.pipelines.mtda_collab.config import MtdaParams, preflight

DECLARATION = Declaration(
    name="mtda_collab",
    title="Multi-Target Domain Adaptation with Collaborative Consistency Learning",
    arxiv="2106.03418",
    family="DA segmentation",
    schema=MtdaParams,
    builder="cvpapers.pipelines.mtda_collab.pipeline:create_pipeline",
    variants=(
        Variant(
            "mtda_collab_ablation",
            "adds CCL without the bridge (λ_con = 0) and without the weight regulariser (λ_w = 0)",
            {"ablation": True},
            envs=("base",),  # ≈ 2 × the CCL stage more than the base run; not smoke-run by the suite
        ),
        Variant(
            "mtda_collab_paper",
            "GTA5 (or SYNTHIA) → Cityscapes + IDD (or Mapillary), DeepLab-v2 R101",
            {"real": True},
            envs=("paper",),
        ),
    ),
    includes=("da_benchmark",),
    preflight=preflight,
    base_envs=("base", "smoke", "paper"),
)
