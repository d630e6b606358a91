"""Synthetic multi-exposure HDR scenes (RGB, Kalantari-like) and their Bayer-RAW variant, plus the input builder.

Spec: ``papers/fhdrnet.md`` §3.3 (inputs), §8 (embedded benchmark), §9 items 7–10, §11. Plain NumPy, no
Kedro, so the ``fhdrnet`` pipelines, the readers in :mod:`cvpapers.data.hdr_formats` and the tests share it.

Why it is built like this:

- **One generator per scene.** Scene ``k`` is drawn from ``numpy.random.default_rng([seed, k])``: scene ``k``
  is the same whatever ``n`` is (a smoke set is a prefix of the full set) and re-running gives identical
  arrays. All scalar draws (layout, colours, motion, exposure) come first and the per-pixel noise last, so
  the RAW variant of scene ``k`` has the same geometry as its RGB variant (rendered at twice the size), and
  switching noise, quantisation or motion off (the knobs of :class:`HdrSceneConfig`) changes nothing else.
- **Units.** Radiance is scaled so the reference frame's maximum is 1 (the RGB ground truth, like
  Kalantari's). Frame ``i`` is captured with relative exposure time ``t_i = (1, q, q²)``, so the short frame
  is the unit (§11): its clean signal equals the radiance, and the HDR-domain inputs ``L^γ / t`` (RGB) or
  ``r / ER`` (RAW) equal the ground truth wherever the frame did not clip (§9.7). The RAW ground truth is
  the packed mosaic of the white-balance-scaled reference radiance in the same short-frame units.
- **Short frame never clips.** Points that are brighter than the reference's maximum can only appear in a
  non-reference frame (background uncovered by a moving object, an object entering from outside the frame);
  their radiance is clamped at the reference maximum, so the clean short exposure is ≤ 1 everywhere and
  the ground-truth maximum stays exactly 1. Outside the motion mask only the brightest point sits at full
  scale; with the defaults ≈ 0.05 % of short-frame pixels reach it (clamped moving content, the peak), and
  sensor noise adds a few near the peak (``scene_stats`` reports ``frac_saturated_short``, ≈ 0.1 %).
- **Vectorised.** Every layer (gradient, shapes, grating, illumination, objects) is whole-array arithmetic
  on coordinate grids; Python loops run over the handful of shapes/objects in a scene and over scenes.

Choices the spec leaves open (deliberate, documented here):

- Rectangles/discs pasted on the albedo have sizes 10–40 % / radii 5–20 % of the image; the grating is
  ``0.5 + 0.5 sin(·)``. The illumination field ``u`` is a linear ramp plus 2–3 Gaussian blobs (σ 15–35 % of
  the image, amplitude 0.5–1.5), rescaled to [0, 1]. Lights multiply ``E`` by ``1 + (m − 1)·exp(−r²/2σ²)``.
- Objects are discs or rotated rounded squares (superellipse, exponent 4) with antialiased edges (coverage
  ``clip(r − d + ½, 0, 1)``), a gradient+grating texture that moves with them, and are composited in order
  (later objects occlude earlier ones). Centres of reference positions keep the object inside the frame.
- The motion mask is the union, over the three frames, of the footprints of objects that moved; for a
  non-reference frame both its own footprints and the reference ones (the dis-occluded background) are taken
  through that frame's camera shift. With motion off it is empty.
- The RAW variant renders at 2S with all pixel-valued knobs (radii, motion, camera shift, light σ) doubled,
  so the packed S×S planes look like the RGB scene; its mask is the 2×2-block union of the mosaic mask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np

__all__ = [
    "HdrSceneConfig",
    "build_inputs",
    "exif_ratio",
    "hdr_domain",
    "make_scenes",
    "pack_rggb",
    "scene_stats",
    "unpack_rggb",
]

Domain = Literal["rgb", "raw"]
Arrays = dict[str, np.ndarray]

# Bayer RGGB: colour channel sampled at each position of a 2×2 cell, and the packed plane order of the code.
_CFA = np.array([[0, 1], [1, 2]])
# (row offset, column offset) of each packed plane: R, G on R rows, B, G on B rows.
_PLANES = ((0, 0), (0, 1), (1, 1), (1, 0))


@dataclass(frozen=True)
class HdrSceneConfig:
    """Knobs of the synthetic HDR benchmark (fhdrnet.md §7 ``data:`` block and §8; RAW-only knobs prefixed).

    Ranges are ``(low, high)`` and drawn uniformly (integer ranges inclusive); ``exposure_stops`` lists the
    stop values a scene picks from. ``add_noise`` / ``quantize`` / ``add_motion`` exist for the input-builder
    check (§9.7): with all three off, a frame's HDR-domain values equal the ground truth where it is unclipped.
    YAML lists are accepted for tuple fields.
    """

    image_size: int = 64
    exposure_stops: tuple[float, ...] = (2, 3)
    gamma: float = 2.2
    ldr_bits: int = 8
    dynamic_range_decades: tuple[float, float] = (1.5, 2.5)
    n_objects: tuple[int, int] = (1, 2)
    object_radius_px: tuple[float, float] = (8, 16)
    motion_px: tuple[float, float] = (4, 12)
    camera_shift_px: int = 1
    noise_shot: float = 2.0e-3
    noise_read: float = 5.0e-4
    raw_bits: int = 14
    raw_gain_r: tuple[float, float] = (0.4, 0.7)
    raw_gain_b: tuple[float, float] = (0.5, 0.8)
    raw_iso: float = 100.0
    raw_base_time: float = 1.0 / 400.0
    raw_aperture: float = 4.0
    raw_noise_k: float = 1.0e-4  # shot-noise gain at ISO 100 (variance = K·x + σ_r², both ∝ ISO/100)
    raw_noise_read: float = 2.0e-4  # read-noise σ at ISO 100
    add_noise: bool = True
    quantize: bool = True
    add_motion: bool = True

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, list):
                object.__setattr__(self, f.name, tuple(v))
        s = self.image_size
        if not isinstance(s, int) or isinstance(s, bool) or s <= 0 or s % 8:
            raise ValueError(f"image_size must be a positive multiple of 8 (three Haar DWT levels), got {s!r}")
        if not self.exposure_stops or any(float(e) <= 0 for e in self.exposure_stops):
            raise ValueError(f"exposure_stops must be a non-empty list of positive stops, got {self.exposure_stops!r}")
        if self.gamma <= 0:
            raise ValueError(f"gamma must be > 0, got {self.gamma!r}")
        for name in ("ldr_bits", "raw_bits"):
            b = getattr(self, name)
            if not isinstance(b, int) or not 1 <= b <= 16:
                raise ValueError(f"{name} must be an integer in [1, 16], got {b!r}")
        for name, low in (("dynamic_range_decades", 0.0), ("n_objects", 0), ("object_radius_px", 1e-9),
                          ("motion_px", 0.0), ("raw_gain_r", 1e-9), ("raw_gain_b", 1e-9)):
            r = getattr(self, name)
            if not (isinstance(r, tuple) and len(r) == 2 and low <= r[0] <= r[1]):
                raise ValueError(f"{name} must be a (low, high) pair with {low} <= low <= high, got {r!r}")
        if any(not isinstance(v, int) for v in self.n_objects):
            raise ValueError(f"n_objects must be integers, got {self.n_objects!r}")
        if self.raw_gain_r[1] > 1 or self.raw_gain_b[1] > 1:
            raise ValueError("raw_gain_r / raw_gain_b must be <= 1 (green is the unit; the short frame must not clip)")
        if not isinstance(self.camera_shift_px, int) or self.camera_shift_px < 0:
            raise ValueError(f"camera_shift_px must be a non-negative integer, got {self.camera_shift_px!r}")
        for name in ("noise_shot", "noise_read", "raw_noise_k", "raw_noise_read"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("raw_iso", "raw_base_time", "raw_aperture"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")

    @classmethod
    def from_params(cls, params: dict[str, Any], ignore: tuple[str, ...] = ("n_train", "n_val", "n_test")
                    ) -> HdrSceneConfig:
        """Build from a parameters mapping; unknown keys fail at once with the allowed names."""
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - allowed - set(ignore))
        if unknown:
            raise ValueError(f"unknown HDR scene parameter(s) {unknown}; allowed: {sorted(allowed)}")
        return cls(**{k: v for k, v in params.items() if k in allowed})


# ------------------------------------------------------------------------------------------------
# Bayer and EXIF helpers
# ------------------------------------------------------------------------------------------------


def pack_rggb(mosaic: np.ndarray) -> np.ndarray:
    """RGGB mosaic ``(..., H, W)`` → planes ``(..., H/2, W/2, 4)`` in the code's order [R, G_r, B, G_b].

    R = [0::2, 0::2], G_r = [0::2, 1::2], B = [1::2, 1::2], G_b = [1::2, 0::2] (G_r shares rows with R).
    """
    h, w = mosaic.shape[-2:]
    if h % 2 or w % 2:
        raise ValueError(f"a Bayer mosaic needs even height and width, got {h}×{w}")
    return np.stack([mosaic[..., dy::2, dx::2] for dy, dx in _PLANES], axis=-1)


def unpack_rggb(planes: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_rggb`: ``(..., h, w, 4)`` → mosaic ``(..., 2h, 2w)``."""
    if planes.shape[-1] != 4:
        raise ValueError(f"packed RGGB planes need 4 channels last, got shape {planes.shape}")
    h, w = planes.shape[-3:-1]
    out = np.empty((*planes.shape[:-3], 2 * h, 2 * w), dtype=planes.dtype)
    for c, (dy, dx) in enumerate(_PLANES):
        out[..., dy::2, dx::2] = planes[..., c]
    return out


