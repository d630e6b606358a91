"""MI-AOD: Multiple Instance Active Learning for Object Detection (arXiv 2104.02324).

``losses.py``, ``selection.py`` and ``training.py`` are plain PyTorch (the detector is
``cvpapers.models.detection``); ``create_pipeline`` is resolved lazily so that using them as a library
does not import Kedro.
"""

from typing import Any

ARXIV_ID = "2104.02324"
# Registered pipelines: (active-learning cycles unrolled in the DAG, with the selection ablation arm).
# Embedded: 5 cycles (5 → 25 % labelled); the paper's VOC protocol: 7 cycles (5 → 20 %).
VARIANTS = {"mi_aod": (5, False), "mi_aod_ablation": (5, True), "mi_aod_paper": (7, False)}


def __getattr__(name: str) -> Any:
    if name == "create_pipeline":
        from cvpapers.pipelines.mi_aod.pipeline import create_pipeline

        return create_pipeline
    raise AttributeError(name)
