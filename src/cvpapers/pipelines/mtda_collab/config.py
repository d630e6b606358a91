"""The typed schema of ``parameters_mtda_collab.yml`` (spec §7); checked before any node runs.

Nothing beyond the paper's abstract could be verified (spec, Evidence): every reconstructed choice — tagged
[R] recalled, [I] inferred, [D] ours in the spec — is a parameter here, and the README lists them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from cvpapers.engine.config import RunParams, StrictModel

REAL_TARGETS: tuple[str, ...] = ("cityscapes", "idd", "mapillary")


class RealRoots(StrictModel):
    gta5: str = "data/01_raw/GTA5"
    synthia: str = "data/01_raw/RAND_CITYSCAPES"
    cityscapes: str = "data/01_raw/cityscapes"
    idd: str = "data/01_raw/IDD_Segmentation"
    mapillary: str = "data/01_raw/mapillary"


class IddConfig(StrictModel):
    """IDD's label files and the table from their ids to the training classes (layout from recollection)."""

    label_suffix: str = "_gtFine_labellevel3Ids.png"
    mapping: str | None = None  # JSON {"<level id>": trainId}; null: the built-in level-3 → 19 table


class MapillaryConfig(StrictModel):
    """Mapillary Vistas v1.2's label folder, label config and the name → training class table (recollection)."""

    labels_dir: str = "labels"
    config: str = "config.json"
    mapping: str | None = None  # JSON {"<label name>": trainId}; null: the built-in name → 19 table


class DataConfig(StrictModel):
    source: Literal["embedded", "gta5", "synthia"] = "embedded"
    source_style: Literal["game", "synthetic"] = "game"
    target_styles: list[Literal["city", "fog", "night"]] = ["city", "fog", "night"]
    real_targets: list[Literal["cityscapes", "idd", "mapillary"]] = ["cityscapes", "idd"]
    real_roots: RealRoots = RealRoots()
    real_size: tuple[int, int] = (512, 1024)  # real data is held in memory at this H×W
    max_source_images: int = Field(0, ge=0)
    max_target_images: int = Field(0, ge=0)
    idd: IddConfig = IddConfig()
    mapillary: MapillaryConfig = MapillaryConfig()

    @property
    def real(self) -> bool:
        return self.source != "embedded"

    @property
    def targets(self) -> list[str]:
        return list(self.real_targets if self.real else self.target_styles)


class LabConfig(StrictModel):
    reference: Literal["random_image", "domain_mean"] = "random_image"  # [I]
    redraw: Literal["per_batch", "fixed"] = "per_batch"  # [I]
    eps: float = Field(1e-6, gt=0)


class ModelConfig(StrictModel):
    name: Literal["tiny_deeplabv2", "deeplabv2_r101"] = "tiny_deeplabv2"
    widths: list[int] = [16, 32, 48, 64]
    rates: list[int] = [1, 2, 4, 6]
    aux: bool = True
    weights_path: str | None = None
    input_norm: Literal["embedded", "caffe"] = "embedded"


class TrainConfig(StrictModel):
    optimizer: Literal["adam", "sgd", "adamw"] = "adam"
    lr: float = Field(2e-3, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    poly_power: float = Field(0.9, ge=0)
    batch_size: int = Field(8, ge=1)  # per domain
    iters_source: int = Field(300, ge=1)  # θ0 / source-only
    iters: int = Field(100, ge=1)  # each adaptation stage; mixed_single gets 2 × iters
    eval_every: int = Field(50, ge=1)
    lambda_aux: float = Field(0.1, ge=0)
    hflip: bool = False


class SourceOnlyConfig(StrictModel):
    lab: Literal["random_target", "none"] = "random_target"  # [D]


class ExpertConfig(StrictModel):
    init: Literal["source_only", "initial"] = "source_only"  # [D]; paper: ImageNet weights [R]
    expert_uda: Literal["lab_st", "lab_adv", "lab_st_adv"] = "lab_st"  # [I]
    lambda_st: float = Field(1.0, ge=0)
    tau_conf: float = Field(0.9, gt=0, le=1)
    st_rampup_frac: float = Field(0.3, ge=0, le=1)
    lambda_adv: float = Field(0.0, ge=0)


class CclConfig(StrictModel):
    lambda_con: float = Field(0.5, ge=0)  # [D]
    consistency_loss: Literal["kl", "ce_pseudo", "sym_kl"] = "kl"  # [I]
    teacher_mode: Literal["train", "eval"] = "train"  # [D]
    lambda_kd: float = Field(1.0, ge=0)  # [D]
    lambda_src_student: float = Field(1.0, ge=0)  # [D]
    lambda_w: float = Field(0.01, ge=0)  # [D]
    wreg_form: Literal["to_student", "pairwise"] = "to_student"  # [R/I]
    wreg_grad_to_student: bool = False
    student_init: Literal["theta0", "expert_mean"] = "theta0"  # [D]
    student_batch_per_target: int = Field(3, ge=1)  # [D]; also mixed_single's per-target sub-batch


class EvalConfig(StrictModel):
    batch_size: int = Field(50, ge=1)


class MtdaParams(RunParams):
    """MTDA-CCL's parameters after the run fields (seed, device, cpu_threads, resume, checkpoint_dir, …)."""

    data: DataConfig = DataConfig()
    lab: LabConfig = LabConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    source_only: SourceOnlyConfig = SourceOnlyConfig()
    expert: ExpertConfig = ExpertConfig()
    ccl: CclConfig = CclConfig()
    eval: EvalConfig = EvalConfig()

    @model_validator(mode="after")
    def _consistent(self) -> MtdaParams:
        targets = self.data.targets
        if not 2 <= len(targets) <= 3 or len(set(targets)) != len(targets):
            raise ValueError(f"multi-target adaptation needs 2 or 3 distinct targets, got {targets}")
        if self.model.name == "tiny_deeplabv2" and len(self.model.widths) != 4:
            raise ValueError("model.widths needs 4 values (stem1, stem2/layer1, layer2, layer3)")
        if self.expert.expert_uda != "lab_st":
            # Spec §11.11: an adversarial expert needs a discriminator with its own optimiser and lr; the one
            # loop has one optimiser today.
            raise ValueError(
                "expert.expert_uda: only lab_st is implemented (adversarial experts need per-group "
                "learning rates in the shared loop, spec §11.11)"
            )
        if self.ccl.student_batch_per_target > self.train.batch_size:
            raise ValueError(
                "ccl.student_batch_per_target cannot exceed train.batch_size (the student reads the "
                "experts' teacher outputs of the first images of each target batch)"
            )
        return self


def preflight(params: MtdaParams) -> None:
    """The real datasets (and a given weights file) must be where the parameters say, before any node runs."""
    from cvpapers.da.data import require_real_inputs

    roots = params.data.real_roots if params.data.real else None
    needed = {k: getattr(roots, k) for k in (params.data.source, *params.data.real_targets)} if roots is not None else {}
    require_real_inputs("mtda_collab", params.model.weights_path, needed)
