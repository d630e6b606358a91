"""Procedural street scenes: the shared embedded benchmark of the domain-adaptation pipelines.

Spec: ``papers/da_benchmark.md`` §1–4. ``ssda_dual_mix``, ``msda_collab`` and the multi-target pipeline read
the same images, so their numbers are comparable; this module is the one generator they share.

Why it is built like this:

- **Per-image generators.** Image ``i`` of (style ``s``, split ``p``) is drawn with
  ``numpy.random.default_rng([base_seed, STYLE_ID[s], SPLIT_ID[p], i])``, the layout first and the rendering
  after, from that one stream. So image ``i`` is the same whatever ``n`` is (smoke sets are prefixes of base
  sets), styles never share layouts, and re-running gives byte-identical arrays.
- **Geometry shared, appearance per style.** The layout (§3) is the same recipe for every style except the
  horizon range (a mild camera-height shift); the rendering (§4) changes palettes, textures, contrast and
  noise. That is the gap the adaptation methods must close.
- **Speed.** ~2,700 images of 64×128 must be generated and written in seconds: the ground is labelled with
  coordinate grids and boolean masks, objects are rasterised inside their own bounding boxes (slices, no
  full-image mask per object), and rendering is whole-array arithmetic. Python loops only run over the
  handful of objects in an image.

Rasterisation convention: pixel ``(x, y)`` is the integer column/row index; a region ``a ≤ x < b`` covers the
columns ``ceil(a) … ceil(b) − 1``. Rows ``y ≥ y_h`` are ground, rows ``y < y_h`` are above the horizon.

Choices the spec leaves open (documented here so that they are deliberate):

- Instance jitter "×2 for cars in `game`, ×0.6 elsewhere" is read as: car instances get amplitude 0.24 in
  ``game`` and 0.072 in every other style; buildings and persons get 0.12 everywhere.
- Ground beyond a sidewalk that is not a grass verge is building "facade continuing down" without an
  instance id (it shows the jittered class colour).
- The lane marking is painted on the scene's albedo (after instance jitter, before textures), so it is
  shaded, hazed and blurred like the road it lies on.
- ``city``/``fog``/``night``/``city_blend`` take ``synthetic``'s textures and shading but not its additive
  N(0, 0.02) noise: the camera pipeline adds its own sensor noise after the blur.
- Optional night lights are drawn after the exposure (so they stay bright) and before the blur; their random
  draws come last in the stream, so switching them on changes nothing else in the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

__all__ = [
    "CITYSCAPES_TRAINID",
    "CLASS_NAMES",
    "HORIZON_RANGE",
    "IGNORE_INDEX",
    "LABEL_COLORS",
    "NUM_CLASSES",
    "OPTIONAL_STYLES",
    "PALETTES",
    "SPLIT_ID",
    "STYLES",
    "STYLE_ID",
    "SceneLayout",
    "class_frequencies",
    "colorize",
    "generate_style",
    "render_layout",
    "sample_layout",
    "scene_rng",
    "write_street_split",
]

#: Class names in label-id order (§1).
CLASS_NAMES: tuple[str, ...] = ("road", "sidewalk", "building", "sky", "vegetation", "car", "person", "pole")
NUM_CLASSES: int = 8
#: Label value that losses and metrics skip; the generator never writes it (reserved for pseudo/real labels).
IGNORE_INDEX: int = 255
ROAD, SIDEWALK, BUILDING, SKY, VEGETATION, CAR, PERSON, POLE = range(NUM_CLASSES)

#: The five styles of the base benchmark (two sources, three targets).
STYLES: tuple[str, ...] = ("game", "synthetic", "city", "fog", "night")
#: Accepted by the generator but not part of the base benchmark (robustness checks only, §4).
OPTIONAL_STYLES: tuple[str, ...] = ("city_blend",)
STYLE_ID: dict[str, int] = {"game": 0, "synthetic": 1, "city": 2, "fog": 3, "night": 4, "city_blend": 5}
SPLIT_ID: dict[str, int] = {"train": 0, "val": 1, "test": 2}

#: Our id → Cityscapes trainId (§1 table) as a 256-entry lookup: ``CITYSCAPES_TRAINID[labels]`` maps a label
#: map, keeping 255 (and any other id) as ignore. ``CITYSCAPES_TRAINID[:8]`` is the table itself.
CITYSCAPES_TRAINID: np.ndarray = np.full(256, IGNORE_INDEX, dtype=np.uint8)
CITYSCAPES_TRAINID[:NUM_CLASSES] = (0, 1, 2, 10, 8, 13, 11, 5)
CITYSCAPES_TRAINID.setflags(write=False)

#: Colours for visualising label maps: the Cityscapes colour of each class, so overlays read like the paper's.
LABEL_COLORS: np.ndarray = np.array(
    [
        (128, 64, 128),  # road
        (244, 35, 232),  # sidewalk
        (70, 70, 70),  # building
        (70, 130, 180),  # sky
        (107, 142, 35),  # vegetation
        (0, 0, 142),  # car
        (220, 20, 60),  # person
        (153, 153, 153),  # pole
    ],
    dtype=np.uint8,
)
LABEL_COLORS.setflags(write=False)

#: Horizon y_h / H is drawn from this range (§3.1): a small camera-height gap between sources and targets.
HORIZON_RANGE: dict[str, tuple[float, float]] = {
    "game": (0.30, 0.45),
    "synthetic": (0.34, 0.48),
    "city": (0.38, 0.52),
    "fog": (0.38, 0.52),
    "night": (0.38, 0.52),
    "city_blend": (0.38, 0.52),
}


def _hex_palette(codes: str) -> np.ndarray:
    return np.array([[int(c[k : k + 2], 16) / 255.0 for k in (0, 2, 4)] for c in codes.split()])


def _lab_blend(weights: dict[str, float], palettes: dict[str, np.ndarray]) -> np.ndarray:
    """Mix palettes in CIELAB (perceptually even), through the project's one sRGB↔LAB conversion."""
    import torch

    from cvpapers.da.lab import lab_to_rgb, rgb_to_lab

    lab = sum(w * rgb_to_lab(torch.from_numpy(palettes[k])) for k, w in weights.items())
    return lab_to_rgb(lab).clamp(0.0, 1.0).numpy()  # type: ignore[union-attr]


