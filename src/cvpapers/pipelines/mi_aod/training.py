"""One active-learning cycle's training (spec §3.5): the stage schedule with its freezing rules, a fresh
optimiser per stage, alternating labelled/unlabelled steps, and the losses each stage uses; plus the
test-set evaluation and the pool scoring that selection needs.

:func:`train_arm` is what one arm does in one cycle (its stages on X_L, and X_U for MI-AOD training);
:func:`evaluate` scores the trained detector on the test set, :func:`score_pool` gives U(x) of every pool image.
Both sources go through the same stages and steps: the embedded benchmark's images are in memory
(:func:`batch_draw`, vectorised), real images are read from disk batch by batch (``loading.py``: the code's
preprocessing, ``StreamingBatches`` for training, ``stream`` passes for evaluation and scoring).

Code order (default): A label-set → R × [B min (f1, f2 frozen) → C max (only f1, f2 train) → D label-set].
Paper order: A → R × [max (g frozen) → min (f_r, f1, f2 frozen) → D]. The Random arm runs the same
stages with the same optimiser resets and labelled steps, but every stage is label-set training.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cvpapers.pipelines.mi_aod.data import on_disk
from cvpapers.pipelines.mi_aod.heads import modules_by_role
from cvpapers.pipelines.mi_aod.losses import (
    class_probabilities,
    detection_loss,
    image_cls_loss,
    image_labels,
    mil_weights,
    plain_discrepancy,
    pseudo_image_labels,
    weighted_discrepancy,
)
from cvpapers.pipelines.mi_aod.selection import anchor_uncertainty, image_uncertainty

ROLES = ("g", "f_r", "f1", "f2", "f_mil")
Arrays = Mapping[str, Any]


@dataclass(frozen=True)
class Stage:
    name: str                       # e.g. "B1_min"; names the curves and the resume checkpoint
    kind: str                       # label | min | max
    iters: int                      # labelled steps (min/max stages add as many unlabelled steps)
    trainable: tuple[str, ...]      # roles whose parameters the stage's optimiser holds
    labelled: tuple[str, ...]       # loss terms of a labelled step: det, imgcls
    unlabelled: tuple[str, ...] = ()  # loss terms of an unlabelled step: dis, dis_minus, imgcls
    lr_drop_at: int | None = None   # iteration of the ×0.1 step (the final label-set stage only)

    @property
    def alternating(self) -> bool:
        return bool(self.unlabelled)


def miaod_stages(iters_label_first: int, outer_loops: int, iters_minmax: int, iters_label: int,
                 lr_drop_last_fraction: float, order: str = "code", with_unlabelled: bool = True) -> list[Stage]:
    """The cycle's stages. ``with_unlabelled=False`` gives the Random arm's schedule: the same stages,
    labelled steps and lr drop, but min/max stages become label-set training of all parameters."""
    label = dict(trainable=ROLES, labelled=("det", "imgcls"))
    if order == "code":
        minmax = [("min", dict(trainable=("g", "f_r", "f_mil"), labelled=("det", "imgcls"), unlabelled=("dis", "imgcls"))),
                  ("max", dict(trainable=("f1", "f2"), labelled=("det",), unlabelled=("dis_minus",)))]
    elif order == "paper":
        minmax = [("max", dict(trainable=("f_r", "f1", "f2", "f_mil"), labelled=("det", "imgcls"),
                               unlabelled=("dis_minus", "imgcls"))),
                  ("min", dict(trainable=("g", "f_mil"), labelled=("det", "imgcls"), unlabelled=("dis", "imgcls")))]
    else:
        raise ValueError(f"stage_order: unknown '{order}' (allowed: code, paper)")
    stages = [Stage("A_label", "label", iters_label_first, **label)]
    for r in range(1, outer_loops + 1):
        for letter, (kind, spec) in zip("BC", minmax, strict=True):
            if with_unlabelled:
                stages.append(Stage(f"{letter}{r}_{kind}", kind, iters_minmax, **spec))
            else:
                stages.append(Stage(f"{letter}{r}_label", "label", iters_minmax, **label))
        last = r == outer_loops
        drop = iters_label - round(lr_drop_last_fraction * iters_label) if last else None
        stages.append(Stage(f"D{r}_label", "label", iters_label, **label,
                            lr_drop_at=drop if drop is not None and 0 < drop < iters_label else None))
    return stages


def set_trainable(model: nn.Module, roles: tuple[str, ...], base: Mapping[str, bool]) -> None:
    """requires_grad per role; parameters frozen by construction (``base``: ResNet stem/layer1) stay frozen.

    A frozen role's BatchNorm layers keep their running statistics too (momentum 0): a frozen g must not
    drift through the max stage's forward passes (the official ResNet keeps BN in eval mode throughout)."""
    owner = {id(p): role for role, m in modules_by_role(model).items() for p in m.parameters()}
    for name, p in model.named_parameters():
        p.requires_grad_(base[name] and owner.get(id(p)) in roles)
    for role, module in modules_by_role(model).items():
        for bn in module.modules():
            if isinstance(bn, nn.modules.batchnorm._BatchNorm):
                if not hasattr(bn, "_cvpapers_momentum"):
                    bn._cvpapers_momentum = bn.momentum
                bn.momentum = bn._cvpapers_momentum if role in roles else 0.0


