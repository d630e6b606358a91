"""Predict: apply a trained model of any pipeline to a folder of the user's own images.

``<pipeline>_predict`` (one variant per trained pipeline) takes the pipeline's final checkpoint — from
``data/06_models``, a file or an MLflow run — and a folder in the task's natural layout, and writes the
predictions (label CSV; colour masks and overlays; tone-mapped PNG and Radiance ``.hdr`` merges; boxes drawn,
as JSON and as Pascal VOC XML; restored images) plus a contact sheet to ``data/07_model_output/<pipeline>_predict/``
and to MLflow. Where each model's checkpoint and preprocessing live is :mod:`cvpapers.io.trained`'s knowledge;
``inputs.py`` lists and reads the folder (streamed, strict decoding), ``apply.py`` runs a model family on a
batch, ``writers.py`` renders and writes the outputs. No Kedro import here.
"""

from cvpapers.declaration import Declaration, Variant
from cvpapers.pipelines.predict.config import MODELS, PredictParams

DECLARATION = Declaration(
    name="predict",
    title="Predict with a trained model on your own images",
    arxiv="",
    family="tools",
    schema=PredictParams,
    builder="cvpapers.pipelines.predict.pipeline:create_pipeline",
    # Each needs a trained checkpoint, so none runs in the smoke conformance pass (tests/pipelines/predict do).
    variants=tuple(
        Variant(f"{m}_predict", f"applies {m}'s final model", {"model": m}, envs=("base",)) for m in MODELS
    ),
    base_envs=("base",),
)
