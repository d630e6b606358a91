"""CIE-LAB colour-statistics transfer (Reinhard-style image translation) for the DA pipelines.

DDM (``papers/ssda_dual_mix.md`` §3.1), MSCL (``papers/msda_collab.md`` §3.1) and MTDA-CL
(``papers/mtda_collab.md`` §3.2) all translate source images towards the target domain the same way:
convert to CIELAB, standardise each channel of each image with the image's own mean/std, re-scale
with a target reference mean/std, convert back to sRGB and clip. One implementation serves all three.

Conventions:

- Colour tensors are **channel-last** (``...×3``), because the benchmark generator and the real-data
  readers produce ``N×H×W×3`` uint8 arrays; nothing here needs the network's ``N×3×H×W`` layout.
- Image batches (``images`` arguments) are ``N×H×W×3`` uint8, either a NumPy array or a torch
  tensor (processed on CPU); results come back in the same container type as the input, so a node
  can pass its arrays straight through. ``rgb_to_lab``/``lab_to_rgb`` work on any device.
- Conversions use the standard formulas (sRGB gamma, D65 white, CIE 1976 L*a*b*, L in [0, 100]) and
  compute in float64: LAB statistics of dark images are sensitive to the cube-root branch, and
  float64 keeps the RGB→LAB→RGB round trip far below one 8-bit step.
- Statistics are population statistics (``std`` with ``ddof = 0``) over all pixels of one image.
- Batches are processed in chunks of about ``_CHUNK_PIXELS`` pixels, so 600 small embedded images or
  thousands of 1280×720 real ones need the same bounded working memory (a few hundred MB).
- uint8 inputs are gamma-expanded with a 256-entry lookup table (bit-identical to the formula), which
  saves a third of the conversion time; 600 + 400 images of 64×128 translate in about 2 s on 1 thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from cvpapers.engine.device import device_constant

LabReference = Literal["random_image", "domain_mean"]
_REFERENCES: tuple[str, ...] = ("random_image", "domain_mean")

ImageBatch = np.ndarray | Tensor

# Pixels per processing chunk (2^19 ≈ 0.5 M: 64 images of 64×128; one image when larger). A float64
# N×H×W×3 buffer of that size is 12.6 MB and the conversions keep about twenty alive at once, so the
# measured peak working memory is ~250 MB for small images, ~400 MB for 1280×720 and ~580 MB for
# 2048×1024, whatever the number of images.
_CHUNK_PIXELS = 1 << 19

# sRGB primaries → CIE XYZ (D65), IEC 61966-2-1. The inverse is computed from it (rather than
# hard-coding the rounded published inverse) so the round trip is exact to float64 precision.
_RGB_TO_XYZ = torch.tensor(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ],
    dtype=torch.float64,
)
_XYZ_TO_RGB = torch.linalg.inv(_RGB_TO_XYZ)
# D65 reference white (2° observer), the normalisation used by CIE LAB with sRGB input.
_WHITE_D65 = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)


@device_constant
def _on_device(name: str, device: torch.device) -> Tensor:
    """The conversion constants on ``device``, copied there once."""
    return {"rgb_to_xyz": _RGB_TO_XYZ, "xyz_to_rgb": _XYZ_TO_RGB, "white": _WHITE_D65}[name].to(device)


_DELTA = 6.0 / 29.0


# --------------------------------------------------------------------------------------------
# Colour conversions
# --------------------------------------------------------------------------------------------


def _check_float_colours(x: Tensor, name: str) -> None:
    if not torch.is_floating_point(x):
        raise TypeError(
            f"{name} must be a floating-point tensor (RGB in [0, 1]), got {x.dtype}; "
            "convert uint8 images with x.double() / 255 first"
        )
    if x.shape[-1] != 3:
        raise ValueError(f"{name} must be channel-last with 3 channels (...×3), got shape {tuple(x.shape)}")


def _srgb_to_linear(c: Tensor) -> Tensor:
    """sRGB gamma expansion (IEC 61966-2-1) of float64 values."""
    # The pow argument is clamped so the unused branch of torch.where never produces NaN.
    return torch.where(c <= 0.04045, c / 12.92, ((c.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4)


def _linear_to_lab(linear: Tensor) -> Tensor:
    """Linear-light RGB (float64, ``...×3``) → CIELAB (float64)."""
    xyz = (linear @ _on_device("rgb_to_xyz", linear.device).T) / _on_device("white", linear.device)
    f = torch.where(
        xyz > _DELTA**3,
        xyz.clamp(min=_DELTA**3) ** (1.0 / 3.0),
        xyz / (3.0 * _DELTA**2) + 4.0 / 29.0,
    )
    fx, fy, fz = f.unbind(-1)
    return torch.stack((116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)), dim=-1)


# Gamma expansion of the 256 possible 8-bit values: uint8 images skip the per-pixel pow (a third of
# the conversion's time). Built with the same function, so it is bit-identical to the float path.
_SRGB_LUT = _srgb_to_linear(torch.arange(256, dtype=torch.float64) / 255.0)


def _uint8_to_lab(images: Tensor) -> Tensor:
    """uint8 RGB (``...×3``) → CIELAB float64; equals ``rgb_to_lab(images.double() / 255)``."""
    linear = torch.index_select(_SRGB_LUT, 0, images.reshape(-1).to(torch.int32)).reshape(images.shape)
    return _linear_to_lab(linear)


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """sRGB (``...×3``, float in [0, 1]) → CIELAB (L in [0, 100], a/b roughly in [-128, 127]).

    sRGB is gamma-expanded to linear light, mapped to XYZ with the D65 matrix, normalised by the D65
    white and passed through the CIE ``f`` (cube root with a linear toe). Values slightly outside
    [0, 1] are handled by the linear branches, so unclipped outputs of :func:`lab_to_rgb` convert
    back consistently. Computed in float64; returned in the input's float dtype.
    """
    _check_float_colours(rgb, "rgb")
    return _linear_to_lab(_srgb_to_linear(rgb.to(torch.float64))).to(rgb.dtype)


def lab_to_rgb(lab: Tensor) -> Tensor:
    """CIELAB (``...×3``) → sRGB (``...×3``), the exact inverse of :func:`rgb_to_lab`.

    Not clipped: colours outside the sRGB gamut come back outside [0, 1], so callers decide when to
    clip (the LAB transfer clips last, §3.1) and tests can check statistics before clipping.
    """
    _check_float_colours(lab, "lab")
    v = lab.to(torch.float64)
    fy = (v[..., 0] + 16.0) / 116.0
    f = torch.stack((fy + v[..., 1] / 500.0, fy, fy - v[..., 2] / 200.0), dim=-1)
    xyz = torch.where(f > _DELTA, f**3, 3.0 * _DELTA**2 * (f - 4.0 / 29.0)) * _on_device("white", v.device)
    linear = xyz @ _on_device("xyz_to_rgb", v.device).T
    rgb = torch.where(
        linear <= 0.0031308,
        12.92 * linear,
        1.055 * linear.clamp(min=0.0031308) ** (1.0 / 2.4) - 0.055,
    )
    return rgb.to(lab.dtype)


# --------------------------------------------------------------------------------------------
# Per-image statistics and transfer
# --------------------------------------------------------------------------------------------


def _as_uint8_tensor(images: ImageBatch, name: str) -> Tensor:
    if isinstance(images, np.ndarray):
        arr = np.ascontiguousarray(images)
        # torch.from_numpy warns on read-only arrays (e.g. memory-mapped data); we never write to it,
        # but a copy is the only warning-free way and costs one pass.
        t = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
    elif isinstance(images, Tensor):
        t = images.cpu()  # batch translation is an offline CPU step; a no-op for CPU tensors
    else:
        raise TypeError(f"{name} must be a NumPy array or a torch tensor, got {type(images).__name__}")
    if t.dtype != torch.uint8:
        raise TypeError(f"{name} must be uint8 N×H×W×3, got dtype {t.dtype}")
    if t.ndim != 4 or t.shape[-1] != 3:
        raise ValueError(f"{name} must be N×H×W×3 (channel-last), got shape {tuple(t.shape)}")
    return t


def _chunks(n_images: int, pixels_per_image: int) -> Iterator[slice]:
    step = max(1, _CHUNK_PIXELS // max(1, pixels_per_image))
    for start in range(0, n_images, step):
        yield slice(start, min(n_images, start + step))


def _image_stats(lab: Tensor) -> tuple[Tensor, Tensor]:
    """Per-image per-channel mean and population std of an ``N×H×W×3`` LAB tensor → two ``N×3``."""
    flat = lab.reshape(lab.shape[0], -1, 3)
    return flat.mean(dim=1), flat.std(dim=1, correction=0)


def _broadcast_ref(ref: Tensor | np.ndarray, n: int, name: str) -> Tensor:
    r = torch.as_tensor(ref, dtype=torch.float64)
    if r.shape == (3,):
        return r.expand(n, 3)
    if r.shape == (n, 3):
        return r
    raise ValueError(f"{name} must have shape (3,) or ({n}, 3), got {tuple(r.shape)}")


def lab_stats(images: ImageBatch) -> tuple[Tensor, Tensor]:
    """Per-image LAB mean and std of uint8 ``N×H×W×3`` images (NumPy or torch) → ``(N×3, N×3)``.

    Returned as float64 torch tensors (channel order L, a, b); std is the population std over the
    image's pixels, the quantity §3.1 matches. Processed in chunks to bound memory.
    """
    x = _as_uint8_tensor(images, "images")
    n, h, w, _ = x.shape
    means = torch.empty(n, 3, dtype=torch.float64)
    stds = torch.empty(n, 3, dtype=torch.float64)
    for sl in _chunks(n, h * w):
        means[sl], stds[sl] = _image_stats(_uint8_to_lab(x[sl]))
    return means, stds


def match_lab_stats(
    lab: Tensor, ref_mean: Tensor | np.ndarray, ref_std: Tensor | np.ndarray, eps: float = 1e-6
) -> Tensor:
    """§3.1 in LAB space: ``(lab − μ_s) / (σ_s + eps) · σ_t + μ_t`` per image and channel.

    ``lab`` is ``N×H×W×3``; ``μ_s, σ_s`` are each image's own statistics; ``ref_mean``/``ref_std``
    are ``3`` (one reference for all images) or ``N×3`` (one per image). ``eps`` keeps flat
    (single-colour) channels finite: they map to the reference mean.
    """
    if lab.ndim != 4 or lab.shape[-1] != 3:
        raise ValueError(f"lab must be N×H×W×3, got shape {tuple(lab.shape)}")
    n = lab.shape[0]
    mu_t = _broadcast_ref(ref_mean, n, "ref_mean").to(lab.dtype)
    sd_t = _broadcast_ref(ref_std, n, "ref_std").to(lab.dtype)
    mu_s, sd_s = _image_stats(lab)
    scale = sd_t / (sd_s + eps)
    shift = mu_t - mu_s * scale
    return lab * scale[:, None, None, :] + shift[:, None, None, :]


def lab_transfer_float(
    rgb: Tensor,
    ref_mean: Tensor | np.ndarray,
    ref_std: Tensor | np.ndarray,
    eps: float = 1e-6,
    clip: bool = True,
) -> Tensor:
    """Float version of :func:`lab_transfer`: ``N×H×W×3`` RGB in [0, 1] → translated float RGB.

    Exposed (rather than hidden inside the uint8 path) so the invariants of §9.7 can be checked
    before 8-bit quantisation and, with ``clip=False``, before clipping. Not chunked: callers pass
    one chunk at a time (``lab_transfer`` does).
    """
    _check_float_colours(rgb, "rgb")
    out = lab_to_rgb(match_lab_stats(rgb_to_lab(rgb.to(torch.float64)), ref_mean, ref_std, eps))
    return (out.clamp(0.0, 1.0) if clip else out).to(rgb.dtype)


def _transfer_chunked(
    images: Tensor, ref_mean: Tensor, ref_std: Tensor, eps: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Translate uint8 images chunk by chunk; also return the source statistics computed on the way."""
    n, h, w, _ = images.shape
    out = torch.empty_like(images)
    src_mean = torch.empty(n, 3, dtype=torch.float64)
    src_std = torch.empty(n, 3, dtype=torch.float64)
    for sl in _chunks(n, h * w):
        lab = _uint8_to_lab(images[sl])
        src_mean[sl], src_std[sl] = _image_stats(lab)
        rgb = lab_to_rgb(match_lab_stats(lab, ref_mean[sl], ref_std[sl], eps)).clamp(0.0, 1.0)
        out[sl] = torch.round(rgb * 255.0).to(torch.uint8)
    return out, src_mean, src_std


