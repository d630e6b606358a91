"""The typed schema of ``parameters_dcff.yml``: checked when the run starts, before any node."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from cvpapers.data.classification_source import ClassificationDataConfig, check_root
from cvpapers.engine.config import RunParams, StrictModel, check_device_available


class DataConfig(ClassificationDataConfig):
    """The shared classification data (:mod:`cvpapers.data.classification_source`), written under dcff's folder."""

    root: str = "data/01_raw/dcff"


class ModelConfig(StrictModel):
    arch: Literal["vgg_small", "vgg16", "resnet56", "resnet110", "resnet50"] = "vgg_small"
    cprate: str = "[0.5]*6"

    @model_validator(mode="after")
    def _rates_fit_arch(self) -> ModelConfig:
        import torch

        from cvpapers.models.classification import build_classifier
        from cvpapers.pipelines.dcff.rates import expand_layer_rates

        try:
            # Built on the meta device: checks widths and residual couplings without allocating weights.
            with torch.device("meta"):
                build_classifier(self.arch, 10, expand_layer_rates(self.arch, self.cprate))
        except ValueError as err:
            raise ValueError(f"cprate {self.cprate!r} does not fit arch '{self.arch}': {err}") from None
        return self


class AugmentConfig(StrictModel):
    hflip: bool = True
    shift_px: int = Field(2, ge=0)


class TrainConfig(StrictModel):
    epochs: int = Field(10, ge=2)  # the L1 baseline needs one epoch on each side of pruning
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int = Field(500, ge=1)
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)
    schedule: Literal["constant", "step", "cosine", "poly"] = "step"
    lr_milestones_frac: list[float] = [0.5, 0.75]
    gamma: float = Field(0.1, gt=0)
    warmup_epochs: float = Field(0.0, ge=0)
    augment: AugmentConfig = AugmentConfig()

    @field_validator("lr_milestones_frac")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        if any(not 0 < f < 1 for f in v):
            raise ValueError("milestones are fractions of the epochs, each in (0, 1)")
        return sorted(v)


class FusionConfig(StrictModel):
    T_start: float = Field(1.0, gt=0)
    T_end: float = Field(1e4, gt=0)
    slope: float = Field(1.0, gt=0)
    kl_eps: float = Field(1e-7, gt=0)
    kl_mode: Literal["official", "logspace"] = "official"
    schedule_unit: Literal["epoch", "iter"] = "iter"
    recompute_every_iters: int = Field(5, ge=1)
    select_order: Literal["sorted"] = "sorted"

    @model_validator(mode="after")
    def _rising(self) -> FusionConfig:
        if self.T_end <= self.T_start:
            raise ValueError(f"T_end ({self.T_end}) must exceed T_start ({self.T_start}): the temperature rises")
        return self


class L1Config(StrictModel):
    pretrain_frac: float = Field(0.5, gt=0, lt=1)
    finetune_lr: float = Field(0.01, gt=0)


class BaselinesConfig(StrictModel):
    l1: L1Config = L1Config()
    scratch: bool = True
    full: bool = False


class DcffParams(RunParams):
    report_best_epoch: bool = True
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    fusion: FusionConfig = FusionConfig()
    baselines: BaselinesConfig = BaselinesConfig()


def preflight(params: DcffParams) -> None:
    """Checks of the machine rather than the schema, run before any node: the dataset must be there."""
    check_root(params.data, "dcff.data.root")
    check_device_available(params.device, "dcff.device")
