"""Export: a trained compact, binarised or restoration model to ONNX and ``torch.export``, checked.

``<pipeline>_export`` (one variant per exportable pipeline) takes the pipeline's final checkpoint — from
``data/06_models``, a file or an MLflow run, resolved by :mod:`cvpapers.io.trained` — folds what only training
needs (ReCU's binarised convs become sign → conv → α; a PSS-Net subnet is activated and its BN re-calibrated;
Uformer's padding is made traceable), exports it with each exporter, runs every exported file on a sample of the
pipeline's own test set against the PyTorch outputs, and reports the largest difference, the agreement (top-1
for classifiers, PSNR between outputs for restoration), file size and CPU latency at batch 1
(:mod:`cvpapers.engine.export`). An exporter that fails is a row of the report with its error. No Kedro import
here.
"""

from cvpapers.declaration import Declaration, Variant
from cvpapers.pipelines.export.config import MODELS, ExportParams

DECLARATION = Declaration(
    name="export",
    title="Export trained models to ONNX and torch.export, checked against PyTorch",
    arxiv="",
    family="tools",
    schema=ExportParams,
    builder="cvpapers.pipelines.export.pipeline:create_pipeline",
    # Each needs a trained checkpoint, so none runs in the smoke conformance pass (tests/pipelines/export do).
    variants=tuple(
        Variant(f"{m}_export", f"exports {m}'s final model", {"model": m}, envs=("base",)) for m in MODELS
    ),
    base_envs=("base",),
)
