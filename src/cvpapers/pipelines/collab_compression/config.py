"""The typed schema of ``parameters_collab_compression.yml``: checked when the run starts, before any node."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from cvpapers.data.classification_source import ClassificationDataConfig, check_root
from cvpapers.engine.config import ParameterError, RunParams, StrictModel, check_device_available

#: The three variants: one pretrained model and one mean gradient, three unit families (the official `com_ops`).
VARIANTS: dict[str, tuple[str, ...]] = {
    "cc": ("pruning", "td"),
    "prune_only": ("pruning",),
    "td_only": ("td",),
}


class DataConfig(ClassificationDataConfig):
    """The shared classification data at dcff's benchmark size (spec §8), written under this pipeline's folder."""

    root: str = "data/01_raw/collab_compression"
    n_train: int = Field(3000, ge=10)
    imagenet_train_dir: str = "train"  # the official code reads <root>/train and <root>/val


class ModelConfig(StrictModel):
    arch: Literal["vgg_small", "resnet56", "resnet50", "vgg16_imagenet"] = "vgg_small"
    weights_path: str | None = (
        None  # official resnet56.pth (linear.* -> fc.*), torchvision ResNet-50 / VGG-16
    )


class AugmentConfig(StrictModel):
    hflip: bool = True
    shift_px: int = Field(2, ge=0)


class StageConfig(StrictModel):
    """One training stage (pretraining or the fine-tuning every variant shares)."""

    epochs: int = Field(20, ge=1)
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int = Field(500, ge=1)
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)
    schedule: Literal["constant", "step", "cosine", "poly"] = "step"
    lr_milestones_frac: list[float] = [0.5, 0.75]
    gamma: float = Field(0.1, gt=0)
    grad_clip: float | None = Field(None, gt=0)  # max-norm of the gradients every step (None: off)
    augment: AugmentConfig = AugmentConfig()

    @field_validator("lr_milestones_frac")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        if any(not 0 < f < 1 for f in v):
            raise ValueError("milestones are fractions of the epochs, each in (0, 1)")
        return sorted(v)


class FinetuneConfig(StageConfig):
    epochs: int = Field(10, ge=1)  # guess (the pilot used 5); paper 300
    lr: float = Field(0.01, gt=0)  # paper 0.1
    weight_decay: float = Field(1e-4, ge=0)
    grad_clip: float | None = Field(1.0, gt=0)  # paper 1.0 (max-norm)


class CompressConfig(StrictModel):
    com_ratio: float = Field(0.5, gt=0, lt=0.95)  # α: fraction of whole-network FLOPs to remove
    com_gamma: float = Field(0.9, ge=0)  # γ: weight of the look-ahead term
    step_frac: float = Field(
        0.05, gt=0, le=1
    )  # units removed per heuristic step / units of the layer (paper 0.01)
    layer_cap: float = Field(0.95, gt=0, lt=1)  # the final clip of a layer's rate
    solver_cap: float | None = Field(
        0.9, gt=0, lt=1
    )  # a capped layer's share while solving (None: layer_cap)
    gcro_solver: Literal["bisection", "gradient_descent"] = "bisection"
    gcro_slope: Literal["equal", "flops_weighted"] = "equal"
    rank_dim_compat: bool = False  # true: R = min(n, c·k) as the official code (pitfall 3)
    grad_batch_size: int = Field(100, ge=1)
    remove_unused_producers: bool = True


class CollabCompressionParams(RunParams):
    report_best_epoch: bool = (
        False  # official: True (best test epoch); False reports the last (no test-set selection)
    )
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    pretrain: StageConfig = StageConfig()
    compress: CompressConfig = CompressConfig()
    finetune: FinetuneConfig = FinetuneConfig()


def preflight(params: CollabCompressionParams) -> None:
    """Checks of the machine rather than the schema, run before any node: dataset and weights must be there."""
    check_root(params.data, "collab_compression.data.root")
    check_device_available(params.device, "collab_compression.device")
    path = params.model.weights_path
    if path is not None and not Path(path).is_file():
        raise ParameterError(
            f"collab_compression.model.weights_path: {path} not found; point it at the pretrained "
            "weights file (official resnet56.pth, or torchvision's resnet50 / vgg16 state dict)"
        )
