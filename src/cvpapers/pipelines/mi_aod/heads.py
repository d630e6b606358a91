"""MI-AOD's head and detector (spec §3.1–3.2, §4.1, §8.2): two adversarial anchor classifiers f1 and f2, the
MIL head f_mil and the box regressor f_r on a shared RetinaNet-style detector
(:class:`cvpapers.models.detection.RetinaDetector`, which takes its backbone, anchor grid and head).

The stages of the method freeze and train the detector by role (§3.5): g (the backbone), f1, f2, f_mil, f_r;
:func:`modules_by_role` names them. Detections come from f1 alone (the official test path) or from the mean of
f1 and f2 (``score_head="mean"``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from cvpapers.models.detection import (
    PRIOR_PROB,
    Levels,
    RetinaDetector,
    TinyRetinaBackbone,
    anchor_grid_for,
    build_backbone,
    concat_levels,
    normal_init,
    retina_subnet,
)

SCORE_HEADS = ("f1", "mean")
OUTPUTS = ("cls1", "cls2", "mil", "reg")  # the head's outputs, from f1, f2, f_mil and f_r


@dataclass
class HeadOutput:
    """Per-level head outputs, each (N, H_l·W_l·A, K): logits of f1, f2, f_mil (K = C), deltas (K = 4).

    Levels stay separate because the MIL weights are a softmax over the anchors of one level (§3.3). The head
    returns each output as a :class:`~cvpapers.models.detection.Levels`: the per-level tensors are views of
    the levels' concatenation (N, ΣH·W·A, K), which :meth:`cat` returns without copying.
    """

    cls1: Sequence[Tensor] | None
    cls2: Sequence[Tensor] | None
    mil: Sequence[Tensor] | None
    reg: Sequence[Tensor] | None

    def cat(self, name: str) -> Tensor:
        """One output with all levels concatenated along the anchor axis: (N, ΣH·W·A, K)."""
        if name not in OUTPUTS:
            raise KeyError(f"unknown head output {name!r}; expected cls1, cls2, mil or reg")
        levels = getattr(self, name)
        if levels is None:
            raise ValueError(f"head output {name!r} was not computed (the forward's outputs= left it out)")
        return concat_levels(levels, dim=1)

    def float32(self, *names: str) -> HeadOutput:
        """The outputs ``names`` in float32, one cast of each concatenation (the losses' precision): under bf16
        autocast every loss that reads an output then shares one cast. Float32 outputs are kept as they are."""
        cast = {}
        for name in names:
            levels = getattr(self, name)
            if levels is None:
                continue
            full = concat_levels(levels, dim=1)
            if full.dtype != torch.float32:
                cast[name] = Levels(full.float(), [t.shape[1] for t in levels])
        return replace(self, **cast) if cast else self

    @property
    def level_sizes(self) -> list[int]:
        """Anchors per level, H_l·W_l·A (for splitting concatenated per-anchor tensors)."""
        computed = next(levels for levels in (self.cls1, self.cls2, self.mil, self.reg) if levels is not None)
        return [t.shape[1] for t in computed]


class MIAODHead(nn.Module):
    """Four independent RetinaNet subnets shared over levels: classifiers f1, f2, MIL head f_mil (A·C
    outputs each) and box regressor f_r (A·4). Each is ``Sequential(tower=..., out=...)``.

    Init (§3.2): towers of f1, f2, f_r and the final f_r conv N(0, 0.01), bias 0; final convs of f1, f2,
    f_mil N(0, 0.01), bias −log((1−π)/π) with π = 0.01. The f_mil tower keeps PyTorch's default init,
    as in the official code. f1 and f2 draw from the generator one after the other, so they differ —
    the discrepancy the method trains on starts non-zero.
    """

    def __init__(self, in_channels: int, num_anchors: int, num_classes: int, tower_depth: int = 4) -> None:
        super().__init__()
        self.num_anchors = int(num_anchors)
        self.num_classes = int(num_classes)
        ac = self.num_anchors * self.num_classes
        self.f1 = retina_subnet(in_channels, ac, tower_depth)
        self.f2 = retina_subnet(in_channels, ac, tower_depth)
        self.f_mil = retina_subnet(in_channels, ac, tower_depth)
        self.f_r = retina_subnet(in_channels, self.num_anchors * 4, tower_depth)
        prior_bias = -math.log((1.0 - PRIOR_PROB) / PRIOR_PROB)
        for subnet in (self.f1, self.f2, self.f_r):
            for m in subnet.tower.modules():
                if isinstance(m, nn.Conv2d):
                    normal_init(m)
        for subnet in (self.f1, self.f2, self.f_mil):
            normal_init(subnet.out, bias=prior_bias)
        normal_init(self.f_r.out)

    def _per_anchor(self, subnet: nn.Module, features: list[Tensor], k: int) -> Levels:
        """``subnet`` on every level, (N, A·K, H, W) → (N, H·W·A, K) per level, as one concatenation: a single
        ``torch.cat`` of the permuted maps both reorders and joins them (no per-level reshape copies)."""
        maps = [subnet(f) for f in features]
        joined = torch.cat([m.permute(0, 2, 3, 1).flatten(1, 2) for m in maps], dim=1)  # (N, ΣH·W, A·K)
        return Levels(joined.view(joined.shape[0], -1, k), [m.shape[2] * m.shape[3] * self.num_anchors for m in maps])

    def forward(self, features: list[Tensor], outputs: Collection[str] = OUTPUTS) -> HeadOutput:
        """All four outputs, or only ``outputs`` (the others are ``None``): a training step whose losses do
        not read f_r's (unlabelled) or f_mil's (the max stage's labelled steps) output skips that subnet.
        The subnets run in the order f1, f2, f_mil, f_r."""
        if unknown := set(outputs) - set(OUTPUTS):
            raise ValueError(f"unknown head outputs {sorted(unknown)}; expected some of {OUTPUTS}")
        c = self.num_classes
        subnets = {"cls1": (self.f1, c), "cls2": (self.f2, c), "mil": (self.f_mil, c), "reg": (self.f_r, 4)}
        return HeadOutput(**{name: self._per_anchor(net, features, k) if name in outputs else None
                             for name, (net, k) in subnets.items()})

    def class_scores(self, output: HeadOutput, score_head: str = "f1") -> list[Tensor]:
        """Per-level class probabilities for detection: σ(f1) (the official test path) or (σ(f1) + σ(f2))/2."""
        from cvpapers.pipelines.mi_aod.losses import level_sigmoid

        if score_head not in SCORE_HEADS:
            raise ValueError(f"score_head must be one of {SCORE_HEADS}, got {score_head!r}")
        if score_head == "f1":
            return level_sigmoid(output.cls1)
        p1, p2 = level_sigmoid(output.cls1), level_sigmoid(output.cls2)
        return Levels((p1.full + p2.full) / 2, p1.sizes)

    def box_deltas(self, output: HeadOutput) -> list[Tensor]:
        return output.reg


def modules_by_role(model: RetinaDetector) -> dict[str, nn.Module]:
    """The parameter groups the MI-AOD stages freeze and train (§3.5): g, f1, f2, f_mil, f_r."""
    head = model.head
    return {"g": model.backbone, "f1": head.f1, "f2": head.f2, "f_mil": head.f_mil, "f_r": head.f_r}


def build_miaod_detector(
    backbone: str = "tiny",
    num_classes: int = 4,
    fpn_channels: int = 64,
    tower_depth: int = 1,
    anchor_sizes: Sequence[Sequence[float]] | None = None,
    anchor_ratios: Sequence[float] = (0.5, 1.0, 2.0),
    norm: str = "bn",
    extra_from: str = "c5",
    backbone_weights: str | None = None,
    norm_eval: bool = False,
    frozen_stages: int = 0,
) -> RetinaDetector:
    """The detector of the parameters file's ``mi_aod.model`` section (checkpoints name this builder).

    * ``"tiny"`` (§8.2): TinyRetina with ``fpn_channels``, strides 8/16, default anchor sizes
      [[16, 20, 25], [32, 40, 50]]; BatchNorm only, trained from scratch.
    * ``"resnet50_fpn"`` (§4.1): ResNet-50-FPN (256 channels, P3–P7) with ``norm``/``extra_from``, RetinaNet
      anchor sizes 4·2^(j/3)·stride by default, optional local ImageNet weights ``backbone_weights``.
      The paper's head has ``tower_depth=4``; pass it.

    * ``norm_eval`` / ``frozen_stages`` (tiny only): the settings of a pretrained tiny backbone
      (``TinyRetinaBackbone``: BatchNorm kept in eval mode, the first stages frozen); defaults: from scratch.

    The backbone is built (and draws from torch's generator) before the head, as in the official code.
    """
    if norm_eval or frozen_stages:
        if backbone != "tiny":
            raise ValueError("norm_eval / frozen_stages here configure the tiny backbone; the ResNet-50 has its own")
        net = TinyRetinaBackbone(fpn_channels=fpn_channels, norm_eval=norm_eval, frozen_stages=frozen_stages)
    else:
        net = build_backbone(backbone, fpn_channels=fpn_channels, norm=norm, extra_from=extra_from,
                             backbone_weights=backbone_weights)
    grid = anchor_grid_for(net, anchor_sizes, anchor_ratios)
    head = MIAODHead(net.out_channels, grid.num_anchors, num_classes, tower_depth)
    return RetinaDetector(net, grid, head)
