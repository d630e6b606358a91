"""The typed schema of ``parameters_dcff.yml``: checked when the run starts, before any node."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from cvpapers.data.classification_source import ClassificationDataConfig, check_root
from cvpapers.engine.config import RunParams, StrictModel, check_device_available


class DataConfig(ClassificationDataConfig):
    """The shared classification data (:mod:`cvpapers.data.classification_source`), written under dcff's folder."""

    root: str = "data/01_raw/dcff"


#: How the convolutions (and the classifier) start; see :mod:`cvpapers.pipelines.dcff.init`.
InitScheme = Literal["auto", "fan_in", "fan_out", "conv_default", "builder"]


class ModelConfig(StrictModel):
    arch: Literal["vgg_small", "vgg16", "resnet56", "resnet110", "resnet50"] = "vgg_small"
    cprate: str = "[0.5]*6"
    # auto: each arch's official rule (vgg16 conv_default, resnet56/110 fan_in, resnet50 fan_out; vgg_small,
    # which has no official code, fan_in like the CIFAR ResNets), so a fused filter starts at a compact
    # filter's scale. builder: the builder's own init (vgg_small: Kaiming fan_out over the c-filter tensor).
    init: InitScheme = "auto"

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
    epochs: int = Field(200, ge=2)  # where every arm plateaued on validation (dcff_budget); L1 needs 1 + 1
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int = Field(500, ge=1)
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = Field(
        0.1, gt=0
    )  # at ``lr_reference_batch`` samples per step; scaled linearly to ``batch_size``
    lr_reference_batch: int = Field(256, ge=1)  # the official CIFAR recipe: lr 0.1 at batch 256
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

    def scaled_lr(self, lr: float | None = None) -> float:
        """``lr`` (default ``self.lr``) scaled linearly from ``lr_reference_batch`` to ``batch_size``
        (Goyal et al.'s rule: the same step size per sample as the official recipe)."""
        return float(self.lr if lr is None else lr) * self.batch_size / self.lr_reference_batch


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
            raise ValueError(
                f"T_end ({self.T_end}) must exceed T_start ({self.T_start}): the temperature rises"
            )
        return self


class L1Config(StrictModel):
    pretrain_frac: float = Field(0.5, gt=0, lt=1)
    finetune_lr: float = Field(0.08, gt=0)  # at ``train.lr_reference_batch``, scaled like ``train.lr``


class BaselinesConfig(StrictModel):
    l1: L1Config = L1Config()
    scratch: bool = True
    full: bool = False


class BudgetStudyConfig(StrictModel):
    """The ``dcff_budget`` pipeline: every arm trained at each budget on the training images minus a
    validation share carved from them (never the test set), to find where every arm has plateaued."""

    val_frac: float = Field(0.2, gt=0, lt=1)
    epochs: list[int] = [10, 20, 40, 60, 90, 120, 160, 200, 240, 280]

    @field_validator("epochs", mode="before")
    @classmethod
    def _spaced(cls, v: object) -> object:
        # `kedro run --params` splits on commas, so a list can be given as "10 20 40" there.
        return v.split() if isinstance(v, str) else v

    @field_validator("epochs")
    @classmethod
    def _budgets(cls, v: list[int]) -> list[int]:
        if not v or any(e < 2 for e in v):
            raise ValueError("give at least one budget, each >= 2 epochs (the L1 baseline needs 1 + 1)")
        return sorted(set(v))


class DcffParams(RunParams):
    report_best_epoch: bool = True
    # paired: every arm draws its initial weights from one seed purpose ("init", per layer, sliced so that
    # shapes the arms share start equal) and L1's fine-tuning sees the batches of DCFF's epochs it replaces;
    # per_arm: the earlier behaviour (seeds "dcff"/"l1"/"scratch", fine-tuning replays epochs 0, 1, …).
    arm_seeds: Literal["paired", "per_arm"] = "paired"
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    fusion: FusionConfig = FusionConfig()
    baselines: BaselinesConfig = BaselinesConfig()
    budget_study: BudgetStudyConfig = BudgetStudyConfig()


def preflight(params: DcffParams) -> None:
    """Checks of the machine rather than the schema, run before any node: the dataset must be there."""
    check_root(params.data, "dcff.data.root")
    check_device_available(params.device, "dcff.device")
