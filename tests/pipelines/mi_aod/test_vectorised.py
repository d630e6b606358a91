"""The vectorised MI-AOD step (issue 12) computes what the per-level loops computed, to the last bit on a CPU.

The references below are the per-level implementations the vectorised code replaced (a list of per-level tensors
in, a loop over levels, ``torchvision.ops.sigmoid_focal_loss``): the head's concatenated outputs, the MIL
weights and score, the discrepancies, the pseudo labels and the detection loss must equal them exactly, values
and gradients. The level sizes are the paper's (b2 608², C = 20, A = 9): levels of more than 32,768 elements,
which a CPU kernel splits between threads, and a level whose element count leaves a scalar tail — the layouts
in which an element-wise CPU kernel's results can depend on how the tensor is cut.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from cvpapers.models.detection import Levels, concat_levels
from cvpapers.pipelines.mi_aod.heads import MIAODHead
from cvpapers.pipelines.mi_aod.losses import (
    CLAMP,
    FOCAL_ALPHA,
    FOCAL_GAMMA,
    _sigmoid_per_level,
    class_probabilities,
    detection_loss,
    image_cls_loss,
    image_labels,
    mil_weights,
    plain_discrepancy,
    pseudo_image_labels,
    weighted_discrepancy,
)

N, C = 2, 20
SIDES = (76, 38, 19, 10, 5)  # P3–P7 of a 608² image
SIZES = tuple(s * s * 9 for s in SIDES)


# ------------------------------------------------------------------------------ per-level references
def _ref_mil_weights(cls1, cls2, mil, mode="code"):
    z_mean = [(a.detach().float() + b.detach().float()) / 2 for a, b in zip(cls1, cls2, strict=True)]
    pi = [m.float().softmax(-1) for m in mil]
    if mode == "code":
        weights = [p * torch.sigmoid(z).amax(-1).softmax(1).unsqueeze(-1) for p, z in zip(pi, z_mean, strict=True)]
        score = torch.stack([w.sum(1) for w in weights]).amax(0)
    else:
        sizes = [z.shape[1] for z in z_mean]
        alpha = torch.cat(z_mean, 1).softmax(1)
        weights = list((torch.cat(pi, 1) * alpha).split(sizes, 1))
        score = sum(w.sum(1) for w in weights)
    return weights, score.clamp(CLAMP, 1 - CLAMP)


def _ref_weighted_discrepancy(cls1, cls2, weights, lam, maximise=False):
    total = cls1[0].new_zeros((), dtype=torch.float32)
    for z1, z2, w in zip(cls1, cls2, weights, strict=True):
        gap = (torch.sigmoid(z1.float()) - torch.sigmoid(z2.float())).abs()
        if maximise:
            gap = 1 - gap
        total = total + (gap * w.detach().float()).mean(-1).sum()
    return lam * total


def _ref_detection_loss(cls1, cls2, reg, labels, valid, pos, deltas):
    from torchvision.ops import sigmoid_focal_loss

    keep = valid.unsqueeze(-1).float()
    per_image = [(sigmoid_focal_loss(z.float(), labels.float(), FOCAL_ALPHA, FOCAL_GAMMA, reduction="none") * keep
                  ).sum(dim=(1, 2)) for z in (cls1, cls2)]
    loc_image = ((reg.float() - deltas.float()).abs() * pos.unsqueeze(-1).float()).sum(dim=(1, 2))
    norm = pos.sum(1).clamp(min=1).float().sum()
    return 0.5 * (per_image[0].sum() + per_image[1].sum()) / norm, loc_image.sum() / norm


def _per_level_head_output(head: MIAODHead, features: list[Tensor]) -> dict[str, list[Tensor]]:
    """The head's former output: every level permuted and reshaped on its own (contiguous copies)."""
    def per_anchor(x: Tensor, k: int) -> Tensor:
        n, _, h, w = x.shape
        return x.permute(0, 2, 3, 1).reshape(n, h * w * head.num_anchors, k)

    c = head.num_classes
    return {"cls1": [per_anchor(head.f1(f), c) for f in features], "cls2": [per_anchor(head.f2(f), c) for f in features],
            "mil": [per_anchor(head.f_mil(f), c) for f in features], "reg": [per_anchor(head.f_r(f), 4) for f in features]}


# ------------------------------------------------------------------------------ inputs
def _logits(seed: int, scale: float = 3.0) -> list[Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(N, a, C, generator=g) * scale - 2).requires_grad_() for a in SIZES]


def _as_head_levels(levels: list[Tensor]) -> tuple[Levels, Tensor]:
    """The same values as the head now returns them: views of one (N, ΣA, C) leaf."""
    full = torch.cat([t.detach() for t in levels], 1).requires_grad_()
    return Levels(full, SIZES), full


def _same(a: Tensor, b: Tensor) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    assert torch.equal(a, b), f"differs in {(a != b).sum().item()} of {a.numel()} elements"