def exif_ratio(iso: np.ndarray, time: np.ndarray, aperture: np.ndarray) -> np.ndarray:
    """Exposure ratio of each frame to the first (last axis = frames), as the RAW code computes it (§3.3).

    ``ER_i = ISO_i·T_i / (ISO_1·T_1)``; where the aperture differs from the first frame's, the code multiplies
    by ``2^(A_i / A_1)`` — physically odd (an f-number ratio would enter squared, inverted), kept for fidelity
    with the official data; our synthetic scenes keep apertures equal.
    """
    iso, time, aperture = (np.asarray(a, dtype=np.float64) for a in (iso, time, aperture))
    er = (iso * time) / (iso[..., :1] * time[..., :1])
    a1 = aperture[..., :1]
    return np.where(aperture == a1, er, er * np.exp2(aperture / a1))


# ------------------------------------------------------------------------------------------------
# scene rendering
# ------------------------------------------------------------------------------------------------


def _grating(rng: np.random.Generator, ux: np.ndarray, uy: np.ndarray, cycles: tuple[float, float]) -> np.ndarray:
    """A sinusoid in [0, 1] with a random number of cycles over unit length, orientation and phase."""
    f, phi, psi = rng.uniform(*cycles), rng.uniform(0, math.pi), rng.uniform(0, 2 * math.pi)
    return 0.5 + 0.5 * np.sin(2 * math.pi * f * (math.cos(phi) * ux + math.sin(phi) * uy) + psi)