def _like_input(result: Tensor, template: ImageBatch) -> ImageBatch:
    return result.numpy() if isinstance(template, np.ndarray) else result


def lab_transfer(
    images: ImageBatch,
    ref_mean: Tensor | np.ndarray,
    ref_std: Tensor | np.ndarray,
    eps: float = 1e-6,
) -> ImageBatch:
    """Match each uint8 ``N×H×W×3`` image's LAB mean/std to a reference; uint8 out (same container).

    ``ref_mean``/``ref_std`` are ``3`` or ``N×3`` (see :func:`match_lab_stats`). The result is
    clipped to [0, 1] in RGB and rounded to the nearest 8-bit value, which is how translated source
    images are stored and fed to training (§3.1).
    """
    x = _as_uint8_tensor(images, "images")
    n = x.shape[0]
    out, _, _ = _transfer_chunked(
        x, _broadcast_ref(ref_mean, n, "ref_mean"), _broadcast_ref(ref_std, n, "ref_std"), eps
    )
    return _like_input(out, images)


def reference_indices(n_source: int, n_target: int, seed: int) -> np.ndarray:
    """The target image drawn (uniformly, with replacement) as reference for each source image.

    Public so a node can log which target image each source image was matched to; it is exactly the
    draw :func:`translate_to_target` makes with ``reference="random_image"`` and the same seed.
    """
    if n_target <= 0:
        raise ValueError(f"need at least one target image, got {n_target}")
    gen = torch.Generator().manual_seed(int(seed))
    return torch.randint(0, n_target, (n_source,), generator=gen).numpy()


