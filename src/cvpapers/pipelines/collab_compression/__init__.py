"""Collaborative Compression: Towards Compact CNNs via Collaborative Compression (arXiv 2105.11228).

The room's modules are plain PyTorch: ``units.py`` (compression units, Taylor loss, SVD factorisation),
``sensitivity.py`` (per-layer sensitivity and exponential fit), ``gcro.py`` (global rate optimisation),
``heuristic.py`` (multi-step compression with the closed-form look-ahead), ``export.py`` (the compressed
module, producer removal, rebuild), ``method.py`` (the whole network), ``gradients.py``, ``training.py``,
``weights.py``, ``claims.py``, ``figures.py``. The Kedro DAG (``pipeline.py``) is imported only when the
pipeline is built.
"""

from cvpapers.declaration import Declaration
from cvpapers.pipelines.collab_compression.config import CollabCompressionParams, preflight

DECLARATION = Declaration(
    name="collab_compression",
    title="Towards Compact CNNs via Collaborative Compression",
    arxiv="2105.11228",
    family="compression / classification",
    schema=CollabCompressionParams,
    builder="cvpapers.pipelines.collab_compression.pipeline:create_pipeline",
    preflight=preflight,
    base_envs=("base", "smoke", "paper", "paper_imagenet"),
)
