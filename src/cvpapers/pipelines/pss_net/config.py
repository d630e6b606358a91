"""The typed schema of ``parameters_pss_net.yml``: checked when the run starts, before any node."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from cvpapers.data.classification_source import ClassificationDataConfig, Normalisation, check_root
from cvpapers.engine.config import RunParams, StrictModel, check_device_available


class DataConfig(ClassificationDataConfig):
    """The shared classification data (:mod:`cvpapers.data.classification_source`) with pss_net's §8 values."""

    root: str = "data/01_raw/pss_net"
    family: Literal["shapes", "shapes10", "gratings", "color_patches"] = "gratings"
    image_size: int = Field(32, ge=8)
    n_train: int = Field(4000, ge=10)
    n_test: int = Field(2000, ge=10)
    noise: float | None = Field(None, ge=0.0)  # null = the family preset's (gratings 0.15, shapes10 0.08)
    rotate: bool | None = None
    normalisation: Normalisation | None = Normalisation(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    imagenet_train_dir: str = "train"
    imagenet_crop_scale: tuple[float, float] = (0.25, 1.0)
    imagenet_lighting: float = Field(0.1, ge=0.0)
    imagenet_color_jitter: float = Field(0.4, ge=0.0)
    calib_size: int = Field(512, ge=1)  # first N training images, fixed order, no augmentation


class ModelConfig(StrictModel):
    arch: Literal["mbv1_tiny", "mobilenet_v1", "mobilenet_v2"] = "mbv1_tiny"
    # mbv1_tiny only (null = spec §8's); mobilenet_v1 uses §4's table, mobilenet_v2 its stages.
    base_channels: list[int] | None = [16, 32, 64, 64, 128, 128]
    strides: list[int] | None = [1, 1, 2, 1, 2, 1]

    @model_validator(mode="after")
    def _same_length(self) -> ModelConfig:
        if self.arch == "mbv1_tiny" and len(self.base_channels or []) != len(self.strides or []):
            raise ValueError(
                "model.base_channels and model.strides need one entry per multiplier (same length)"
            )
        return self


class SpaceConfig(StrictModel):
    width_mult_range: tuple[float, float] = (0.5, 1.0)
    channel_divisor: int = Field(4, ge=1)
    resolutions: list[int] = [24, 28, 32]
    flops_step: float = Field(0.5, gt=0)  # MFLOPs per target (bucket)
    flops_range: tuple[float, float] | None = None  # null = min/max net rounded inwards to flops_step
    gen_map_num: int = Field(20000, ge=100)
    sampler: Literal["marginal", "map"] = "marginal"

    @model_validator(mode="after")
    def _ranges(self) -> SpaceConfig:
        lo, hi = self.width_mult_range
        if not 0 < lo <= hi <= 1:
            raise ValueError(
                f"space.width_mult_range must satisfy 0 < low <= high <= 1, got {self.width_mult_range}"
            )
        r = self.resolutions
        if r != sorted(r) or len({b - a for a, b in zip(r, r[1:], strict=False)}) > 1:
            raise ValueError(f"space.resolutions must be ascending and evenly spaced, got {r}")
        return self


class PssConfig(StrictModel):
    pool_size: int = Field(10, ge=1)
    metric_lambda: float = Field(0.9, ge=0, lt=1)
    p_range: tuple[float, float] = (1.0, 0.01)
    t_range: tuple[float, float] = (1.0, 0.01)
    valid_topk: int = Field(1, ge=1)
    n_random_eval: int = Field(3, ge=1)


class AugmentConfig(StrictModel):
    # Off: mirroring a grating turns orientation θ into π − θ, another class (the spec's flip corrupts labels).
    hflip: bool = False
    shift_px: int = Field(0, ge=0)


class TrainConfig(StrictModel):
    epochs: int = Field(8, ge=1)
    batch_size: int = Field(64, ge=1)
    optimizer: Literal["sgd", "adam", "adamw"] = "adam"
    lr: float = Field(0.002, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: float = Field(0.0, ge=0)
    augment: AugmentConfig = AugmentConfig()


class EvalConfig(StrictModel):
    batch_size: int = Field(500, ge=1)
    calib_batches: int = Field(4, ge=1)
    calib_batch_size: int = Field(128, ge=1)
    max_net_every: int = Field(4, ge=1)
    usnet_width_grid: int = Field(201, ge=2)


class ReportConfig(StrictModel):
    max_net_gate: float = Field(60.0, ge=0, le=100)  # guess: both max nets must reach it (top-1 %)


class PssNetParams(RunParams):
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    space: SpaceConfig = SpaceConfig()
    pss: PssConfig = PssConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    report: ReportConfig = ReportConfig()


def preflight(params: PssNetParams) -> None:
    """Checks of the machine rather than the schema, run before any node: the dataset must be there."""
    check_root(params.data, "pss_net.data.root")
    check_device_available(params.device, "pss_net.device")
