"""One node, shared (the same node object) by every DA pipeline that includes it."""

from kedro.pipeline import Pipeline, node, pipeline

from cvpapers.pipelines.da_benchmark import nodes

GENERATE = node(
    nodes.generate_da_benchmark,
    "params:da_benchmark",
    ["da_benchmark.manifest", "da_benchmark.generate_metrics", "da_benchmark.samples_plot",
     "da_benchmark.class_freq_table"],
    name="generate_da_benchmark",
)


def create_pipeline(name: str = "da_benchmark") -> Pipeline:
    return pipeline([GENERATE], tags="da_benchmark")
