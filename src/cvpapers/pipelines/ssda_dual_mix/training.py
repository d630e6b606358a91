"""DDM's training stages as batch draws and step functions for the engine's segmentation loop.

Each stage draws its batch from a ``torch.Generator`` seeded by the batch's position (so a resumed stage
replays the same batches) and defines how the loss is computed:

* supervised (target-only / source-only baselines): ``L_seg`` on one labelled set
  (:func:`cvpapers.da.batches.supervised_draw` / ``supervised_step``, shared by the DA pipelines);
* region-level teacher (Eq. 2): ``L_seg`` on source boxes pasted into labelled target images;
* sample-level teacher (Eq. 3): one forward on a 1:1 source/target batch, ``L_seg`` of each half summed;
* student (Eq. 4): ``λ_kl·KD`` towards the frozen teachers' ensemble on unlabelled target images plus
  ``λ_ce·L_seg`` on labelled (and, from round 2, pseudo-labelled) target images.

The embedded benchmark draws from in-memory tensors (``*_draw``); real data streams from disk (``*_stream``):
the same picks from the same seeded generator, samples read, cropped (and region-mixed) in DataLoader
workers, and a ``prepare`` that turns the collated batch into exactly what the step functions take.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from cvpapers.da.batches import Draw, Step, maybe_flip, pick
from cvpapers.da.distill import ensemble_probs, kd_loss
from cvpapers.da.segmenter import Normaliser
from cvpapers.da.streams import PairDataset, StreamSource, UnionDataset, images_nchw
from cvpapers.models.segmentation import seg_loss
from cvpapers.pipelines.ssda_dual_mix.mixing import RegionMixer, region_mix, sample_boxes


def region_mixed_draw(
    src_x: Tensor, src_y: Tensor, tgt_x: Tensor, tgt_y: Tensor, batch: int,
    box_area: float, area_mode: str, aspect_range: Sequence[float], normalise: Normaliser, hflip: bool = False,
) -> Draw:
    """Eq. 1 batches: independent random source/target pairs, one source box pasted into each target."""
    h, w = tgt_x.shape[-2:]

    def draw(g: torch.Generator) -> tuple[Tensor, Tensor]:
        t, s = pick(len(tgt_x), batch, g), pick(len(src_x), batch, g)
        boxes = sample_boxes(batch, h, w, box_area, area_mode, tuple(aspect_range), generator=g)  # type: ignore[arg-type]
        x, y = region_mix(tgt_x[t], tgt_y[t], src_x[s], src_y[s], boxes)
        x, y = maybe_flip(x, y, hflip, g)
        return normalise(x), y.long()

    return draw


def sample_level_draw(
    src_x: Tensor, src_y: Tensor, tgt_x: Tensor, tgt_y: Tensor, batch: int, source_fraction: float,
    normalise: Normaliser, hflip: bool = False,
) -> Draw:
    """Eq. 3 batches: ``round(source_fraction·B)`` source samples then labelled target samples (no blending)."""
    n_src = round(source_fraction * batch)

    def draw(g: torch.Generator) -> tuple[Tensor, Tensor, int]:
        s, t = pick(len(src_x), n_src, g), pick(len(tgt_x), batch - n_src, g)
        x, y = maybe_flip(torch.cat([src_x[s], tgt_x[t]]), torch.cat([src_y[s], tgt_y[t]]), hflip, g)
        return normalise(x), y.long(), n_src

    return draw


def student_draw(
    unl_x: Tensor, lab_x: Tensor, lab_y: Tensor, unlabelled_batch: int, labelled_batch: int, normalise: Normaliser
) -> Draw:
    """Eq. 4 batches: unlabelled target images for distillation, labelled target images for CE."""

    def draw(g: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        u, lab = pick(len(unl_x), unlabelled_batch, g), pick(len(lab_x), labelled_batch, g)
        return normalise(unl_x[u]), normalise(lab_x[lab]), lab_y[lab].long()

    return draw


def sample_level_step(lambda_aux: float) -> Step:
    """One forward on the concatenated batch (BN statistics shared across domains), then the sum of the
    per-domain losses, each averaged over its own valid pixels (spec §3.3)."""

    def step(model: nn.Module, batch: tuple[Tensor, Tensor, int]) -> tuple[Tensor, dict[str, float]]:
        x, y, n_src = batch
        main, aux = model(x)
        src = seg_loss((main[:n_src], None if aux is None else aux[:n_src]), y[:n_src], lambda_aux)
        tgt = seg_loss((main[n_src:], None if aux is None else aux[n_src:]), y[n_src:], lambda_aux)
        loss = src + tgt
        return loss, {"loss": loss.detach(), "source_loss": src.detach(), "target_loss": tgt.detach(), "n": 1}

    return step


def freeze(model: nn.Module) -> nn.Module:
    """A teacher as the student sees it: eval mode, no gradients."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def student_step(
    teachers: Sequence[nn.Module], lambda_kl: float, lambda_ce: float, temperature: float,
    t2_scaling: bool, ensemble_mode: str, lambda_aux: float,
) -> Step:
    """Eq. 4: KD on the main head towards the teachers' ensemble (frozen, eval mode) + CE on labelled images."""

    def step(model: nn.Module, batch: tuple[Tensor, Tensor, Tensor]) -> tuple[Tensor, dict[str, float]]:
        xu, xl, yl = batch
        with torch.no_grad():
            target = ensemble_probs([t(xu) for t in teachers], temperature, ensemble_mode)  # type: ignore[arg-type]
        main, aux = model(torch.cat([xu, xl]))
        nu = xu.shape[0]
        kl = kd_loss(target, main[:nu].float(), temperature, t2_scaling)
        ce = seg_loss((main[nu:], None if aux is None else aux[nu:]), yl, lambda_aux)
        loss = lambda_kl * kl + lambda_ce * ce
        return loss, {"loss": loss.detach(), "kl_loss": kl.detach(), "ce_loss": ce.detach(), "n": 1}

    return step


