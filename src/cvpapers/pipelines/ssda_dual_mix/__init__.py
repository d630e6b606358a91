"""DDM: Semi-supervised Domain Adaptation based on Dual-level Domain Mixing (arXiv 2103.04705).

``mixing.py``, ``distill.py``, ``rounds.py`` and ``training.py`` are plain PyTorch; ``create_pipeline``
is resolved lazily so that using the algorithm as a library does not import Kedro.
"""

from typing import Any

ARXIV_ID = "2103.04705"
# Registered pipelines and their unrolled rounds: embedded 2; the paper's GTA5 → Cityscapes 4 and
# SYNTHIA → Cityscapes 3 (with ssda_dual_mix.data.source: synthia).
ROUNDS = {"ssda_dual_mix": 2, "ssda_dual_mix_paper": 4, "ssda_dual_mix_paper_synthia": 3}


def __getattr__(name: str) -> Any:
    if name == "create_pipeline":
        from cvpapers.pipelines.ssda_dual_mix.pipeline import create_pipeline

        return create_pipeline
    raise AttributeError(name)