# ------------------------------------------------------------------------------------------------
# batches
# ------------------------------------------------------------------------------------------------


def batch_draw(data: Arrays, indices: np.ndarray, batch_size: int, flip_prob: float, unlabelled: bool,
               ) -> Callable[[torch.Generator], dict[str, Any]]:
    """Random batches of the images ``indices`` with horizontal flips. An unlabelled batch carries the
    explicit flag and no boxes: its annotations are never read (the code overwrote them with −1, pitfall 6)."""
    idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
    images = torch.from_numpy(np.ascontiguousarray(data["images"]))
    boxes = torch.from_numpy(data["boxes"]).float()
    # Difficult objects are not training targets (spec §5): they become padding.
    labels = torch.from_numpy(np.where(data["difficult"], -1, data["labels"])).long()
    width = images.shape[2]

    def draw(g: torch.Generator) -> dict[str, Any]:
        n = len(idx)
        pick = idx[torch.randperm(n, generator=g)[:batch_size]] if n >= batch_size \
            else idx[torch.randint(0, n, (batch_size,), generator=g)]
        x = images[pick].permute(0, 3, 1, 2).float().div_(255)
        flip = torch.rand(len(pick), generator=g) < flip_prob
        x[flip] = x[flip].flip(-1)
        if unlabelled:
            return {"images": x, "unlabelled": True}
        b = boxes[pick].clone()
        b[flip] = torch.stack([width - b[flip][..., 2], b[flip][..., 1], width - b[flip][..., 0], b[flip][..., 3]], -1)
        return {"images": x, "boxes": b, "labels": labels[pick], "unlabelled": False}

    return draw


# ------------------------------------------------------------------------------------------------
# steps
# ------------------------------------------------------------------------------------------------


