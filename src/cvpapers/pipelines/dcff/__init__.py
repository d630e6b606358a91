"""DCFF: Training Compact CNNs for Image Classification using Dynamic-coded Filter Fusion (arXiv 2107.06916).

``fusion.py`` and ``training.py`` are plain PyTorch; ``create_pipeline`` is resolved lazily so that
using the algorithm as a library does not import Kedro.
"""

from typing import Any

ARXIV_ID = "2107.06916"


def __getattr__(name: str) -> Any:
    if name == "create_pipeline":
        from cvpapers.pipelines.dcff.pipeline import create_pipeline

        return create_pipeline
    raise AttributeError(name)
