"""The typed schema of ``parameters_ssda_dual_mix.yml`` (spec §7); checked before any node runs.

Choices the paper leaves open are parameters ([inferred] in the spec): LAB reference statistics, the
region box distribution, KD temperature and T² scaling, ensemble mode, student and round initialisation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from cvpapers.engine.config import CudaParams, RunParams, StrictModel


class DataRoots(StrictModel):
    """Where each real dataset lives (``data.roots.<name>``)."""

    gta5: str = "data/01_raw/GTA5"
    synthia: str = "data/01_raw/RAND_CITYSCAPES"
    cityscapes: str = "data/01_raw/cityscapes"


class SourceSizes(StrictModel):
    """The size (H, W) each source dataset's images are resized to before the random crop."""

    gta5: tuple[int, int] = (720, 1280)     # official config INPUT_SIZE_SOURCE (1280×720)
    synthia: tuple[int, int] = (760, 1280)  # [inferred] SYNTHIA's native 1280×760, as ADVENT's SYNTHIA config


class PreprocessConfig(StrictModel):
    """The real-data path's preprocessing (spec §3.2, §5; the DDM/ADVENT code: Pillow bicubic resizing)."""

    source_size: SourceSizes = SourceSizes()
    target_size: tuple[int, int] = (512, 1024)  # Cityscapes train images (and labels, nearest) → 1024×512
    crop: tuple[int, int] = (512, 1024)         # random crop of every training image (source 1280×720 → 1024×512)


class DataConfig(StrictModel):
    source: Literal["embedded", "gta5", "synthia"] = "embedded"
    source_style: str = "game"
    target_style: str = "city"
    roots: DataRoots = DataRoots()
    # Real data: subsets for trials (0 = every image); the full sets stream from disk either way.
    max_source_images: int = Field(0, ge=0)
    max_target_images: int = Field(0, ge=0)
    on_bad_sample: Literal["error", "skip"] = "error"  # skip: leave undecodable samples out (logged, counted)
    workers: int = Field(0, ge=0)                       # DataLoader worker processes (real data)
    preprocess: PreprocessConfig = PreprocessConfig()

    @property
    def real(self) -> bool:
        return self.source != "embedded"


class LabConfig(StrictModel):
    enabled: bool = True
    reference: Literal["random_image", "domain_mean"] = "random_image"
    eps: float = Field(1e-6, gt=0)
    # Real data: the before/after LAB distances are measured on this many source images (0 = all of them).
    stats_images: int = Field(200, ge=0)


class ModelConfig(StrictModel):
    name: Literal["tiny_deeplabv2", "deeplabv2_r101"] = "tiny_deeplabv2"
    widths: list[int] = [16, 32, 48, 64]
    rates: list[int] = [1, 2, 4, 6]
    aux: bool = True
    weights_path: str | None = None  # deeplabv2_r101: local ImageNet backbone weights (never downloaded)
    input_norm: Literal["embedded", "caffe"] = "embedded"  # caffe: BGR + ImageNet mean (pretrained R101)