def _albedo(rng: np.random.Generator, ux: np.ndarray, uy: np.ndarray) -> np.ndarray:
    """Background albedo in [0.05, 1]: colour gradient, 4–8 pasted rectangles/discs, grating modulation."""
    c0, c1 = rng.uniform(0.05, 1.0, size=(2, 3))
    theta = rng.uniform(0, 2 * math.pi)
    proj = math.cos(theta) * ux + math.sin(theta) * uy
    t = (proj - proj.min()) / max(float(np.ptp(proj)), 1e-12)
    a = c0 + (c1 - c0) * t[..., None]
    for _ in range(int(rng.integers(4, 9))):
        disc = rng.random() < 0.5
        colour = rng.uniform(0.05, 1.0, size=3)
        cx, cy = rng.uniform(0, 1, size=2)
        if disc:
            rad = rng.uniform(0.05, 0.2)
            inside = (ux - cx) ** 2 + (uy - cy) ** 2 <= rad**2
        else:
            hw, hh = rng.uniform(0.05, 0.2, size=2)
            inside = (np.abs(ux - cx) <= hw) & (np.abs(uy - cy) <= hh)
        a[inside] = colour
    amp = rng.uniform(0.2, 0.5)
    g = _grating(rng, ux, uy, (4.0, 20.0))
    return np.clip(a * (1 - amp + amp * g)[..., None], 0.05, 1.0)


