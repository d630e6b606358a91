"""Parameters of the predict pipelines (``params:predict``): which checkpoint, which folder, how outputs look.

One section serves every ``<pipeline>_predict`` variant: the variant fixes the trained pipeline, ``model``
names it only for the plain ``predict`` pipeline. ``{model}`` in ``input_dir`` becomes the trained pipeline
(``dcff``), ``{pipeline}`` in ``output_dir`` the registered predict pipeline (``dcff_predict``), so variants
and environments never write over each other.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from cvpapers.engine.config import RunParams

#: The trained pipelines a predict pipeline can apply (:data:`cvpapers.io.trained.FAMILIES`).
MODELS = ("collab_compression", "dcff", "fhdrnet", "mi_aod", "msda_collab", "mtda_collab", "pss_net", "recu",
          "ssda_dual_mix", "uformer")  # fmt: skip


class PredictParams(RunParams):
    # Plain `predict` only: the trained pipeline (each `<p>_predict` fixes its own).
    model: str = "dcff"
    # "" = the pipeline's final model in data/06_models; or a .pt file, runs:/<run_id>/<path>, an MLflow run id.
    checkpoint: str = ""
    # The final (last-epoch) weights, or the best epoch's where the checkpoint keeps them (dcff, recu).
    weights: Literal["last", "best"] = "last"
    input_dir: str = "data/01_raw/predict/{model}"  # the user's images in the task's natural layout
    output_dir: str = "data/07_model_output/{pipeline}"  # + env_dir in conf/base: per environment
    env_dir: str = ""  # conf/base sets ${globals:env_dir}: the environment the model was trained in
    tracking_uri: str = ""  # "" = the run's MLflow store (the project's sqlite:///mlflow.db)
    batch_size: int = Field(16, ge=1)
    workers: int = Field(0, ge=0)  # DataLoader worker processes reading the images
    top_k: int = Field(3, ge=1)  # classification: classes listed per image
    # Detection: boxes drawn on the images (JSON and VOC XML keep every box above the pipeline's eval.score_thr).
    draw_score_thr: float = Field(0.3, ge=0.0, le=1.0)
    overlay_alpha: float = Field(0.5, ge=0.0, le=1.0)  # segmentation: mask opacity on the overlay
    hdr_mu: float = Field(5000.0, gt=0)  # HDR: μ-law tone mapping of the PNG (the paper's μ)
    sheet_size: int = Field(16, ge=1)  # images on the contact sheet
    # skip: leave out files that do not decode (logged, counted) instead of stopping.
    on_bad_sample: Literal["error", "skip"] = "error"

    @field_validator("model")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in MODELS:
            raise ValueError(f"unknown model {value!r}; allowed: {', '.join(MODELS)}")
        return value
