"""The typed schema of ``parameters_uformer.yml`` (papers/uformer.md §7), shared by ``uformer`` and
``uformer_ablation``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from cvpapers.engine.config import RunParams, StrictModel

#: The ablations the ``uformer_ablation`` DAG knows (fixed in code: the DAG is built at registration).
ABLATIONS = ("no_modulator", "ffn_mlp", "no_shift", "skip_cross", "skip_catcross")


class RealRoots(StrictModel):
    sidd: str = "data/01_raw/SIDD"
    gopro: str = "data/01_raw/GoPro"


class DataConfig(StrictModel):
    source: Literal["embedded", "sidd", "gopro"] = "embedded"
    task: Literal["denoise", "deblur"] = "denoise"  # embedded only; real data: implied by the source
    root: str = "data/01_raw/uformer"  # embedded PNGs (<root>/embedded/<split>/)
    real_roots: RealRoots = RealRoots()
    max_train_images: int = Field(0, ge=0)  # real only; 0 = all
    max_test_images: int = Field(0, ge=0)  # real only; 0 = all
    val_images: int = Field(8, ge=1)  # real only: training pairs held out for validation
    workers: int = Field(0, ge=0)  # real only: DataLoader processes
    on_bad_sample: Literal["error", "skip"] = "error"
    image_size: int = Field(32, ge=16)  # paper: 128 (SIDD) / 256 (GoPro) training patches
    n_train: int = Field(512, ge=1)
    n_val: int = Field(32, ge=1)
    n_test: int = Field(64, ge=1)
    train_sigma: tuple[float, float] = (10.0, 50.0)  # /255, blind Gaussian, drawn per image and batch
    test_sigmas: tuple[float, ...] = (15.0, 25.0, 50.0)
    noise_model: Literal["gaussian", "poisson_gaussian"] = "gaussian"

    @property
    def real_root(self) -> str:
        return getattr(self.real_roots, self.source)

    @property
    def effective_task(self) -> str:
        return {"sidd": "denoise", "gopro": "deblur"}.get(self.source, self.task)


class ModelConfig(StrictModel):
    embed_dim: int = Field(8, ge=1)  # paper T:16, S:32, B:32
    depths: tuple[int, ...] = (1,) * 9  # paper T/S: 2 each; B: [1,2,8,8,2,8,8,2,1]
    num_heads: tuple[int, ...] = (1, 2, 4, 8, 16, 16, 8, 4, 2)
    win_size: int = Field(4, ge=1)  # paper 8
    mlp_ratio: float = Field(4.0, gt=0)
    token_mlp: Literal["leff", "mlp"] = "leff"
    modulator: bool = True
    shift: bool = True
    skip: Literal["concat", "cross", "catcross"] = "concat"
    drop_path_rate: float = Field(0.0, ge=0, lt=1)  # paper 0.1
    padding_mask: Literal["keys", "official"] = "keys"

    @model_validator(mode="after")
    def _nine(self) -> ModelConfig:
        if len(self.depths) != 9 or len(self.num_heads) != 9:
            raise ValueError(
                "model.depths and model.num_heads need 9 entries (4 encoder, bottleneck, 4 decoder)"
            )
        return self


class UNetConfig(StrictModel):
    dim: int = Field(8, ge=1)


class Baselines(StrictModel):
    unet_matched: bool = True


class TrainConfig(StrictModel):
    batch_size: int = Field(16, ge=1)  # paper 32 (SIDD) / 8 (GoPro)
    iters: int = Field(600, ge=1)
    optimizer: Literal["adamw"] = "adamw"  # betas (0.9, 0.999) = paper
    lr: float = Field(1e-3, gt=0)  # paper 2e-4
    weight_decay: float = Field(0.02, ge=0)  # paper 0.02, every parameter
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_iters: int = Field(0, ge=0)  # paper 3 epochs
    min_lr: float = Field(1e-6, ge=0)  # paper 1e-6
    charbonnier_eps: float = Field(1e-3, gt=0)
    mixup: bool = False  # paper: true for denoising after epoch 5
    mixup_from_iter: int = Field(0, ge=0)
    augment: Literal["dihedral8", "none"] = "dihedral8"
    crop: int = Field(128, ge=16)  # real data: random training crop (paper 128 / 256)
    eval_every: int = Field(100, ge=1)
    eval_batch_size: int = Field(64, ge=1)

    @model_validator(mode="after")
    def _floor(self) -> TrainConfig:
        if self.min_lr > self.lr:
            raise ValueError(f"train.min_lr {self.min_lr} exceeds train.lr {self.lr}")
        if self.warmup_iters >= self.iters:
            raise ValueError(f"train.warmup_iters {self.warmup_iters} must be below train.iters {self.iters}")
        return self

    def schedule_name(self) -> str:
        """The shared loop's schedule: ``cosine`` (to 0, no warm-up) when neither is set — today's loop,
        unchanged — else :func:`~cvpapers.engine.optim.warmup_cosine` with the floor ``min_lr / lr``."""
        from cvpapers.engine.optim import warmup_cosine

        if self.schedule == "constant":
            return "constant"
        if self.warmup_iters == 0 and self.min_lr == 0:
            return "cosine"
        return warmup_cosine(self.warmup_iters, self.min_lr / self.lr)


class ArchCheck(StrictModel):
    variants: tuple[Literal["T", "S", "B"], ...] = ("T", "S", "B")
    input_size: int = Field(256, ge=16)


class UformerParams(RunParams):
    seed: int = Field(1234, ge=0)  # paper/code 1234
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    unet: UNetConfig = UNetConfig()
    unet_matched: UNetConfig = UNetConfig(dim=10)
    baselines: Baselines = Baselines()
    train: TrainConfig = TrainConfig()
    ablations: tuple[Literal[ABLATIONS], ...] = ("no_modulator", "ffn_mlp")  # type: ignore[valid-type]
    arch_check: ArchCheck = ArchCheck()

    @model_validator(mode="after")
    def _sizes(self) -> UformerParams:
        m = self.model
        if self.data.source == "embedded":
            size = self.data.image_size
            if size % 16:
                raise ValueError(f"data.image_size {size} must be a multiple of 16 (four down-samplings)")
            for k in range(5):  # every stage a multiple of its effective window (§3.7)
                res = size // 2**k
                win = min(res, m.win_size)
                if res % win:
                    raise ValueError(
                        f"data.image_size {size}: stage {k} ({res}×{res}) is not a multiple of "
                        f"model.win_size {m.win_size}"
                    )
        return self

    def model_size(self) -> int:
        """The nominal ``img_size`` the Uformer is built with (the training patch)."""
        return self.data.image_size if self.data.source == "embedded" else self.train.crop


def preflight(params: UformerParams) -> None:
    """A real dataset must be where the parameters say, before any node runs."""
    from cvpapers.engine.config import ParameterError

    d = params.data
    if d.source == "embedded":
        return
    from cvpapers.data.degraded import GOPRO_LAYOUT, SIDD_LAYOUT

    root = Path(d.real_root)
    need = [root / "train"] + ([root / "val"] if d.source == "sidd" else [root / "test"])
    missing = [str(p) for p in need if not p.is_dir()]
    if missing:
        layout = SIDD_LAYOUT if d.source == "sidd" else GOPRO_LAYOUT
        raise ParameterError(
            f"uformer.data.real_roots.{d.source}: {', '.join(missing)} not found; expected {layout}"
        )
