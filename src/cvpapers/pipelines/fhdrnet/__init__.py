"""FHDRNet: Wavelet-based network for high dynamic range imaging (arXiv 2108.01434).

``loss.py`` and ``classical.py`` are plain PyTorch (the network is ``cvpapers.models.hdr``);
``create_pipeline`` is resolved lazily so that using them as a library does not import Kedro.
"""

from typing import Any

ARXIV_ID = "2108.01434"
DOMAINS = {"fhdrnet": "rgb", "fhdrnet_raw": "raw"}  # registered pipelines: same nodes, RGB or Bayer RAW


def __getattr__(name: str) -> Any:
    if name == "create_pipeline":
        from cvpapers.pipelines.fhdrnet.pipeline import create_pipeline

        return create_pipeline
    raise AttributeError(name)