_GAME = _hex_palette("6a5a8c e040c8 a05040 60a0f0 40c040 2020e0 e02020 f0f020")
_SYNTHETIC = _hex_palette("505058 b4a08c 8c7a6a 8cb4dc 507830 3c4ca0 c86432 a0a0a0")
_CITY = _hex_palette("7c7480 b4aab0 6e6e6c c8ccd2 58663c 30384c 7c4c48 3c3a36")
_BLEND = _lab_blend({"city": 0.5, "game": 0.25, "synthetic": 0.25}, {"city": _CITY, "game": _GAME, "synthetic": _SYNTHETIC})

#: Base palette per style (RGB in [0, 1], class order of ``CLASS_NAMES``), §4.
PALETTES: dict[str, np.ndarray] = {
    "game": _GAME,
    "synthetic": _SYNTHETIC,
    "city": _CITY,
    "fog": _CITY,
    "night": _CITY,
    "city_blend": _BLEND,
}
for _p in PALETTES.values():
    _p.setflags(write=False)

#: Per-image palette jitter amplitude a (§4): targets vary more, so a few labelled images do not cover them.
_PALETTE_JITTER = {
    "game": 0.10,
    "synthetic": 0.12,
    "city": 0.18,
    "fog": 0.18,
    "night": 0.18,
    "city_blend": 0.18,
}
_INSTANCE_JITTER = 0.12
_LANE_VALUE = 0.9
_HAZE_COLOR = np.array([0.80, 0.80, 0.82], dtype=np.float32)
_NIGHT_GAINS = np.array([0.8, 0.9, 1.2], dtype=np.float32)
_LIGHT_COLOR = np.array([1.0, 0.92, 0.45], dtype=np.float32)
_CAMERA_STYLES = frozenset({"city", "fog", "night", "city_blend"})


