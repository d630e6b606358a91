"""The typed schema of ``parameters_mi_aod.yml`` (spec §7), shared by every registered MI-AOD variant."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from cvpapers.engine.config import CudaParams, ParameterError, RunParams, StrictModel


class DataConfig(StrictModel):
    source: Literal["embedded", "voc"] = "embedded"
    # embedded: where ShapesDet-AL is written in the VOC layout ({pipeline} = the registered pipeline being
    # run, so variants never rewrite each other's images); voc: the VOCdevkit folder
    root: str = "data/01_raw/{pipeline}/VOCdevkit"
    voc_pool_sets: tuple[tuple[str, str], ...] = (("VOC2007", "trainval"), ("VOC2012", "trainval"))
    voc_test_sets: tuple[tuple[str, str], ...] = (("VOC2007", "test"),)
    image_size: int = Field(96, ge=32)       # embedded: generated square side (held in memory)
    # voc (read from disk as the official code does): resize to fit (long edge, short edge) keeping the ratio
    # (MMDetection img_scale=(1000, 600), keep_ratio=True), batches padded to a multiple of size_divisor
    img_scale: tuple[int, int] = (1000, 600)
    size_divisor: int = Field(32, ge=1)
    workers: int = Field(0, ge=0)            # voc: DataLoader worker processes
    on_bad_sample: Literal["error", "skip"] = "error"   # voc: a file that does not decode stops the run, or is skipped and counted
    pool_size: int = Field(1000, ge=4)
    test_size: int = Field(300, ge=1)
    pool_regime_probs: dict[str, float] = {"easy": 0.60, "hard": 0.25, "clutter": 0.15}
    test_regime_probs: dict[str, float] = {"easy": 0.30, "hard": 0.50, "clutter": 0.20}

    @model_validator(mode="after")
    def _regimes(self) -> DataConfig:
        for key in ("pool_regime_probs", "test_regime_probs"):
            probs = getattr(self, key)
            unknown = set(probs) - {"easy", "hard", "clutter"}
            if unknown:
                raise ValueError(f"{key}: unknown regime(s) {sorted(unknown)} (allowed: easy, hard, clutter)")
            if any(v < 0 for v in probs.values()) or abs(sum(probs.values()) - 1) > 1e-6:
                raise ValueError(f"{key}: probabilities must be ≥ 0 and sum to 1 (got {probs})")
        if self.image_size % 16:
            raise ValueError(f"image_size {self.image_size} must be a multiple of 16 (the tiny detector's P4 stride)")
        if min(self.img_scale) < 1:
            raise ValueError(f"img_scale {list(self.img_scale)} must be two positive sizes (long edge, short edge)")
        return self


class ActiveLearningConfig(StrictModel):
    initial_fraction: float = Field(0.05, gt=0, lt=1)   # paper 0.05 (827 of 16551)
    select_fraction: float = Field(0.05, gt=0, lt=1)    # paper 0.025 (413)


class ModelConfig(StrictModel):
    backbone: Literal["tiny", "resnet50_fpn"] = "tiny"
    fpn_channels: int = Field(64, ge=1)                 # paper 256
    tower_depth: int = Field(1, ge=0)                   # paper 4
    anchor_sizes: tuple[tuple[float, ...], ...] | None = ((16, 20, 25), (32, 40, 50))  # None: RetinaNet octaves
    anchor_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    norm: Literal["bn", "frozen_bn"] = "bn"             # ResNet-50 only
    backbone_weights: str | None = None                 # local ImageNet ResNet-50 state dict (no downloads)
    mil_weight_mode: Literal["code", "paper"] = "code"

    def detector_config(self, num_classes: int) -> dict[str, Any]:
        """The keyword arguments of ``heads.build_miaod_detector`` (a checkpoint's config): weights excluded,
        they are in the checkpoint."""
        return {"backbone": self.backbone, "num_classes": num_classes, "fpn_channels": self.fpn_channels,
                "tower_depth": self.tower_depth,
                "anchor_sizes": [list(s) for s in self.anchor_sizes] if self.anchor_sizes is not None else None,
                "anchor_ratios": list(self.anchor_ratios), "norm": self.norm}

    @model_validator(mode="after")
    def _tiny_has_no_pretrained_parts(self) -> ModelConfig:
        if self.backbone == "tiny" and (self.backbone_weights is not None or self.norm != "bn"):
            raise ValueError("backbone_weights and norm: frozen_bn apply to resnet50_fpn only; the tiny backbone "
                             "trains from scratch with BatchNorm")
        return self


class TrainConfig(StrictModel):
    optimizer: Literal["sgd", "adam", "adamw"] = "adamw"   # paper: sgd
    lr: float = Field(1e-3, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0)                # code: 5e-4
    batch_size: int = Field(8, ge=1)                       # paper 2
    budget_unit: Literal["iterations", "epochs"] = "iterations"  # epochs: iters_* count passes over X_L
    iters_label_first: int = Field(210, ge=1)              # Stage A; paper 3 epochs × 2 repeats
    outer_loops: int = Field(2, ge=1)                      # paper 2
    iters_minmax: int = Field(56, ge=1)                    # Stages B and C; each iteration = labelled + unlabelled step
    iters_label: int = Field(84, ge=1)                     # Stage D; paper 3 epochs × 2 repeats
    lr_drop_last_fraction: float = Field(0.33, ge=0, lt=1) # last share of the final Stage D at lr × 0.1
    grad_clip_norm: float | None = Field(10.0, gt=0)       # not in the paper; stabilises from-scratch training
    stage_order: Literal["code", "paper"] = "code"
    focal_norm: Literal["batch", "per_image"] = "batch"    # MMDetection: the batch's positives
    flip_prob: float = Field(0.5, ge=0, le=1)              # horizontal flip, as the paper's pipeline


class MiaodConfig(StrictModel):
    param_lambda: float = Field(0.5, ge=0)           # paper 0.5
    k_top: int = Field(150, ge=1)                    # paper 10000 (~8.6 % of anchors)
    uncertainty_norm: Literal["l2", "l1"] = "l2"     # code l2, paper l1
    pseudo_label_thr: float = Field(0.5, gt=0, lt=1)


class EvalConfig(StrictModel):
    iou_thr: float = Field(0.5, gt=0, lt=1)
    ap_mode: Literal["area", "11points"] = "area"    # VOC2007 test: 11points
    score_thr: float = Field(0.05, ge=0, lt=1)
    nms_iou: float = Field(0.5, gt=0, le=1)
    max_dets: int = Field(100, ge=1)
    pre_nms_top: int = Field(1000, ge=1)
    score_head: Literal["f1", "mean"] = "f1"         # code: f1 only
    batch_size: int = Field(32, ge=1)                # test set and pool scoring; code: 1

    def detect_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``RetinaDetector.detect_from``."""
        return {"score_thr": self.score_thr, "nms_iou": self.nms_iou, "max_dets": self.max_dets,
                "pre_nms_top": self.pre_nms_top, "score_head": self.score_head}


class ReportConfig(StrictModel):
    n_selected_images: int = Field(8, ge=0)          # top selected images drawn per cycle
    hist_bins: int = Field(40, ge=2)


class MiaodParams(RunParams):
    seed: int = Field(666, ge=0)
    cuda: CudaParams = CudaParams(channels_last=True)  # faster for RetinaNet under bf16 (issue 12)
    data: DataConfig = DataConfig()
    al: ActiveLearningConfig = ActiveLearningConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    miaod: MiaodConfig = MiaodConfig()
    eval: EvalConfig = EvalConfig()
    report: ReportConfig = ReportConfig()

    @model_validator(mode="after")
    def _anchors(self) -> MiaodParams:
        levels = {"tiny": 2, "resnet50_fpn": 5}[self.model.backbone]
        sizes = self.model.anchor_sizes
        if sizes is not None and len(sizes) != levels:
            raise ValueError(f"model.anchor_sizes has {len(sizes)} levels but the {self.model.backbone} backbone "
                             f"has {levels}; give one list per level or null for the RetinaNet octave sizes")
        if sizes is not None and len({len(s) for s in sizes}) != 1:
            raise ValueError("model.anchor_sizes: every level needs the same number of sizes (shared heads)")
        return self


def preflight(params: MiaodParams) -> None:
    """The VOC devkit and any local backbone weights must exist before any node runs."""
    if params.data.source == "voc":
        root = Path(params.data.root)
        need = [root / year / "ImageSets" / "Main" / f"{split}.txt"
                for year, split in (*params.data.voc_pool_sets, *params.data.voc_test_sets)]
        missing = [str(p) for p in need if not p.is_file()]
        if missing:
            raise ParameterError(
                f"mi_aod.data.root: {', '.join(missing)} not found; expected "
                "<root>/<year>/{Annotations/<id>.xml, ImageSets/Main/<split>.txt, JPEGImages/<id>.jpg}")
    weights = params.model.backbone_weights
    if weights is not None and not Path(weights).is_file():
        raise ParameterError(f"mi_aod.model.backbone_weights: {weights} not found (a local ResNet-50 state dict)")


def al_budget(pool_size: int, al: ActiveLearningConfig, cycles: int) -> tuple[int, int]:
    """(initial labelled size, images added per cycle), as the code's ``len(pool) // 20`` and ``// 40``,
    checked against the pool so that no cycle runs out of images to select."""
    n_init, n_select = int(pool_size * al.initial_fraction), int(pool_size * al.select_fraction)
    if n_init < 1 or n_select < 1:
        raise ParameterError(f"mi_aod.al: a pool of {pool_size} images gives {n_init} initial and {n_select} "
                             "selected images per cycle; raise initial_fraction / select_fraction")
    final = n_init + (cycles - 1) * n_select
    if final > pool_size:
        raise ParameterError(
            f"mi_aod.al: {cycles} cycles need {n_init} + {cycles - 1} × {n_select} = {final} labelled images but "
            f"the pool has {pool_size}; lower initial_fraction / select_fraction or raise data.pool_size")
    return n_init, n_select