def reference_stats(
    target_mean: Tensor, target_std: Tensor, n_source: int, reference: LabReference, seed: int
) -> tuple[Tensor, Tensor]:
    """The reference LAB mean/std (``n_source×3`` each) every source image is matched to (§3.1).

    ``random_image``: the statistics of one target image per source image, drawn with
    :func:`reference_indices`; ``domain_mean``: the mean over target images of their per-image statistics.
    ``target_mean``/``target_std`` are the per-image statistics of the target set (``lab_stats``, or
    accumulated over a stream of batches, which gives the same numbers without holding the images).
    """
    if reference not in _REFERENCES:
        raise ValueError(f"reference must be one of {_REFERENCES}, got {reference!r}")
    if reference == "random_image":
        idx = torch.from_numpy(reference_indices(n_source, target_mean.shape[0], seed))
        return target_mean[idx], target_std[idx]
    return target_mean.mean(dim=0).expand(n_source, 3), target_std.mean(dim=0).expand(n_source, 3)


def lab_distances(
    src_mean: Tensor, src_std: Tensor, out_mean: Tensor, out_std: Tensor, tgt_mean: Tensor, tgt_std: Tensor
) -> dict[str, float]:
    """L2 distances between the mean per-image LAB mean (and std) of the source set before and after
    translation and the target set's: the ``info`` of :func:`translate_to_target`."""

    def dist(a: Tensor, b: Tensor) -> float:
        return float(torch.linalg.vector_norm(a.mean(dim=0) - b.mean(dim=0)))

    return {
        "lab_mean_dist_before": dist(src_mean, tgt_mean),
        "lab_mean_dist_after": dist(out_mean, tgt_mean),
        "lab_std_dist_before": dist(src_std, tgt_std),
        "lab_std_dist_after": dist(out_std, tgt_std),
    }


