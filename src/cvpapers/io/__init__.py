"""Kedro datasets the project needs that kedro-datasets lacks.

Each writes its file(s) under ``data/`` and, when an MLflow run is active (the child run of the node
that produced it), attaches them as artifacts: one mechanism for checkpoints, tables and plots.
"""

from cvpapers.io.datasets import FigureDataset, NpzDataset, TableDataset, TorchCheckpointDataset

__all__ = ["FigureDataset", "NpzDataset", "TableDataset", "TorchCheckpointDataset"]
