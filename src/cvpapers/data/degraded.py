"""Degraded-image restoration data (papers/uformer.md §8, §10): the embedded clean-image generator, the
degradations (additive Gaussian and Poisson–Gaussian noise, linear motion blur), and the real paired datasets
(SIDD, GoPro) as manifests read lazily, with fixture writers in their real layouts.

Embedded images: image ``i`` of split ``p`` comes from ``numpy.random.default_rng([seed, SPLIT_ID[p], i])``, so
splits never share an image and a smaller set is a prefix of a larger one. Each image: a linear colour gradient
at a random angle, 3–7 rectangles and discs of random colours, multiplied by ``0.8 + 0.2·g`` with ``g`` a
sinusoidal grating (4–20 cycles per image, random orientation), stored as 8-bit values. (A separate generator
from ``hdr_scenes._albedo``, which FHDRNet's scenes depend on byte for byte.)

Training noise is drawn per batch from the batch's ``torch.Generator`` (every model sees the same noisy batches);
validation / test inputs are fixed, one generator per (image, σ): ``default_rng([seed, SPLIT_ID[p], i, σ])``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "SPLIT_ID",
    "add_gaussian",
    "add_poisson_gaussian",
    "clean_image",
    "clean_images",
    "fixed_degraded",
    "gopro_manifest",
    "motion_blur",
    "motion_kernels",
    "read_pair",
    "read_sidd_mat",
    "sidd_manifest",
    "write_gopro_fixture",
    "write_sidd_fixture",
    "write_sidd_mat_fixture",
]

SPLIT_ID = {"train": 0, "val": 1, "test": 2}
Task = Literal["denoise", "deblur"]
NoiseModel = Literal["gaussian", "poisson_gaussian"]


def clean_image(rng: np.random.Generator, size: int) -> np.ndarray:
    """One clean RGB image (size×size×3 uint8): gradient, 3–7 shapes, grating modulation (module docstring)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / max(size - 1, 1)
    angle = rng.uniform(0, 2 * np.pi)
    t = np.cos(angle) * xx + np.sin(angle) * yy
    t = (t - t.min()) / max(t.max() - t.min(), 1e-9)
    c0, c1 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    img = c0 + (c1 - c0) * t[..., None]
    for _ in range(int(rng.integers(3, 8))):
        colour = rng.uniform(0, 1, 3)
        cx, cy = rng.uniform(0, 1, 2)
        if rng.random() < 0.5:  # rectangle
            hw, hh = rng.uniform(0.08, 0.3, 2)
            inside = (np.abs(xx - cx) <= hw) & (np.abs(yy - cy) <= hh)
        else:  # disc
            inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= rng.uniform(0.08, 0.3) ** 2
        img[inside] = colour
    cycles, theta, phase = rng.uniform(4, 20), rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
    g = 0.5 * (1 + np.sin(2 * np.pi * cycles * (np.cos(theta) * xx + np.sin(theta) * yy) + phase))
    img = np.clip(img * (0.8 + 0.2 * g)[..., None], 0, 1)
    return np.round(img * 255).astype(np.uint8)


def clean_images(seed: int, split: str, n: int, size: int) -> np.ndarray:
    """(n, size, size, 3) uint8: image i from ``default_rng([seed, SPLIT_ID[split], i])``."""
    return np.stack([clean_image(np.random.default_rng([seed, SPLIT_ID[split], i]), size) for i in range(n)])


