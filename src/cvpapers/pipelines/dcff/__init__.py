"""DCFF: Training Compact CNNs for Image Classification using Dynamic-coded Filter Fusion (arXiv 2107.06916).

The room's modules are plain PyTorch: ``fusion.py`` (fused conv, KL criterion, export), ``training.py``
(temperature and re-coding schedule), ``compact.py`` (export check, evaluation), ``baselines.py`` (the L1
protocol), ``arms.py`` (one trainer for every arm), ``accounting.py`` (MACs), ``claims.py`` (the claim rule
and the result table). The Kedro DAG (``pipeline.py``) is imported only when the pipeline is built, so using
the algorithm as a library does not import Kedro.
"""

from cvpapers.declaration import Declaration, Variant
from cvpapers.pipelines.dcff.config import DcffParams, preflight

DECLARATION = Declaration(
    name="dcff",
    title="Training Compact CNNs for Image Classification using Dynamic-coded Filter Fusion",
    arxiv="2107.06916",
    family="compression / classification",
    schema=DcffParams,
    builder="cvpapers.pipelines.dcff.pipeline:create_pipeline",
    variants=(
        Variant(
            "dcff_budget",
            "every arm at each budget of budget_study.epochs, judged on a validation split "
            "carved from the training images (sizes the base run's epochs)",
            {"budget_study": True},
            envs=("base", "benchmark"),
        ),
    ),
    preflight=preflight,
    base_envs=("base", "smoke", "benchmark", "paper", "paper_imagenet"),
)