def make_step(model: nn.Module, stage: Stage, num_classes: int, lam: float, pseudo_thr: float,
              mil_mode: str, focal_norm: str,
              ) -> Callable[[nn.Module, dict[str, Any]], tuple[torch.Tensor, dict[str, float | torch.Tensor]]]:
    """The step of one stage: the labelled or the unlabelled loss of that stage, by the batch's flag.

    The step never waits for the device: its statistics are detached 0-d tensors (the training loop reads
    them once per chunk), apart from the constant ``n``."""
    from cvpapers.models.detection import assign_targets, concat_levels

    needs = {True: ("cls1", "cls2", "mil"),
             False: ("cls1", "cls2", "reg", "mil") if "imgcls" in stage.labelled else ("cls1", "cls2", "reg")}

    def step(m: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float | torch.Tensor]]:
        # only the head outputs this step's losses read (no f_r on unlabelled batches, no f_mil on the max
        # stage's labelled ones), cast to float32 once (a no-op outside bf16 autocast)
        outputs = needs[bool(batch["unlabelled"])]
        out = m(batch["images"], outputs=outputs).float32(*outputs)
        terms: dict[str, torch.Tensor] = {}
        stats: dict[str, float | torch.Tensor] = {}
        if batch["unlabelled"]:
            weights, score = mil_weights(out.cls1, out.cls2, out.mil, mil_mode)
            if "dis" in stage.unlabelled:
                terms["l_dis"] = weighted_discrepancy(out.cls1, out.cls2, weights, lam)
            if "dis_minus" in stage.unlabelled:
                terms["l_dis_minus"] = weighted_discrepancy(out.cls1, out.cls2, weights, lam, maximise=True)
            probs = class_probabilities(out.cls1, out.cls2)
            if "imgcls" in stage.unlabelled:
                pseudo, has_positive = pseudo_image_labels(out.cls1, out.cls2, pseudo_thr, probs=probs)
                terms["l_imgcls_u"] = image_cls_loss(score, pseudo, has_positive.all())
                stats["pseudo_positive_images"] = has_positive.float().mean()
            stats["discrepancy_u"] = plain_discrepancy(out.cls1, out.cls2, probs=probs)
            # Alternating stages have as many unlabelled as labelled steps; counting only the labelled
            # ones in "n" makes every key the mean over the steps that produced it.
            stats["n"] = 0.0
        else:
            t = assign_targets(concat_levels(model.anchors(batch["images"]), 0), batch["boxes"], batch["labels"],
                               num_classes)
            terms["l_det_cls"], terms["l_det_loc"] = detection_loss(out.cat("cls1"), out.cat("cls2"), out.cat("reg"),
                                                                    t.labels, t.valid, t.pos, t.deltas, focal_norm)
            if "imgcls" in stage.labelled:
                _, score = mil_weights(out.cls1, out.cls2, out.mil, mil_mode)
                terms["l_imgcls"] = image_cls_loss(score, image_labels(batch["labels"], num_classes))
            # float64, so the mean over the batch is the Python division it always was
            stats["positives_per_image"] = t.pos.sum(dtype=torch.float64) / len(t.pos)
            stats["n"] = 1.0
        loss = sum(terms.values())
        stats.update({k: v.detach() for k, v in terms.items()})
        stats["loss"] = loss.detach()
        return loss, stats

    return step


def train_cycle(model: nn.Module, stages: list[Stage], labelled_draw: Callable | None, unlabelled_draw: Callable | None,
                *, num_classes: int, train: Any, miaod: Any, mil_mode: str, device: torch.device, seed: int,
                checkpoint_dir: str | Path | None, resume: bool, fingerprint: dict[str, Any],
                source: Callable[[bool, int, int], Any] | None = None) -> list[dict[str, float]]:
    """Run the stages in order, each with its own freezing and a fresh optimiser over its trainable
    parameters; returns one summary per stage (its last chunk's averages). Batches come from the in-memory
    draws, or from ``source(alternating, iters_per_chunk, seed)`` (a file-backed batch source,
    ``loading.training_source``) when it is given."""
    from cvpapers.engine.iterative import train_iterations
    from cvpapers.engine.seeding import derive_seed

    base = {name: p.requires_grad for name, p in model.named_parameters()}
    summaries = []
    try:
        for stage in stages:
            set_trainable(model, stage.trainable, base)
            steps = stage.iters * (2 if stage.alternating else 1)
            if stage.alternating and unlabelled_draw is None and source is None:
                raise ValueError(f"stage {stage.name} needs unlabelled images")
            drop = stage.lr_drop_at
            # Chunks end where the lr drops, so the scheduler (counting chunks) steps exactly there.
            chunk = math.gcd(steps, drop) if drop else steps
            options = dict(
                stage=stage.name, iters=steps, eval_every=chunk, lr=train.lr, device=device,
                seed=derive_seed(seed, stage.name), optimizer=train.optimizer, momentum=train.momentum,
                weight_decay=train.weight_decay, schedule="step", milestones=[drop] if drop else [],
                grad_clip=train.grad_clip_norm, log_prefix=stage.name,
                checkpoint_path=Path(checkpoint_dir) / f"{stage.name}.pt" if checkpoint_dir else None,
                resume=resume, fingerprint={**fingerprint, "stage": stage.name},
            )
            step = make_step(model, stage, num_classes, miaod.param_lambda, miaod.pseudo_label_thr, mil_mode,
                             train.focal_norm)
            if source is None:
                draws = (labelled_draw, unlabelled_draw) if stage.alternating else labelled_draw
                result = train_iterations(model, draws, step, **options)
            else:
                result = train_iterations(model, None, step, source=partial(source, stage.alternating), **options)
            summaries.append({"stage": stage.name, **result.last})
    finally:
        set_trainable(model, ROLES, base)
    return summaries


