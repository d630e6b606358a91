"""ShapesDet-AL: the seeded procedural detection benchmark of the mi_aod pipeline (``papers/mi_aod.md`` §8.1).

Every image draws a *regime* that sets its background texture, pixel noise, number / classes / sizes of
objects and their colour contrast. The pool is deliberately redundant (mostly ``easy`` images: one large,
high-contrast circle or square) and long-tailed (few ``hard`` images with small, low-contrast triangles and
crosses; ``clutter`` images with unlabelled distractors), so that uncertainty-driven selection has something
to find. The regime tag is stored for diagnostics only.

Output is a dict of arrays shared with the VOC reader (:mod:`cvpapers.data.voc`): boxes are
``[x1, y1, x2, y2]`` pixels, 0-based, x2/y2 exclusive, i.e. the tight extent of the rendered mask at
coverage >= 0.5, so they are always integers.

Randomness: one ``numpy.random.default_rng(seed)`` stream consumed image by image (regime, background,
distractors, objects, noise). Why image by image: the first ``k`` images of a set of ``n`` equal a set of
``k`` images with the same seed, so pools of different sizes share their images.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CLASS_NAMES",
    "REGIMES",
    "RegimeSpec",
    "ShapesDetConfig",
    "generate_shapes_det",
]

CLASS_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "cross")
REGIMES: tuple[str, ...] = ("easy", "hard", "clutter")
#: Colour rules: ``far`` = at least ``far_min_distance`` (L2) from the background mean, ``near`` = background
#: mean ± U(near_offset) per channel, ``random`` = U(0, 1)^3.
CONTRASTS: tuple[str, ...] = ("far", "near", "random")


@dataclass(frozen=True)
class RegimeSpec:
    """One row of the §8.1 regime table (sizes in px for ``ShapesDetConfig.reference_size`` images).

    Attributes:
        texture_amplitude: amplitude of the background texture (grating + value noise).
        noise_sigma: σ of the Gaussian pixel noise added to the whole image.
        n_objects: inclusive range of labelled objects drawn per image (some may be dropped by placement).
        class_probs: probability of each class of :data:`CLASS_NAMES`.
        size_range: object box side (the larger of width and height) range.
        contrast: one of :data:`CONTRASTS`.
        n_distractors: inclusive range of unlabelled distractors per image.
    """

    texture_amplitude: float
    noise_sigma: float
    n_objects: tuple[int, int]
    class_probs: tuple[float, ...]
    size_range: tuple[float, float]
    contrast: str
    n_distractors: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        def fail(name: str, why: str) -> None:
            raise ValueError(f"RegimeSpec.{name}={getattr(self, name)!r}: {why}")

        for name in ("n_objects", "size_range", "class_probs", "n_distractors"):
            object.__setattr__(self, name, tuple(getattr(self, name)))  # YAML lists → hashable tuples
        if self.texture_amplitude < 0 or self.noise_sigma < 0:
            fail("texture_amplitude" if self.texture_amplitude < 0 else "noise_sigma", "must be >= 0")
        if len(self.n_objects) != 2 or not 1 <= self.n_objects[0] <= self.n_objects[1]:
            fail("n_objects", "must be (low, high) with 1 <= low <= high")
        if len(self.n_distractors) != 2 or not 0 <= self.n_distractors[0] <= self.n_distractors[1]:
            fail("n_distractors", "must be (low, high) with 0 <= low <= high")
        if len(self.size_range) != 2 or not 0 < self.size_range[0] <= self.size_range[1]:
            fail("size_range", "must be (low, high) with 0 < low <= high")
        p = np.asarray(self.class_probs, dtype=np.float64)
        if p.shape != (len(CLASS_NAMES),) or (p < 0).any() or abs(p.sum() - 1) > 1e-6:
            fail(
                "class_probs", f"must be {len(CLASS_NAMES)} non-negative numbers summing to 1 ({CLASS_NAMES})"
            )
        if self.contrast not in CONTRASTS:
            fail("contrast", f"must be one of {list(CONTRASTS)}")


@dataclass(frozen=True)
class ShapesDetConfig:
    """The §8.1 regime table and the generator's fixed constants (defaults = the spec)."""

    easy: RegimeSpec = RegimeSpec(0.05, 0.01, (1, 1), (0.5, 0.5, 0.0, 0.0), (26.0, 40.0), "far")
    hard: RegimeSpec = RegimeSpec(0.25, 0.04, (2, 4), (0.2, 0.2, 0.3, 0.3), (10.0, 20.0), "near")
    clutter: RegimeSpec = RegimeSpec(
        0.15, 0.03, (1, 3), (0.25, 0.25, 0.25, 0.25), (14.0, 30.0), "random", (2, 4)
    )
    #: image side the pixel sizes refer to; other sizes scale them by image_size / reference_size.
    reference_size: int = 96
    far_min_distance: float = 0.4
    near_offset: tuple[float, float] = (0.12, 0.25)
    max_iou: float = 0.2
    max_tries: int = 20
    #: distractor size: ellipse major axis / star outer diameter, px at reference_size.
    distractor_size: tuple[float, float] = (10.0, 30.0)
    ellipse_aspect: tuple[float, float] = (2.5, 4.0)
    star_points: tuple[int, int] = (5, 7)
    star_inner_ratio: tuple[float, float] = (0.35, 0.55)
    base_color: tuple[float, float] = (0.2, 0.8)
    grating_cycles: tuple[float, float] = (2.0, 8.0)
    value_noise_grid: int = 6
    supersample: int = 2
    #: smallest object box side after scaling (px): below this the 0.5-coverage mask can vanish.
    min_size_px: float = 4.0

    def regime(self, index: int) -> RegimeSpec:
        """The spec of ``REGIMES[index]``."""
        return (self.easy, self.hard, self.clutter)[index]


