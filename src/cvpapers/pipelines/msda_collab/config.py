"""The typed schema of ``parameters_msda_collab.yml`` (spec §7); checked before any node runs.

Everything the abstract does not fix is a parameter (spec header: [DDM], [unofficial], [recollection],
[inferred]): the LAB reference, the collaborative KL's target, temperature and teacher mode, λ_col, λ_t and its
ramp, the ensemble mode and the online pseudo-label rule, the stage split.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from cvpapers.engine.config import CudaParams, RunParams, StrictModel

#: The paper settings (one value of ``data.source`` each): its sources and the class space it trains.
REAL_SETTINGS: dict[str, tuple[str, ...]] = {
    "gta5_synscapes": ("gta5", "synscapes"),
    "gta5_synthia": ("gta5", "synthia"),
}


class RealRoots(StrictModel):
    """Where each real dataset lives (``data.real_roots.<name>``)."""

    gta5: str = "data/01_raw/GTA5"
    synscapes: str = "data/01_raw/Synscapes"
    synthia: str = "data/01_raw/RAND_CITYSCAPES"
    cityscapes: str = "data/01_raw/cityscapes"


class SynscapesLayout(StrictModel):
    """Synscapes' folders under its root ([recollection] of the published layout; spec §10)."""

    image_dir: str = "img/rgb"
    label_dir: str = "img/class"


class DataConfig(StrictModel):
    source: Literal["embedded", "gta5_synscapes", "gta5_synthia"] = "embedded"
    source_styles: list[str] = Field(default_factory=lambda: ["game", "synthetic"], min_length=2)
    target_style: str = "city"
    real_roots: RealRoots = RealRoots()
    real_size: tuple[int, int] = (512, 1024)  # real data is held in memory at this H×W
    max_source_images: int = Field(0, ge=0)  # 0 = all (real data only)
    max_target_images: int = Field(0, ge=0)
    synscapes: SynscapesLayout = SynscapesLayout()

    @property
    def real(self) -> bool:
        return self.source != "embedded"

    @property
    def sources(self) -> tuple[str, ...]:
        """One model per source: the benchmark's styles, or the real setting's datasets."""
        return REAL_SETTINGS[self.source] if self.real else tuple(self.source_styles)

    @property
    def protocol(self) -> str:
        """The DA protocol's name of the class space (:mod:`cvpapers.da.protocol`)."""
        return {"embedded": "embedded", "gta5_synscapes": "gta5", "gta5_synthia": "synthia"}[self.source]


class LabConfig(StrictModel):
    enabled: bool = True
    reference: Literal["random_image", "domain_mean"] = "random_image"
    eps: float = Field(1e-6, gt=0)


class ModelConfig(StrictModel):
    name: Literal["tiny_deeplabv2", "deeplabv2_r101"] = "tiny_deeplabv2"
    widths: list[int] = [16, 32, 48, 64]
    rates: list[int] = [1, 2, 4, 6]
    aux: bool = True
    weights_path: str | None = None  # deeplabv2_r101: local ImageNet backbone weights (never downloaded)
    input_norm: Literal["embedded", "caffe"] = "embedded"


class TrainConfig(StrictModel):
    optimizer: Literal["adam", "sgd", "adamw"] = "adam"
    lr: float = Field(2e-3, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    poly_power: float = Field(0.9, ge=0)
    batch_size: int = Field(8, ge=1)  # the source-combined baselines
    iters: int = Field(400, ge=1)  # every arm; MSCL: stage A + stage B
    eval_every: int = Field(100, ge=1)
    lambda_aux: float = Field(0.1, ge=0)
    hflip: bool = False

    @property
    def chunk(self) -> int:
        """The loop's evaluation chunk: the largest divisor of ``iters`` not above ``eval_every``."""
        return max(d for d in range(1, min(self.eval_every, self.iters) + 1) if self.iters % d == 0)


class CollabConfig(StrictModel):
    stage_a_iters: int = Field(200, ge=0)
    lambda_col: float = Field(0.5, ge=0)
    col_target: Literal["soft", "hard_gt"] = "soft"
    col_temperature: float = Field(1.0, gt=0)
    teacher_mode: Literal["train", "eval"] = "train"
    batch_per_source: int = Field(4, ge=1)


class TargetConfig(StrictModel):
    batch_target: int = Field(4, ge=1)
    lambda_t: float = Field(0.1, ge=0)
    lambda_t_ramp: Literal["linear_half", "linear_full", "none"] = "linear_half"
    ensemble_mode: Literal["prob", "logit"] = "prob"


class PseudoConfig(StrictModel):
    mode: Literal["class_balanced", "fixed_threshold"] = "class_balanced"
    portion: float = Field(0.5, gt=0, le=1)
    max_threshold: float = Field(0.9, gt=0, le=1)


class EvalConfig(StrictModel):
    batch_size: int = Field(50, ge=1)


class BaselinesConfig(StrictModel):
    combined_no_lab: bool = True
    collab_only: bool = False


class MsdaParams(RunParams):
    """MSCL's parameters after the run fields (seed, device, cpu_threads, resume, checkpoint_dir, deterministic)."""

    cuda: CudaParams = CudaParams(channels_last=True)
    data: DataConfig = DataConfig()
    lab: LabConfig = LabConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    collab: CollabConfig = CollabConfig()
    target: TargetConfig = TargetConfig()
    pseudo: PseudoConfig = PseudoConfig()
    eval: EvalConfig = EvalConfig()
    baselines: BaselinesConfig = BaselinesConfig()

    @model_validator(mode="after")
    def _consistent(self) -> MsdaParams:
        if self.model.name == "tiny_deeplabv2" and len(self.model.widths) != 4:
            raise ValueError("model.widths needs 4 values (stem1, stem2/layer1, layer2, layer3)")
        if len(set(self.data.source_styles)) != len(self.data.source_styles):
            raise ValueError(f"data.source_styles must be distinct, got {self.data.source_styles}")
        a, t = self.collab.stage_a_iters, self.train
        if a > t.iters:
            raise ValueError(f"collab.stage_a_iters ({a}) exceeds train.iters ({t.iters})")
        if a % t.chunk:
            raise ValueError(
                f"collab.stage_a_iters ({a}) must be a multiple of the evaluation chunk ({t.chunk}: "
                f"train.iters {t.iters}, train.eval_every {t.eval_every}), so the end of stage A "
                "is an evaluation point"
            )
        return self


def preflight(params: MsdaParams) -> None:
    """The real datasets (and a given weights file) must be where the parameters say, before any node runs."""
    from cvpapers.da.data import require_real_inputs

    roots = params.data.real_roots if params.data.real else None
    needed = {k: getattr(roots, k) for k in (*params.data.sources, "cityscapes")} if roots is not None else {}
    require_real_inputs("msda_collab", params.model.weights_path, needed)