def train_arm(model: nn.Module, pool: Arrays, plan: Mapping[str, Any], p: Any, *, with_unlabelled: bool,
              device: torch.device, seed: int, checkpoint_dir: Path | None, resume: bool,
              fingerprint: dict[str, Any], skips: Any = None) -> list[dict[str, float]]:
    """One arm's training in one cycle (``p``: the run's ``MiaodParams``): the stage schedule on the plan's X_L
    and, ``with_unlabelled``, its X_U. The paper counts epochs over the (repeated) labelled set, so with
    ``budget_unit: epochs`` the stages grow with X_L. ``fingerprint`` (what the resume checkpoints must match)
    gets the schedule, the seed and digests of the data and the plan added. ``skips`` (a
    ``data.streaming.SkipLog``) counts the unreadable files of a split read from disk."""
    from cvpapers.engine.checkpoint import data_digest

    t = p.train
    labelled = np.asarray(plan["labelled"], dtype=np.int64)
    per_pass = -(-len(labelled) // t.batch_size) if t.budget_unit == "epochs" else 1
    stages = miaod_stages(t.iters_label_first * per_pass, t.outer_loops, t.iters_minmax * per_pass,
                          t.iters_label * per_pass, t.lr_drop_last_fraction, t.stage_order,
                          with_unlabelled=with_unlabelled)
    unlabelled = np.asarray(plan["unlabelled"], dtype=np.int64)
    fingerprint = {**fingerprint, "mil_weight_mode": p.model.mil_weight_mode,
                   "backbone_weights": p.model.backbone_weights, "train": t.model_dump(),
                   "miaod": p.miaod.model_dump(), "seed": p.seed, "labelled": data_digest(labelled, unlabelled)}
    common = dict(num_classes=len(pool["class_names"]), train=t, miaod=p.miaod, mil_mode=p.model.mil_weight_mode,
                  device=device, seed=seed, checkpoint_dir=checkpoint_dir, resume=resume)
    if on_disk(pool):  # the files, the annotations and the preprocessing identify the data
        from cvpapers.pipelines.mi_aod.loading import training_source

        d = p.data
        fingerprint["data"] = data_digest(pool["image_path"].astype(str), pool["boxes"], pool["labels"],
                                          pool["difficult"], np.asarray(d.img_scale), np.asarray(d.size_divisor))
        source = training_source(pool, labelled, unlabelled if with_unlabelled else None, p, skips)
        return train_cycle(model, stages, None, None, **common, fingerprint=fingerprint, source=source)
    draw_l = batch_draw(pool, labelled, t.batch_size, t.flip_prob, unlabelled=False)
    draw_u = batch_draw(pool, unlabelled, t.batch_size, t.flip_prob, unlabelled=True) if with_unlabelled else None
    fingerprint["data"] = data_digest(pool["images"], pool["boxes"], pool["labels"], pool["difficult"])
    return train_cycle(model, stages, draw_l, draw_u, **common, fingerprint=fingerprint)


# ------------------------------------------------------------------------------------------------
# evaluation and pool scoring (one forward pass gives detections and uncertainties)
# ------------------------------------------------------------------------------------------------


def _image_batches(images: np.ndarray, batch: int, device: torch.device):
    for s in range(0, len(images), batch):
        yield s, torch.from_numpy(images[s:s + batch]).to(device).permute(0, 3, 1, 2).float().div_(255)


@torch.inference_mode()
def predict(model: nn.Module, images: np.ndarray, device: torch.device, *, batch: int = 32, k_top: int | None = None,
            norm: str = "l2", detect: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Detections (``detect`` = kwargs of ``detect_from``) and/or image uncertainties U (``k_top``) of a set of
    images held in memory (``loading.predict_files`` is the same for images on disk)."""
    model.eval()
    dets: list[dict[str, np.ndarray]] = []
    scores: list[torch.Tensor] = []
    hw = images.shape[1:3]
    for _, x in _image_batches(images, batch, device):
        # float32, not bf16: near the prior (z ≈ −4.6) bf16 would quantise σ to about the size of the
        # f1/f2 gaps that rank the images
        out = model(x)
        if detect is not None:
            for d in model.detect_from(out, hw, **detect):
                dets.append({k: v.float().cpu().numpy() if v.is_floating_point() else v.cpu().numpy()
                             for k, v in d.items()})
        if k_top is not None:
            scores.append(image_uncertainty(anchor_uncertainty(out.cat("cls1"), out.cat("cls2"), norm), k_top).cpu())
    return {"detections": dets, "uncertainty": torch.cat(scores).double().numpy() if scores else None}


def evaluate(model: nn.Module, test: Arrays, p: Any, device: torch.device, skips: Any = None,
             ) -> tuple[list[dict[str, np.ndarray]], dict[str, Any]]:
    """Detections on the test set and their VOC evaluation (``p``: the run's ``MiaodParams``; its ``eval``
    section): ``(detections, {"mAP", "ap", …})`` as ``metrics.detection.evaluate_detections`` returns it.
    Images read from disk are evaluated in original pixel coordinates, one batch at a time; an image skipped
    as unreadable is left out of the evaluation (``skips`` counts it)."""
    from cvpapers.metrics.detection import evaluate_detections

    e = p.eval
    if not on_disk(test):
        dets = predict(model, test["images"], device, batch=e.batch_size, detect=e.detect_kwargs())["detections"]
        return dets, evaluate_detections(dets, test, len(test["class_names"]), e.iou_thr, e.ap_mode)
    from cvpapers.pipelines.mi_aod.loading import predict_files

    out = predict_files(model, test, device, p, detect=e.detect_kwargs(), desc="evaluate (test set)", skips=skips)
    kept = np.asarray(out["kept"], dtype=np.int64)
    gt = {k: test[k][kept] for k in ("boxes", "labels", "difficult")}
    return out["detections"], evaluate_detections(out["detections"], gt, len(test["class_names"]), e.iou_thr,
                                                  e.ap_mode)


def score_pool(model: nn.Module, pool: Arrays, p: Any, device: torch.device, skips: Any = None) -> np.ndarray:
    """U(x) of every pool image (spec §3.6): the mean of its ``k_top`` largest f1/f2 anchor discrepancies;
    NaN for an image skipped as unreadable."""
    if not on_disk(pool):
        return predict(model, pool["images"], device, batch=p.eval.batch_size, k_top=p.miaod.k_top,
                       norm=p.miaod.uncertainty_norm)["uncertainty"]
    from cvpapers.pipelines.mi_aod.loading import predict_files

    return predict_files(model, pool, device, p, k_top=p.miaod.k_top, norm=p.miaod.uncertainty_norm,
                         desc="uncertainty (pool)", skips=skips)["uncertainty"]


def detect_images(model: nn.Module, data: Arrays, indices: np.ndarray, p: Any, device: torch.device,
                  ) -> list[dict[str, np.ndarray]]:
    """Detections of a few images ``indices`` (figures); an unreadable image gets none."""
    if not on_disk(data):
        return predict(model, data["images"][indices], device, batch=p.eval.batch_size,
                       detect=p.eval.detect_kwargs())["detections"]
    from cvpapers.pipelines.mi_aod.loading import predict_files

    out = predict_files(model, data, device, p, detect=p.eval.detect_kwargs(), indices=indices)
    found = dict(zip(out["kept"], out["detections"], strict=True))
    empty = {"boxes": np.zeros((0, 4), np.float32), "scores": np.zeros(0, np.float32), "labels": np.zeros(0, np.int64)}
    return [found.get(int(i), empty) for i in indices]
