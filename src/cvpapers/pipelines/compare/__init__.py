"""The papers that share a benchmark, side by side, read from the project's MLflow store (no training)."""

from cvpapers.declaration import Declaration
from cvpapers.pipelines.compare.config import CompareParams

DECLARATION = Declaration(
    name="compare",
    title="Papers side by side: the compression frontier and the DA papers per target style, from MLflow",
    arxiv="",
    family="report / cross-paper comparison",
    schema=CompareParams,
    builder="cvpapers.pipelines.compare.pipeline:create_pipeline",
)
