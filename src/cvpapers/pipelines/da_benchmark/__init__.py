"""The shared street-scene benchmark of the domain-adaptation pipelines (``papers/da_benchmark.md``)."""

from typing import Any

ARXIV_ID = ""


def __getattr__(name: str) -> Any:
    if name == "create_pipeline":
        from cvpapers.pipelines.da_benchmark.pipeline import create_pipeline

        return create_pipeline
    raise AttributeError(name)