class TrainConfig(StrictModel):
    optimizer: Literal["adam", "sgd", "adamw"] = "adam"
    lr: float = Field(2e-3, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    poly_power: float = Field(0.9, ge=0)
    batch_size: int = Field(8, ge=2)
    iters: int = Field(300, ge=1)
    iters_later_rounds: int | None = Field(None, ge=1)
    eval_every: int = Field(50, ge=1)
    lambda_aux: float = Field(0.1, ge=0)
    hflip: bool = False


class RegionTeacherConfig(StrictModel):
    box_area: float = Field(0.5, gt=0, le=1)
    box_area_mode: Literal["fixed", "uniform"] = "fixed"
    box_aspect_range: tuple[float, float] = (0.5, 2.0)


class SampleTeacherConfig(StrictModel):
    source_fraction: float = Field(0.5, gt=0, lt=1)


class TeacherConfig(StrictModel):
    rl: RegionTeacherConfig = RegionTeacherConfig()
    sl: SampleTeacherConfig = SampleTeacherConfig()


class StudentConfig(StrictModel):
    lambda_kl: float = Field(0.5, ge=0)
    lambda_ce: float = Field(1.0, ge=0)
    kd_temperature: float = Field(1.0, gt=0)
    kd_t2_scaling: bool = True
    ensemble_mode: Literal["prob", "logit"] = "prob"
    unlabelled_batch: int = Field(8, ge=1)
    labelled_batch: int = Field(4, ge=1)
    init: Literal["fresh", "from_sl", "from_rl", "previous_round"] = "fresh"


class PseudoConfig(StrictModel):
    portion: float = Field(0.5, gt=0, le=1)
    max_threshold: float = Field(0.9, gt=0, le=1)
    method: Literal["exact", "histogram"] = "exact"
    bins: int = Field(1000, ge=10)  # histogram resolution on [0, 1]
    # Real data: pseudo-label PNGs go to <label_dir>/r<round>/ ({pipeline}: the registered pipeline).
    label_dir: str = "data/05_model_input/{pipeline}/pseudo_labels"


class EvalConfig(StrictModel):
    batch_size: int = Field(50, ge=1)
    # Real data: the network sees val images resized to input_size (null: full resolution), in windows of
    # ``window`` (null: whole) every ``window_stride`` (null: half a window); logits are scored at label size.
    input_size: tuple[int, int] | None = (512, 1024)
    window: tuple[int, int] | None = None
    window_stride: tuple[int, int] | None = None


class BaselinesConfig(StrictModel):
    source_only: bool = True


class SsdaParams(RunParams):
    """DDM's parameters after the run fields (seed, device, cpu_threads, resume, checkpoint_dir, deterministic)."""

    cuda: CudaParams = CudaParams(channels_last=True)  # faster for DeepLab-v2 under bf16 (issue 12)
    data: DataConfig = DataConfig()
    n_labelled: int = Field(4, ge=1)
    round_init: Literal["fresh", "previous_round"] = "fresh"
    lab: LabConfig = LabConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    teacher: TeacherConfig = TeacherConfig()
    student: StudentConfig = StudentConfig()
    pseudo: PseudoConfig = PseudoConfig()
    eval: EvalConfig = EvalConfig()
    baselines: BaselinesConfig = BaselinesConfig()

    @model_validator(mode="after")
    def _consistent(self) -> SsdaParams:
        if self.model.name == "tiny_deeplabv2" and len(self.model.widths) != 4:
            raise ValueError("model.widths needs 4 values (stem1, stem2/layer1, layer2, layer3)")
        if self.student.init == "previous_round" and self.round_init != "previous_round":
            raise ValueError("student.init 'previous_round' needs round_init: previous_round")
        if self.data.real:
            self._check_real()
        return self

    def _check_real(self) -> None:
        if self.pseudo.method != "histogram":
            raise ValueError("pseudo.method: exact needs every confidence of the unlabelled set in memory; real data "
                             "streams, so use histogram (thresholds within 1/bins of exact)")
        pre = self.data.preprocess
        src = getattr(pre.source_size, self.data.source)
        for name, size in ((f"data.preprocess.source_size.{self.data.source}", src),
                           ("data.preprocess.target_size", pre.target_size)):
            if pre.crop[0] > size[0] or pre.crop[1] > size[1]:
                raise ValueError(f"data.preprocess.crop {list(pre.crop)} is larger than {name} {list(size)}")
        if self.eval.window is not None and self.eval.input_size is not None and (
                self.eval.window[0] > self.eval.input_size[0] or self.eval.window[1] > self.eval.input_size[1]):
            raise ValueError(f"eval.window {list(self.eval.window)} is larger than eval.input_size")


def preflight(params: SsdaParams) -> None:
    """The real datasets must be where the parameters say, before any node runs."""
    from cvpapers.engine.config import ParameterError

    if params.data.source == "embedded":
        _check_weights(params)
        return
    roots = params.data.roots
    needed = {
        "ssda_dual_mix.data.roots.cityscapes": roots.cityscapes,
        f"ssda_dual_mix.data.roots.{params.data.source}": getattr(roots, params.data.source),
    }
    missing = [f"{key} = {path}" for key, path in needed.items() if not Path(path).is_dir()]
    if missing:
        raise ParameterError(
            "dataset folder(s) not found: "
            + "; ".join(missing)
            + ". See README (ssda_dual_mix, real data) for the expected layouts."
        )
    _check_weights(params)


def _check_weights(params: SsdaParams) -> None:
    """A given weights file must exist; DeepLab-v2 without one trains from scratch (warned, not refused)."""
    import logging

    from cvpapers.engine.config import ParameterError

    path = params.model.weights_path
    if path is not None and not Path(path).is_file():
        raise ParameterError(f"ssda_dual_mix.model.weights_path: {path} is not a file (a local torch state dict)")
    if params.model.name == "deeplabv2_r101" and path is None:
        logging.getLogger(__name__).warning(
            "ssda_dual_mix: DeepLab-v2 ResNet-101 without model.weights_path trains from random initialisation; "
            "the paper starts from ImageNet weights (with model.input_norm: caffe)"
        )