@dataclass
class SceneLayout:
    """Geometry of one scene (style-independent except the horizon range), drawn before any colour.

    Attributes:
        labels: ``uint8`` H×W class ids 0–7.
        instances: ``int16`` H×W instance ids, 0 = no instance (ground, sky, trees, poles, facades).
        instance_class: class id of each instance id (entry 0 is unused and set to 255).
        horizon: y_h in pixel rows (float); rows ``y ≥ horizon`` are ground.
        light_spots: (x, y) candidates for the optional night lights: pole tops and car fronts.
    """

    labels: np.ndarray
    instances: np.ndarray
    instance_class: np.ndarray
    horizon: float
    light_spots: list[tuple[float, float]] = field(default_factory=list)

    @property
    def num_instances(self) -> int:
        return len(self.instance_class) - 1


def scene_rng(base_seed: int, style: str, split: str, index: int) -> np.random.Generator:
    """The generator of image ``index`` of (style, split) — the per-image seeding contract of §2."""
    _check_style(style)
    if split not in SPLIT_ID:
        raise ValueError(f"unknown split {split!r}; allowed: {list(SPLIT_ID)}")
    return np.random.default_rng([int(base_seed), STYLE_ID[style], SPLIT_ID[split], int(index)])


def _check_style(style: str) -> None:
    if style not in STYLE_ID:
        raise ValueError(f"unknown style {style!r}; allowed: {list(STYLE_ID)}")


def _span(a: float, b: float, n: int) -> tuple[int, int]:
    """Integer index range [lo, hi) of the pixels k with a ≤ k < b, clipped to [0, n)."""
    return max(0, math.ceil(a)), min(n, math.ceil(b))


def _paint_rect(
    labels: np.ndarray, inst: np.ndarray, x0: float, x1: float, y0: float, y1: float, cls: int, iid: int
) -> None:
    h, w = labels.shape
    r0, r1 = _span(y0, y1, h)
    c0, c1 = _span(x0, x1, w)
    if r0 < r1 and c0 < c1:
        labels[r0:r1, c0:c1] = cls
        inst[r0:r1, c0:c1] = iid


def _paint_ellipse(
    labels: np.ndarray, inst: np.ndarray, cx: float, cy: float, ax: float, ay: float, cls: int, iid: int
) -> None:
    """Pixels with ((x−cx)/ax)² + ((y−cy)/ay)² ≤ 1, evaluated only inside the ellipse's bounding box."""
    h, w = labels.shape
    r0, r1 = max(0, math.ceil(cy - ay)), min(h, math.floor(cy + ay) + 1)
    c0, c1 = max(0, math.ceil(cx - ax)), min(w, math.floor(cx + ax) + 1)
    if r0 >= r1 or c0 >= c1:
        return
    dy = ((np.arange(r0, r1) - cy) / ay) ** 2
    dx = ((np.arange(c0, c1) - cx) / ax) ** 2
    m = dy[:, None] + dx[None, :] <= 1.0
    labels[r0:r1, c0:c1][m] = cls
    inst[r0:r1, c0:c1][m] = iid