def translate_image(image: np.ndarray, ref_mean: np.ndarray | Tensor, ref_std: np.ndarray | Tensor,
                    eps: float = 1e-6) -> np.ndarray:
    """One uint8 H×W×3 image matched to a reference LAB mean/std (3 each): what :func:`translate_to_target`
    does to each of its images, applied on the fly while a file-backed dataset is read (so 25k translated
    GTA5 images never have to be stored)."""
    return np.asarray(lab_transfer(np.ascontiguousarray(image)[None], np.asarray(ref_mean, dtype=np.float64)[None],
                                   np.asarray(ref_std, dtype=np.float64)[None], eps))[0]


class LabStatsTally:
    """Per-image LAB statistics of a set accumulated batch by batch (a streaming pass): only ``N×3`` means
    and stds are kept, never the images. ``means()``/``stds()`` equal :func:`lab_stats` of the whole set."""

    def __init__(self) -> None:
        self._means: list[Tensor] = []
        self._stds: list[Tensor] = []

    def add(self, images: ImageBatch) -> tuple[Tensor, Tensor]:
        mean, std = lab_stats(images)
        self._means.append(mean)
        self._stds.append(std)
        return mean, std

    def __len__(self) -> int:
        return sum(len(m) for m in self._means)

    def means(self) -> Tensor:
        return torch.cat(self._means) if self._means else torch.empty(0, 3, dtype=torch.float64)

    def stds(self) -> Tensor:
        return torch.cat(self._stds) if self._stds else torch.empty(0, 3, dtype=torch.float64)


