"""Seeded procedural classification benchmark shared by dcff, collab_compression, recu and pss_net.

Why one module: the four classification papers are compared on small generated images so that every
pipeline runs on a laptop CPU in minutes. They need slightly different images (see their specs' §8), so a
single generator with difficulty knobs and four *families* replaces four hand-written copies:

- ``shapes`` (default, dcff §8 / collab_compression §8): 10 classes of flat shapes — disc, square,
  triangle, ring, plus, bar, two parallel bars, half-disc, hollow square, hollow ellipse.
- ``shapes10`` (pss_net §8 "Shapes-10", recu ``shapes``): 5 shapes × {solid, striped}, uniform rotation.
- ``gratings`` (pss_net §8 "Gratings-10", recu ``gratings``): 5 orientations × 2 spatial frequencies.
- ``color_patches`` (recu §8 default): class colour prototypes + brightness + heavy noise + a rectangle.

Every field of :class:`ShapesConfig` is taken literally; :meth:`ShapesConfig.preset` returns the values each
spec prescribes for a family. Images are rendered with coordinate grids for a whole chunk of images at
once (no Python loop over pixels), so 2000 images take a fraction of a second.

Randomness: for the vectorised families the labels, colours, geometry, distractors, texture and noise are
drawn from independent child streams of ``numpy.random.SeedSequence(seed)``. Why: changing one difficulty
knob (``noise``, ``distractors``, ``textured_background``) keeps the other random choices, so the knob's
effect can be measured on otherwise identical images. ``color_patches`` instead follows the single-stream
draw order written in recu §8, so that the spec author's numbers can be compared.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

__all__ = [
    "CLASS_NAMES",
    "FAMILIES",
    "PRESETS",
    "ShapesConfig",
    "class_names",
    "generate_shapes",
    "write_shapes_split",
]

#: Class names of the default ``shapes`` family (dcff §8), in label order.
CLASS_NAMES: tuple[str, ...] = (
    "disc",
    "square",
    "triangle",
    "ring",
    "plus",
    "bar",
    "two_bars",
    "half_disc",
    "hollow_square",
    "hollow_ellipse",
)

_SHAPES10_BASE = ("disc", "square", "triangle", "cross", "ring")
_FAMILY_CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "shapes": CLASS_NAMES,
    # label = 2 * shape + striped, so the two fill styles of a shape are neighbours.
    "shapes10": tuple(f"{s}_{f}" for s in _SHAPES10_BASE for f in ("solid", "striped")),
    # label c: orientation index c mod 5, frequency index c // 5 (pss_net §8).
    "gratings": tuple(f"grating_o{c % 5}_f{c // 5}" for c in range(10)),
    "color_patches": tuple(f"color_{c}" for c in range(10)),
}
FAMILIES: tuple[str, ...] = tuple(_FAMILY_CLASS_NAMES)

#: Minimum L1 distance of a distractor's colour to the background and the foreground: a "third colour"
#: that is visible and not mistaken for the shape's own colour.
_DISTRACTOR_MIN_L1 = 0.3
#: Images rendered per chunk: bounds peak memory (a few float32 N×H×W arrays) for large n.
_CHUNK = 2048


@dataclass(frozen=True)
class ShapesConfig:
    """Knobs of the generator. Defaults reproduce dcff §8 (except ``image_size``: dcff uses 16).

    Attributes:
        image_size: side of the square RGB images in pixels.
        n_classes: number of classes used (the first ``n_classes`` of the family's 10).
        noise: σ of the additive i.i.d. Gaussian pixel noise (images in [0, 1], clipped after).
        rotate: ``False`` → orientation k·90° + U(−jitter, jitter); ``True`` → uniform angle (much harder).
        distractors: number of distractor blobs (``color_patches``: rectangles) per image.
        textured_background: add a random low-frequency colour grating to the background (harder).
        seed: the only source of randomness; same config ⇒ identical bytes.
        family: one of :data:`FAMILIES`.
        center_range: shape/window centre, uniform in this range × image_size per axis.
        radius_range: shape/window radius, uniform in this range × image_size (the scale knob).
        orientation_jitter: half-width in radians of the jitter around the axis-aligned orientations.
        min_color_distance: minimum L1 distance between foreground and background colours
            (``gratings``: between the two grating colours).
        distractor_radius: distractor blob radius range in pixels (not scaled with image_size).
        texture_amplitude: per-channel amplitude of the background texture.
        balanced_labels: ``True`` → exactly balanced labels in random order; ``False`` → i.i.d. uniform.
        stripe_period: ``shapes10`` stripe period range in pixels.
        frequencies: ``gratings`` spatial frequencies (cycles/pixel) of the two frequency groups.
        brightness: ``color_patches`` global brightness offset half-range.
        prototype_seed: ``color_patches`` seed of the fixed class colour prototypes.
    """

    image_size: int = 32
    n_classes: int = 10
    noise: float = 0.08
    rotate: bool = False
    distractors: int = 1
    textured_background: bool = False
    seed: int = 0
    family: str = "shapes"
    center_range: tuple[float, float] = (0.35, 0.65)
    radius_range: tuple[float, float] = (0.28, 0.42)
    orientation_jitter: float = 0.2
    min_color_distance: float = 0.9
    distractor_radius: tuple[float, float] = (0.8, 1.8)
    texture_amplitude: float = 0.15
    balanced_labels: bool = True
    stripe_period: tuple[float, float] = (3.0, 5.0)
    frequencies: tuple[float, float] = (0.12, 0.25)
    brightness: float = 0.15
    prototype_seed: int = 123

    def __post_init__(self) -> None:
        # YAML gives lists; store tuples so the config stays hashable and comparable.
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
        self._validate()

    def _validate(self) -> None:
        def fail(name: str, why: str) -> None:
            raise ValueError(f"ShapesConfig.{name}={getattr(self, name)!r}: {why}")

        if self.family not in FAMILIES:
            fail("family", f"must be one of {list(FAMILIES)}")
        if not isinstance(self.image_size, int) or self.image_size < 8:
            fail("image_size", "must be an int >= 8")
        if not isinstance(self.n_classes, int) or not 2 <= self.n_classes <= 10:
            fail("n_classes", "must be an int in [2, 10]")
        if self.noise < 0:
            fail("noise", "must be >= 0")
        if not isinstance(self.distractors, int) or self.distractors < 0:
            fail("distractors", "must be an int >= 0")
        if not 0 <= self.min_color_distance <= 1.2:
            fail("min_color_distance", "must be in [0, 1.2] (larger values make rejection sampling stall)")
        for name in ("center_range", "radius_range", "distractor_radius", "stripe_period", "frequencies"):
            value = getattr(self, name)
            if len(value) != 2 or not 0 <= value[0] <= value[1]:
                fail(name, "must be a pair (low, high) with 0 <= low <= high")
        if self.center_range[1] > 1:
            fail("center_range", "must lie in [0, 1] (fraction of image_size)")
        if self.stripe_period[0] <= 0:
            fail("stripe_period", "must be > 0")

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> ShapesConfig:
        """Build from a parameters mapping, failing at once on unknown keys (naming them and the allowed ones)."""
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise ValueError(f"unknown ShapesConfig key(s) {unknown}; allowed: {sorted(allowed)}")
        return cls(**dict(params))

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ShapesConfig:
        """The values a spec's §8 prescribes for ``name`` (see :data:`PRESETS`), with ``overrides`` on top."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; allowed: {sorted(PRESETS)}")
        return cls.from_dict({**PRESETS[name], **overrides})


#: Spec values per family (image_size is left to the pipeline: dcff/collab_compression use 16, recu/pss 32).
PRESETS: dict[str, dict[str, Any]] = {
    # dcff §8 and collab_compression §8 (the dataclass defaults).
    "shapes": {},
    # pss_net §8 Shapes-10 / recu `shapes`.
    "shapes10": {
        "family": "shapes10",
        "center_range": (0.3, 0.7),
        "radius_range": (0.18, 0.32),
        "rotate": True,
        "min_color_distance": 0.8,
        "distractors": 0,
        "noise": 0.08,
    },
    # pss_net §8 Gratings-10 / recu `gratings`.
    "gratings": {
        "family": "gratings",
        "center_range": (0.35, 0.65),
        "radius_range": (0.25, 0.45),
        "min_color_distance": 0.6,
        "distractors": 0,
        "noise": 0.15,
    },
    # recu §8 default (labels drawn i.i.d. first, as the spec's draw order says).
    "color_patches": {"family": "color_patches", "noise": 0.5, "distractors": 1, "balanced_labels": False},
}


def class_names(config: ShapesConfig) -> tuple[str, ...]:
    """Names of the classes ``config`` generates, in label order."""
    return _FAMILY_CLASS_NAMES[config.family][: config.n_classes]


# --------------------------------------------------------------------------------------------------------
# drawing helpers


def _labels(rng: np.random.Generator, n: int, config: ShapesConfig) -> np.ndarray:
    """Exactly balanced labels (remainder spread over the first classes) in random order, or i.i.d."""
    if config.balanced_labels:
        return rng.permutation(np.arange(n, dtype=np.int64) % config.n_classes)
    return rng.integers(0, config.n_classes, size=n, dtype=np.int64)


def _far_colors(rng: np.random.Generator, refs: list[np.ndarray], min_l1: float) -> np.ndarray:
    """Uniform RGB colours redrawn (vectorised rejection) until L1 distance >= min_l1 to every ref colour."""
    n = refs[0].shape[0]
    out = rng.random((n, 3))

    def too_close(x: np.ndarray, sel: np.ndarray | slice) -> np.ndarray:
        return np.any([np.abs(x - r[sel]).sum(1) < min_l1 for r in refs], axis=0)

    bad = np.flatnonzero(too_close(out, slice(None)))
    while bad.size:
        out[bad] = rng.random((bad.size, 3))
        bad = bad[too_close(out[bad], bad)]
    return out


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (y, x) as 1×H×1 and 1×1×W float32 arrays, broadcastable against N×1×1."""
    c = np.arange(size, dtype=np.float32) + 0.5
    return c[None, :, None], c[None, None, :]


def _col(a: np.ndarray) -> np.ndarray:
    """Per-image scalars (N,) → N×1×1 float32 for broadcasting over the pixel grid."""
    return np.asarray(a, dtype=np.float32)[:, None, None]


Mask = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _hollow_ellipse(u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    outer = (u / r) ** 2 + (v / (0.65 * r)) ** 2 <= 1
    inner = (u / (0.55 * r)) ** 2 + (v / (0.3 * r)) ** 2 < 1
    return outer & ~inner


def _cross(half_width: float) -> Mask:
    def mask(u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
        au, av = np.abs(u), np.abs(v)
        return ((au <= half_width * r) & (av <= r)) | ((av <= half_width * r) & (au <= r))

    return mask


def _disc(u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    return u * u + v * v <= r * r


def _square(u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(u), np.abs(v)) <= 0.8 * r


def _triangle(u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    # Apex at v = 0.9r, base at v = -0.6r (pss_net §8 definition): points along +v.
    return (v >= -0.6 * r) & (v <= 0.9 * r - 1.7 * np.abs(u))


def _ring(u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    d2 = u * u + v * v
    return (d2 <= r * r) & (d2 >= (0.55 * r) ** 2)


# Shapes in the rotated frame (u along the shape's axis, v across it), r = radius (half-size).
_SHAPES: tuple[Mask, ...] = (
    _disc,
    _square,
    _triangle,
    _ring,
    _cross(0.25),  # plus
    lambda u, v, r: (np.abs(u) <= r) & (np.abs(v) <= 0.3 * r),  # bar
    lambda u, v, r: (np.abs(u) <= r) & (np.abs(v) >= 0.22 * r) & (np.abs(v) <= 0.62 * r),  # two bars
    lambda u, v, r: (u * u + v * v <= r * r) & (v >= 0),  # half-disc
    lambda u, v, r: (np.maximum(np.abs(u), np.abs(v)) <= 0.85 * r)
    & (np.maximum(np.abs(u), np.abs(v)) >= 0.5 * r),  # hollow square
    _hollow_ellipse,
)
_SHAPES10: tuple[Mask, ...] = (_disc, _square, _triangle, _cross(0.3), _ring)


def _class_masks(
    masks: tuple[Mask, ...], cls: np.ndarray, u: np.ndarray, v: np.ndarray, r: np.ndarray
) -> np.ndarray:
    """Boolean N×H×W mask, evaluating each class's shape only on the images of that class."""
    out = np.zeros(u.shape, dtype=bool)
    for c in np.unique(cls):  # at most 10 iterations, each vectorised over its images
        sel = cls == c
        out[sel] = masks[c](u[sel], v[sel], r[sel])
    return out


def _background(config: ShapesConfig, bg: np.ndarray, tex: dict[str, np.ndarray] | None) -> np.ndarray:
    """N×H×W×3 background: flat colour, plus a low-frequency colour grating when textured."""
    s = config.image_size
    img = np.broadcast_to(bg[:, None, None, :].astype(np.float32), (bg.shape[0], s, s, 3)).copy()
    if tex is not None:
        yy, xx = _grid(s)
        phase = (2 * np.pi / s) * (_col(tex["ky"]) * yy + _col(tex["kx"]) * xx) + _col(tex["phase"])
        img += np.sin(phase)[..., None] * (config.texture_amplitude * tex["amp"][:, None, None, :])
    return img


def _paint_distractors(img: np.ndarray, dis: list[dict[str, np.ndarray]]) -> None:
    """Paint round distractor blobs (in place) over the image, each in its own colour."""
    yy, xx = _grid(img.shape[1])
    for d in dis:  # one iteration per distractor (default 1), vectorised over images
        m = (yy - _col(d["cy"])) ** 2 + (xx - _col(d["cx"])) ** 2 <= _col(d["r"]) ** 2
        np.copyto(img, d["color"][:, None, None, :].astype(np.float32), where=m[..., None])


def _draw_distractors(
    rng: np.random.Generator, config: ShapesConfig, refs: list[np.ndarray], n: int
) -> list[dict[str, np.ndarray]]:
    s = config.image_size
    out = []
    for _ in range(config.distractors):
        out.append(
            {
                "color": _far_colors(rng, refs, _DISTRACTOR_MIN_L1),
                "cy": rng.uniform(0, s, n),
                "cx": rng.uniform(0, s, n),
                "r": rng.uniform(*config.distractor_radius, n),
            }
        )
    return out


def _draw_texture(rng: np.random.Generator, config: ShapesConfig, n: int) -> dict[str, np.ndarray] | None:
    if not config.textured_background:
        return None
    freq = rng.uniform(1.0, 3.0, n)  # cycles per image: low frequency, so it reads as texture, not shape
    theta = rng.uniform(0, 2 * np.pi, n)
    return {
        "ky": freq * np.sin(theta),
        "kx": freq * np.cos(theta),
        "phase": rng.uniform(0, 2 * np.pi, n),
        "amp": rng.uniform(-1, 1, (n, 3)),
    }


def _orientation(rng: np.random.Generator, config: ShapesConfig, n: int) -> np.ndarray:
    if config.rotate:
        return rng.uniform(0, 2 * np.pi, n)
    quarter = rng.integers(0, 4, n) * (np.pi / 2)
    return quarter + rng.uniform(-config.orientation_jitter, config.orientation_jitter, n)


def _take(params: Any, sl: slice) -> Any:
    """Slice every per-image array inside a (nested) parameter structure to one chunk."""
    if isinstance(params, dict):
        return {k: _take(v, sl) for k, v in params.items()}
    if isinstance(params, list):
        return [_take(v, sl) for v in params]
    if params is None:
        return None
    return params[sl]


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)