def _illumination(rng: np.random.Generator, ux: np.ndarray, uy: np.ndarray, decades: float, px: float,
                  scale: float) -> np.ndarray:
    """``E = 10^(D·u)`` with a smooth ``u ∈ [0, 1]`` (ramp + 2–3 broad blobs), times 0–2 small bright lights."""
    theta = rng.uniform(0, 2 * math.pi)
    u = math.cos(theta) * ux + math.sin(theta) * uy
    u = (u - u.min()) / max(float(np.ptp(u)), 1e-12)
    for _ in range(int(rng.integers(2, 4))):
        cx, cy = rng.uniform(0, 1, size=2)
        sigma, amp = rng.uniform(0.15, 0.35), rng.uniform(0.5, 1.5)
        u = u + amp * np.exp(-((ux - cx) ** 2 + (uy - cy) ** 2) / (2 * sigma**2))
    u = (u - u.min()) / max(float(np.ptp(u)), 1e-12)
    e = 10.0 ** (decades * u)
    for _ in range(int(rng.integers(0, 3))):
        cx, cy = rng.uniform(0, 1, size=2)
        sigma = rng.uniform(2.0, 4.0) * scale / px  # in image units
        m = rng.uniform(5.0, 20.0)
        e = e * (1 + (m - 1) * np.exp(-((ux - cx) ** 2 + (uy - cy) ** 2) / (2 * sigma**2)))
    return e


