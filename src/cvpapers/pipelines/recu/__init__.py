"""ReCU: Reviving the Dead Weights in Binary Neural Networks (arXiv 2103.12369).

The room's modules are plain PyTorch: ``binary.py`` (the binarised conv: per-filter standardisation, the
rectified clamp unit, sign STE, ApproxSign activations, α), ``schedule.py`` (the exponential τ schedule and
the weight diagnostics, a loop callback), ``models.py`` (ResNet-20/18, VGG-small, ImageNet ResNet-18/34 and
the embedded ``resnet_bireal_tiny``, all ``_1w1a``), ``accounting.py`` (params, binary/FP MACs), ``arms.py``
(one trainer for every arm), ``claims.py`` (the claim rule, the result table), ``figures.py``. The Kedro DAG
(``pipeline.py``) is imported only when the pipeline is built, so the method can be used without Kedro.
"""

from cvpapers.declaration import Declaration
from cvpapers.pipelines.recu.config import RecuParams, preflight

DECLARATION = Declaration(
    name="recu",
    title="ReCU: Reviving the Dead Weights in Binary Neural Networks",
    arxiv="2103.12369",
    family="binary nets / classification",
    schema=RecuParams,
    builder="cvpapers.pipelines.recu.pipeline:create_pipeline",
    preflight=preflight,
    base_envs=("base", "smoke", "paper", "paper_imagenet"),
)
