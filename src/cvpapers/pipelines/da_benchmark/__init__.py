"""The shared street-scene benchmark of the domain-adaptation pipelines (``papers/da_benchmark.md``)."""

from cvpapers.declaration import Declaration
from cvpapers.pipelines.da_benchmark.config import DaBenchmarkParams

DECLARATION = Declaration(
    name="da_benchmark",
    title="Street scenes in several styles: the embedded benchmark of the DA pipelines",
    arxiv="",
    family="benchmark / DA segmentation",
    schema=DaBenchmarkParams,
    builder="cvpapers.pipelines.da_benchmark.pipeline:create_pipeline",
)
