"""One node, shared (the same node object) by every DA pipeline that includes it.

It is the benchmark's ``prepare_data``, in the namespace ``da_benchmark``: a DA pipeline's own first node is
its ``prepare_data`` too, and kedro-viz shows the shared generator as the collapsible ``da_benchmark`` group
that feeds it (``da_benchmark.prepare_data`` → ``da_benchmark.manifest`` → ``prepare_data``).
"""

from kedro.pipeline import Pipeline, node, pipeline

from cvpapers.pipelines.da_benchmark import nodes

PREPARE_BENCHMARK = node(
    nodes.generate_da_benchmark,
    "params:da_benchmark",
    ["da_benchmark.manifest", "da_benchmark.generate_metrics", "da_benchmark.samples_plot",
     "da_benchmark.class_freq_table"],
    name="prepare_data",
    namespace="da_benchmark",
)


def create_pipeline(name: str = "da_benchmark") -> Pipeline:
    return pipeline([PREPARE_BENCHMARK], tags="da_benchmark")
