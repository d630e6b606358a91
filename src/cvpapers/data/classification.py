"""From manifest rows to tensors for the classification pipelines (dcff, collab_compression, recu, pss_net).

Two paths, chosen by dataset size:

- Small datasets (embedded benchmark, CIFAR-10: ≤ 60k images of 32×32, ≤ 200 MB as uint8) are held in memory
  as one uint8 tensor (:func:`load_split`) and served by :class:`TensorBatches`, which shuffles, augments
  and normalises whole mini-batches with tensor ops. Why: a DataLoader with per-sample PIL transforms costs
  more than the tiny models' forward pass on CPU, and a (seed, epoch)-seeded generator makes every epoch
  reproducible and resumable without saving sampler state.
- Large datasets (ImageNet) stream files with :class:`ImageFileDataset` and torchvision transforms inside
  a ``torch.utils.data.DataLoader``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import Tensor

from cvpapers.data.cifar import read_cifar_batch
from cvpapers.data.decode import BadSampleError, open_pil
from cvpapers.engine.seeding import derive_seed

log = logging.getLogger(__name__)

__all__ = [
    "CIFAR_MEAN",
    "CIFAR_STD",
    "EMBEDDED_MEAN",
    "EMBEDDED_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImageFileDataset",
    "Lighting",
    "TensorBatches",
    "augment_batch",
    "imagenet_transforms",
    "load_split",
    "normalize",
]

Stats = Sequence[float]
#: dcff §8 / collab_compression: (x − 0.5) / 0.3. (recu and pss_net §8 use std 0.25: pass their own.)
EMBEDDED_MEAN: tuple[float, float, float] = (0.5, 0.5, 0.5)
EMBEDDED_STD: tuple[float, float, float] = (0.3, 0.3, 0.3)
CIFAR_MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
CIFAR_STD: tuple[float, float, float] = (0.2023, 0.1994, 0.2010)
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


# --------------------------------------------------------------------------------------------------------
# in-memory loading


def _resolve(path: str, root: str | Path | None) -> Path:
    p = Path(path)
    return p if root is None or p.is_absolute() else Path(root) / p


def _read_image(path: Path) -> np.ndarray:
    return np.asarray(open_pil(path).convert("RGB"))


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BILINEAR))


def load_split(
    manifest: pd.DataFrame, split: str, image_size: int | None = None, root: str | Path | None = None,
    on_bad_sample: str = "error", skipped: list[str] | None = None,
) -> tuple[Tensor, Tensor]:
    """Load every row of ``split`` into memory, in manifest order.

    Image-file rows (``index == -1``) are decoded with PIL; container rows (``index >= 0``, CIFAR pickle
    batches) read each batch file once. Images are resized (bilinear) only when ``image_size`` is given and
    differs from an image's size.

    Args:
        manifest: table with the columns of :mod:`cvpapers.data.manifest`.
        split: ``train``, ``test`` or ``val``.
        image_size: target side length, or ``None`` to keep the stored size (then all must agree).
        root: base folder for relative paths (``None``: relative to the working directory).
        on_bad_sample: ``error`` stops at a file that does not decode completely, naming it; ``skip`` leaves its
            rows out (appending ``path: problem`` to ``skipped``).

    Returns:
        images: uint8 tensor N×3×H×W; labels: int64 tensor N.
    """
    rows = manifest[manifest["split"] == split]
    if rows.empty:
        present = sorted(set(manifest["split"])) if "split" in manifest else []
        origin = manifest.attrs.get("origin", "<origin unknown>")
        raise ValueError(f"manifest from {origin} has no rows for split {split!r}; splits present: {present}")
    paths = rows["path"].astype(str).to_numpy()
    index = rows["index"].to_numpy(dtype=np.int64)
    arrays: list[np.ndarray | None] = [None] * len(rows)
    container = index >= 0
    keep = np.ones(len(rows), dtype=bool)

    def bad(err: BadSampleError, sel: np.ndarray) -> None:
        if on_bad_sample != "skip":
            raise err
        log.warning("skipped bad sample %s: %s", err.path, err.problem)
        keep[sel] = False
        if skipped is not None:
            skipped.append(str(err))

    for path in pd.unique(paths[container]):  # one read per batch file
        sel = np.flatnonzero(container & (paths == path))
        try:
            images, _ = read_cifar_batch(_resolve(path, root))
        except BadSampleError as err:
            bad(err, sel)
            continue
        if index[sel].max() >= len(images):
            raise IndexError(f"{path} has {len(images)} images, manifest asks for row {index[sel].max()}")
        for s, img in zip(sel, images[index[sel]], strict=True):
            arrays[s] = img
    for s in np.flatnonzero(~container):
        try:
            arrays[s] = _read_image(_resolve(paths[s], root))
        except BadSampleError as err:
            bad(err, np.array([s]))
    arrays = [a for a, k in zip(arrays, keep, strict=True) if k]
    if not arrays:
        raise ValueError(f"split {split!r}: every sample was skipped as bad")
    if image_size is not None:
        arrays = [a if a.shape[:2] == (image_size, image_size) else _resize(a, image_size) for a in arrays]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"split {split!r} mixes image sizes {sorted(shapes)[:4]}; pass image_size to resize")
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(rows["label"].to_numpy(dtype=np.int64)[keep].copy())
    return x, y


# --------------------------------------------------------------------------------------------------------
# normalisation and augmentation


def normalize(x: Tensor, mean: Stats, std: Stats) -> Tensor:
    """(x − mean) / std per channel → float32. uint8 input is scaled to [0, 1] first; float input is taken as
    already in [0, 1]. Channels are dimension −3 (C×H×W or N×C×H×W)."""
    xf = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
    m = torch.as_tensor(mean, dtype=torch.float32, device=x.device).view(-1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=x.device).view(-1, 1, 1)
    return (xf - m) / s


def _draw_augment(
    batch: int, hflip: bool, shift_px: int, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-sample flip flags and crop offsets (dy, dx ∈ [−shift_px, shift_px]), drawn on the CPU generator.

    Draw order (fixed, so results are reproducible): flips (only if hflip), then dy, then dx.
    """
    flip = torch.rand(batch, generator=generator) < 0.5 if hflip else torch.zeros(batch, dtype=torch.bool)
    if shift_px > 0:
        dy = torch.randint(-shift_px, shift_px + 1, (batch,), generator=generator)
        dx = torch.randint(-shift_px, shift_px + 1, (batch,), generator=generator)
    else:
        dy = dx = torch.zeros(batch, dtype=torch.int64)
    return flip, dy, dx