def add_gaussian(clean: Tensor, sigma: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """``clean`` (B, C, H, W) in [0, 1] plus N(0, σ²) per image (σ (B,), in [0, 1] units), not clipped."""
    noise = torch.randn(clean.shape, generator=generator, dtype=clean.dtype)
    return clean + sigma.to(clean.dtype).view(-1, 1, 1, 1) * noise


def add_poisson_gaussian(
    clean: Tensor, a: Tensor, b: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """``y = x + √(a·x + b)·n`` per image (a, b (B,)): heteroscedastic noise closer to SIDD's."""
    noise = torch.randn(clean.shape, generator=generator, dtype=clean.dtype)
    std = torch.sqrt(a.view(-1, 1, 1, 1) * clean.clamp(min=0) + b.view(-1, 1, 1, 1))
    return clean + std * noise


def motion_kernels(length: Tensor, angle: Tensor, size: int = 9) -> Tensor:
    """(B, size, size) normalised linear motion kernels of ``length`` px (B,) at ``angle`` rad (B,), drawn
    by splatting 4·size points of the centred segment bilinearly (vectorised over the batch)."""
    t = torch.linspace(-0.5, 0.5, 4 * size, dtype=torch.float64)[None]  # (1, P)
    c = (size - 1) / 2
    x = c + t * length.double()[:, None] * torch.cos(angle.double())[:, None]
    y = c + t * length.double()[:, None] * torch.sin(angle.double())[:, None]
    grid = torch.arange(size, dtype=torch.float64)
    wx = (1 - (x[..., None] - grid).abs()).clamp(min=0)  # (B, P, size)
    wy = (1 - (y[..., None] - grid).abs()).clamp(min=0)
    k = torch.einsum("bpi,bpj->bij", wy, wx)
    return (k / k.sum((1, 2), keepdim=True)).float()


def motion_blur(clean: Tensor, kernels: Tensor) -> Tensor:
    """Blur each image (B, C, H, W) with its own kernel (B, k, k): one grouped convolution, reflect padding."""
    b, c, h, w = clean.shape
    k = kernels.shape[-1]
    x = F.pad(clean.reshape(1, b * c, h, w), (k // 2,) * 4, mode="reflect")
    weight = kernels.to(clean.dtype).repeat_interleave(c, 0)[:, None]
    return F.conv2d(x, weight, groups=b * c).view(b, c, h, w)


def draw_degradation(
    clean: Tensor,
    task: Task,
    noise_model: NoiseModel,
    sigma_range: Sequence[float],
    generator: torch.Generator,
) -> Tensor:
    """A training batch's degraded inputs (fresh per batch, from the batch's generator): blind Gaussian noise
    σ ~ U(sigma_range)/255 per image (or Poisson–Gaussian with a ∈ [1e-3, 1e-2], b ∈ [1e-5, 1e-3]); for
    ``deblur`` a linear motion kernel (length 3–9 px, random angle) then σ = 2/255 noise."""
    n = clean.shape[0]
    if task == "deblur":
        length = 3 + 6 * torch.rand(n, generator=generator, dtype=torch.float64)
        angle = math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
        blurred = motion_blur(clean, motion_kernels(length, angle))
        return add_gaussian(blurred, torch.full((n,), 2 / 255), generator)
    if noise_model == "poisson_gaussian":
        a = 1e-3 + 9e-3 * torch.rand(n, generator=generator)
        b = 1e-5 + 9.9e-4 * torch.rand(n, generator=generator)
        return add_poisson_gaussian(clean, a, b, generator)
    lo, hi = sigma_range
    sigma = (lo + (hi - lo) * torch.rand(n, generator=generator)) / 255
    return add_gaussian(clean, sigma, generator)


def fixed_degraded(
    clean: np.ndarray,
    seed: int,
    split: str,
    sigmas: Sequence[float],
    task: Task = "denoise",
    noise_model: NoiseModel = "gaussian",
) -> dict[str, np.ndarray]:
    """Validation / test set: every clean image (N, H, W, 3 uint8) at every σ of ``sigmas`` (/255), noise from
    its own generator ``[seed, SPLIT_ID[split], i, σ]``. Returns ``clean`` (M, 3, H, W) uint8, ``noisy``
    (M, 3, H, W) float32 (not clipped), ``sigma`` (M,) and ``image`` (M,) indices, M = N·len(sigmas)."""
    x = torch.from_numpy(clean).permute(0, 3, 1, 2).float() / 255
    out_clean, noisy, sig, image = [], [], [], []
    for s in sigmas:
        gens = [
            torch.Generator().manual_seed(
                int(np.random.default_rng([seed, SPLIT_ID[split], i, int(round(s))]).integers(2**62))
            )
            for i in range(len(clean))
        ]
        if task == "deblur" or noise_model == "poisson_gaussian":
            noisy.append(
                torch.cat(
                    [draw_degradation(x[i : i + 1], task, noise_model, (s, s), g) for i, g in enumerate(gens)]
                )
            )
        else:
            noise = torch.stack([torch.randn(x.shape[1:], generator=g) for g in gens])
            noisy.append(x + s / 255 * noise)
        out_clean.append(clean)
        sig.append(np.full(len(clean), float(s), np.float32))
        image.append(np.arange(len(clean)))
    return {
        "clean": np.concatenate(out_clean).transpose(0, 3, 1, 2).copy(),
        "noisy": torch.cat(noisy).numpy().astype(np.float32),
        "sigma": np.concatenate(sig),
        "image": np.concatenate(image),
    }


# ---------------------------------------------------------------------------------------------------- real data
SIDD_LAYOUT = (
    "<root>/train/{input,groundtruth}/*.png and <root>/val/{input,groundtruth}/*.png (or <root>/val/"
    "ValidationNoisyBlocksSrgb.mat + ValidationGtBlocksSrgb.mat)"
)
GOPRO_LAYOUT = (
    "<root>/{train,test}/{input,groundtruth}/*.png (or GOPRO_Large/{train,test}/<seq>/{blur,sharp}/*.png)"
)


def _pairs(input_dir: Path, gt_dir: Path, split: str, dataset: str) -> pd.DataFrame:
    inputs, gts = sorted(input_dir.glob("*.png")), sorted(gt_dir.glob("*.png"))
    if len(inputs) != len(gts) or not inputs:
        raise FileNotFoundError(
            f"{dataset} {split}: {len(inputs)} inputs in {input_dir} vs {len(gts)} ground truths "
            f"in {gt_dir}; expected paired PNGs of the same names"
        )
    return pd.DataFrame(
        {
            "path": [str(p) for p in inputs],
            "gt_path": [str(p) for p in gts],
            "split": split,
            "index": range(len(inputs)),
            "dataset": dataset,
            "block": -1,
        }
    )


def sidd_manifest(root: str | Path) -> pd.DataFrame:
    """SIDD in the official preprocessed layout: training patches ``train/{input,groundtruth}`` and validation
    either as PNG pairs ``val/{input,groundtruth}`` or the two ``.mat`` block files (one row per 256² block,
    ``block`` = its flat index). Validation doubles as the test split (the paper's SIDD protocol)."""
    root = Path(root)
    train = _pairs(root / "train/input", root / "train/groundtruth", "train", "sidd")
    mat = root / "val/ValidationNoisyBlocksSrgb.mat"
    if mat.is_file():
        blocks = read_sidd_mat(mat, "ValidationNoisyBlocksSrgb")
        n = blocks.shape[0] * blocks.shape[1]
        gt = root / "val/ValidationGtBlocksSrgb.mat"
        test = pd.DataFrame(
            {
                "path": str(mat),
                "gt_path": str(gt),
                "split": "test",
                "index": range(n),
                "dataset": "sidd",
                "block": range(n),
            }
        )
    else:
        test = _pairs(root / "val/input", root / "val/groundtruth", "test", "sidd")
    return pd.concat([train, test], ignore_index=True)


def gopro_manifest(root: str | Path) -> pd.DataFrame:
    """GoPro in the official prepared layout ``{train,test}/{input,groundtruth}``, or the original
    ``GOPRO_Large/{train,test}/<sequence>/{blur,sharp}`` (blur → input, sharp → ground truth)."""
    root = Path(root)
    frames = []
    for split in ("train", "test"):
        if (root / split / "input").is_dir():
            frames.append(_pairs(root / split / "input", root / split / "groundtruth", split, "gopro"))
        else:
            seqs = sorted(p for p in (root / split).glob("*") if (p / "blur").is_dir())
            if not seqs:
                raise FileNotFoundError(f"gopro: no {split} pairs under {root}; expected {GOPRO_LAYOUT}")
            part = pd.concat(
                [_pairs(s / "blur", s / "sharp", split, "gopro") for s in seqs], ignore_index=True
            )
            frames.append(part.assign(index=range(len(part))))
    return pd.concat(frames, ignore_index=True)


def read_sidd_mat(path: str | Path, key: str) -> np.ndarray:
    """A SIDD block file (images × blocks × 256 × 256 × 3 uint8) via ``scipy.io.loadmat``."""
    from scipy.io import loadmat

    return np.asarray(loadmat(str(path))[key])


def read_pair(row: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """One (degraded, clean) pair of a real manifest row as H×W×3 uint8 arrays (PNG, or a ``.mat`` block)."""
    from cvpapers.data.decode import decode_image

    if int(row.get("block", -1)) >= 0:
        noisy = read_sidd_mat(row["path"], "ValidationNoisyBlocksSrgb")
        gt = read_sidd_mat(row["gt_path"], "ValidationGtBlocksSrgb")
        i, j = divmod(int(row["block"]), noisy.shape[1])
        return {"input": noisy[i, j], "target": gt[i, j]}
    return {"input": decode_image(row["path"]), "target": decode_image(row["gt_path"])}


def _write_pairs(root: Path, n: int, size: int, seed: int, blur: bool) -> None:
    from PIL import Image

    root.joinpath("input").mkdir(parents=True, exist_ok=True)
    root.joinpath("groundtruth").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        clean = clean_image(np.random.default_rng([seed, i]), size)
        x = torch.from_numpy(clean).permute(2, 0, 1)[None].float() / 255
        g = torch.Generator().manual_seed(seed * 1000 + i)
        deg = draw_degradation(x, "deblur" if blur else "denoise", "gaussian", (25, 25), g)
        deg_u8 = (deg[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()
        Image.fromarray(deg_u8).save(root / "input" / f"{i:04d}_0.png")
        Image.fromarray(clean).save(root / "groundtruth" / f"{i:04d}_0.png")


def write_sidd_fixture(root: str | Path, n: int = 3, size: int = 64) -> Path:
    """Tiny SIDD in the official preprocessed layout (``train`` and ``val`` PNG pairs)."""
    root = Path(root)
    _write_pairs(root / "train", n, size, 1, blur=False)
    _write_pairs(root / "val", n, size, 2, blur=False)
    return root


def write_sidd_mat_fixture(root: str | Path, images: int = 2, blocks: int = 2, size: int = 32) -> Path:
    """The two SIDD validation block files (images × blocks × size × size × 3) via ``scipy.io.savemat``."""
    from scipy.io import savemat

    val = Path(root) / "val"
    val.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    gt = rng.integers(0, 256, (images, blocks, size, size, 3), dtype=np.uint8)
    noisy = np.clip(gt.astype(int) + rng.integers(-20, 21, gt.shape), 0, 255).astype(np.uint8)
    savemat(str(val / "ValidationNoisyBlocksSrgb.mat"), {"ValidationNoisyBlocksSrgb": noisy})
    savemat(str(val / "ValidationGtBlocksSrgb.mat"), {"ValidationGtBlocksSrgb": gt})
    return Path(root)


def write_gopro_fixture(root: str | Path, n: int = 3, size: int = 64, original: bool = False) -> Path:
    """Tiny GoPro: the prepared layout, or (``original``) ``GOPRO_Large``'s ``<seq>/{blur,sharp}``."""
    root = Path(root)
    for s, split in enumerate(("train", "test")):
        if not original:
            _write_pairs(root / split, n, size, 10 + s, blur=True)
            continue
        tmp = root / split / "GOPR0001_11_00"
        _write_pairs(tmp, n, size, 10 + s, blur=True)
        for a, b in (("input", "blur"), ("groundtruth", "sharp")):
            (tmp / a).rename(tmp / b)
    return root
