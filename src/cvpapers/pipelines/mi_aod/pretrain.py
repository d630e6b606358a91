"""The ImageNet stand-in of the embedded benchmark (issue 19): the paper rebuilds its detector every cycle from an
ImageNet-pretrained ResNet-50 with frozen BatchNorm statistics; here the tiny backbone is pretrained once per run
as an image classifier on ShapesCls (``data.detection_shapes.generate_shapes_cls``: the detection scenes'
renderer, one object per image, the detector's four shapes plus four more, its own seed), and its four conv
stages are loaded into every cycle's fresh detector (:func:`load_pretrained_stages`). The FPN and the heads stay
freshly initialised from the cycle's seed, as the official FPN and heads are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvpapers.models.detection import TinyRetinaBackbone

#: State-dict prefixes of the transferred part: the four conv stages (BatchNorm statistics included).
STAGE_PREFIXES = ("stage1.", "stage2.", "stage3.", "stage4.")


class BackboneClassifier(nn.Module):
    """The tiny detector backbone as an image classifier: its four stages, global average pooling of C4 and a
    linear layer. Images are normalised as ``RetinaDetector`` normalises them, so the pretrained stages see
    the same input statistics in the detector. The FPN layers of ``backbone`` exist but are unused (and are
    not transferred)."""

    def __init__(self, num_classes: int, fpn_channels: int = 64) -> None:
        super().__init__()
        self.backbone = TinyRetinaBackbone(fpn_channels=fpn_channels)
        self.fc = nn.Linear(self.backbone.lateral4.in_channels, num_classes)
        self.register_buffer(
            "image_mean", torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer(
            "image_std", torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1), persistent=False
        )

    def forward(self, images: Tensor) -> Tensor:
        x = (images - self.image_mean) / self.image_std
        for stage in self.backbone.stages():
            x = stage(x)
        return self.fc(x.amax(dim=(2, 3)))


def build_backbone_classifier(num_classes: int, fpn_channels: int = 64) -> BackboneClassifier:
    """The checkpoint builder of :class:`BackboneClassifier`."""
    return BackboneClassifier(num_classes, fpn_channels)


def stage_state(classifier: BackboneClassifier) -> dict[str, Tensor]:
    """The transferred weights: the backbone's four stages (convs, BN affine and running statistics)."""
    return {
        k: v.detach().clone()
        for k, v in classifier.backbone.state_dict().items()
        if k.startswith(STAGE_PREFIXES)
    }


def load_pretrained_stages(detector: nn.Module, state: Mapping[str, Tensor]) -> None:
    """Copy the pretrained stages into a fresh detector's tiny backbone; every stage key must be present and
    match in shape (a half-loaded backbone trains to plausible but wrong numbers)."""
    backbone = detector.backbone
    if not isinstance(backbone, TinyRetinaBackbone):
        raise TypeError(f"pretrained stages load into the tiny backbone, not {type(backbone).__name__}")
    own = {k: v for k, v in backbone.state_dict().items() if k.startswith(STAGE_PREFIXES)}
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise ValueError(
            f"pretrained backbone stages do not fit: missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}, mis-shaped {wrong[:5]}"
        )
    backbone.load_state_dict(dict(state), strict=False)


def classification_draw(
    data: Mapping[str, np.ndarray], batch_size: int, flip_prob: float = 0.5
) -> Callable[[torch.Generator], dict[str, Tensor]]:
    """Random batches of the stand-in's training images with horizontal flips (vectorised over the batch)."""
    images = torch.from_numpy(np.ascontiguousarray(data["images"]))
    labels = torch.from_numpy(data["labels"]).long()

    def draw(g: torch.Generator) -> dict[str, Tensor]:
        pick = torch.randint(0, len(labels), (batch_size,), generator=g)
        x = images[pick].permute(0, 3, 1, 2).float().div_(255)
        flip = torch.rand(batch_size, generator=g) < flip_prob
        x[flip] = x[flip].flip(-1)
        return {"images": x, "labels": labels[pick]}

    return draw


def classification_step(
    model: nn.Module, batch: dict[str, Tensor]
) -> tuple[Tensor, dict[str, float | Tensor]]:
    """Cross-entropy; the loop averages ``loss`` and ``accuracy`` over the chunk's steps (``n`` = 1 a step)."""
    logits = model(batch["images"])
    loss = F.cross_entropy(logits, batch["labels"])
    accuracy = (logits.argmax(1) == batch["labels"]).float().mean()
    return loss, {"loss": loss.detach(), "accuracy": accuracy.detach(), "n": 1.0}


@torch.inference_mode()
def accuracy(
    model: nn.Module, data: Mapping[str, np.ndarray], device: torch.device, batch: int = 256
) -> float:
    """Top-1 accuracy (%) on a held-out split of the stand-in (eval mode: running BN statistics)."""
    was_training = model.training
    model.eval()
    correct = 0
    for s in range(0, len(data["labels"]), batch):
        x = torch.from_numpy(data["images"][s : s + batch]).to(device).permute(0, 3, 1, 2).float().div_(255)
        correct += int((model(x).argmax(1).cpu() == torch.from_numpy(data["labels"][s : s + batch])).sum())
    model.train(was_training)
    return 100.0 * correct / len(data["labels"])


def image_digests(images: np.ndarray) -> set[bytes]:
    """One content hash per image (disjointness checks between the stand-in and the detection sets)."""
    import hashlib

    return {hashlib.blake2b(np.ascontiguousarray(im).tobytes(), digest_size=16).digest() for im in images}


def pretrain_classifier(
    stand_in: Mapping[str, Any],
    num_classes: int,
    cfg: Any,
    fpn_channels: int,
    *,
    device: torch.device,
    seed: int,
    checkpoint_path: Any,
    resume: bool,
    fingerprint: dict[str, Any],
) -> tuple[BackboneClassifier, dict[str, float]]:
    """Train :class:`BackboneClassifier` on ``stand_in["train"]`` (``cfg``: ``PretrainConfig``), its accuracy on
    ``stand_in["val"]`` logged every ``eval_every`` iterations (curve ``pretrain/val_accuracy``); the model is
    built from torch's global stream, which the caller seeds. Returns the model and its last summary."""
    from cvpapers.engine.iterative import train_iterations

    model = build_backbone_classifier(num_classes, fpn_channels).to(device)
    result = train_iterations(
        model,
        classification_draw(stand_in["train"], cfg.batch_size),
        classification_step,
        stage="pretrain",
        iters=cfg.iters,
        eval_every=cfg.eval_every,
        lr=cfg.lr,
        device=device,
        seed=seed,
        optimizer=cfg.optimizer,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
        schedule="poly",
        evaluate=lambda m: {"val_accuracy": accuracy(m, stand_in["val"], device)},
        checkpoint_path=checkpoint_path,
        resume=resume,
        fingerprint=fingerprint,
        log_prefix="pretrain",
    )
    model.eval()
    return model, dict(result.last)
