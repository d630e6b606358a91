"""One-stage anchor detectors (RetinaNet layout) from shared parts, torchvision-style: the detector takes
its backbone, its anchor generator and its head as parameters (``papers/mi_aod.md`` §3.4 a, §4.1, §4.3,
§8.2 describe the parts; the MI-AOD head lives in ``cvpapers.pipelines.mi_aod.heads``).

* Backbones share one interface (``forward(x) -> [P_l]``, ``strides``, ``out_channels``):
  :class:`TinyRetinaBackbone` (CPU-sized, strides 8/16) and :class:`ResNetFPNBackbone` (torchvision
  ResNet-50 + FPN, P3–P7, P6 from C5 as MMDetection or from P5 as torchvision); :func:`build_backbone`
  builds either by name.
* :class:`AnchorGrid` (anchors per level), :func:`assign_targets` (MaxIoU, batched), :func:`encode_boxes` /
  :func:`decode_boxes` (DeltaXYWH), :func:`postprocess` (score threshold, top-k, decode, class-wise NMS).
* :class:`RetinaDetector` (backbone + anchor grid + head): normalises the images, runs backbone and head,
  caches anchors and turns a forward pass into detections. A head is any module with ``num_anchors``,
  ``num_classes``, ``forward(features) -> output``, ``class_scores(output, **options) -> [(N, HWA, C)]``
  (probabilities per level) and ``box_deltas(output) -> [(N, HWA, 4)]``; :func:`retina_subnet` and
  :data:`PRIOR_PROB` are the RetinaNet subnet blocks heads are made of.

Conventions:

* boxes are xyxy in continuous pixel coordinates; widths are ``x2 - x1`` (MMDetection v2, no +1);
* anchors and head outputs of a level are ordered (H, W, A): a head permutes (N, A·K, H, W) to
  (N, H, W, A·K) and reshapes to (N, H·W·A, K), :class:`AnchorGrid` enumerates locations row-major and
  the A anchors of a location innermost;
* every function is vectorised over anchors, boxes and the batch; only FPN levels and (in the
  post-processing) images are looped over.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.ops import FeaturePyramidNetwork, batched_nms
from torchvision.ops.feature_pyramid_network import LastLevelP6P7
from torchvision.ops.misc import FrozenBatchNorm2d

from cvpapers.models.convs import conv_bn_relu

__all__ = [
    "BACKBONES",
    "PRIOR_PROB",
    "AnchorGrid",
    "AnchorTargets",
    "Levels",
    "ResNetFPNBackbone",
    "RetinaDetector",
    "TinyRetinaBackbone",
    "anchor_grid_for",
    "assign_targets",
    "box_iou_batched",
    "build_backbone",
    "concat_levels",
    "decode_boxes",
    "encode_boxes",
    "normal_init",
    "postprocess",
    "retina_subnet",
]

#: Largest |dw|, |dh| accepted by :func:`decode_boxes` (MMDetection's and torchvision's clamp): a box
#: may grow at most 1000/16 times its anchor, so exp() never overflows on a wild regression output.
DEFAULT_MAX_RATIO: float = abs(math.log(16.0 / 1000.0))

#: Input sizes whose anchors :class:`RetinaDetector` keeps (least recently used dropped first).
ANCHOR_CACHE_SIZES: int = 16

#: Focal-loss prior of RetinaNet classification heads: σ(bias) = 0.01 at the start, so the ~10⁵
#: background anchors do not swamp the first iterations.
PRIOR_PROB: float = 0.01


# --------------------------------------------------------------------------------------------------
# Per-level tensors
# --------------------------------------------------------------------------------------------------


class Levels(list):
    """Per-level views of one tensor concatenated over FPN levels along ``dim``: a list of the levels' tensors
    (views, no copies) that also keeps the concatenation (``full``) and the levels' sizes.

    Heads build their outputs this way, (N, ΣA_l, K) with ``dim=1``, and the anchors (ΣA_l, 4) with
    ``dim=0``: per-level code sees the list it always saw, and code that works on all levels at once takes
    ``full`` without another ``torch.cat`` (:func:`concat_levels`). The views along ``dim=1`` are not
    contiguous when N > 1.
    """

    def __init__(self, full: Tensor, sizes: Sequence[int], dim: int = 1) -> None:
        self.sizes = tuple(int(s) for s in sizes)
        super().__init__(full.split(self.sizes, dim))
        self.full = full
        self.dim = dim


def concat_levels(levels: Sequence[Tensor], dim: int = 1) -> Tensor:
    """All levels concatenated along ``dim``: ``levels.full`` for :class:`Levels` built along that axis, else
    ``torch.cat``."""
    if isinstance(levels, Levels) and levels.dim == dim:
        return levels.full
    return torch.cat(list(levels), dim)


# --------------------------------------------------------------------------------------------------
# Boxes
# --------------------------------------------------------------------------------------------------


def box_iou_batched(a: Tensor, b: Tensor) -> Tensor:
    """IoU of xyxy boxes ``a`` (..., A, 4) against ``b`` (..., G, 4) → (..., A, G).

    Leading dimensions broadcast, so anchors (A, 4) against a batch of GT (N, G, 4) give (N, A, G)
    without copying the anchors N times. Degenerate boxes (zero area on both sides) give IoU 0, not NaN.
    """
    a = a.unsqueeze(-2)  # (..., A, 1, 4)
    b = b.unsqueeze(-3)  # (..., 1, G, 4)
    # x and y side by side in the last axis: the same element-wise operations, half the kernels
    wh_a = (a[..., 2:] - a[..., :2]).clamp(min=0)
    wh_b = (b[..., 2:] - b[..., :2]).clamp(min=0)
    area_a = wh_a[..., 0] * wh_a[..., 1]
    area_b = wh_b[..., 0] * wh_b[..., 1]
    iwh = (torch.minimum(a[..., 2:], b[..., 2:]) - torch.maximum(a[..., :2], b[..., :2])).clamp(min=0)
    inter = iwh[..., 0] * iwh[..., 1]
    union = area_a + area_b - inter
    return inter / union.clamp(min=torch.finfo(union.dtype).eps)


def encode_boxes(anchors: Tensor, boxes: Tensor, stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0)) -> Tensor:
    """DeltaXYWH encoding (MMDetection v2 ``bbox2delta``, means 0): boxes relative to anchors.

    ``dx = (gx − px)/pw``, ``dy = (gy − py)/ph``, ``dw = log(gw/pw)``, ``dh = log(gh/ph)``, each divided
    by its std. Shapes broadcast; the result has the broadcast shape (..., 4).
    """
    # (x, y) pairs in the last axis: the same element-wise operations as one coordinate at a time
    p_wh = anchors[..., 2:] - anchors[..., :2]
    p_xy = anchors[..., :2] + 0.5 * p_wh
    g_wh = boxes[..., 2:] - boxes[..., :2]
    g_xy = boxes[..., :2] + 0.5 * g_wh
    d_xy = (g_xy - p_xy) / p_wh
    # log per coordinate, each on its own contiguous ratio (the layout a CPU kernel's results can depend on)
    dw = torch.log(g_wh[..., 0] / p_wh[..., 0])
    dh = torch.log(g_wh[..., 1] / p_wh[..., 1])
    deltas = torch.cat((d_xy, dw.unsqueeze(-1), dh.unsqueeze(-1)), dim=-1)
    if all(float(s) == 1.0 for s in stds):  # x / 1 is x: no division, no host-to-device copy of the stds
        return deltas
    return deltas / deltas.new_tensor(stds)


def decode_boxes(
    anchors: Tensor,
    deltas: Tensor,
    stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    max_ratio: float = DEFAULT_MAX_RATIO,
) -> Tensor:
    """Inverse of :func:`encode_boxes` (MMDetection v2 ``delta2bbox``), dw/dh clamped to ±max_ratio."""
    deltas = deltas * deltas.new_tensor(stds)
    pw = anchors[..., 2] - anchors[..., 0]
    ph = anchors[..., 3] - anchors[..., 1]
    px = anchors[..., 0] + 0.5 * pw
    py = anchors[..., 1] + 0.5 * ph
    gx = px + pw * deltas[..., 0]
    gy = py + ph * deltas[..., 1]
    gw = pw * deltas[..., 2].clamp(-max_ratio, max_ratio).exp()
    gh = ph * deltas[..., 3].clamp(-max_ratio, max_ratio).exp()
    return torch.stack((gx - 0.5 * gw, gy - 0.5 * gh, gx + 0.5 * gw, gy + 0.5 * gh), dim=-1)


# --------------------------------------------------------------------------------------------------
# Anchors
# --------------------------------------------------------------------------------------------------


class AnchorGrid:
    """Anchors of every FPN level, in the (H, W, A) order of the head's reshape.

    Base anchors of a level are centred on 0 (MMDetection v2 with ``center_offset=0``, torchvision) and
    shifted to ``(x·stride, y·stride)``; for ratio r = h/w and size s, ``w = s/√r`` and ``h = s·√r``
    (area s²). Within a location the anchors run ratio-major, size-minor, as in both libraries; only
    consistency with the head matters, and the head is trained on this order.
    """

    def __init__(
        self, strides: Sequence[int], sizes: Sequence[Sequence[float]], ratios: Sequence[float]
    ) -> None:
        if len(strides) != len(sizes):
            raise ValueError(f"anchor sizes have {len(sizes)} levels but there are {len(strides)} strides")
        per_level = {len(s) * len(ratios) for s in sizes}
        if len(per_level) != 1 or 0 in per_level:
            # One head serves all levels, so it predicts the same A per location on every level.
            raise ValueError(f"every level needs the same non-zero number of anchor sizes, got {sizes}")
        self.strides = tuple(int(s) for s in strides)
        self.sizes = tuple(tuple(float(x) for x in s) for s in sizes)
        self.ratios = tuple(float(r) for r in ratios)
        self.num_anchors = per_level.pop()
        self._base = [self._base_anchors(s) for s in self.sizes]

    def _base_anchors(self, sizes: Sequence[float]) -> Tensor:
        ratios = torch.tensor(self.ratios, dtype=torch.float64)
        scales = torch.tensor(sizes, dtype=torch.float64)
        ws = (scales[None, :] / ratios.sqrt()[:, None]).reshape(-1)
        hs = (scales[None, :] * ratios.sqrt()[:, None]).reshape(-1)
        return torch.stack((-0.5 * ws, -0.5 * hs, 0.5 * ws, 0.5 * hs), dim=1).float()

    @staticmethod
    def retina_sizes(
        strides: Sequence[int], octave_base_scale: float = 4, scales_per_octave: int = 3
    ) -> list[list[float]]:
        """RetinaNet sizes ``octave_base_scale · 2^(j/scales_per_octave) · stride`` per level (§4.1)."""
        return [
            [octave_base_scale * 2 ** (j / scales_per_octave) * s for j in range(scales_per_octave)]
            for s in strides
        ]

    def feature_sizes(self, image_hw: Sequence[int]) -> list[tuple[int, int]]:
        """Feature-map sizes of every level, ``ceil(H/stride) × ceil(W/stride)`` (stride-2 convs with
        padding 1 round up, so this is what both backbones produce)."""
        h, w = int(image_hw[0]), int(image_hw[1])
        return [(math.ceil(h / s), math.ceil(w / s)) for s in self.strides]

    def count(self, image_hw: Sequence[int]) -> int:
        """Total anchors for an input of size ``image_hw``."""
        return sum(h * w for h, w in self.feature_sizes(image_hw)) * self.num_anchors

    def image_masks(
        self, batch_hw: Sequence[int], image_hws: Sequence[Sequence[int]], size_divisor: int = 1,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """(N, total anchors) bool: the anchors of a padded batch of size ``batch_hw`` that a batch of one
        would have had for each image of size ``image_hws[i]`` (its own size padded to ``size_divisor``).

        Images of different sizes share one padded batch (MMDetection pads to the largest, then to a
        multiple of 32); per-image statistics over anchors (MI-AOD's top-k uncertainty) leave out the anchors
        that lie on another image's padding."""
        levels = self.feature_sizes(batch_hw)
        masks = []
        for hw in image_hws:
            h, w = (math.ceil(int(v) / size_divisor) * size_divisor for v in hw)
            own = self.feature_sizes((h, w))
            per_level = []
            for (bh, bw), (ih, iw) in zip(levels, own, strict=True):
                m = torch.zeros(bh, bw, self.num_anchors, dtype=torch.bool, device=device)
                m[: min(ih, bh), : min(iw, bw)] = True
                per_level.append(m.reshape(-1))
            masks.append(torch.cat(per_level))
        return torch.stack(masks)

    def __call__(
        self, feature_sizes: Sequence[tuple[int, int]], device: torch.device | str | None = None
    ) -> list[Tensor]:
        if len(feature_sizes) != len(self.strides):
            raise ValueError(f"got {len(feature_sizes)} feature maps for {len(self.strides)} anchor levels")
        out = []
        for (h, w), stride, base in zip(feature_sizes, self.strides, self._base, strict=True):
            ys = torch.arange(int(h), dtype=torch.float32, device=device) * stride
            xs = torch.arange(int(w), dtype=torch.float32, device=device) * stride
            yy, xx = torch.meshgrid(ys, xs, indexing="ij")  # row-major: y outer, x inner
            shifts = torch.stack((xx, yy, xx, yy), dim=-1).reshape(-1, 1, 4)
            out.append((shifts + base.to(device)[None]).reshape(-1, 4))
        return out


# --------------------------------------------------------------------------------------------------
# Target assignment (§3.4 a)
# --------------------------------------------------------------------------------------------------


@dataclass
class AnchorTargets:
    """Per-anchor training targets of a batch (N images, A anchors, C classes)."""

    labels: Tensor  # (N, A, C) float one-hot, all-zero for background and ignored anchors
    valid: Tensor  # (N, A) bool, positive or negative (i.e. not ignored)
    pos: Tensor  # (N, A) bool
    deltas: Tensor  # (N, A, 4) encoded regression targets, zero where not positive
    num_pos: Tensor  # () total positives in the batch

    @property
    def normalizer(self) -> Tensor:
        """MMDetection v2's loss normaliser: Σ_images max(#positives, 1) (§3.4 a), as a float scalar."""
        return self.pos.sum(dim=1).clamp(min=1).sum().float()


def assign_targets(
    anchors: Tensor,
    gt_boxes: Tensor,
    gt_labels: Tensor,
    num_classes: int,
    pos_iou: float = 0.5,
    neg_iou: float = 0.4,
    low_quality: bool = True,
) -> AnchorTargets:
    """MaxIoU assignment (MMDetection v2 ``MaxIoUAssigner``, RetinaNet settings), batched.

    Args:
        anchors: (A, 4) anchors of all levels concatenated.
        gt_boxes: (N, G, 4) xyxy, padded.
        gt_labels: (N, G) long in [0, C); −1 marks padding and boxes to drop (e.g. VOC ``difficult``:
            MMDetection's RetinaNet has ``ignore_iof_thr=-1``, so such boxes simply do not exist for
            the assigner, they do not create ignore regions).
        num_classes: C.
        pos_iou, neg_iou: IoU ≥ pos_iou → positive, < neg_iou → negative, in between ignored.
        low_quality: each GT's highest-IoU anchors (all ties) become positive for that GT if that IoU
            is > 0 (``min_pos_iou=0`` with ``gt_max_assign_all``; the > 0 guard keeps a GT that overlaps
            nothing from claiming every anchor). When one anchor is the best of several GTs, the GT with
            the largest index wins, as in MMDetection's sequential loop.
    """
    n, g = gt_labels.shape
    num_a = anchors.shape[0]
    device = anchors.device
    if g == 0:
        # No box anywhere in the batch: every anchor is background.
        return AnchorTargets(
            labels=anchors.new_zeros(n, num_a, num_classes),
            valid=torch.ones(n, num_a, dtype=torch.bool, device=device),
            pos=torch.zeros(n, num_a, dtype=torch.bool, device=device),
            deltas=anchors.new_zeros(n, num_a, 4),
            num_pos=torch.zeros((), dtype=torch.long, device=device),
        )
    gt_valid = gt_labels >= 0  # (N, G)
    gt_boxes = gt_boxes.to(anchors.dtype)
    iou = box_iou_batched(anchors, gt_boxes)  # (N, A, G)
    # Padding never matches: −1 is below every real IoU, so it loses every max and counts as "< neg_iou".
    iou = iou.masked_fill(~gt_valid[:, None, :], -1.0)

    max_iou, assigned = iou.max(dim=2)  # (N, A)
    pos = max_iou >= pos_iou
    if low_quality:
        gt_max = iou.max(dim=1, keepdim=True).values  # (N, 1, G)
        # padding has IoU −1 everywhere, so gt_max > 0 already leaves it out
        best = (iou == gt_max) & (gt_max > 0)  # (N, A, G)
        gt_index = torch.arange(g, device=device).expand_as(best)
        last_gt = torch.where(best, gt_index, -1).max(dim=2).values  # (N, A), −1 where none
        is_best = last_gt >= 0
        assigned = torch.where(is_best, last_gt, assigned)
        pos = pos | is_best
    valid = pos | (max_iou < neg_iou)  # positive or negative (max IoU < neg_iou and not positive)

    labels_a = gt_labels.gather(1, assigned)  # (N, A); value irrelevant where not positive
    # The one-hot of the positives' classes by comparison (F.one_hot checks its range on the host: two syncs)
    classes = torch.arange(num_classes, device=device)
    labels = ((labels_a[..., None] == classes) & pos[..., None]).to(anchors.dtype)
    boxes_a = gt_boxes.gather(1, assigned[..., None].expand(n, num_a, 4))  # (N, A, 4)
    deltas = torch.where(pos[..., None], encode_boxes(anchors[None], boxes_a), 0.0)
    return AnchorTargets(labels=labels, valid=valid, pos=pos, deltas=deltas, num_pos=pos.sum())


# --------------------------------------------------------------------------------------------------
# Backbones
# --------------------------------------------------------------------------------------------------


class TinyRetinaBackbone(nn.Module):
    """CPU-sized backbone + FPN-lite of the embedded benchmark (§8.2).

    Four stages of two conv3×3-BN-ReLU each (the first with stride 2), widths 16/32/64/96; C3 (stride 8)
    and C4 (stride 16) feed 1×1 laterals, a nearest top-down path and 3×3 smoothing convs (plain convs
    with bias, as in FPN). PyTorch default init: trained from scratch, the caller's seed fixes it.
    """

    strides: tuple[int, ...] = (8, 16)

    def __init__(
        self,
        fpn_channels: int = 64,
        widths: Sequence[int] = (16, 32, 64, 96),
        norm_eval: bool = False,
        frozen_stages: int = 0,
    ) -> None:
        """``norm_eval``: keep every BatchNorm in eval mode in ``train()`` (MMDetection ``norm_eval=True``, for a
        pretrained backbone whose statistics must not drift); ``frozen_stages`` = k: stage1..stage k get
        ``requires_grad=False`` and stay in eval mode (the ResNet's stem + layer1 analogue is k = 1). The
        defaults (False, 0) are the from-scratch backbone."""
        super().__init__()
        if not 0 <= frozen_stages <= len(widths):
            raise ValueError(f"frozen_stages must be in [0, {len(widths)}], got {frozen_stages}")
        stages = []
        cin = 3
        for w in widths:
            stages.append(nn.Sequential(conv_bn_relu(cin, w, stride=2), conv_bn_relu(w, w)))
            cin = w
        self.stage1, self.stage2, self.stage3, self.stage4 = stages
        self.lateral3 = nn.Conv2d(widths[2], fpn_channels, 1)
        self.lateral4 = nn.Conv2d(widths[3], fpn_channels, 1)
        self.smooth3 = nn.Conv2d(fpn_channels, fpn_channels, 3, padding=1)
        self.smooth4 = nn.Conv2d(fpn_channels, fpn_channels, 3, padding=1)
        self.out_channels = int(fpn_channels)
        self.norm_eval, self.frozen_stages = bool(norm_eval), int(frozen_stages)
        for stage in self.stages()[: self.frozen_stages]:
            stage.requires_grad_(False)

    def stages(self) -> list[nn.Module]:
        """The four conv stages (the part an image classifier pretrains; the FPN is built fresh)."""
        return [self.stage1, self.stage2, self.stage3, self.stage4]

    def train(self, mode: bool = True) -> TinyRetinaBackbone:
        super().train(mode)
        if mode:
            for stage in self.stages()[: self.frozen_stages]:
                stage.eval()
            if self.norm_eval:
                for m in self.modules():
                    if isinstance(m, nn.modules.batchnorm._BatchNorm):
                        m.eval()
        return self

    def forward(self, x: Tensor) -> list[Tensor]:
        c3 = self.stage3(self.stage2(self.stage1(x)))
        c4 = self.stage4(c3)
        l4 = self.lateral4(c4)
        l3 = self.lateral3(c3) + F.interpolate(l4, size=c3.shape[-2:], mode="nearest")
        return [self.smooth3(l3), self.smooth4(l4)]


#: ResNet modules frozen by ``frozen_stages = k`` (MMDetection semantics: −1 none, 0 the stem,
#: k ≥ 1 the stem and layer1..layer k).
_RESNET_STAGES: tuple[tuple[str, ...], ...] = (
    ("conv1", "bn1"),
    ("layer1",),
    ("layer2",),
    ("layer3",),
    ("layer4",),
)
_NORMS = ("bn", "frozen_bn")
_EXTRA_FROM = ("c5", "p5")


class ResNetFPNBackbone(nn.Module):
    """torchvision ResNet-50 + FPN on C3–C5 + P6/P7 (§4.1, §4.3); outputs P3–P7 at 256 channels.

    Args:
        extra_from: "c5" — P6 = conv3×3 s2 on C5 (MMDetection ``add_extra_convs='on_input'``, the
            paper's config); "p5" — P6 on P5 (torchvision's ``retinanet_resnet50_fpn``). P7 = conv3×3 s2
            on ReLU(P6) in both.
        frozen_stages: stages whose parameters get ``requires_grad=False`` and stay in eval mode
            (−1 none, 0 stem, 1 stem + layer1 — the paper's setting).
        norm: "bn" (BatchNorm2d, affine trainable) or "frozen_bn" (torchvision FrozenBatchNorm2d: the
            affine and statistics are buffers).
        norm_eval: keep every BatchNorm in eval mode in ``train()`` (MMDetection ``norm_eval=True``):
            batch-2 statistics would be noise, so the ImageNet statistics are used throughout.
        out_channels: FPN width (256 in the paper).
    """

    strides: tuple[int, ...] = (8, 16, 32, 64, 128)

    def __init__(
        self,
        extra_from: str = "c5",
        frozen_stages: int = 1,
        norm: str = "bn",
        norm_eval: bool = True,
        out_channels: int = 256,
    ) -> None:
        super().__init__()
        if extra_from not in _EXTRA_FROM:
            raise ValueError(f"extra_from must be one of {_EXTRA_FROM}, got {extra_from!r}")
        if norm not in _NORMS:
            raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}")
        if not -1 <= frozen_stages <= 4:
            raise ValueError(f"frozen_stages must be in [-1, 4], got {frozen_stages}")
        norm_layer = FrozenBatchNorm2d if norm == "frozen_bn" else nn.BatchNorm2d
        resnet = torchvision.models.resnet50(weights=None, norm_layer=norm_layer)
        # Drops avgpool and fc; keeps torchvision's key names (conv1.weight, layer1.0.conv1.weight, ...)
        # so an ImageNet state dict loads into ``body`` as is.
        self.body = IntermediateLayerGetter(
            resnet, return_layers={"layer2": "c3", "layer3": "c4", "layer4": "c5"}
        )
        extra_in = 2048 if extra_from == "c5" else out_channels
        self.fpn = FeaturePyramidNetwork(
            [512, 1024, 2048], out_channels, extra_blocks=LastLevelP6P7(extra_in, out_channels)
        )
        self.out_channels = int(out_channels)
        self.extra_from = extra_from
        self.norm = norm
        self.norm_eval = bool(norm_eval)
        self.frozen_stages = int(frozen_stages)
        for name in self._frozen_module_names():
            for p in getattr(self.body, name).parameters():
                p.requires_grad_(False)

    def _frozen_module_names(self) -> list[str]:
        return [name for stage in _RESNET_STAGES[: self.frozen_stages + 1] for name in stage]

    def train(self, mode: bool = True) -> ResNetFPNBackbone:
        super().train(mode)
        if mode:
            for name in self._frozen_module_names():
                getattr(self.body, name).eval()
            if self.norm_eval:
                for m in self.modules():
                    if isinstance(m, nn.modules.batchnorm._BatchNorm):
                        m.eval()
        return self

    def forward(self, x: Tensor) -> list[Tensor]:
        return list(self.fpn(self.body(x)).values())

    def load_weights(self, path: str | Path) -> None:
        """Load a local torchvision-style ResNet-50 state dict into the trunk (nothing downloaded).

        A plain state dict, or one nested under ``state_dict``/``model``, with optional ``module.``
        prefixes; ``fc.*`` keys are skipped and ``num_batches_tracked`` may be absent or extra.
        Anything else missing, unexpected or mis-shaped raises ``ValueError`` naming the file and keys:
        a half-loaded backbone trains to plausible but wrong numbers.
        """
        from cvpapers.engine.checkpoint import load_state_checked, read_state_dict

        raw = read_state_dict(path, "ResNet-50 state dict")
        state = {k.removeprefix("module."): v for k, v in raw.items()}
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        load_state_checked(self.body, state, f"ResNet-50 weights from {path}")




