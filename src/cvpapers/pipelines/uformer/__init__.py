"""Uformer: A General U-Shaped Transformer for Image Restoration (arXiv 2106.03106).

The room is plain PyTorch: ``networks`` (Uformer with LeWin blocks, the v1 skip schemes, the conv UNet),
``loss`` (Charbonnier), ``training``, ``evaluation`` / ``reporting`` (the test protocol), ``arch`` (Table E
through the one counter), ``claims`` (the one ``claim/holds`` rule), ``sets``, ``models``, ``figures``.
``nodes`` is the Kedro glue; the DAG is imported only when the pipeline is built.
"""

from cvpapers.declaration import Declaration, Variant
from cvpapers.pipelines.uformer.config import UformerParams, preflight

DECLARATION = Declaration(
    name="uformer",
    title="Uformer: A General U-Shaped Transformer for Image Restoration",
    arxiv="2106.03106",
    family="image restoration",
    schema=UformerParams,
    builder="cvpapers.pipelines.uformer.pipeline:create_pipeline",
    variants=(
        Variant(
            "uformer_ablation",
            "adds one Uformer per ablation (modulator, FFN, shift, skip schemes)",
            {"ablation": True},
            envs=("base", "smoke"),
        ),
    ),
    preflight=preflight,
    base_envs=("base", "smoke", "paper"),
)
