"""FHDRNet: Wavelet-based network for high dynamic range imaging (arXiv 2108.01434).

The room is plain PyTorch: ``networks`` (FHDRNet, its no-HF ablation, AHDRNet), ``loss``, ``training``,
``inference`` (padded any-size prediction), ``evaluation`` (the test protocol), ``classical`` (merges without
learning), ``claims`` (the claims and the one ``claim/holds`` rule), ``scenes`` and ``figures``. ``nodes`` is
the Kedro glue; the DAG is imported only when the pipeline is built.
"""

from cvpapers.declaration import Declaration, Variant
from cvpapers.pipelines.fhdrnet.config import FhdrnetParams, preflight

DECLARATION = Declaration(
    name="fhdrnet",
    title="Wavelet-based network for high dynamic range imaging",
    arxiv="2108.01434",
    family="HDR restoration",
    schema=FhdrnetParams,
    builder="cvpapers.pipelines.fhdrnet.pipeline:create_pipeline",
    variants=(Variant("fhdrnet_raw", "the same nodes on Bayer RAW exposures (4-plane output)",
                      {"domain": "raw"}, envs=("base", "smoke")),),
    preflight=preflight,
    base_envs=("base", "smoke", "benchmark", "paper"),
)