def _apply_augment(x: Tensor, flip: Tensor, dy: Tensor, dx: Tensor, fill: float = 0.0) -> Tensor:
    """out[b, :, i, j] = x[b, :, i + dy, c + dx] with c = W−1−j if flip else j; ``fill`` outside the image.

    This is torchvision's RandomCrop(H, padding=s) followed by RandomHorizontalFlip, with the crop's
    top-left offset (dy + s, dx + s) in the padded image.
    """
    b, _, h, w = x.shape
    dev = x.device
    flip, dy, dx = flip.to(dev), dy.to(dev), dx.to(dev)
    cols = torch.arange(w, device=dev).expand(b, w)
    cols = torch.where(flip[:, None], w - 1 - cols, cols) + dx[:, None]  # B×W
    rows = torch.arange(h, device=dev)[None, :] + dy[:, None]  # B×H
    valid = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]  # B×H×W
    bidx = torch.arange(b, device=dev)[:, None, None]
    # Advanced indices separated by a slice move to the front: result is B×H×W×C.
    out = x[bidx, :, rows.clamp(0, h - 1)[:, :, None], cols.clamp(0, w - 1)[:, None, :]]
    out = out.permute(0, 3, 1, 2)
    return torch.where(valid[:, None], out, torch.as_tensor(fill, dtype=x.dtype, device=dev))


def augment_batch(
    x: Tensor, hflip: bool, shift_px: int, generator: torch.Generator, fill: float = 0.0
) -> Tensor:
    """Random horizontal flip and random translation by up to ``shift_px`` pixels, independently per sample.

    Equivalent to RandomCrop(size, padding=shift_px) + RandomHorizontalFlip applied per image, but as one
    gather for the whole batch. ``fill`` is the padding value; apply before normalising so that 0 means
    black, as in torchvision's CIFAR pipeline. ``generator`` must be a CPU generator (draws are tiny).
    """
    if x.ndim != 4:
        raise ValueError(f"augment_batch expects B×C×H×W, got shape {tuple(x.shape)}")
    if shift_px < 0:
        raise ValueError(f"shift_px must be >= 0, got {shift_px}")
    if not hflip and shift_px == 0:
        return x
    return _apply_augment(x, *_draw_augment(x.shape[0], hflip, shift_px, generator), fill=fill)