# ------------------------------------------------------------------------------ tests
def test_the_heads_concatenated_outputs_equal_its_per_level_reshapes_and_the_levels_are_views() -> None:
    torch.manual_seed(0)
    head = MIAODHead(8, 9, 5, tower_depth=1)
    feats = [torch.randn(2, 8, h, w) for h, w in ((10, 12), (5, 6), (3, 3))]
    out = head(feats)
    ref = _per_level_head_output(head, feats)
    for name, levels in ref.items():
        got = getattr(out, name)
        assert isinstance(got, Levels) and got.sizes == tuple(t.shape[1] for t in levels)
        _same(out.cat(name), torch.cat(levels, 1))
        assert out.cat(name) is got.full, "cat() returns the head's concatenation, no copy"
        for view, level in zip(got, levels, strict=True):
            _same(view, level)
            assert view.data_ptr() >= got.full.data_ptr() and view._base is not None


@pytest.mark.parametrize("mode", ["code", "paper"])
def test_mil_weights_equal_the_per_level_loop_to_the_bit_values_and_gradients(mode: str) -> None:
    z1, z2, m = _logits(0), _logits(1), _logits(2, scale=1.0)
    w_ref, s_ref = _ref_mil_weights(z1, z2, m, mode)
    (s_ref.square().sum() + sum((w * w).sum() for w in w_ref)).backward()

    m_levels, m_full = _as_head_levels(m)
    w, s = mil_weights(_as_head_levels(z1)[0], _as_head_levels(z2)[0], m_levels, mode)
    (s.square().sum() + sum((x * x).sum() for x in w)).backward()
    _same(s, s_ref)
    for a, b in zip(w, w_ref, strict=True):
        _same(a, b)
    _same(m_full.grad, torch.cat([t.grad for t in m], 1))
    # plain lists (the former interface) give the same
    w_list, s_list = mil_weights([t.detach() for t in z1], [t.detach() for t in z2], [t.detach() for t in m], mode)
    _same(s_list, s_ref.detach())


@pytest.mark.parametrize("maximise", [False, True])
def test_weighted_discrepancy_equals_the_per_level_loop_to_the_bit_values_and_gradients(maximise: bool) -> None:
    z1, z2, m = _logits(3), _logits(4), _logits(5, scale=1.0)
    weights, _ = _ref_mil_weights(z1, z2, m)
    ref = _ref_weighted_discrepancy(z1, z2, weights, 0.5, maximise)
    ref.backward()

    (l1, f1), (l2, f2) = _as_head_levels(z1), _as_head_levels(z2)
    got = weighted_discrepancy(l1, l2, mil_weights(l1, l2, _as_head_levels(m)[0])[0], 0.5, maximise)
    got.backward()
    _same(got, ref)
    _same(f1.grad, torch.cat([t.grad for t in z1], 1))
    _same(f2.grad, torch.cat([t.grad for t in z2], 1))


def test_sigmoid_per_level_keeps_each_levels_cpu_values_and_the_one_kernel_path_is_within_an_ulp() -> None:
    z = torch.cat([t.detach() for t in _logits(6)], 1)
    per_level = torch.cat([torch.sigmoid(t.contiguous()) for t in z.split(SIZES, 1)], 1)
    _same(_sigmoid_per_level(z, SIZES), per_level)
    torch.testing.assert_close(z.sigmoid(), per_level, rtol=2.5e-7, atol=0)  # what a GPU computes: one kernel


def test_pseudo_labels_and_plain_discrepancy_share_one_sigmoid_and_equal_the_concatenated_reference() -> None:
    z1, z2 = [t.detach() for t in _logits(7)], [t.detach() for t in _logits(8)]
    c1, c2 = torch.cat(z1, 1), torch.cat(z2, 1)
    ref_labels = (((torch.sigmoid(c1) + torch.sigmoid(c2)) / 2).amax(1) >= 0.5).float()
    ref_plain = (torch.sigmoid(c1) - torch.sigmoid(c2)).abs().mean()
    l1, l2 = Levels(c1, SIZES), Levels(c2, SIZES)
    probs = class_probabilities(l1, l2)
    labels, has = pseudo_image_labels(l1, l2, 0.5, probs=probs)
    _same(labels, ref_labels)
    _same(has, ref_labels.amax(1) > 0)
    _same(plain_discrepancy(l1, l2, probs=probs), ref_plain)
    _same(plain_discrepancy(z1, z2), ref_plain)