# --------------------------------------------------------------------------------------------------------
# families


def _generate_vectorised(n: int, config: ShapesConfig) -> tuple[np.ndarray, np.ndarray]:
    """``shapes``, ``shapes10`` and ``gratings``: parameters for all images first, then chunked rendering."""
    s = config.image_size
    streams = [np.random.default_rng(ss) for ss in np.random.SeedSequence(config.seed).spawn(6)]
    r_lab, r_col, r_geo, r_dis, r_tex, r_noise = streams
    labels = _labels(r_lab, n, config)

    bg = r_col.random((n, 3))
    fg = _far_colors(r_col, [bg], config.min_color_distance)  # gratings: the two grating colours
    geo: dict[str, np.ndarray] = {
        "cy": r_geo.uniform(*config.center_range, n) * s,
        "cx": r_geo.uniform(*config.center_range, n) * s,
        "r": r_geo.uniform(*config.radius_range, n) * s,
    }
    if config.family == "gratings":
        # Two grating colours c1, c2 with L1 >= min_color_distance; the window sits on its own background.
        geo["c1"], geo["c2"] = bg, fg
        geo["bg"] = r_col.random((n, 3))
        c = labels
        geo["theta"] = (c % 5) * (np.pi / 5) + r_geo.normal(0.0, 0.05, n)
        geo["freq"] = np.asarray(config.frequencies)[c // 5] * r_geo.uniform(0.9, 1.1, n)
        geo["phase"] = r_geo.uniform(0, 2 * np.pi, n)
        refs = [geo["bg"], fg]
    else:
        geo["bg"], geo["fg"] = bg, fg
        geo["theta"] = _orientation(r_geo, config, n)
        if config.family == "shapes10":
            geo["period"] = r_geo.uniform(*config.stripe_period, n)
            geo["stripe_phase"] = r_geo.uniform(0, 1, n) * geo["period"]
        refs = [bg, fg]
    dis = _draw_distractors(r_dis, config, refs, n)
    tex = _draw_texture(r_tex, config, n)

    out = np.empty((n, s, s, 3), dtype=np.uint8)
    yy, xx = _grid(s)
    for start in range(0, n, _CHUNK):
        sl = slice(start, min(start + _CHUNK, n))
        g, cls = _take(geo, sl), labels[sl]
        img = _background(config, g["bg"], _take(tex, sl))
        dy, dx = yy - _col(g["cy"]), xx - _col(g["cx"])
        if config.family == "gratings":
            t = _col(g["theta"])
            wave = 0.5 + 0.5 * np.sin(
                2 * np.pi * _col(g["freq"]) * (xx * np.cos(t) + yy * np.sin(t)) + _col(g["phase"])
            )
            c1, c2 = (g[k].astype(np.float32)[:, None, None, :] for k in ("c1", "c2"))
            pattern = c1 + (c2 - c1) * wave[..., None]
            alpha = np.clip((_col(g["r"]) - np.sqrt(dy * dy + dx * dx)) / 2.0, 0.0, 1.0)[..., None]
            img = img * (1 - alpha) + pattern * alpha
        else:
            cos, sin = np.cos(_col(g["theta"])), np.sin(_col(g["theta"]))
            u, v = cos * dx + sin * dy, cos * dy - sin * dx
            r = _col(g["r"])
            if config.family == "shapes":
                mask = _class_masks(_SHAPES, cls, u, v, r)
            else:
                mask = _class_masks(_SHAPES10, cls // 2, u, v, r)
                period = _col(g["period"])
                stripes = np.mod(u + _col(g["stripe_phase"]), period) < period / 2
                mask &= stripes | (_col(cls % 2) == 0)
            np.copyto(img, g["fg"].astype(np.float32)[:, None, None, :], where=mask[..., None])
        _paint_distractors(img, _take(dis, sl))
        if config.noise > 0:
            img += r_noise.standard_normal(img.shape, dtype=np.float32) * np.float32(config.noise)
        out[sl] = _to_uint8(img)
    return out, labels


def _generate_color_patches(n: int, config: ShapesConfig) -> tuple[np.ndarray, np.ndarray]:
    """recu §8 ``color_patches`` in the spec's single-stream draw order (loop over images draws only scalars
    and one noise array each; painting the rectangles is vectorised)."""
    s = config.image_size
    rng = np.random.default_rng(config.seed)
    protos = np.random.default_rng(config.prototype_seed).uniform(0.2, 0.8, (10, 3))
    labels = _labels(rng, n, config)
    noise = np.empty((n, 3, s, s), dtype=np.float32)
    bright = np.empty(n)
    k = config.distractors
    corner = np.empty((n, k, 2), dtype=np.int64)  # (x0, y0)
    wh = np.empty((n, k, 2), dtype=np.int64)  # (w, h)
    rect_color = np.empty((n, k, 3))
    for i in range(n):  # spec draw order: brightness, noise, then per rectangle corner, size, colour
        bright[i] = rng.uniform(-config.brightness, config.brightness)
        noise[i] = rng.normal(0.0, config.noise, (3, s, s))
        for j in range(k):
            corner[i, j] = rng.integers(0, s // 2, 2)
            wh[i, j] = rng.integers(s // 4, s // 2, 2)
            rect_color[i, j] = rng.uniform(0, 1, 3)
    img = (protos[labels] + bright[:, None]).astype(np.float32)[:, None, None, :] + noise.transpose(0, 2, 3, 1)
    idx = np.arange(s)
    for j in range(k):
        x0, y0 = corner[:, j, 0, None], corner[:, j, 1, None]
        rows = (idx >= y0) & (idx < y0 + wh[:, j, 1, None])  # N×H
        cols = (idx >= x0) & (idx < x0 + wh[:, j, 0, None])  # N×W
        m = rows[:, :, None] & cols[:, None, :]
        np.copyto(img, rect_color[:, j].astype(np.float32)[:, None, None, :], where=m[..., None])
    return _to_uint8(img), labels


def generate_shapes(n: int, config: ShapesConfig) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``n`` images and labels, fully determined by ``config`` (same config ⇒ identical bytes).

    Returns:
        images: uint8 array N×H×W×3 (RGB, H = W = ``config.image_size``).
        labels: int64 array N in ``[0, config.n_classes)``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if config.family == "color_patches":
        return _generate_color_patches(n, config)
    return _generate_vectorised(n, config)


def write_shapes_split(out_dir: str | Path, split: str, n: int, config: ShapesConfig) -> pd.DataFrame:
    """Generate a split and write ``out_dir/<split>/<class_name>/<idx:05d>.png``; return its manifest rows.

    PNG is lossless, so reading the files back gives exactly the generated uint8 arrays. Rows follow the
    generation order (``idx``), with the columns of :mod:`cvpapers.data.manifest`.
    """
    images, labels = generate_shapes(n, config)
    names = class_names(config)
    root = Path(out_dir) / split
    for name in set(names[i] for i in np.unique(labels)):
        (root / name).mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):  # file IO is inherently per image
        path = root / names[labels[i]] / f"{i:05d}.png"
        Image.fromarray(images[i]).save(path, compress_level=1)
        paths.append(path.as_posix())
    df = pd.DataFrame(
        {
            "path": pd.Series(paths, dtype=object),
            "index": np.full(n, -1, dtype=np.int64),
            "split": split,
            "label": labels.astype(np.int64),
            "class_name": pd.Series([names[c] for c in labels], dtype=object),
        }
    )
    df.attrs["origin"] = f"embedded {config.family} generator → {root.as_posix()} (seed {config.seed})"
    return df