# --------------------------------------------------------------------------------------------------------
# in-memory mini-batches


_AUGMENT_KEYS = {"hflip", "shift_px"}


class TensorBatches:
    """Mini-batches (x float32 normalised, y int64) of an in-memory split.

    The permutation of epoch ``e`` comes from a generator seeded with (seed, e), and the augmentation of
    batch ``k`` from (seed, e, k); so an epoch can be replayed, or resumed at any batch, with no saved state.
    With ``world_size > 1`` each rank takes a disjoint shard of the (padded) permutation, like
    DistributedSampler, so ranks see the same number of batches.
    """

    def __init__(
        self,
        images_uint8: Tensor,
        labels: Tensor,
        batch_size: int,
        mean: Stats,
        std: Stats,
        shuffle: bool = True,
        seed: int = 0,
        augment: Mapping[str, Any] | None = None,
        drop_last: bool = False,
        device: str | torch.device = "cpu",
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if images_uint8.dtype != torch.uint8 or images_uint8.ndim != 4:
            raise ValueError(f"images must be a uint8 N×C×H×W tensor, got {images_uint8.dtype} "
                             f"{tuple(images_uint8.shape)}")
        if len(labels) != len(images_uint8):
            raise ValueError(f"{len(images_uint8)} images but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} not in [0, world_size={world_size})")
        augment = dict(augment or {})
        unknown = sorted(set(augment) - _AUGMENT_KEYS)
        if unknown:
            raise ValueError(f"unknown augment key(s) {unknown}; allowed: {sorted(_AUGMENT_KEYS)}")
        self.hflip = bool(augment.get("hflip", False))
        self.shift_px = int(augment.get("shift_px", 0))
        self.device = torch.device(device)
        self.images = images_uint8.to(self.device)
        self.labels = labels.to(self.device, torch.int64)
        self.batch_size = batch_size
        self.mean, self.std = tuple(mean), tuple(std)
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    @property
    def num_samples(self) -> int:
        """Samples this rank sees per epoch (ceil(N / world_size))."""
        return math.ceil(len(self.images) / self.world_size)

    def __len__(self) -> int:
        n = self.num_samples
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Epoch used by ``__iter__`` (as DistributedSampler.set_epoch)."""
        self.epoch = epoch

    def order(self, epoch: int) -> Tensor:
        """Indices of this rank's samples for ``epoch``, in batch order."""
        n = len(self.images)
        if self.shuffle:
            g = torch.Generator().manual_seed(derive_seed(self.seed, epoch))
            perm = torch.randperm(n, generator=g)
        else:
            perm = torch.arange(n)
        total = self.num_samples * self.world_size
        if total > n:  # pad by wrapping so every rank has the same count
            perm = torch.cat([perm, perm[: total - n]])
        return perm[self.rank :: self.world_size]

    def batches(self, epoch: int, start_batch: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield (x, y) for ``epoch``, from batch ``start_batch`` on (for resuming mid-epoch)."""
        idx_all = self.order(epoch).to(self.device)
        for k in range(start_batch, len(self)):
            idx = idx_all[k * self.batch_size : (k + 1) * self.batch_size]
            x = self.images[idx].float().div_(255.0)
            if self.hflip or self.shift_px:
                g = torch.Generator().manual_seed(derive_seed(self.seed, epoch, k))
                x = augment_batch(x, self.hflip, self.shift_px, g)
            yield normalize(x, self.mean, self.std), self.labels[idx]

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        return self.batches(self.epoch)


# --------------------------------------------------------------------------------------------------------
# streaming (ImageNet)


#: PCA of ImageNet's RGB pixels (AlexNet "Lighting"; values of fb.resnet.torch), pixels in [0, 1].
IMAGENET_PCA_EIGVAL: tuple[float, float, float] = (0.2175, 0.0188, 0.0045)
IMAGENET_PCA_EIGVEC: tuple[tuple[float, float, float], ...] = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)


class Lighting:
    """AlexNet PCA lighting noise on a (3, H, W) tensor in [0, 1]: adds ``eigvec @ (alpha * eigval)`` to every
    pixel, ``alpha ~ N(0, alphastd²)`` per image (drawn from torch's global stream, as the other transforms)."""

    def __init__(self, alphastd: float) -> None:
        self.alphastd = alphastd
        self.eigval = torch.tensor(IMAGENET_PCA_EIGVAL)
        self.eigvec = torch.tensor(IMAGENET_PCA_EIGVEC)

    def __call__(self, img: Tensor) -> Tensor:
        if self.alphastd == 0:
            return img
        alpha = torch.randn(3) * self.alphastd
        rgb = self.eigvec @ (alpha * self.eigval)
        return img + rgb.view(3, 1, 1)


def imagenet_transforms(
    train: bool,
    image_size: int = 224,
    resize_size: int = 256,
    mean: Stats = IMAGENET_MEAN,
    std: Stats = IMAGENET_STD,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    lighting: float = 0.0,
    color_jitter: float = 0.0,
) -> Callable[[Image.Image], Tensor]:
    """dcff §5 ImageNet preprocessing: train RandomResizedCrop(224) + flip, eval Resize(256) + CenterCrop(224).

    The official train pipeline's extra Resize(224) after RandomResizedCrop(224) is a no-op and is omitted.
    ``crop_scale`` is RandomResizedCrop's area range (torchvision's default (0.08, 1); recu: (0.08, 1.25));
    ``lighting`` > 0 adds PCA :class:`Lighting` noise of that std after ToTensor (recu, pss_net: 0.1).
    ``color_jitter`` > 0 adds ColorJitter(brightness = contrast = saturation = that value) after the crop
    (pss_net: 0.4).
    """
    from torchvision import transforms as T

    if train:
        ops: list[Any] = [T.RandomResizedCrop(image_size, scale=tuple(crop_scale)), T.RandomHorizontalFlip()]
        if color_jitter > 0:
            ops.insert(1, T.ColorJitter(color_jitter, color_jitter, color_jitter))
        post: list[Any] = [Lighting(lighting)] if lighting > 0 else []
    else:
        ops, post = [T.Resize(resize_size), T.CenterCrop(image_size)], []
    return T.Compose([*ops, T.ToTensor(), *post, T.Normalize(mean, std)])


class ImageFileDataset(torch.utils.data.Dataset):
    """Streams the rows of one split from disk for datasets too large for memory.

    Image-file rows are decoded with PIL; container rows (CIFAR batches) are served from a per-worker cache
    of the batch file. Returns ``(transform(PIL image), label)``.
    """

    def __init__(
        self,
        manifest: pd.DataFrame,
        split: str,
        transform: Callable[[Image.Image], Any] | None = None,
        root: str | Path | None = None,
        on_bad_sample: str = "error",
    ) -> None:
        rows = manifest[manifest["split"] == split]
        if rows.empty:
            raise ValueError(f"manifest has no rows for split {split!r}; splits present: "
                             f"{sorted(set(manifest['split']))}")
        self.paths = rows["path"].astype(str).tolist()
        self.index = rows["index"].to_numpy(dtype=np.int64)
        self.labels = rows["label"].to_numpy(dtype=np.int64)
        self.transform = transform if transform is not None else imagenet_transforms(train=split == "train")
        self.root, self.on_bad_sample = root, on_bad_sample
        self._containers: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Any, int] | None:
        """``None`` for a file that does not decode when ``on_bad_sample`` is ``skip`` (the batch drops it)."""
        try:
            return self._item(i)
        except BadSampleError as err:
            if self.on_bad_sample != "skip":
                raise
            log.warning("skipped bad sample %s: %s", err.path, err.problem)
            return None

    def _item(self, i: int) -> tuple[Any, int]:
        path = _resolve(self.paths[i], self.root)
        if self.index[i] >= 0:
            key = str(path)
            if key not in self._containers:
                self._containers[key] = read_cifar_batch(path)[0]
            img = Image.fromarray(self._containers[key][self.index[i]])
        else:
            img = open_pil(path).convert("RGB")
        return self.transform(img), int(self.labels[i])
