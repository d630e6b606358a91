"""Manifest → tensors: load_split round trip, normalisation, batch augmentation, TensorBatches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from cvpapers.data.classification import (
    CIFAR_MEAN,
    CIFAR_STD,
    EMBEDDED_MEAN,
    EMBEDDED_STD,
    TensorBatches,
    _apply_augment,
    _draw_augment,
    augment_batch,
    load_split,
    normalize,
)
from cvpapers.data.decode import BadSampleError
from cvpapers.data.manifest import validate_manifest
from cvpapers.data.shapes import ShapesConfig, generate_shapes, write_shapes_split


def test_write_shapes_split_then_load_split_equals_generated_arrays(tmp_path) -> None:
    cfg_tr, cfg_te = ShapesConfig(image_size=16, seed=1), ShapesConfig(image_size=16, seed=2)
    df = validate_manifest(
        pd.concat(
            [write_shapes_split(tmp_path, "train", 60, cfg_tr), write_shapes_split(tmp_path, "test", 40, cfg_te)],
            ignore_index=True,
        ),
        ["train", "test"],
    )
    for split, cfg, n in (("train", cfg_tr, 60), ("test", cfg_te, 40)):
        x, y = load_split(df, split)
        ref_x, ref_y = generate_shapes(n, cfg)
        assert x.dtype == torch.uint8 and y.dtype == torch.int64
        assert torch.equal(x, torch.from_numpy(ref_x).permute(0, 3, 1, 2))
        assert torch.equal(y, torch.from_numpy(ref_y))
    x8, _ = load_split(df, "test", image_size=8)
    assert x8.shape == (40, 3, 8, 8)
    same, _ = load_split(df, "test", image_size=16)  # same size: no resampling
    assert torch.equal(same, torch.from_numpy(generate_shapes(40, cfg_te)[0]).permute(0, 3, 1, 2))


def test_load_split_missing_split_and_missing_file_are_named(tmp_path) -> None:
    df = write_shapes_split(tmp_path, "train", 5, ShapesConfig(image_size=8))
    with pytest.raises(ValueError, match="'val'"):
        load_split(df, "val")
    (tmp_path / df["path"].iloc[0]).unlink()
    with pytest.raises(BadSampleError, match=df["path"].iloc[0] + ": file not found"):
        load_split(df, "train")


def test_normalize_matches_manual_formula() -> None:
    x = torch.randint(0, 256, (4, 3, 5, 5), dtype=torch.uint8)
    out = normalize(x, CIFAR_MEAN, CIFAR_STD)
    ref = (x.float() / 255 - torch.tensor(CIFAR_MEAN).view(3, 1, 1)) / torch.tensor(CIFAR_STD).view(3, 1, 1)
    assert out.dtype == torch.float32 and torch.allclose(out, ref)
    assert torch.allclose(normalize(x.float() / 255, EMBEDDED_MEAN, EMBEDDED_STD), (x.float() / 255 - 0.5) / 0.3)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_augment_keeps_shape_and_is_identity_without_flip_or_shift() -> None:
    x = torch.rand(8, 3, 10, 12)
    assert torch.equal(augment_batch(x, False, 0, _gen()), x)
    out = augment_batch(x, True, 3, _gen())
    assert out.shape == x.shape and out.dtype == x.dtype


def test_augment_flip_twice_with_same_draws_is_identity() -> None:
    x = torch.rand(16, 3, 7, 9)
    once = augment_batch(x, True, 0, _gen(5))
    assert not torch.equal(once, x)  # some samples flipped
    assert torch.equal(augment_batch(once, True, 0, _gen(5)), x)


def test_augment_equals_pad_crop_flip_per_sample() -> None:
    """Reference: torchvision-style zero padding, crop at (dy+s, dx+s), then flip — one sample at a time."""
    x, s = torch.rand(32, 3, 8, 8), 2
    flip, dy, dx = _draw_augment(32, True, s, _gen(3))
    out = _apply_augment(x, flip, dy, dx)
    assert torch.equal(out, augment_batch(x, True, s, _gen(3)))
    padded = F.pad(x, (s, s, s, s))
    for b in range(32):  # reference loop over samples, test only
        crop = padded[b, :, dy[b] + s : dy[b] + s + 8, dx[b] + s : dx[b] + s + 8]
        assert torch.equal(out[b], crop.flip(-1) if flip[b] else crop)
    assert len(set(zip(dy.tolist(), dx.tolist()))) > 5  # offsets are per-sample random


def test_augment_shift_moves_content_within_bounds() -> None:
    x = torch.zeros(64, 1, 9, 9)
    x[:, :, 4, 4] = 1.0  # one bright pixel in the centre
    out = augment_batch(x, False, 2, _gen(1))
    assert torch.equal(out.sum((1, 2, 3)), torch.ones(64))  # shift of <= 2 keeps the centre pixel inside
    pos = out[:, 0].flatten(1).argmax(1)
    rows, cols = pos // 9, pos % 9
    assert ((rows - 4).abs() <= 2).all() and ((cols - 4).abs() <= 2).all()
    assert (rows != 4).any() and (cols != 4).any()


def _batches(**kw) -> TensorBatches:
    x, y = generate_shapes(103, ShapesConfig(image_size=8, seed=0))
    images = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    args = dict(batch_size=16, mean=EMBEDDED_MEAN, std=EMBEDDED_STD, shuffle=True, seed=7,
                augment={"hflip": True, "shift_px": 1})
    args.update(kw)
    return TensorBatches(images, torch.from_numpy(y), **args)


def test_tensor_batches_are_deterministic_per_seed_and_epoch() -> None:
    a, b = _batches(), _batches()
    for (xa, ya), (xb, yb) in zip(a.batches(3), b.batches(3), strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    first = [y for _, y in a.batches(0)]
    other_epoch = [y for _, y in a.batches(1)]
    assert not all(torch.equal(p, q) for p, q in zip(first, other_epoch))
    # Resuming mid-epoch gives the same remaining batches.
    full = list(a.batches(2))
    resumed = list(a.batches(2, start_batch=4))
    assert all(torch.equal(p[0], q[0]) for p, q in zip(full[4:], resumed, strict=True))


def test_tensor_batches_cover_every_sample_once_per_epoch() -> None:
    tb = _batches(augment=None)
    assert len(tb) == 7
    order = tb.order(0)
    assert torch.equal(order.sort().values, torch.arange(103))  # a permutation: each sample exactly once
    xs = torch.cat([x for x, _ in tb.batches(0)])
    ys = torch.cat([y for _, y in tb.batches(0)])
    assert torch.equal(xs, normalize(tb.images[order], EMBEDDED_MEAN, EMBEDDED_STD))
    assert torch.equal(ys, tb.labels[order])
    dl = _batches(augment=None, drop_last=True)
    assert len(dl) == 6 and sum(len(y) for _, y in dl.batches(0)) == 96


def test_tensor_batches_shards_partition_the_epoch() -> None:
    shards = [_batches(rank=r, world_size=3) for r in range(3)]
    orders = [s.order(4) for s in shards]
    assert all(len(o) == 35 for o in orders) and len({len(s) for s in shards}) == 1
    assert set(torch.cat(orders).tolist()) == set(range(103))


def test_tensor_batches_rejects_unknown_augment_keys() -> None:
    with pytest.raises(ValueError, match="rotate"):
        _batches(augment={"rotate": True})


def test_tensor_batches_values_are_normalised_images() -> None:
    tb = _batches(augment=None, shuffle=False)
    x, y = next(iter(tb))
    imgs, labels = generate_shapes(103, ShapesConfig(image_size=8, seed=0))
    ref = (torch.from_numpy(imgs[:16]).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.3
    assert torch.allclose(x, ref, atol=1e-6) and torch.equal(y, torch.from_numpy(labels[:16]))
    assert np.isfinite(x.numpy()).all()


def test_imagenet_transforms_crop_scale_and_lighting_options() -> None:
    """Defaults are torchvision's RandomResizedCrop scale (0.08, 1) and no Lighting (dcff unchanged); recu sets
    scale (0.08, 1.25) and PCA Lighting 0.1, which shifts every pixel of an image by one RGB offset."""
    from PIL import Image

    from cvpapers.data.classification import Lighting, imagenet_transforms

    default = imagenet_transforms(train=True, image_size=32)
    assert default.transforms[0].scale == (0.08, 1.0) and not any(isinstance(t, Lighting) for t in default.transforms)
    recu = imagenet_transforms(train=True, image_size=32, crop_scale=(0.08, 1.25), lighting=0.1)
    assert recu.transforms[0].scale == (0.08, 1.25) and any(isinstance(t, Lighting) for t in recu.transforms)
    assert recu(Image.new("RGB", (48, 40), (120, 30, 200))).shape == (3, 32, 32)
    img = torch.rand(3, 5, 5)
    torch.manual_seed(0)
    shifted = Lighting(0.1)(img)
    offset = (shifted - img).flatten(1)
    torch.testing.assert_close(offset, offset[:, :1].expand_as(offset))
    assert offset.abs().max() > 0 and torch.equal(Lighting(0.0)(img), img)


def test_imagenet_transforms_color_jitter_is_off_by_default_and_follows_the_crop() -> None:
    from cvpapers.data.classification import imagenet_transforms

    plain = [type(t).__name__ for t in imagenet_transforms(train=True).transforms]
    assert "ColorJitter" not in plain
    jitter = imagenet_transforms(train=True, color_jitter=0.4).transforms
    assert [type(t).__name__ for t in jitter[:3]] == ["RandomResizedCrop", "ColorJitter", "RandomHorizontalFlip"]
    assert jitter[1].brightness == (0.6, 1.4) and jitter[1].saturation == (0.6, 1.4)