def sample_layout(rng: np.random.Generator, style: str, height: int, width: int) -> SceneLayout:
    """Draw one scene layout (§3) from ``rng`` and rasterise its label and instance maps.

    Draw order (part of the determinism contract): horizon, vanishing point, road/sidewalk widths, verges,
    building blocks, trees, poles, cars, persons. Painting follows the painter's order of §3: ground →
    buildings above the horizon → trees → poles → cars and persons sorted far to near by their ground row.
    """
    _check_style(style)
    H, W = int(height), int(width)
    lo, hi = HORIZON_RANGE[style]
    y_h = rng.uniform(lo, hi) * H
    x_v = rng.uniform(0.35, 0.65) * W
    h_l, h_r = rng.uniform(0.45, 0.75, size=2) * W
    s_l, s_r = np.array([h_l, h_r]) + rng.uniform(0.12, 0.30, size=2) * W
    verge_l, verge_r = rng.random(2) < 0.5

    def depth(y: float) -> float:
        return max((y - y_h) / (H - y_h), 1e-3)

    # Building blocks above the horizon: walk x from 0 to W.
    blocks: list[tuple[float, float, float]] = []
    x = 0.0
    while x < W:
        bw = rng.uniform(0.08, 0.30) * W
        if rng.random() < 0.8:
            blocks.append((x, x + bw, y_h - rng.uniform(0.08, 0.40) * H))
        x += bw
    trees = []
    for _ in range(rng.integers(0, 5)):
        xc = rng.uniform(0, W)
        r = rng.uniform(0.07, 0.16) * H
        yc = y_h - rng.uniform(0, 0.25) * H
        trees.append((xc, yc, r))
    poles = []
    for _ in range(rng.integers(0, 4)):
        y_b = rng.uniform(y_h + 0.05 * H, H)
        left = rng.random() < 0.5
        t_b = (y_b - y_h) / (H - y_h)
        xp = x_v - 0.5 * (s_l + h_l) * t_b if left else x_v + 0.5 * (s_r + h_r) * t_b
        poles.append((xp, y_b, (0.3 + 0.5 * t_b) * H, max(3.0, 0.015 * W + 0.02 * W * t_b)))
    things: list[tuple[float, int, tuple[float, ...]]] = []  # (ground row, class, geometry)
    for _ in range(rng.integers(1, 4)):
        y_b = rng.uniform(y_h + 0.06 * H, 1.1 * H)
        t = min(max(depth(y_b), 0.02), 1.2)
        c_w = t * rng.uniform(0.25, 0.40) * W
        c_h = c_w * rng.uniform(0.45, 0.60)
        xc = rng.uniform(x_v - h_l * t, x_v + h_r * t)
        things.append((y_b, CAR, (xc, c_w, c_h)))
    for _ in range(rng.integers(1, 6)):
        y_b = rng.uniform(y_h + 0.10 * H, H)
        t = depth(y_b)
        p_h = max(6.0, t * rng.uniform(0.40, 0.65) * H)
        p_w = max(2.5, 0.3 * p_h)
        left = rng.random() < 0.5
        u = rng.random()
        xc = x_v - (h_l + u * (s_l - h_l)) * t if left else x_v + (h_r + u * (s_r - h_r)) * t
        things.append((y_b, PERSON, (xc, p_w, p_h)))

    # --- ground (vectorised over the whole grid) ---
    yy = np.arange(H, dtype=np.float64)[:, None]
    xx = np.arange(W, dtype=np.float64)[None, :]
    tt = np.maximum((yy - y_h) / (H - y_h), 1e-3)
    ground = yy >= y_h
    dx = xx - x_v
    road = ground & (dx >= -h_l * tt) & (dx <= h_r * tt)
    side = ground & ~road & (dx >= -s_l * tt) & (dx <= s_r * tt)
    beyond = ground & ~road & ~side
    verge = beyond & np.where(dx < 0, verge_l, verge_r)
    labels = np.full((H, W), SKY, dtype=np.uint8)
    labels[road] = ROAD
    labels[side] = SIDEWALK
    labels[beyond] = BUILDING
    labels[verge] = VEGETATION
    inst = np.zeros((H, W), dtype=np.int16)
    inst_cls = [IGNORE_INDEX]

    for x0, x1, top in blocks:
        inst_cls.append(BUILDING)
        _paint_rect(labels, inst, x0, x1, top, y_h, BUILDING, len(inst_cls) - 1)
    trunk_hw = max(1.0, 0.01 * W)
    for xc, yc, r in trees:
        _paint_ellipse(labels, inst, xc, yc, 1.3 * r, r, VEGETATION, 0)
        c0, c1 = max(0, math.ceil(xc - trunk_hw)), min(W, math.floor(xc + trunk_hw) + 1)
        r0, r1 = max(0, math.ceil(yc)), min(H, math.floor(y_h + 0.05 * H) + 1)
        if c0 < c1 and r0 < r1:
            labels[r0:r1, c0:c1] = VEGETATION
            inst[r0:r1, c0:c1] = 0
    spots: list[tuple[float, float]] = []
    for xp, y_b, ph, pw in poles:
        c0 = math.floor(xp - pw / 2 + 0.5)  # exactly round(pw) columns wide, so the 3-px minimum holds
        _paint_rect(labels, inst, c0, c0 + round(pw), y_b - ph, y_b, POLE, 0)
        spots.append((xp, y_b - ph))
    things.sort(key=lambda thing: thing[0])  # far (small y) to near
    for y_b, cls, geo in things:
        inst_cls.append(cls)
        iid = len(inst_cls) - 1
        if cls == CAR:
            xc, c_w, c_h = geo
            _paint_rect(labels, inst, xc - c_w / 2, xc + c_w / 2, y_b - 0.6 * c_h, y_b, CAR, iid)
            _paint_rect(labels, inst, xc - 0.32 * c_w, xc + 0.32 * c_w, y_b - c_h, y_b - 0.6 * c_h, CAR, iid)
            spots += [(xc - 0.35 * c_w, y_b - 0.3 * c_h), (xc + 0.35 * c_w, y_b - 0.3 * c_h)]
        else:
            xc, p_w, p_h = geo
            _paint_ellipse(labels, inst, xc, y_b - 0.45 * p_h, p_w / 2, 0.42 * p_h, PERSON, iid)
            _paint_ellipse(labels, inst, xc, y_b - 0.9 * p_h, 0.35 * p_w, 0.35 * p_w, PERSON, iid)
    return SceneLayout(labels, inst, np.array(inst_cls, dtype=np.uint8), float(y_h), spots)