# --------------------------------------------------------------------------------------------------
# Head building blocks
# --------------------------------------------------------------------------------------------------


def retina_subnet(in_channels: int, out_channels: int, depth: int) -> nn.Sequential:
    """A RetinaNet subnet shared over levels: ``depth`` × (conv3×3 + ReLU), then a conv3×3 to
    ``out_channels``, as ``Sequential(tower=..., out=...)``."""
    tower: list[nn.Module] = []
    for _ in range(depth):
        tower += [nn.Conv2d(in_channels, in_channels, 3, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(
        OrderedDict(tower=nn.Sequential(*tower), out=nn.Conv2d(in_channels, out_channels, 3, padding=1))
    )


def normal_init(conv: nn.Conv2d, bias: float = 0.0, std: float = 0.01) -> None:
    """RetinaNet's head init: weights N(0, std), a constant bias (``-log((1-π)/π)`` for classifiers)."""
    nn.init.normal_(conv.weight, 0.0, std)
    nn.init.constant_(conv.bias, bias)


# --------------------------------------------------------------------------------------------------
# Detector
# --------------------------------------------------------------------------------------------------


class RetinaDetector(nn.Module):
    """Backbone + anchor grid + head + post-processing (torchvision's ``RetinaNet(backbone,
    anchor_generator=..., head=...)`` shape, without the losses, which live with the training code).

    ``forward`` takes (N, 3, H, W) images in [0, 1] (normalised inside with ImageNet mean/std, which
    MMDetection applies on 0–255 images with the same effect) and returns whatever the head returns.
    No resizing or padding happens here: the caller feeds one batch tensor (images of different sizes padded
    to one size: :meth:`detect_from` clips each to its own size, :meth:`AnchorGrid.image_masks` gives the
    anchors of each), and the anchors follow the batch's size (a bounded cache of the recent sizes).
    """

    def __init__(
        self,
        backbone: nn.Module,
        anchor_grid: AnchorGrid,
        head: nn.Module,
        image_mean: Sequence[float] = (0.485, 0.456, 0.406),
        image_std: Sequence[float] = (0.229, 0.224, 0.225),
    ) -> None:
        super().__init__()
        strides = tuple(getattr(backbone, "strides", anchor_grid.strides))
        if strides != anchor_grid.strides:
            raise ValueError(f"anchor strides {anchor_grid.strides} do not match the backbone's {strides}")
        if int(head.num_anchors) != anchor_grid.num_anchors:
            raise ValueError(f"the head predicts {head.num_anchors} anchors per location, the grid has "
                             f"{anchor_grid.num_anchors}")
        self.backbone = backbone
        self.anchor_grid = anchor_grid
        self.num_classes = int(head.num_classes)
        self.head = head
        # Not persistent: the constructor arguments rebuild them, state dicts hold weights only.
        self.register_buffer("image_mean", torch.tensor(image_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("image_std", torch.tensor(image_std).view(1, 3, 1, 1), persistent=False)
        # Bounded: padded batches of real images come in many sizes (multiples of 32 up to 1024×608 for VOC).
        self._anchor_cache: OrderedDict[tuple[int, int, torch.device], Levels] = OrderedDict()

    def forward(self, images: Tensor, **head_options: Any) -> Any:
        """The head's output for (N, 3, H, W) images in [0, 1]; ``head_options`` go to the head's forward."""
        x = (images - self.image_mean) / self.image_std
        return self.head(self.backbone(x), **head_options)

    def anchors(
        self, images_or_hw: Tensor | Sequence[int], device: torch.device | str | None = None
    ) -> Levels:
        """Anchors per level for a batch (N, 3, H, W) or an (H, W) size, cached per size and device: a
        :class:`Levels` along dim 0, so ``concat_levels(anchors, 0)`` (all levels, (ΣA, 4)) costs nothing.

        The device is the batch's, else ``device``, else the model's.
        """
        if isinstance(images_or_hw, Tensor):
            h, w = images_or_hw.shape[-2:]
            device = images_or_hw.device
        else:
            h, w = images_or_hw
        device = torch.device(device) if device is not None else self.image_mean.device
        key = (int(h), int(w), device)
        if key in self._anchor_cache:
            self._anchor_cache.move_to_end(key)
        else:
            sizes = self.anchor_grid.feature_sizes((int(h), int(w)))
            # Normal tensors even when first built inside detect(): cached inference tensors would
            # break a later training step that decodes boxes with gradient.
            with torch.inference_mode(False):
                per_level = self.anchor_grid(sizes, device=device)
                self._anchor_cache[key] = Levels(torch.cat(per_level, 0), [a.shape[0] for a in per_level], dim=0)
            while len(self._anchor_cache) > ANCHOR_CACHE_SIZES:
                self._anchor_cache.popitem(last=False)
        return self._anchor_cache[key]

    @torch.inference_mode()
    def detect(
        self,
        images: Tensor,
        score_thr: float = 0.05,
        nms_iou: float = 0.5,
        max_dets: int = 100,
        pre_nms_top: int = 1000,
        **score_options: Any,
    ) -> list[dict[str, Tensor]]:
        """Detections per image (see :meth:`detect_from`). Does not change train/eval mode: call
        ``eval()`` first, as for any torchvision detector."""
        output = self(images)
        return self.detect_from(
            output, images.shape[-2:], score_thr=score_thr, nms_iou=nms_iou, max_dets=max_dets,
            pre_nms_top=pre_nms_top, **score_options,
        )  # fmt: skip

    @torch.inference_mode()
    def detect_from(
        self,
        output: Any,
        image_hw: Sequence[int],
        score_thr: float = 0.05,
        nms_iou: float = 0.5,
        max_dets: int = 100,
        pre_nms_top: int = 1000,
        clip_hw: Sequence[Sequence[int]] | None = None,
        **score_options: Any,
    ) -> list[dict[str, Tensor]]:
        """Post-process one forward pass (the head's output) into detections per image: the head turns
        its output into per-level class probabilities (``score_options`` go to its ``class_scores``) and
        box deltas, :func:`postprocess` does the rest. Taking the output lets the caller score other
        things (MI-AOD's uncertainty) and detect from the same forward pass. ``image_hw`` is the (padded)
        batch's size; ``clip_hw`` the size of each image in it (default: the batch's)."""
        scores = self.head.class_scores(output, **score_options)
        deltas = self.head.box_deltas(output)
        h, w = int(image_hw[0]), int(image_hw[1])
        anchors = self.anchors((h, w), device=deltas[0].device)
        return postprocess(scores, deltas, anchors, (h, w), score_thr=score_thr, nms_iou=nms_iou,
                           max_dets=max_dets, pre_nms_top=pre_nms_top, clip_hw=clip_hw)


def postprocess(
    scores: Sequence[Tensor],
    deltas: Sequence[Tensor],
    anchors: Sequence[Tensor],
    image_hw: Sequence[int],
    score_thr: float = 0.05,
    nms_iou: float = 0.5,
    max_dets: int = 100,
    pre_nms_top: int = 1000,
    clip_hw: Sequence[Sequence[int]] | None = None,
) -> list[dict[str, Tensor]]:
    """Per-level class probabilities (N, HWA, C), box deltas (N, HWA, 4) and anchors (HWA, 4) into
    ``{"boxes" (K, 4), "scores" (K,), "labels" (K,)}`` per image.

    torchvision's RetinaNet recipe with MMDetection's test settings (§4.1): per level, keep (anchor,
    class) pairs scoring > score_thr, the top ``pre_nms_top`` of them, decode, clip to the image; then
    class-wise NMS over all levels and the best ``max_dets``. Boxes are clipped to ``image_hw`` (the
    batch), or to each image's own size ``clip_hw[i]`` in a padded batch of differently sized images.
    """
    h, w = int(image_hw[0]), int(image_hw[1])
    if clip_hw is not None and len(clip_hw) != deltas[0].shape[0]:
        raise ValueError(f"clip_hw has {len(clip_hw)} sizes for a batch of {deltas[0].shape[0]} images")
    sizes = [a.shape[0] for a in anchors]
    level_sizes = [t.shape[1] for t in deltas]
    if sizes != level_sizes:
        raise ValueError(f"head outputs have {level_sizes} anchors per level, the grid {sizes} for {h}×{w}")
    c = scores[0].shape[-1]
    results = []
    for i in range(deltas[0].shape[0]):
        boxes_l, scores_l, labels_l = [], [], []
        for lvl_scores, lvl_reg, lvl_anchors in zip(scores, deltas, anchors, strict=True):
            flat = lvl_scores[i].reshape(-1)  # index = anchor · C + class
            keep = torch.nonzero(flat > score_thr).squeeze(1)
            top = flat[keep].topk(min(pre_nms_top, keep.numel()))
            idx = keep[top.indices]
            anchor_idx = torch.div(idx, c, rounding_mode="floor")
            boxes = decode_boxes(lvl_anchors[anchor_idx], lvl_reg[i, anchor_idx])
            boxes_l.append(_clip(boxes, h, w) if clip_hw is None else _clip(boxes, int(clip_hw[i][0]),
                                                                           int(clip_hw[i][1])))
            scores_l.append(top.values)
            labels_l.append(idx % c)
        boxes = torch.cat(boxes_l)
        det_scores = torch.cat(scores_l)
        labels = torch.cat(labels_l)
        keep = batched_nms(boxes, det_scores, labels, nms_iou)[:max_dets]  # sorted by score
        results.append({"boxes": boxes[keep], "scores": det_scores[keep], "labels": labels[keep]})
    return results


def _clip(boxes: Tensor, h: int, w: int) -> Tensor:
    x = boxes[:, 0::2].clamp(0, w)
    y = boxes[:, 1::2].clamp(0, h)
    return torch.stack((x[:, 0], y[:, 0], x[:, 1], y[:, 1]), dim=1)


# --------------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------------

BACKBONES = ("tiny", "resnet50_fpn")
#: The tiny backbone's anchor sizes per level (§8.2): objects of 12–60 px in 96 px images.
TINY_ANCHOR_SIZES: tuple[tuple[float, ...], ...] = ((16.0, 20.0, 25.0), (32.0, 40.0, 50.0))


def build_backbone(
    backbone: str = "tiny",
    fpn_channels: int = 64,
    norm: str = "bn",
    extra_from: str = "c5",
    backbone_weights: str | None = None,
) -> nn.Module:
    """A backbone by name.

    * ``"tiny"``: :class:`TinyRetinaBackbone` with ``fpn_channels``; BatchNorm only, no pretrained weights
      exist for it.
    * ``"resnet50_fpn"``: :class:`ResNetFPNBackbone` with ``norm``/``extra_from``, FPN width fixed at
      RetinaNet's 256 (``fpn_channels`` is accepted and ignored, so one config serves both backbones),
      optional local ImageNet weights ``backbone_weights``.
    """
    if backbone == "tiny":
        if norm != "bn":
            raise ValueError(f"norm={norm!r}: the tiny backbone trains from scratch and supports only 'bn'")
        if backbone_weights is not None:
            raise ValueError("backbone_weights: there are no pretrained weights for the tiny backbone")
        if extra_from not in _EXTRA_FROM:
            raise ValueError(f"extra_from must be one of {_EXTRA_FROM}, got {extra_from!r}")
        return TinyRetinaBackbone(fpn_channels=fpn_channels)
    if backbone == "resnet50_fpn":
        net = ResNetFPNBackbone(extra_from=extra_from, norm=norm)
        if backbone_weights is not None:
            net.load_weights(backbone_weights)
        return net
    raise ValueError(f"backbone: unknown backbone {backbone!r}; expected one of {BACKBONES}")


def anchor_grid_for(
    backbone: nn.Module,
    anchor_sizes: Sequence[Sequence[float]] | None = None,
    anchor_ratios: Sequence[float] = (0.5, 1.0, 2.0),
) -> AnchorGrid:
    """The anchor grid of ``backbone``'s levels. ``anchor_sizes`` ``None``: the tiny backbone's sizes, or
    RetinaNet's ``4·2^(j/3)·stride`` for any other backbone."""
    strides = tuple(backbone.strides)
    if anchor_sizes is not None:
        sizes = [list(s) for s in anchor_sizes]
    elif isinstance(backbone, TinyRetinaBackbone):
        sizes = [list(s) for s in TINY_ANCHOR_SIZES]
    else:
        sizes = AnchorGrid.retina_sizes(strides)
    if len(sizes) != len(strides):
        raise ValueError(
            f"anchor_sizes: {len(sizes)} levels given, but the {type(backbone).__name__} backbone has "
            f"{len(strides)} levels (strides {strides})"
        )
    return AnchorGrid(strides, sizes, anchor_ratios)
