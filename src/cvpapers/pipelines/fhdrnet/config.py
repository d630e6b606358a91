"""The typed schema of ``parameters_fhdrnet.yml`` (spec §7), shared by ``fhdrnet`` and ``fhdrnet_raw``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from cvpapers.engine.config import RunParams, StrictModel

#: The knobs of :class:`cvpapers.data.hdr_scenes.HdrSceneConfig` that ``data`` sets (``source: embedded``).
SCENE_KNOBS = ("image_size", "exposure_stops", "gamma", "ldr_bits", "dynamic_range_decades", "n_objects",
               "object_radius_px", "motion_px", "camera_shift_px", "noise_shot", "noise_read", "raw_bits")


class DataConfig(StrictModel):
    source: Literal["embedded", "kalantari", "raw_official"] = "embedded"
    # Real datasets (kalantari: <root>/<train_subdir>, <root>/<test_subdir>; raw_official: scene folders + test.lst).
    root: str = "data/01_raw/kalantari"
    train_subdir: str = "Training"
    test_subdir: str = "Test"
    raw_height: int = Field(3464, ge=16)      # RAW mosaic size (the official code hard-codes 3464×5216)
    raw_width: int = Field(5216, ge=16)
    val_fraction: float = Field(0.1, gt=0, lt=1)
    workers: int = Field(0, ge=0)             # DataLoader worker processes reading real scenes (paper: 4)
    on_bad_sample: Literal["error", "skip"] = "error"   # a real scene that fails its preflight or decoding
    # The embedded generator (gamma and raw_bits also describe real data). The defaults are the paper's regime
    # (issue 19): scenes twice the training crop, objects moving farther than AHDRNet-small's receptive-field
    # radius (25 px); the pre-issue-19 benchmark was 64-px whole images, radius 8–16, motion 4–12 px.
    image_size: int = Field(128, ge=16)
    n_train: int = Field(96, ge=2)
    n_val: int = Field(8, ge=1)
    n_test: int = Field(24, ge=1)
    exposure_stops: tuple[float, float] = (2.0, 3.0)
    gamma: float = Field(2.2, gt=0)
    ldr_bits: int = Field(8, ge=4)
    dynamic_range_decades: tuple[float, float] = (1.5, 2.5)
    n_objects: tuple[int, int] = (1, 2)
    object_radius_px: tuple[float, float] = (12.0, 24.0)
    motion_px: tuple[float, float] = (32.0, 64.0)
    camera_shift_px: int = Field(1, ge=0)
    noise_shot: float = Field(2e-3, ge=0)
    noise_read: float = Field(5e-4, ge=0)
    raw_bits: int = Field(14, ge=8, le=16)

    @model_validator(mode="after")
    def _divisible(self) -> DataConfig:
        if self.image_size % 8:
            raise ValueError(f"image_size {self.image_size} must be divisible by 8 (three Haar DWT levels)")
        return self

    def scene_knobs(self) -> dict[str, Any]:
        """The generator's keyword arguments (``HdrSceneConfig(**data.scene_knobs())``)."""
        return {k: getattr(self, k) for k in SCENE_KNOBS}


class ModelConfig(StrictModel):
    nf: int = Field(16, ge=1)
    n_res_blocks: int = Field(3, ge=0)
    wavelet: Literal["haar"] = "haar"
    use_bn: bool = True  # as the official RGB training command (--use-bn) and RAW model; false: no BN


class AhdrConfig(StrictModel):
    nfeat: int = Field(16, ge=1)
    n_dense_layers: int = Field(3, ge=1)
    growth: int = Field(8, ge=1)
    n_drdb: int = Field(3, ge=1)
    # kaiming: the official script's Kaiming-normal conv weights (networks.kaiming_conv_init_); default: PyTorch's
    init: Literal["default", "kaiming"] = "kaiming"


class TrainConfig(StrictModel):
    batch_size: int = Field(8, ge=1)
    iters: int = Field(300, ge=1)
    lr: float = Field(2e-4, gt=0)
    mu: float = Field(5000.0, gt=0)
    sobel_weight: float = Field(0.25, ge=0)
    augment: Literal["dihedral", "none"] = "dihedral"
    crop: int | None = Field(64, ge=16)     # random training crop (real data: 256); None = whole image
    eval_every: int = Field(50, ge=1)
    eval_batch_size: int = Field(8, ge=1)


class FhdrnetParams(RunParams):
    seed: int = Field(2021, ge=0)
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    ahdrnet: AhdrConfig = AhdrConfig()
    train: TrainConfig = TrainConfig()

    @model_validator(mode="after")
    def _crop(self) -> FhdrnetParams:
        if self.train.crop is not None and self.train.crop % 8:
            raise ValueError(f"train.crop {self.train.crop} must be divisible by 8")
        return self


def preflight(params: FhdrnetParams) -> None:
    """A real dataset must be where the parameters say, before any node runs."""
    from cvpapers.engine.config import ParameterError

    d = params.data
    if d.source == "embedded":
        return
    root = Path(d.root)
    need = [root / d.train_subdir, root / d.test_subdir] if d.source == "kalantari" else [root / "test.lst"]
    missing = [str(p) for p in need if not p.exists()]
    if missing:
        layout = ("<root>/Training/<scene>/{3 × .tif, exposure.txt, HDRImg.hdr} and <root>/Test/<scene>/…"
                  if d.source == "kalantari"
                  else "<root>/<scene>/{im1..3.raw, im1..3.txt, gt.raw} and <root>/test.lst")
        raise ParameterError(f"fhdrnet.data.root: {', '.join(missing)} not found; expected {layout}")