# --------------------------------------------------------------------------------------------------------
# geometry: every shape is an "inside" predicate on continuous pixel coordinates plus its nominal box

Inside = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (x: 1×W, y: H×1) → H×W bool


def _rotate(vx: np.ndarray, vy: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.cos(angle), np.sin(angle)
    return c * vx - s * vy, s * vx + c * vy


def _unit_polygon(cls: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rotated vertices (any scale) of square / triangle / cross, drawn with the class's rotation rule."""
    if cls == 1:  # square, U(0°, 45°)
        vx, vy = np.array([-0.5, 0.5, 0.5, -0.5]), np.array([-0.5, -0.5, 0.5, 0.5])
        angle = rng.uniform(0.0, np.pi / 4)
    elif cls == 2:  # equilateral triangle, any rotation
        a = np.pi / 2 + np.array([0.0, 2.0, 4.0]) * np.pi / 3
        vx, vy = np.cos(a), np.sin(a)
        angle = rng.uniform(0.0, 2 * np.pi)
    else:  # plus-sign cross, span 1, arm width 1/3, rotated 0° or 45°
        w, h = 1 / 6, 0.5
        vx = np.array([-w, w, w, h, h, w, w, -w, -w, -h, -h, -w])
        vy = np.array([h, h, w, w, -w, -w, -h, -h, -w, -w, w, w])
        angle = (np.pi / 4) * rng.integers(0, 2)
    return _rotate(vx, vy, angle)


def _star(rng: np.random.Generator, cfg: ShapesDetConfig) -> tuple[np.ndarray, np.ndarray]:
    k = int(rng.integers(cfg.star_points[0], cfg.star_points[1] + 1))
    radius = np.where(np.arange(2 * k) % 2 == 0, 1.0, rng.uniform(*cfg.star_inner_ratio))
    a = rng.uniform(0.0, 2 * np.pi) + np.arange(2 * k) * (np.pi / k)
    return radius * np.cos(a), radius * np.sin(a)


def _polygon_inside(vx: np.ndarray, vy: np.ndarray) -> Inside:
    """Even-odd rule, looping over edges (≤ 14) and vectorised over pixels; handles the non-convex cross/star."""

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = np.zeros((y.shape[0], x.shape[1]), dtype=bool)
        for i in range(len(vx)):
            xi, yi, xj, yj = vx[i], vy[i], vx[i - 1], vy[i - 1]
            if yi == yj:
                continue  # horizontal edges never cross a horizontal ray
            crosses = (yi > y) != (yj > y)  # H×1
            x_cross = xi + (y - yi) * ((xj - xi) / (yj - yi))  # H×1
            out ^= crosses & (x < x_cross)
        return out

    return inside


def _ellipse_inside(cx: float, cy: float, a: float, b: float, angle: float) -> Inside:
    c, s = np.cos(angle), np.sin(angle)

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        dx, dy = x - cx, y - cy
        u, v = (c * dx + s * dy) / a, (c * dy - s * dx) / b
        return u * u + v * v <= 1.0

    return inside


class _Shape:
    """A shape of known extent (w, h) that can be placed with its nominal box's top-left at (x0, y0)."""

    def __init__(self, kind: str, w: float, h: float, params: tuple[np.ndarray | float, ...]) -> None:
        self.kind, self.w, self.h, self.params = kind, w, h, params

    def at(self, x0: float, y0: float) -> Inside:
        if self.kind == "poly":
            vx, vy = self.params  # min at 0
            return _polygon_inside(vx + x0, vy + y0)
        a, b, angle = self.params  # disk: a == b
        return _ellipse_inside(x0 + self.w / 2, y0 + self.h / 2, a, b, angle)


def _object_shape(cls: int, size: float, rng: np.random.Generator) -> _Shape:
    """Shape of class ``cls`` whose nominal box side (max of width and height) is ``size``."""
    if cls == 0:
        return _Shape("ellipse", size, size, (size / 2, size / 2, 0.0))
    vx, vy = _unit_polygon(cls, rng)
    vx, vy = vx - vx.min(), vy - vy.min()
    k = size / max(vx.max(), vy.max())
    return _Shape("poly", vx.max() * k, vy.max() * k, (vx * k, vy * k))


def _distractor_shape(size: float, rng: np.random.Generator, cfg: ShapesDetConfig) -> _Shape:
    if rng.random() < 0.5:  # elongated ellipse, major axis = size
        a = size / 2
        b = a / rng.uniform(*cfg.ellipse_aspect)
        angle = rng.uniform(0.0, np.pi)
        c, s = np.cos(angle), np.sin(angle)
        w, h = 2 * np.hypot(a * c, b * s), 2 * np.hypot(a * s, b * c)
        return _Shape("ellipse", w, h, (a, b, angle))
    vx, vy = _star(rng, cfg)
    vx, vy = (vx - vx.min()) * size / 2, (vy - vy.min()) * size / 2  # outer radius = size / 2
    return _Shape("poly", vx.max(), vy.max(), (vx, vy))


# --------------------------------------------------------------------------------------------------------
# rendering


def _coverage(
    inside: Inside, x0: float, y0: float, w: float, h: float, s: int, ss: int
) -> tuple[np.ndarray, tuple[int, int]]:
    """Fraction of ss×ss sub-samples inside the shape, over the integer window covering its nominal box.

    Returns ``(alpha, (wx0, wy0))`` with ``alpha`` h'×w' float32 and the window's top-left pixel.
    """
    wx0, wy0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
    wx1, wy1 = min(int(np.ceil(x0 + w)), s), min(int(np.ceil(y0 + h)), s)
    sub = (np.arange(ss) + 0.5) / ss
    xs = (np.arange(wx0, wx1)[:, None] + sub).reshape(1, -1)
    ys = (np.arange(wy0, wy1)[:, None] + sub).reshape(-1, 1)
    m = inside(xs, ys).view(np.uint8).reshape(wy1 - wy0, ss, wx1 - wx0, ss)
    count = sum(m[:, a, :, b] for a in range(ss) for b in range(ss))  # ss² strided adds beat one .sum(axis)
    return count * np.float32(1 / ss**2), (wx0, wy0)


def _paint(img: np.ndarray, alpha: np.ndarray, origin: tuple[int, int], color: np.ndarray) -> None:
    x0, y0 = origin
    win = img[y0 : y0 + alpha.shape[0], x0 : x0 + alpha.shape[1]]
    win += alpha[..., None] * (color - win)


def _mask_box(alpha: np.ndarray, origin: tuple[int, int]) -> np.ndarray | None:
    """Tight [x1, y1, x2, y2) extent of coverage >= 0.5, in image pixels; None if empty."""
    m = alpha >= 0.5
    rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
    if rows.size == 0:
        return None
    x0, y0 = origin
    return np.array([x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1], dtype=np.float32)


def _max_iou(box: np.ndarray, others: list[np.ndarray]) -> float:
    if not others:
        return 0.0
    o = np.stack(others)
    iw = np.clip(np.minimum(box[2], o[:, 2]) - np.maximum(box[0], o[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], o[:, 3]) - np.maximum(box[1], o[:, 1]), 0, None)
    inter = iw * ih
    area = (box[2] - box[0]) * (box[3] - box[1])
    union = area + (o[:, 2] - o[:, 0]) * (o[:, 3] - o[:, 1]) - inter
    return float((inter / union).max())


def _bilinear_matrix(s: int, g: int) -> np.ndarray:
    """s×g matrix M with M @ grid @ M.T = bilinear upsampling of a g×g grid to s×s (half-pixel centres)."""
    p = np.clip((np.arange(s) + 0.5) * g / s - 0.5, 0, g - 1)
    i0 = np.minimum(np.floor(p).astype(int), g - 2)
    f = p - i0
    m = np.zeros((s, g))
    m[np.arange(s), i0] = 1 - f
    m[np.arange(s), i0 + 1] = f
    return m


def _background(
    rng: np.random.Generator, amplitude: float, cfg: ShapesDetConfig, grid: dict
) -> tuple[np.ndarray, np.ndarray]:
    """Base colour + amplitude·(0.5·grating + 0.5·value noise), each mixed into RGB with random weights.

    Returns the s×s×3 float32 background (clipped to [0, 1]) and its mean colour.
    """
    s = grid["size"]
    base = rng.uniform(*cfg.base_color, 3)
    cycles = rng.uniform(*cfg.grating_cycles)
    angle, phase = rng.uniform(0.0, np.pi), rng.uniform(0.0, 2 * np.pi)
    z = rng.standard_normal((cfg.value_noise_grid, cfg.value_noise_grid))
    weights = rng.uniform(-1.0, 1.0, (2, 3))
    # sin(a·x + b·y + φ) = sin(a·x)·cos(b·y + φ) + cos(a·x)·sin(b·y + φ): two outer products, no s² sine.
    k = 2 * np.pi * cycles / s
    ax, by = k * np.cos(angle) * grid["c"], k * np.sin(angle) * grid["c"] + phase
    cols = np.stack([np.sin(ax), np.cos(ax)], axis=1)  # s×2 (x)
    rows = np.stack([np.cos(by), np.sin(by)], axis=1)  # s×2 (y)
    m = grid["upsample"]
    fields = np.stack([rows @ cols.T, m @ z @ m.T]).reshape(2, s * s)  # grating, value noise
    tex = fields.T.astype(np.float32) @ (0.5 * amplitude * weights).astype(np.float32)  # s²×3
    tex += base.astype(np.float32)
    np.clip(tex, 0.0, 1.0, out=tex)
    mean = (grid["ones"] @ tex).astype(np.float64) / (s * s)  # BLAS; much faster than .mean on float32
    return tex.reshape(s, s, 3), mean


def _object_color(
    rng: np.random.Generator, contrast: str, bg_mean: np.ndarray, cfg: ShapesDetConfig
) -> np.ndarray:
    if contrast == "far":
        while True:  # always feasible: some corner of the RGB cube is >= √3/2 away from any mean
            color = rng.random(3)
            if np.linalg.norm(color - bg_mean) >= cfg.far_min_distance:
                return color
    if contrast == "near":
        delta = rng.uniform(*cfg.near_offset, 3) * (2 * rng.integers(0, 2, 3) - 1)
        # Flip the sign of a channel that would leave [0, 1] (offset <= 0.25 < 0.5, so one side always fits).
        out = (bg_mean + delta > 1) | (bg_mean + delta < 0)
        return bg_mean + np.where(out, -delta, delta)
    return rng.random(3)


# --------------------------------------------------------------------------------------------------------
# public API


def _regime_cdf(regime_probs: Mapping[str, float]) -> tuple[np.ndarray, int]:
    unknown = sorted(set(regime_probs) - set(REGIMES))
    if unknown:
        raise ValueError(f"unknown regime(s) {unknown} in regime_probs; allowed: {list(REGIMES)}")
    p = np.array([float(regime_probs.get(r, 0.0)) for r in REGIMES])
    if (p < 0).any() or abs(p.sum() - 1) > 1e-6:
        raise ValueError(f"regime_probs must be non-negative and sum to 1, got {dict(regime_probs)}")
    cdf = np.cumsum(p / p.sum())
    return cdf, int(np.flatnonzero(p > 0)[-1])


def generate_shapes_det(
    n: int,
    seed: int,
    regime_probs: Mapping[str, float],
    image_size: int = 96,
    config: ShapesDetConfig | None = None,
) -> dict[str, np.ndarray]:
    """Generate ``n`` ShapesDet-AL images with boxes; the same arguments give byte-identical arrays.

    Returns a dict with ``images`` uint8 N×H×W×3, ``boxes`` float32 N×G×4 (``[x1, y1, x2, y2]``, 0-based,
    exclusive x2/y2, zero rows for padding), ``labels`` int64 N×G (−1 = padding), ``difficult`` bool N×G
    (all False), ``regime`` int8 N (index into :data:`REGIMES`) and ``image_id`` str N (``"000000"`` …),
    where G = max(1, most objects in one image).
    """
    cfg = config or ShapesDetConfig()
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if image_size < 16:
        raise ValueError(f"image_size must be >= 16, got {image_size}")
    cdf, last_regime = _regime_cdf(regime_probs)
    s, ss = int(image_size), cfg.supersample
    px_scale = s / cfg.reference_size
    centres = np.arange(s, dtype=np.float64) + 0.5
    grid = {
        "size": s,
        "c": centres,
        "upsample": _bilinear_matrix(s, cfg.value_noise_grid),
        "ones": np.ones(s * s, dtype=np.float32),
    }

    rng = np.random.default_rng(seed)

    def size_px(lo: float, hi: float) -> float:
        return float(np.clip(rng.uniform(lo, hi) * px_scale, cfg.min_size_px, 0.9 * s))

    def place(shape: _Shape) -> tuple[np.ndarray, tuple[int, int]]:
        x0, y0 = rng.uniform(0.0, s - shape.w), rng.uniform(0.0, s - shape.h)
        return _coverage(shape.at(x0, y0), x0, y0, shape.w, shape.h, s, ss)

    images = np.empty((n, s, s, 3), dtype=np.uint8)
    regimes = np.empty(n, dtype=np.int8)
    all_boxes: list[list[np.ndarray]] = []
    all_labels: list[list[int]] = []
    for i in range(n):  # per image; pixels are vectorised inside each object's window
        r = min(int(np.searchsorted(cdf, rng.random(), side="right")), last_regime)
        spec = cfg.regime(r)
        regimes[i] = r
        img, bg_mean = _background(rng, spec.texture_amplitude, cfg, grid)

        # Distractors first, so labelled objects are painted over them and never erased.
        for _ in range(int(rng.integers(spec.n_distractors[0], spec.n_distractors[1] + 1))):
            shape = _distractor_shape(size_px(*cfg.distractor_size), rng, cfg)
            color = rng.random(3)
            alpha, origin = place(shape)
            _paint(img, alpha, origin, color.astype(np.float32))

        k = int(rng.integers(spec.n_objects[0], spec.n_objects[1] + 1))
        classes = rng.choice(len(CLASS_NAMES), size=k, p=spec.class_probs)
        sizes = [size_px(*spec.size_range) for _ in range(k)]
        # Largest first: a later, smaller object may overlap an earlier one but a small object is never
        # hidden under a large one (box IoU <= 0.2 still allows full containment of a small box).
        order = np.argsort(-np.asarray(sizes), kind="stable")
        boxes: list[np.ndarray] = []
        labels: list[int] = []
        for j in order:
            cls, size = int(classes[j]), sizes[j]
            color = _object_color(rng, spec.contrast, bg_mean, cfg).astype(np.float32)
            shape = _object_shape(cls, size, rng)
            for _ in range(cfg.max_tries):
                alpha, origin = place(shape)
                box = _mask_box(alpha, origin)
                if box is None and not boxes:
                    # Only possible for tiny sizes: grow the first object so every image has a label.
                    shape = _object_shape(cls, min(max(shape.w, shape.h) * 1.25, 0.9 * s), rng)
                    continue
                if box is not None and _max_iou(box, boxes) <= cfg.max_iou:
                    _paint(img, alpha, origin, color)
                    boxes.append(box)
                    labels.append(cls)
                    break
        if not boxes:
            raise RuntimeError(
                f"image {i} (seed {seed}) got no object; object sizes are too small for {s} px"
            )

        if spec.noise_sigma > 0:
            img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(spec.noise_sigma)
        img *= 255.0
        images[i] = np.rint(np.clip(img, 0.0, 255.0, out=img), out=img)
        all_boxes.append(boxes)
        all_labels.append(labels)

    g = max([1, *(len(b) for b in all_boxes)])
    boxes_arr = np.zeros((n, g, 4), dtype=np.float32)
    labels_arr = np.full((n, g), -1, dtype=np.int64)
    for i, (b, lab) in enumerate(zip(all_boxes, all_labels)):
        boxes_arr[i, : len(b)] = b
        labels_arr[i, : len(lab)] = lab
    return {
        "images": images,
        "boxes": boxes_arr,
        "labels": labels_arr,
        "difficult": np.zeros((n, g), dtype=bool),
        "regime": regimes,
        "image_id": np.array([f"{i:06d}" for i in range(n)], dtype=f"<U{max(6, len(str(max(n - 1, 0))))}"),
    }


# --------------------------------------------------------------------------------------------------------
# ShapesCls: the classification stand-in for ImageNet pretraining (mi_aod's ``pretrain_backbone``)

#: Shapes that ShapesCls adds to :data:`CLASS_NAMES`: the clutter regime's two distractor kinds and two
#: more polygons, so the pretrained backbone has seen more shapes than the detector must name.
EXTRA_CLASS_NAMES: tuple[str, ...] = ("ellipse", "star", "pentagon", "hexagon")


def _extra_shape(name: str, size: float, rng: np.random.Generator, cfg: ShapesDetConfig) -> _Shape:
    """A shape of :data:`EXTRA_CLASS_NAMES` whose nominal box side is about ``size``."""
    if name == "ellipse":  # elongated, as the clutter distractor
        a = size / 2
        b = a / rng.uniform(*cfg.ellipse_aspect)
        angle = rng.uniform(0.0, np.pi)
        c, s = np.cos(angle), np.sin(angle)
        return _Shape("ellipse", 2 * np.hypot(a * c, b * s), 2 * np.hypot(a * s, b * c), (a, b, angle))
    if name == "star":
        vx, vy = _star(rng, cfg)
    else:  # regular pentagon / hexagon, any rotation
        k = 5 if name == "pentagon" else 6
        a = rng.uniform(0.0, 2 * np.pi) + np.arange(k) * (2 * np.pi / k)
        vx, vy = np.cos(a), np.sin(a)
    vx, vy = vx - vx.min(), vy - vy.min()
    scale = size / max(vx.max(), vy.max())
    return _Shape("poly", vx.max() * scale, vy.max() * scale, (vx * scale, vy * scale))


def generate_shapes_cls(
    n: int,
    seed: int,
    regime_probs: Mapping[str, float],
    image_size: int = 96,
    classes: tuple[str, ...] = CLASS_NAMES + EXTRA_CLASS_NAMES,
    config: ShapesDetConfig | None = None,
    object_scale: float = 1.0,
) -> dict[str, np.ndarray]:
    """``n`` single-object images of ShapesDet-AL's family for classification (an ImageNet stand-in).

    The same renderer as :func:`generate_shapes_det`: each image draws a regime (background texture, pixel
    noise, object size range and colour contrast), then one object of a uniformly drawn class of ``classes``
    (names from :data:`CLASS_NAMES` and :data:`EXTRA_CLASS_NAMES`), placed at random; no distractors (a star
    or an ellipse is a class here). ``object_scale`` multiplies the regime's object sizes (ImageNet photos are
    object-centric: > 1 frames the object larger, ≤ 0.9 of the side). Returns ``images`` uint8 N×H×W×3, ``labels`` int64 N (index into
    ``classes``) and ``regime`` int8 N; the same arguments give byte-identical arrays."""
    cfg = config or ShapesDetConfig()
    known = CLASS_NAMES + EXTRA_CLASS_NAMES
    if unknown := sorted(set(classes) - set(known)):
        raise ValueError(f"unknown class(es) {unknown}; allowed: {list(known)}")
    if n < 0 or image_size < 16:
        raise ValueError(f"n must be >= 0 and image_size >= 16, got {n}, {image_size}")
    cdf, last_regime = _regime_cdf(regime_probs)
    s, ss = int(image_size), cfg.supersample
    px_scale = s / cfg.reference_size
    grid = {
        "size": s,
        "c": np.arange(s, dtype=np.float64) + 0.5,
        "upsample": _bilinear_matrix(s, cfg.value_noise_grid),
        "ones": np.ones(s * s, dtype=np.float32),
    }
    rng = np.random.default_rng(seed)
    images = np.empty((n, s, s, 3), dtype=np.uint8)
    labels = np.empty(n, dtype=np.int64)
    regimes = np.empty(n, dtype=np.int8)
    for i in range(n):  # per image; pixels are vectorised inside the object's window
        r = min(int(np.searchsorted(cdf, rng.random(), side="right")), last_regime)
        spec = cfg.regime(r)
        img, bg_mean = _background(rng, spec.texture_amplitude, cfg, grid)
        label = int(rng.integers(len(classes)))
        size = float(
            np.clip(rng.uniform(*spec.size_range) * px_scale * object_scale, 2 * cfg.min_size_px, 0.9 * s)
        )
        color = _object_color(rng, spec.contrast, bg_mean, cfg).astype(np.float32)
        name = classes[label]
        shape = (
            _object_shape(CLASS_NAMES.index(name), size, rng)
            if name in CLASS_NAMES
            else _extra_shape(name, size, rng, cfg)
        )
        x0, y0 = rng.uniform(0.0, s - shape.w), rng.uniform(0.0, s - shape.h)
        alpha, origin = _coverage(shape.at(x0, y0), x0, y0, shape.w, shape.h, s, ss)
        _paint(img, alpha, origin, color)
        if spec.noise_sigma > 0:
            img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(spec.noise_sigma)
        img *= 255.0
        images[i] = np.rint(np.clip(img, 0.0, 255.0, out=img), out=img)
        labels[i], regimes[i] = label, r
    return {"images": images, "labels": labels, "regime": regimes}