def translate_to_target(
    source_images: ImageBatch,
    target_images: ImageBatch,
    reference: LabReference,
    seed: int,
    eps: float = 1e-6,
) -> tuple[ImageBatch, dict[str, float]]:
    """Translate source images to target LAB statistics (§3.1); return ``(translated uint8, info)``.

    ``reference="random_image"``: each source image takes the statistics of one target image drawn
    with :func:`reference_indices` (seeded; the Reinhard-style default). ``"domain_mean"``: every
    source image takes the mean over target images of their per-image mean and std.

    ``info`` holds only floats, ready for ``mlflow.log_metrics``: ``lab_mean_dist_before`` /
    ``lab_mean_dist_after`` are the L2 distances between the mean LAB vector of the source set
    (before / after translation, after 8-bit quantisation) and that of the target set, where a set's
    mean LAB vector is the mean of its per-image means (= the pixel mean for equal-size images);
    ``lab_std_dist_before/after`` are the same for the mean per-image std, a check that contrast
    moved too.
    """
    if reference not in _REFERENCES:
        raise ValueError(f"reference must be one of {_REFERENCES}, got {reference!r}")
    src = _as_uint8_tensor(source_images, "source_images")
    tgt_mean, tgt_std = lab_stats(target_images)
    ref_mean, ref_std = reference_stats(tgt_mean, tgt_std, src.shape[0], reference, seed)
    out, src_mean, src_std = _transfer_chunked(src, ref_mean, ref_std, eps)
    out_mean, out_std = lab_stats(out)
    return _like_input(out, source_images), lab_distances(src_mean, src_std, out_mean, out_std, tgt_mean, tgt_std)
