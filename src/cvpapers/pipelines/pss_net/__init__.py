"""PSS-Net: Prioritized Subnet Sampling for Resource-Adaptive Supernet Training (arXiv 2109.05432).

The room's modules are plain PyTorch: ``space.py`` (structure space, channel rounding, analytic FLOPs, subnet
map, conditional sampler), ``slimmable.py`` (slimmable MobileNetV1/V2 and ``mbv1_tiny``), ``pools.py`` (pools,
priority sampling, schedules), ``training.py`` (the sandwich iteration and the samplers of PSS and US-Net),
``calibrate.py`` (BN re-calibration), ``evaluation.py``, ``accounting.py`` (the space plan), ``claims.py``
and ``figures.py``. The Kedro DAG (``pipeline.py``) is imported only when the pipeline is built.
"""

from cvpapers.declaration import Declaration
from cvpapers.pipelines.pss_net.config import PssNetParams, preflight

DECLARATION = Declaration(
    name="pss_net",
    title="Prioritized Subnet Sampling for Resource-Adaptive Supernet Training",
    arxiv="2109.05432",
    family="resource-adaptive supernet / classification",
    schema=PssNetParams,
    builder="cvpapers.pipelines.pss_net.pipeline:create_pipeline",
    preflight=preflight,
    base_envs=("base", "smoke", "benchmark", "paper", "paper_mbv2"),
)
