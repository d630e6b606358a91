"""DDM's stage batches and losses: 1:1 sample-level batches without blending, source boxes pasted into
target images, the per-domain loss sum, and a student that learns from frozen teachers."""

from __future__ import annotations

import pytest
import torch

from cvpapers.models.segmentation import TinyDeepLabV2, seg_loss
from cvpapers.pipelines.ssda_dual_mix import training as T

H, W = 16, 32


def _sets(n: int = 6):
    g = torch.Generator().manual_seed(0)
    src = torch.randint(0, 256, (n, 3, H, W), dtype=torch.uint8, generator=g)
    tgt = torch.randint(0, 256, (n, 3, H, W), dtype=torch.uint8, generator=g)
    return src, torch.zeros(n, H, W, dtype=torch.uint8), tgt, torch.ones(n, H, W, dtype=torch.uint8)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def test_sample_level_batch_holds_round_fraction_source_images_and_blends_nothing() -> None:
    src, sy, tgt, ty = _sets()
    x, y, n_src = T.sample_level_draw(src, sy, tgt, ty, 8, 0.5, _identity)(torch.Generator().manual_seed(1))
    assert n_src == 4 and x.shape[0] == 8
    is_src = [(xi[None] == src).flatten(1).all(1).any().item() for xi in x]
    is_tgt = [(xi[None] == tgt).flatten(1).all(1).any().item() for xi in x]
    assert is_src == [True] * 4 + [False] * 4 and is_tgt == [False] * 4 + [True] * 4
    assert (y[:4] == 0).all() and (y[4:] == 1).all()


def test_region_mixed_batch_pastes_a_source_box_into_a_target_image() -> None:
    src, sy, tgt, ty = _sets()
    x, y = T.region_mixed_draw(src, sy, tgt, ty, 4, 0.5, "fixed", (0.5, 2.0), _identity)(torch.Generator().manual_seed(2))
    for xi, yi in zip(x, y, strict=True):
        outside = yi == 1  # target label outside the box, source label (0) inside
        assert 0 < outside.float().mean() < 1
        match = (tgt == xi[None]) | ~outside[None, None]
        assert match.flatten(1).all(1).any(), "outside the box the image is one target image"


def test_sample_level_loss_is_the_sum_of_per_domain_losses() -> None:
    torch.manual_seed(0)
    model = TinyDeepLabV2(num_classes=3).train()
    x = torch.randn(4, 3, H, W)
    y = torch.randint(0, 3, (4, H, W))
    y[3, :, :10] = 255  # unequal valid pixels: a concatenated CE would differ from the sum
    loss, stats = T.sample_level_step(0.1)(model, (x, y, 2))
    torch.manual_seed(0)
    main, aux = model(x)
    expected = seg_loss((main[:2], aux[:2]), y[:2], 0.1) + seg_loss((main[2:], aux[2:]), y[2:], 0.1)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert float(stats["source_loss"] + stats["target_loss"]) == pytest.approx(float(stats["loss"]), rel=1e-5)


def test_student_step_learns_from_frozen_teachers_in_eval_mode() -> None:
    torch.manual_seed(0)
    teachers = [T.freeze(TinyDeepLabV2(num_classes=3)), T.freeze(TinyDeepLabV2(num_classes=3))]
    before = [p.clone() for t in teachers for p in t.parameters()]
    student = TinyDeepLabV2(num_classes=3).train()
    step = T.student_step(teachers, lambda_kl=0.5, lambda_ce=1.0, temperature=2.0, t2_scaling=True,
                          ensemble_mode="prob", lambda_aux=0.1)
    xu, xl, yl = torch.randn(3, 3, H, W), torch.randn(2, 3, H, W), torch.randint(0, 3, (2, H, W))
    loss, stats = step(student, (xu, xl, yl))
    loss.backward()
    assert all(not t.training for t in teachers)
    assert all(p.grad is None for t in teachers for p in t.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, [p for t in teachers for p in t.parameters()], strict=True))
    assert float(stats["loss"]) == pytest.approx(float(0.5 * stats["kl_loss"] + 1.0 * stats["ce_loss"]), rel=1e-5)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())


# -- the same stages streamed from files ---------------------------------------------------------------------

@pytest.fixture
def files(tmp_path):
    import numpy as np

    from cvpapers.data.segmentation import cityscapes_manifest, gta5_manifest, write_street_fixture

    write_street_fixture(tmp_path, "gta5", 4, (24, 40), seed=1)
    write_street_fixture(tmp_path / "cs", "cityscapes", 3, (16, 32), seed=2)
    return (gta5_manifest(tmp_path).assign(id=np.arange(4)),
            cityscapes_manifest(tmp_path / "cs", splits=("train",)).assign(id=np.arange(3)))


def _datasets(files, labelled_target: bool = True):
    from cvpapers.da.streams import DAReader, dataset, train_transform

    source, target = files
    crop = train_transform((H, W))
    return (dataset(source, DAReader(19, (20, 36)), crop),
            dataset(target, DAReader(19, (H, W), label="label_path" if labelled_target else None,
                                     placeholder=not labelled_target), crop))


def _run(source, seed: int, n: int = 2) -> list:
    """The first chunk of ``n`` iterations of a streamed stage's batch source."""
    return list(source(n, seed).batches(0))


def test_streamed_region_batches_are_mixed_pairs_the_same_with_workers(files) -> None:
    src, tgt = _datasets(files)
    pairs = T.region_mixed_pairs(tgt, src, 0.5, "fixed", (0.5, 2.0))
    one = _run(T.region_mixed_stream(pairs, 4, _identity), seed=3)
    two = _run(T.region_mixed_stream(pairs, 4, _identity, workers=2), seed=3)
    for (x1, y1), (x2, y2) in zip(one, two, strict=True):
        assert x1.shape == (4, 3, H, W) and y1.dtype == torch.long
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_streamed_sample_level_and_student_batches_split_where_the_steps_expect(files) -> None:
    src, tgt = _datasets(files)
    for x, y, n_src in _run(T.sample_level_stream(src, tgt, 4, 0.5, _identity), seed=4):
        assert n_src == 2 and x.shape == (4, 3, H, W) and y.shape == (4, H, W)
    _, unl = _datasets(files, labelled_target=False)
    for xu, xl, yl in _run(T.student_stream(unl, tgt, 3, 2, _identity), seed=4):
        assert xu.shape == (3, 3, H, W) and xl.shape == (2, 3, H, W) and yl.shape == (2, H, W)
        assert (yl != 255).any()