def _box_blur3(img: np.ndarray) -> np.ndarray:
    """3×3 mean filter with edge replication (separable: two sums of three shifted views)."""
    p = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
    v = p[:-2] + p[1:-1] + p[2:]
    return (v[:, :-2] + v[:, 1:-1] + v[:, 2:]) * np.float32(1.0 / 9.0)


def render_layout(
    layout: SceneLayout, style: str, rng: np.random.Generator, night_lights: bool = False
) -> np.ndarray:
    """Render a layout in a style (§4) with the draws taken from ``rng``; returns ``uint8`` H×W×3.

    Draw order: palette jitter (multiplicative, additive), instance jitter, then per recipe: vegetation and
    road noise fields, illumination slope k, [synthetic: additive noise], [camera: colour cast, gamma,
    fog β, night exposure, sensor noise], [night lights]. Rendering the same layout in two styles from two
    generators in the same state isolates the appearance change (used by the fog-vs-city contrast test).
    """
    _check_style(style)
    labels, inst = layout.labels, layout.instances
    H, W = labels.shape
    a = _PALETTE_JITTER[style]
    mult = rng.uniform(-a, a, size=(NUM_CLASSES, 3))
    add = rng.uniform(-a / 2, a / 2, size=(NUM_CLASSES, 3))
    palette = np.clip(PALETTES[style] * (1.0 + mult) + add, 0.0, 1.0)
    n_inst = layout.num_instances
    amp = np.full(n_inst, _INSTANCE_JITTER)
    is_car = layout.instance_class[1:] == CAR
    amp[is_car] *= 2.0 if style == "game" else 0.6
    offsets = np.zeros((n_inst + 1, 3))
    offsets[1:] = rng.uniform(-1.0, 1.0, size=(n_inst, 3)) * amp[:, None]
    img = (palette[labels] + offsets[inst]).astype(np.float32)
    # Dashed lane marking: centre column, 2-on/2-off rows, on visible road pixels (all styles).
    cx = W // 2
    lane = (labels[:, cx] == ROAD) & ((np.arange(H) // 2) % 2 == 0)
    img[lane, cx, :] = _LANE_VALUE
    if style == "game":  # flat colours, crisp edges, no texture, no noise
        return _to_uint8(img)

    # Textures and shading (synthetic recipe, shared by the camera styles).
    n_veg = rng.standard_normal((H, W), dtype=np.float32)
    n_road = rng.standard_normal((H, W), dtype=np.float32)
    k = rng.uniform(0.8, 1.2)
    y_h = layout.horizon
    rows = np.arange(H, dtype=np.float32)[:, None]
    cols = np.arange(W, dtype=np.float32)[None, :]
    cell = math.ceil(H / 21)
    windows = ((rows // cell) % 2 == 1) & ((cols // cell) % 2 == 1)
    gain = np.ones((H, W), dtype=np.float32)
    gain = np.where(labels == VEGETATION, 1.0 + 0.35 * n_veg, gain)
    gain = np.where(labels == ROAD, 1.0 + 0.08 * n_road, gain)
    gain = np.where((labels == BUILDING) & windows, np.float32(0.7), gain)
    gain = np.where(labels == SKY, 0.85 + 0.3 * rows / np.float32(y_h), gain)
    gain *= 0.9 + 0.2 * (cols / W) * np.float32(k)
    img *= gain[:, :, None]
    if style == "synthetic":
        img += 0.02 * rng.standard_normal((H, W, 3), dtype=np.float32)
        return _to_uint8(img)

    # Camera pipeline (city, fog, night, city_blend).
    cast = 1.0 + rng.uniform(-0.15, 0.15, size=3)
    gamma = rng.uniform(0.8, 1.25)
    beta = rng.uniform(1.0, 2.0) if style == "fog" else 0.0
    exposure = rng.uniform(0.20, 0.35) if style == "night" else 1.0
    sigma = 0.05 if style == "night" else 0.04
    noise = rng.standard_normal((H, W, 3), dtype=np.float32)
    img = np.clip(img * cast.astype(np.float32), 0.0, 1.0) ** np.float32(gamma)
    d = np.where(rows >= y_h, np.maximum((rows - y_h) / np.float32(H - y_h), 1e-3), 0.0)
    w = 0.85 * np.exp(-beta * d) if style == "fog" else 0.25 * np.exp(-4.0 * d)
    w = w.astype(np.float32)[:, :, None]
    img = img * (1.0 - w) + _HAZE_COLOR * w
    if style == "night":
        img *= np.float32(exposure) * _NIGHT_GAINS
        if night_lights:
            _paint_lights(img, layout.light_spots, rng)
    img = _box_blur3(img)
    img += np.float32(sigma) * noise
    return _to_uint8(img)


def _paint_lights(img: np.ndarray, spots: list[tuple[float, float]], rng: np.random.Generator) -> None:
    """2–4 bright yellow discs (radius 1–2 px) at pole tops / car fronts; colour only, labels unchanged."""
    count = int(rng.integers(2, 5))
    if not spots:
        return
    pick = rng.choice(len(spots), size=min(count, len(spots)), replace=False)
    radii = rng.uniform(1.0, 2.0, size=len(pick))
    H, W = img.shape[:2]
    for j, r in zip(pick, radii):
        x, y = spots[j]
        r0, r1 = max(0, math.ceil(y - r)), min(H, math.floor(y + r) + 1)
        c0, c1 = max(0, math.ceil(x - r)), min(W, math.floor(x + r) + 1)
        if r0 >= r1 or c0 >= c1:
            continue
        m = (np.arange(r0, r1)[:, None] - y) ** 2 + (np.arange(c0, c1)[None, :] - x) ** 2 <= r * r
        img[r0:r1, c0:c1][m] = _LIGHT_COLOR


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)


def generate_style(
    style: str,
    split: str,
    n: int,
    height: int = 64,
    width: int = 128,
    base_seed: int = 0,
    night_lights: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generate images 0…n−1 of (style, split).

    Returns:
        images ``uint8`` N×H×W×3, labels ``uint8`` N×H×W (ids 0–7), horizons ``float64`` N (y_h in rows).
    """
    _check_style(style)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if height < 8 or width < 8:
        raise ValueError(f"image size must be at least 8×8, got {height}×{width}")
    images = np.empty((n, height, width, 3), dtype=np.uint8)
    labels = np.empty((n, height, width), dtype=np.uint8)
    horizons = np.empty(n, dtype=np.float64)
    for i in range(n):  # one generator per image: the seeding contract of §2
        rng = scene_rng(base_seed, style, split, i)
        layout = sample_layout(rng, style, height, width)
        images[i] = render_layout(layout, style, rng, night_lights=night_lights)
        labels[i] = layout.labels
        horizons[i] = layout.horizon
    return images, labels, horizons


def colorize(labels: np.ndarray, colors: np.ndarray | None = None) -> np.ndarray:
    """Label map(s) (…×H×W) → ``uint8`` RGB (…×H×W×3); 255 and unknown ids → black.

    ``colors`` (C×3) defaults to this benchmark's ``LABEL_COLORS``; real datasets pass their own."""
    colors = LABEL_COLORS if colors is None else np.asarray(colors, dtype=np.uint8)
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: len(colors)] = colors
    return lut[np.asarray(labels, dtype=np.uint8)]


def class_frequencies(labels: np.ndarray) -> np.ndarray:
    """Fraction of pixels of each of the 8 classes among the non-ignored pixels (``float64``, sums to 1)."""
    counts = np.bincount(np.asarray(labels, dtype=np.uint8).ravel(), minlength=256)[:NUM_CLASSES]
    total = counts.sum()
    return counts / total if total else np.zeros(NUM_CLASSES)


def write_street_split(
    out_dir: str | Path,
    style: str,
    split: str,
    n: int,
    height: int = 64,
    width: int = 128,
    base_seed: int = 0,
    night_lights: bool = False,
) -> pd.DataFrame:
    """Generate (style, split) and write ``out_dir/<style>/<split>/<i:05d>_image.png`` and ``_label.png``.

    Labels are 8-bit single-channel PNGs holding our ids, so reading the files back gives exactly the
    generated arrays (PNG is lossless). Returns manifest rows in generation order with columns ``path``
    (image), ``label_path``, ``split``, ``domain`` (= style), ``index`` (= i) and ``horizon``.
    """
    images, labels, horizons = generate_style(style, split, n, height, width, base_seed, night_lights)
    root = Path(out_dir) / style / split
    root.mkdir(parents=True, exist_ok=True)
    paths, label_paths = [], []
    for i in range(n):  # file IO is inherently per image
        img_path, lab_path = root / f"{i:05d}_image.png", root / f"{i:05d}_label.png"
        Image.fromarray(images[i]).save(img_path, compress_level=1)
        Image.fromarray(labels[i]).save(lab_path, compress_level=1)
        paths.append(img_path.as_posix())
        label_paths.append(lab_path.as_posix())
    return pd.DataFrame(
        {
            "path": pd.Series(paths, dtype=object),
            "label_path": pd.Series(label_paths, dtype=object),
            "split": split,
            "domain": style,
            "index": np.arange(n, dtype=np.int64),
            "horizon": horizons,
        }
    )


def write_benchmark(
    root: str | Path,
    counts: dict[str, dict[str, int]],
    height: int = 64,
    width: int = 128,
    base_seed: int = 0,
    night_lights: bool = False,
    preview: int = 200,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    """Write every (style, split) with a non-zero count under ``root``; one manifest for all.

    Also returns each style's class frequencies (percent, from up to ``preview`` images of its first split)
    and a preview of 4 images followed by their colourised label maps per style.
    """
    parts, freq_rows, grid = [], [], {}
    for style, splits in counts.items():
        if not any(splits.values()):
            continue
        for split, n in splits.items():
            if n:
                rows = write_street_split(root, style, split, n, height, width, base_seed, night_lights)
                parts.append(rows.assign(dataset="embedded"))
        split = next(s for s, n in splits.items() if n)
        images, labels, _ = generate_style(style, split, min(splits[split], preview), height, width, base_seed,
                                           night_lights)
        freq_rows.append({"style": style, **dict(zip(CLASS_NAMES, np.round(100 * class_frequencies(labels), 2),
                                                      strict=True))})
        grid[style] = np.concatenate([images[:4], colorize(labels[:4])])
    return pd.concat(parts, ignore_index=True), pd.DataFrame(freq_rows), grid
