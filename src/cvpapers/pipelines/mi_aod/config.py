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
    # A tiny backbone pretrained by ``pretrain_backbone`` is trained as the code trains its ImageNet ResNet:
    # BatchNorm statistics frozen (MMDetection norm_eval=True) and the first stage frozen (frozen_stages=1:
    # stem + layer1). A from-scratch backbone ignores both (its statistics must be learnt).
    norm_eval: bool = True
    frozen_stages: int = Field(1, ge=0, le=4)

    def detector_config(self, num_classes: int, pretrained: bool = False) -> dict[str, Any]:
        """The keyword arguments of ``heads.build_miaod_detector`` (a checkpoint's config): weights excluded,
        they are in the checkpoint. ``pretrained``: the tiny backbone gets ``norm_eval``/``frozen_stages``."""
        config = {"backbone": self.backbone, "num_classes": num_classes, "fpn_channels": self.fpn_channels,
                  "tower_depth": self.tower_depth,
                  "anchor_sizes": [list(s) for s in self.anchor_sizes] if self.anchor_sizes is not None else None,
                  "anchor_ratios": list(self.anchor_ratios), "norm": self.norm}
        if pretrained and self.backbone == "tiny":
            config.update(norm_eval=self.norm_eval, frozen_stages=self.frozen_stages)
        return config

    @model_validator(mode="after")
    def _tiny_has_no_pretrained_parts(self) -> ModelConfig:
        if self.backbone == "tiny" and (self.backbone_weights is not None or self.norm != "bn"):
            raise ValueError("backbone_weights and norm: frozen_bn apply to resnet50_fpn only; the tiny backbone "
                             "trains from scratch with BatchNorm")
        return self


class TrainConfig(StrictModel):
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"     # code: sgd
    lr: float = Field(3e-3, gt=0)                          # code 1e-3 (for ~10^4 steps a cycle; see the README)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)                # code: 5e-4
    batch_size: int = Field(2, ge=1)                       # code 2
    budget_unit: Literal["iterations", "epochs"] = "epochs"  # epochs: iters_* count passes over X_L
    iters_label_first: int = Field(3, ge=1)                # Stage A; code 3 epochs × X_L_repeat 2
    outer_loops: int = Field(2, ge=1)                      # code 2
    iters_minmax: int = Field(1, ge=1)                     # Stages B and C; each iteration = labelled + unlabelled step
    iters_label: int = Field(3, ge=1)                      # Stage D; code 3 epochs × 2 repeats
    lr_drop_last_fraction: float = Field(1 / 3, ge=0, lt=1)  # last share of the final Stage D at lr × 0.1
    grad_clip_norm: float | None = Field(None, gt=0)       # code: none
    stage_order: Literal["code", "paper"] = "code"
    focal_norm: Literal["batch", "per_image"] = "batch"    # MMDetection: the batch's positives
    flip_prob: float = Field(0.5, ge=0, le=1)              # horizontal flip, as the paper's pipeline


class PretrainConfig(StrictModel):
    """``pretrain_backbone``: the tiny backbone trained as an image classifier on ShapesCls, the ImageNet
    stand-in (the detection scenes' renderer, single objects of the detector's 4 shapes + 4 more, its own
    seed), then loaded fresh into every cycle's detector, MI-AOD and Random alike."""

    enabled: bool = True                       # false: the tiny backbone trains from scratch every cycle
    n_train: int = Field(4000, ge=1)
    n_val: int = Field(500, ge=1)              # held-out stand-in images: the pretraining's accuracy curve
    extra_classes: bool = True                 # 8 shapes (ellipse, star, pentagon, hexagon added) or the 4
    regime_probs: dict[str, float] = {"easy": 1 / 3, "hard": 1 / 3, "clutter": 1 / 3}
    object_scale: float = Field(2.0, gt=0)     # × the regimes' object sizes: object-centric, as ImageNet photos
    iters: int = Field(1500, ge=1)
    batch_size: int = Field(32, ge=1)
    optimizer: Literal["sgd", "adam", "adamw"] = "adamw"
    lr: float = Field(1e-3, gt=0)              # poly decay over ``iters``
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0)
    eval_every: int = Field(300, ge=1)

    @model_validator(mode="after")
    def _regimes(self) -> PretrainConfig:
        unknown = set(self.regime_probs) - {"easy", "hard", "clutter"}
        if unknown or any(v < 0 for v in self.regime_probs.values()) or abs(sum(self.regime_probs.values()) - 1) > 1e-6:
            raise ValueError(f"pretrain.regime_probs: regimes easy/hard/clutter with probabilities ≥ 0 summing to 1 "
                             f"(got {self.regime_probs})")
        return self


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
    pretrain: PretrainConfig = PretrainConfig()
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
        if self.pretrain.enabled and self.model.backbone != "tiny":
            raise ValueError("pretrain.enabled: the ShapesCls pretraining is for the tiny backbone; the ResNet-50 "
                             "takes ImageNet weights from model.backbone_weights (set pretrain.enabled: false)")
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