# -- the same batches from file-backed sets ----------------------------------------------------------------

def supervised_stream(data: Any, batch: int, normalise: Normaliser, **run: Any) -> StreamSource:
    """Baselines: uniformly drawn labelled samples (with replacement), cropped per sample."""
    return StreamSource(data, lambda g: pick(len(data), batch, g),
                      lambda b: (normalise(images_nchw(b)), b["mask"].long()), **run)


def region_mixed_pairs(target: Any, source: Any, box_area: float, area_mode: str,
                       aspect_range: Sequence[float]) -> PairDataset:
    """(target, source) pairs, each mixed by one box in the worker (Eq. 1)."""
    return PairDataset(target, source, RegionMixer(box_area, area_mode, tuple(aspect_range)))  # type: ignore[arg-type]


def region_mixed_stream(pairs: PairDataset, batch: int, normalise: Normaliser, **run: Any) -> StreamSource:
    """Eq. 1 batches: independent random target/source pairs (drawn as the in-memory draw does), one box each."""
    n_t, n_s = len(pairs.a), len(pairs.b)  # type: ignore[arg-type]

    def pick_pairs(g: torch.Generator) -> Tensor:
        t, s = pick(n_t, batch, g), pick(n_s, batch, g)
        return pairs.key(t, s)

    return StreamSource(pairs, pick_pairs, lambda b: (normalise(images_nchw(b)), b["mask"].long()), **run)


def sample_level_stream(source: Any, target: Any, batch: int, source_fraction: float, normalise: Normaliser,
                        **run: Any) -> StreamSource:
    """Eq. 3 batches: ``round(source_fraction·B)`` source samples then labelled target samples."""
    both, n_src, n_s = UnionDataset([source, target]), round(source_fraction * batch), len(source)

    def pick_both(g: torch.Generator) -> Tensor:
        s, t = pick(n_s, n_src, g), pick(len(target), batch - n_src, g)
        return torch.cat([s, t + n_s])

    def prepare(b: dict[str, Any]) -> tuple[Tensor, Tensor, int]:
        return normalise(images_nchw(b)), b["mask"].long(), int((b["index"] < n_s).sum())

    return StreamSource(both, pick_both, prepare, **run)


def student_stream(unlabelled: Any, labelled: Any, unlabelled_batch: int, labelled_batch: int,
                   normalise: Normaliser, **run: Any) -> StreamSource:
    """Eq. 4 batches: unlabelled target samples (an all-ignore mask that no loss reads) then labelled ones."""
    both, n_u = UnionDataset([unlabelled, labelled]), len(unlabelled)

    def pick_both(g: torch.Generator) -> Tensor:
        u, lab = pick(n_u, unlabelled_batch, g), pick(len(labelled), labelled_batch, g)
        return torch.cat([u, lab + n_u])

    def prepare(b: dict[str, Any]) -> tuple[Tensor, Tensor, Tensor]:
        k, x = int((b["index"] < n_u).sum()), normalise(images_nchw(b))
        return x[:k], x[k:], b["mask"][k:].long()

    return StreamSource(both, pick_both, prepare, **run)
