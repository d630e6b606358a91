"""The typed schema of ``parameters_recu.yml``: checked when the run starts, before any node."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from cvpapers.data.classification_source import ClassificationDataConfig, Normalisation, check_root
from cvpapers.engine.config import RunParams, StrictModel, check_device_available

#: Spec §8: embedded images normalised with (x − 0.5) / 0.25 (the project's embedded default is std 0.3).
EMBEDDED_NORMALISATION = Normalisation(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


class DataConfig(ClassificationDataConfig):
    """The shared classification data (:mod:`cvpapers.data.classification_source`) with ReCU's §8 defaults."""

    root: str = "data/01_raw/recu"
    family: Literal["shapes", "shapes10", "gratings", "color_patches"] = "color_patches"
    image_size: int = Field(32, ge=8)
    n_train: int = Field(4000, ge=10)
    n_test: int = Field(2000, ge=10)
    noise: float | None = Field(None, ge=0.0)  # null = the family preset's (color_patches 0.5)
    rotate: bool | None = None  # null = the family preset's
    normalisation: Normalisation | None = EMBEDDED_NORMALISATION
    imagenet_train_dir: str = "train"  # the official layout <root>/train, <root>/val
    imagenet_crop_scale: tuple[float, float] = (0.08, 1.25)  # official RandomResizedCrop scale (sic, §5)
    imagenet_lighting: float = Field(0.1, ge=0.0)  # official PCA Lighting(0.1)


class TinyConfig(StrictModel):
    widths: list[int] = [16, 32, 64]
    blocks_per_stage: int = Field(1, ge=1)
    stem_stride: int = Field(2, ge=1, le=2)

    @model_validator(mode="after")
    def _widening(self) -> TinyConfig:
        pairs = zip(self.widths, self.widths[1:], strict=False)
        if not self.widths or any(b < a or (b - a) % 2 for a, b in pairs):
            raise ValueError(
                f"widths {self.widths} must not shrink and widen by even steps (zero-pad shortcut)"
            )
        return self


class ModelConfig(StrictModel):
    arch: Literal[
        "resnet_bireal_tiny",
        "resnet20_1w1a",
        "resnet18_1w1a",
        "vgg_small_1w1a",
        "resnet18_imagenet_1w1a",
        "resnet34_imagenet_1w1a",
    ] = "resnet_bireal_tiny"
    tiny: TinyConfig = TinyConfig()  # read only for resnet_bireal_tiny


class RecuConfig(StrictModel):
    tau_min: float = Field(0.85, gt=0.5, lt=1.0)
    tau_max: float = Field(0.99, gt=0.5, lt=1.0)
    ws_target_std: float = Field(2.8284271, gt=0)  # 2√2: Laplace scale b* = 2 (official code)
    eps: float = Field(1e-5, gt=0)

    @model_validator(mode="after")
    def _rising(self) -> RecuConfig:
        if self.tau_max < self.tau_min:
            raise ValueError(
                f"tau_max ({self.tau_max}) must be >= tau_min ({self.tau_min}): τ rises over training"
            )
        return self


class ArmsConfig(StrictModel):
    ws_only: bool = False  # ablation: standardisation without the clamp
    fp: bool = False  # full-precision reference (a ceiling, not a baseline)


class AugmentConfig(StrictModel):
    hflip: bool = True
    shift_px: int = Field(0, ge=0)


class TrainConfig(StrictModel):
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(64, ge=1)
    eval_batch_size: int = Field(500, ge=1)
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)
    # conv_fc: ImageNet's rule (no decay on BN and the FP downsample convs)
    weight_decay_on: Literal["all", "conv_fc"] = "all"
    schedule: Literal["constant", "step", "cosine", "poly"] = "cosine"
    warmup_epochs: float = Field(1.5, ge=0)
    augment: AugmentConfig = AugmentConfig()


class RecuParams(RunParams):
    report_best_epoch: bool = True
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    recu: RecuConfig = RecuConfig()
    arms: ArmsConfig = ArmsConfig()
    train: TrainConfig = TrainConfig()

    @model_validator(mode="after")
    def _arch_fits_source(self) -> RecuParams:
        imagenet_arch = self.model.arch.endswith("_imagenet_1w1a")
        if imagenet_arch != (self.data.source == "imagenet"):
            raise ValueError(
                f"model.arch '{self.model.arch}' does not fit data.source '{self.data.source}': the *_imagenet_1w1a "
                "nets are for imagenet (224 px), the others for 32-px images (embedded, cifar10)"
            )
        if (
            self.data.source == "embedded"
            and self.model.arch != "resnet_bireal_tiny"
            and self.data.image_size != 32
        ):
            raise ValueError(f"model.arch '{self.model.arch}' needs data.image_size 32")
        return self


def preflight(params: RecuParams) -> None:
    """Checks of the machine rather than the schema, run before any node: the dataset must be there."""
    check_root(params.data, "recu.data.root")
    check_device_available(params.device, "recu.device")