@dataclass
class _Object:
    """A moving textured object; geometry in pixels, texture in object-relative coordinates."""

    disc: bool
    radius: float
    rotation: float
    centre: np.ndarray  # (y, x) in the reference frame
    offsets: np.ndarray  # (3, 2): displacement per frame (frame 2 = 0)
    c0: np.ndarray
    c1: np.ndarray
    grad_angle: float
    cycles: float
    grat_angle: float
    grat_phase: float
    grat_amp: float
    illum: float

    def render(self, yy: np.ndarray, xx: np.ndarray, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """Coverage α ∈ [0, 1] and radiance (H, W, 3) of the object in ``frame``."""
        cy, cx = self.centre + self.offsets[frame]
        dy, dx = yy - cy, xx - cx
        cr, sr = math.cos(self.rotation), math.sin(self.rotation)
        oy, ox = cr * dy - sr * dx, sr * dy + cr * dx
        dist = np.hypot(ox, oy) if self.disc else (ox**4 + oy**4) ** 0.25
        alpha = np.clip(self.radius - dist + 0.5, 0.0, 1.0)
        r = self.radius
        t = np.clip((math.cos(self.grad_angle) * ox + math.sin(self.grad_angle) * oy) / (2 * r) + 0.5, 0, 1)
        proj = (math.cos(self.grat_angle) * ox + math.sin(self.grat_angle) * oy) / (2 * r)
        g = 0.5 + 0.5 * np.sin(2 * math.pi * self.cycles * proj + self.grat_phase)
        albedo = (self.c0 + (self.c1 - self.c0) * t[..., None]) * (1 - self.grat_amp + self.grat_amp * g)[..., None]
        return alpha, np.clip(albedo, 0.05, 1.0) * self.illum


def _draw_object(rng: np.random.Generator, cfg: HdrSceneConfig, px: int, scale: float, decades: float) -> _Object:
    radius = rng.uniform(*cfg.object_radius_px) * scale
    lo, hi = min(radius, px / 2), max(px - radius, px / 2)
    centre = rng.uniform(lo, hi, size=2)
    mags = rng.uniform(*cfg.motion_px, size=2) * scale
    angles = rng.uniform(0, 2 * math.pi, size=2)
    d = mags[:, None] * np.stack([np.sin(angles), np.cos(angles)], axis=1)  # (2, (y, x))
    offsets = np.stack([-d[0], np.zeros(2), d[1]]) if cfg.add_motion else np.zeros((3, 2))
    return _Object(
        disc=bool(rng.random() < 0.5), radius=radius, rotation=rng.uniform(0, math.pi / 2),
        centre=centre, offsets=offsets, c0=rng.uniform(0.05, 1.0, size=3), c1=rng.uniform(0.05, 1.0, size=3),
        grad_angle=rng.uniform(0, 2 * math.pi), cycles=rng.uniform(2.0, 5.0), grat_angle=rng.uniform(0, math.pi),
        grat_phase=rng.uniform(0, 2 * math.pi), grat_amp=rng.uniform(0.2, 0.5),
        illum=10.0 ** (decades * rng.uniform(0, 1)),
    )


def _render_radiance(rng: np.random.Generator, cfg: HdrSceneConfig, px: int, scale: float
                     ) -> tuple[np.ndarray, np.ndarray, float]:
    """Frame radiances ``(3, px, px, 3)`` (reference max 1, all frames ≤ 1), motion mask, and the stop ``s``."""
    c = (np.arange(px) + 0.5) / px
    uy, ux = np.meshgrid(c, c, indexing="ij")
    yy, xx = uy * px - 0.5, ux * px - 0.5  # pixel indices
    decades = rng.uniform(*cfg.dynamic_range_decades)
    background = _albedo(rng, ux, uy) * _illumination(rng, ux, uy, decades, px, scale)[..., None]
    objects = [_draw_object(rng, cfg, px, scale, decades)
               for _ in range(int(rng.integers(cfg.n_objects[0], cfg.n_objects[1] + 1)))]
    sh = int(round(cfg.camera_shift_px * scale))
    shifts = rng.integers(-sh, sh + 1, size=(3, 2)) if sh > 0 else np.zeros((3, 2), dtype=int)
    if not cfg.add_motion:
        shifts = np.zeros((3, 2), dtype=int)
    shifts[1] = 0
    stop = float(cfg.exposure_stops[int(rng.integers(len(cfg.exposure_stops)))])

    frames = np.empty((3, px, px, 3))
    moved = np.zeros((3, px, px), dtype=bool)
    for i in range(3):
        rad = background.copy()
        for obj in objects:
            alpha, obj_rad = obj.render(yy, xx, i)
            rad += alpha[..., None] * (obj_rad - rad)
            if np.any(obj.offsets != 0):
                moved[i] |= alpha > 0
        frames[i] = np.roll(rad, tuple(shifts[i]), axis=(0, 1))
    # Frame i differs from the reference where its moved objects are now and where they stood in the
    # reference (dis-occlusion), both seen through the frame's camera shift; plus the reference footprints.
    mask = moved[1].copy()
    for i in (0, 2):
        mask |= np.roll(moved[i] | moved[1], tuple(shifts[i]), axis=(0, 1))
    frames /= frames[1].max()
    np.minimum(frames, 1.0, out=frames)  # only non-reference frames can exceed the reference maximum
    return frames, mask, stop


def _scene_rgb(rng: np.random.Generator, cfg: HdrSceneConfig) -> dict[str, np.ndarray]:
    s = cfg.image_size
    radiance, mask, stop = _render_radiance(rng, cfg, s, 1.0)
    t = np.exp2(stop * np.arange(3.0))[:, None, None, None]
    clean = radiance * t
    noise = rng.standard_normal(clean.shape)
    x = clean + np.sqrt(cfg.noise_shot * clean + cfg.noise_read**2) * noise if cfg.add_noise else clean
    ldr = np.clip(x, 0.0, 1.0) ** (1.0 / cfg.gamma)
    if cfg.quantize:
        levels = 2**cfg.ldr_bits - 1
        ldr = np.round(ldr * levels) / levels
    return {"ldr": ldr, "exposure": np.array([-stop, 0.0, stop]), "hdr": radiance[1], "mask": mask}


def _scene_raw(rng: np.random.Generator, cfg: HdrSceneConfig) -> dict[str, np.ndarray]:
    s2 = 2 * cfg.image_size
    radiance, mask2, stop = _render_radiance(rng, cfg, s2, 2.0)
    gains = np.array([rng.uniform(*cfg.raw_gain_r), 1.0, rng.uniform(*cfg.raw_gain_b)])
    cfa = np.tile(_CFA, (cfg.image_size, cfg.image_size))
    mosaic = np.take_along_axis(radiance * gains, cfa[None, :, :, None], axis=-1)[..., 0]  # (3, 2S, 2S)
    iso = np.full(3, cfg.raw_iso)
    time = cfg.raw_base_time * np.exp2(stop * np.arange(3.0))
    aperture = np.full(3, cfg.raw_aperture)
    er = exif_ratio(iso, time, aperture)
    clean = mosaic * er[:, None, None]
    noise = rng.standard_normal(clean.shape)
    if cfg.add_noise:
        k = cfg.raw_noise_k * iso[:, None, None] / 100.0
        sigma_r = cfg.raw_noise_read * iso[:, None, None] / 100.0
        x = clean + np.sqrt(k * clean + sigma_r**2) * noise
    else:
        x = clean
    r = np.clip(x, 0.0, 1.0)
    if cfg.quantize:
        levels = 2**cfg.raw_bits - 1
        r = np.round(r * levels) / levels
    s = cfg.image_size
    mask = mask2.reshape(s, 2, s, 2).any(axis=(1, 3))
    return {"ldr": pack_rggb(r), "exposure": er, "hdr": pack_rggb(mosaic[1]), "mask": mask,
            "iso": iso, "time": time, "aperture": aperture}


def make_scenes(n: int, config: HdrSceneConfig, seed: int, domain: Domain = "rgb") -> Arrays:
    """``n`` synthetic HDR scenes (§8), stacked.

    Returns ``ldr`` float32 ``(n, 3, H, W, C)`` in [0, 1] (frames short, reference, long; RGB C = 3 gamma-
    encoded; RAW C = 4 packed [R, G_r, B, G_b] linear 14-bit counts / (2^14 − 1)), ``exposure`` float32
    ``(n, 3)`` (RGB: stops (−s, 0, +s); RAW: EXIF exposure ratios (1, q, q²)), ``hdr`` float32 ``(n, H, W, C)``
    (the reference radiance in short-frame units: RGB max 1; RAW packed, white-balance-scaled), ``mask`` bool
    ``(n, H, W)`` (motion), and for RAW ``iso``, ``time`` (s), ``aperture`` float64 ``(n, 3)``.
    """
    if domain not in ("rgb", "raw"):
        raise ValueError(f"domain must be 'rgb' or 'raw', got {domain!r}")
    if n < 0 or seed < 0:
        raise ValueError(f"n and seed must be non-negative, got n={n}, seed={seed}")
    s = config.image_size
    c = 3 if domain == "rgb" else 4
    render = _scene_rgb if domain == "rgb" else _scene_raw
    out: Arrays = {
        "ldr": np.empty((n, 3, s, s, c), np.float32), "exposure": np.empty((n, 3), np.float32),
        "hdr": np.empty((n, s, s, c), np.float32), "mask": np.empty((n, s, s), bool),
    }
    if domain == "raw":
        out.update({k: np.empty((n, 3), np.float64) for k in ("iso", "time", "aperture")})
    for k in range(n):
        scene = render(np.random.default_rng([seed, k]), config)
        for key, value in scene.items():
            out[key][k] = value
    return out


# ------------------------------------------------------------------------------------------------
# network inputs and statistics
# ------------------------------------------------------------------------------------------------


def hdr_domain(ldr: np.ndarray, exposure: np.ndarray, gamma: float = 2.2, domain: Domain = "rgb") -> np.ndarray:
    """HDR-domain frames in short-frame units (§3.3): RGB ``L^γ / 2^(e − min e)``, RAW ``r / ER``.

    ``ldr`` is ``(N, 3, H, W, C)``, ``exposure`` ``(N, 3)`` (stops for RGB, EXIF ratios for RAW).
    """
    e = np.asarray(exposure, dtype=np.float64)
    if domain == "rgb":
        t = np.exp2(e - e.min(axis=1, keepdims=True))
        lin = np.power(ldr.astype(np.float64), gamma)
    elif domain == "raw":
        t, lin = e, ldr.astype(np.float64)
    else:
        raise ValueError(f"domain must be 'rgb' or 'raw', got {domain!r}")
    return (lin / t[:, :, None, None, None]).astype(np.float32)


def build_inputs(scenes: Arrays, gamma: float = 2.2, domain: Domain = "rgb") -> Arrays:
    """Network inputs (§3.3): ``x`` float32 ``(N, 3, C_in, H, W)``, ``y`` ``(N, C, H, W)``, ``mask`` ``(N, H, W)``.

    RGB: ``X_i = concat(L_i, L_i^γ / t_i)`` (6 channels). RAW: ``X_i = concat(r_i^(1/γ), r_i / ER_i)`` (8).
    """
    ldr, hdr = scenes["ldr"], scenes["hdr"]
    c = {"rgb": 3, "raw": 4}.get(domain)
    if c is None:
        raise ValueError(f"domain must be 'rgb' or 'raw', got {domain!r}")
    if ldr.ndim != 5 or ldr.shape[1] != 3 or ldr.shape[-1] != c:
        raise ValueError(f"{domain} scenes need ldr of shape (N, 3, H, W, {c}), got {ldr.shape}")
    lin = hdr_domain(ldr, scenes["exposure"], gamma, domain)
    ldr_part = ldr if domain == "rgb" else np.power(ldr.astype(np.float64), 1.0 / gamma)
    x = np.concatenate([ldr_part.astype(np.float32), lin], axis=-1).transpose(0, 1, 4, 2, 3)
    return {"x": np.ascontiguousarray(x, dtype=np.float32),
            "y": np.ascontiguousarray(hdr.transpose(0, 3, 1, 2), dtype=np.float32),
            "mask": np.asarray(scenes["mask"], dtype=bool)}


def scene_stats(scenes: Arrays) -> dict[str, float]:
    """Logging summary: clipped-pixel fractions per frame, motion-mask fraction, scene dynamic range.

    A pixel counts as saturated when any channel sits at full scale (the clip value 1); the dynamic range is
    ``log2(max / min)`` of the per-pixel channel mean of the ground truth, averaged over scenes.
    """
    ldr, hdr = scenes["ldr"], scenes["hdr"]
    if len(hdr) == 0:
        return {k: float("nan") for k in ("frac_saturated_short", "frac_saturated_ref", "frac_saturated_long",
                                          "frac_motion", "dynamic_range_stops")}
    sat = (ldr >= 1.0 - 1e-6).any(axis=-1).mean(axis=(0, 2, 3))
    lum = hdr.astype(np.float64).mean(axis=-1).reshape(len(hdr), -1)
    dr = np.log2(lum.max(axis=1) / np.maximum(lum.min(axis=1), 1e-12))
    return {"frac_saturated_short": float(sat[0]), "frac_saturated_ref": float(sat[1]),
            "frac_saturated_long": float(sat[2]), "frac_motion": float(np.mean(scenes["mask"])),
            "dynamic_range_stops": float(dr.mean())}
