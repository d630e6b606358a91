"""Parameters of the export pipelines (``params:export``): which checkpoint, which exporters, how it is checked.

One section serves every ``<pipeline>_export`` variant: the variant fixes the trained pipeline, ``model`` names
it only for the plain ``export`` pipeline. ``{pipeline}`` in ``export_dir`` becomes the registered export
pipeline (``dcff_export``), so variants and environments never write over each other.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from cvpapers.engine.config import RunParams

#: The trained pipelines an export pipeline serves: the compact and binarised classifiers, PSS-Net's retained
#: subnets and the restoration networks (issue 20).
MODELS = ("collab_compression", "dcff", "fhdrnet", "pss_net", "recu", "uformer")


class ExportParams(RunParams):
    device: str = Field("cpu", pattern=r"^cpu$")  # exported files are checked and timed on the CPU
    model: str = "dcff"  # plain `export` only: the trained pipeline (`<p>_export` fixes its own)
    # "" = the pipeline's final model in data/06_models; a .pt file; runs:/<id>/<path>; an MLflow run id
    checkpoint: str = ""
    env_dir: str = ""  # conf/base sets ${globals:env_dir}: the environment the model was trained in
    tracking_uri: str = ""  # "" = the run's MLflow store (the project's sqlite:///mlflow.db)
    export_dir: str = "data/06_models/{pipeline}"  # + env_dir in conf/base: the .onnx / .pt2 files
    exporters: list[Literal["onnx", "torch_export"]] = Field(default_factory=lambda: ["onnx", "torch_export"])
    dynamic_batch: bool = True  # export a symbolic batch size where the exporter keeps it (else batch 1)
    opset: int | None = None  # ONNX opset; None = the exporter's default
    max_samples: int = Field(512, ge=1)  # test images checked (the first N of the pipeline's test split)
    batch_size: int = Field(64, ge=1)  # batch of the round trip
    latency_runs: int = Field(50, ge=1)  # timed runs at batch 1 (median reported)
    pss_subnets: Literal["retained", "retained_and_max"] = "retained"  # pss_net: which subnets are exported

    @field_validator("model")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in MODELS:
            raise ValueError(f"unknown model {value!r}; allowed: {', '.join(MODELS)}")
        return value

    @field_validator("exporters")
    @classmethod
    def _some(cls, value: list[str]) -> list[str]:
        if not value or len(set(value)) != len(value):
            raise ValueError(f"exporters must list onnx and/or torch_export once each, got {value}")
        return value