def test_detection_loss_equals_torchvisions_focal_loss_to_the_bit_values_and_gradients() -> None:
    g = torch.Generator().manual_seed(9)
    a = sum(SIZES)
    z1, z2 = (torch.randn(N, a, C, generator=g).mul(3).sub(3).requires_grad_() for _ in range(2))
    reg = torch.randn(N, a, 4, generator=g).requires_grad_()
    pos = torch.rand(N, a, generator=g) < 0.01
    valid = pos | (torch.rand(N, a, generator=g) < 0.9)
    labels = F.one_hot(torch.randint(0, C, (N, a), generator=g), C).float() * pos.unsqueeze(-1)
    deltas = torch.randn(N, a, 4, generator=g) * pos.unsqueeze(-1)
    ref = _ref_detection_loss(z1, z2, reg, labels, valid, pos, deltas)
    sum(ref).backward()
    grads = [t.grad.clone() for t in (z1, z2, reg)]
    for t in (z1, z2, reg):
        t.grad = None
    got = detection_loss(z1, z2, reg, labels, valid, pos, deltas)
    sum(got).backward()
    for x, y in zip(got, ref, strict=True):
        _same(x, y)
    for t, grad in zip((z1, z2, reg), grads, strict=True):
        _same(t.grad, grad)


def test_image_labels_and_the_image_loss_switch_equal_the_one_hot_and_as_tensor_forms() -> None:
    gt = torch.tensor([[2, 2, -1], [0, 3, 1], [-1, -1, -1]])
    ref = (F.one_hot(gt.clamp(min=0), 4).float() * (gt >= 0).unsqueeze(-1).float()).amax(1)
    _same(image_labels(gt, 4), ref)
    score = torch.rand(3, 4).clamp(CLAMP, 1 - CLAMP)
    for enabled in (True, False, torch.tensor(True), torch.tensor(False)):
        base = F.binary_cross_entropy(score, ref)
        _same(image_cls_loss(score, ref, enabled), base * torch.as_tensor(enabled, dtype=base.dtype))


def test_concat_levels_returns_the_concatenation_of_levels_and_cats_plain_lists() -> None:
    full = torch.randn(2, 7, 3)
    levels = Levels(full, (4, 3))
    assert concat_levels(levels) is full and len(levels) == 2 and levels[1].shape == (2, 3, 3)
    _same(concat_levels([full[:, :4], full[:, 4:]]), full)
    anchors = Levels(torch.randn(7, 4), (4, 3), dim=0)
    assert concat_levels(anchors, 0) is anchors.full and all(t.is_contiguous() for t in anchors)


@pytest.mark.parametrize("unlabelled", [False, True])
def test_a_training_step_reads_nothing_back_from_the_device_and_returns_detached_0d_stats(unlabelled: bool) -> None:
    from torch.profiler import ProfilerActivity, profile

    from cvpapers.models.detection import assign_targets
    from cvpapers.pipelines.mi_aod.heads import build_miaod_detector
    from cvpapers.pipelines.mi_aod.training import ROLES, Stage, make_step

    torch.manual_seed(0)
    model = build_miaod_detector("tiny", num_classes=4, fpn_channels=16)
    stage = Stage("B1_min", "min", 1, trainable=ROLES, labelled=("det", "imgcls"), unlabelled=("dis", "imgcls"))
    step = make_step(model, stage, 4, 0.5, 0.5, "code", "batch")
    images = torch.rand(2, 3, 64, 64)
    batch = {"images": images, "unlabelled": True} if unlabelled else {
        "images": images, "boxes": torch.tensor([[[4.0, 6.0, 40.0, 30.0]], [[10.0, 10.0, 60.0, 50.0]]]),
        "labels": torch.tensor([[1], [3]]), "unlabelled": False}
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        loss, stats = step(model, batch)
        loss.backward()
    syncs = [e.name for e in prof.events() if e.name in ("aten::item", "aten::_local_scalar_dense", "aten::nonzero")]
    assert syncs == [], "a host-device synchronisation in the step"
    for k, v in stats.items():
        assert (isinstance(v, float) and k == "n") or (v.ndim == 0 and not v.requires_grad), k
    assert float(stats["loss"]) == float(loss.detach())
    if not unlabelled:
        t = assign_targets(torch.cat(model.anchors(images)), batch["boxes"], batch["labels"], 4)
        assert float(stats["positives_per_image"]) == float(t.pos.sum()) / len(t.pos)


def test_the_head_computes_only_the_outputs_asked_for_with_the_same_values() -> None:
    torch.manual_seed(0)
    head = MIAODHead(8, 9, 5, tower_depth=1)
    feats = [torch.randn(2, 8, h, w) for h, w in ((10, 12), (5, 6))]
    full = head(feats)
    part = head(feats, outputs=("cls1", "cls2", "mil"))
    assert part.reg is None and part.level_sizes == full.level_sizes
    for name in ("cls1", "cls2", "mil"):
        _same(part.cat(name), full.cat(name))
    with pytest.raises(ValueError, match="'reg' was not computed"):
        part.cat("reg")
    with pytest.raises(ValueError, match="unknown head outputs"):
        head(feats, outputs=("cls3",))
