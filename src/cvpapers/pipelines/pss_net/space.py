"""The structure space of PSS-Net (spec §3.1–§3.4): width multipliers and resolutions, the channel rounding,
the analytic FLOPs formula, the subnet map and the resource-conditioned sampler.

Everything works on whole arrays of subnets at once (N configurations = an ``N`` vector of resolutions and an
``N×L`` matrix of multipliers), so drawing a 10⁵-subnet map and its FLOPs takes well under a second. A
*configuration* is ``(resolution, mults)``; its text key (:func:`cfg_key`) is what the pools store.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

#: MobileNetV1 (spec §4): output widths of the stem and the 13 pointwise convs, and their strides.
MBV1_CHANNELS = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)
MBV1_STRIDES = (2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
#: The embedded ``mbv1_tiny`` (spec §8): stem + 5 depthwise-separable blocks.
TINY_CHANNELS = (16, 32, 64, 64, 128, 128)
TINY_STRIDES = (1, 1, 2, 1, 2, 1)
#: MobileNetV2 (spec §4): stem width, inverted-residual stages (t, c, n, s), the fixed last conv.
MBV2_STEM = 32
MBV2_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
MBV2_LAST = 1280

#: Multipliers are drawn continuous and rounded to this many decimals (≈251 values on [0.75, 1]).
MULT_DECIMALS = 3


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """``max(min, floor(v + d/2) // d · d)``, plus ``d`` when that falls below 90 % of ``v`` (spec §3.1)."""
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def make_divisible_array(v: np.ndarray, divisor: int = 8, min_value: int | None = None) -> np.ndarray:
    """:func:`make_divisible` element-wise on an array (int64)."""
    min_value = divisor if min_value is None else min_value
    v = np.asarray(v, dtype=np.float64)
    new = np.maximum(min_value, np.floor(v + divisor / 2).astype(np.int64) // divisor * divisor)
    return np.where(new < 0.9 * v, new + divisor, new)


@dataclass(frozen=True)
class Space:
    """One supernet's structure space: the architecture and the ranges its subnets are drawn from.

    ``arch`` is ``mbv1`` (MobileNetV1 and ``mbv1_tiny``: one multiplier per non-depthwise conv) or ``mbv2``
    (one multiplier per stage, plus the sampled-but-unused last one, §11.1).
    """

    arch: str
    base_channels: tuple[int, ...]  # mbv1: every non-depthwise conv; mbv2: stem + the 7 stages + 1280
    strides: tuple[int, ...]  # mbv1 only (stem first)
    n_classes: int
    divisor: int
    width_range: tuple[float, float]
    resolutions: tuple[int, ...]  # evenly spaced, ascending
    stages: tuple[tuple[int, int, int, int], ...] = field(default=())  # mbv2 only

    @property
    def n_mults(self) -> int:
        return len(self.base_channels)

    @property
    def resolution_step(self) -> int:
        return self.resolutions[1] - self.resolutions[0] if len(self.resolutions) > 1 else 1

    @property
    def max_resolution(self) -> int:
        return self.resolutions[-1]

    def mult_values(self) -> np.ndarray:
        """Every multiplier value a 3-decimal draw can take, ascending."""
        lo, hi = (round(v * 10**MULT_DECIMALS) for v in self.width_range)
        return np.arange(lo, hi + 1) / 10**MULT_DECIMALS


def build_space(
    arch: str,
    n_classes: int,
    divisor: int,
    width_range: Sequence[float],
    resolutions: Sequence[int],
    base_channels: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
) -> Space:
    """The space of ``mbv1_tiny`` (default widths/strides of spec §8 unless given), ``mobilenet_v1`` or
    ``mobilenet_v2``."""
    wr, res = (float(width_range[0]), float(width_range[1])), tuple(int(r) for r in resolutions)
    if arch == "mobilenet_v2":
        base = (MBV2_STEM, *(s[1] for s in MBV2_STAGES), MBV2_LAST)
        return Space("mbv2", base, (), n_classes, divisor, wr, res, MBV2_STAGES)
    default = {"mbv1_tiny": (TINY_CHANNELS, TINY_STRIDES), "mobilenet_v1": (MBV1_CHANNELS, MBV1_STRIDES)}[
        arch
    ]
    base = tuple(base_channels) if base_channels else default[0]
    st = tuple(strides) if strides else default[1]
    if len(base) != len(st):
        raise ValueError(f"{arch}: {len(base)} base channels but {len(st)} strides")
    return Space("mbv1", base, st, n_classes, divisor, wr, res)


# ----------------------------------------------------------------------------------------------------------
# widths and FLOPs


def widths(space: Space, mults: np.ndarray) -> np.ndarray:
    """Active output width of every multiplier slot, N×L (int64). MBV2's last slot stays 1280 (§11.1)."""
    mults = np.atleast_2d(np.asarray(mults, dtype=np.float64))
    w = make_divisible_array(np.asarray(space.base_channels)[None, :] * mults, space.divisor)
    if space.arch == "mbv2":
        w[:, -1] = MBV2_LAST
    return w


def _conv_out(size: np.ndarray, stride: int, kernel: int = 3) -> np.ndarray:
    pad = kernel // 2
    return (size + 2 * pad - kernel) // stride + 1


def flops(space: Space, resolution: np.ndarray, mults: np.ndarray) -> np.ndarray:
    """MACs of each subnet by the §3.2 rule (conv and FC without bias, global pool = its input elements;
    BN, activations, adds not counted), int64 of shape N."""
    res = np.atleast_1d(np.asarray(resolution, dtype=np.int64))
    w = widths(space, mults)
    total = np.zeros(len(res), dtype=np.int64)
    if space.arch == "mbv1":
        size = _conv_out(res, space.strides[0])
        total += size**2 * 9 * 3 * w[:, 0]
        for i in range(1, space.n_mults):  # one depthwise-separable block per multiplier
            size = _conv_out(size, space.strides[i])
            total += size**2 * 9 * w[:, i - 1] + size**2 * w[:, i - 1] * w[:, i]
        last = w[:, -1]
    else:
        size = _conv_out(res, 2)
        total += size**2 * 9 * 3 * w[:, 0]
        c_in = w[:, 0]
        for stage, (t, _c, n, s) in enumerate(space.stages, start=1):
            c_out = w[:, stage]
            for b in range(n):
                hidden = c_in if t == 1 else make_divisible_array(c_in * t, space.divisor)
                if t != 1:
                    total += size**2 * c_in * hidden
                size = _conv_out(size, s if b == 0 else 1)
                total += size**2 * 9 * hidden + size**2 * hidden * c_out
                c_in = c_out
        total += size**2 * c_in * MBV2_LAST
        last = np.full(len(res), MBV2_LAST, dtype=np.int64)
    return total + size**2 * last + last * space.n_classes


def mflops(space: Space, resolution: np.ndarray, mults: np.ndarray) -> np.ndarray:
    return flops(space, resolution, mults) / 1e6


def max_cfg(space: Space) -> tuple[int, np.ndarray]:
    return space.max_resolution, np.full(space.n_mults, space.width_range[1])


def min_cfg(space: Space) -> tuple[int, np.ndarray]:
    return space.resolutions[0], np.full(space.n_mults, space.width_range[0])


# ----------------------------------------------------------------------------------------------------------
# targets (buckets)


def bucket(mflop: np.ndarray, step: float, offset: float) -> np.ndarray:
    """Target of each subnet: ``round((F − offset)/step)·step + offset`` (half to even, as Python's round);
    rounded to 6 decimals so equal targets compare equal."""
    return np.round(np.round((np.asarray(mflop) - offset) / step) * step + offset, 6)


def flops_range(space: Space, step: float, given: Sequence[float] | None) -> tuple[float, float]:
    """``(start, stop)`` in MFLOPs: the given range, or the min/max net's FLOPs rounded inwards to ``step``
    (the tiny space: 0.778…4.601 M → [1.0, 4.5], so the pools are 1.5 … 4.0 M)."""
    if given is not None:
        return float(given[0]), float(given[1])
    lo, hi = (float(mflops(space, r, m[None, :])[0]) for r, m in (min_cfg(space), max_cfg(space)))
    return math.ceil(lo / step - 1e-9) * step, math.floor(hi / step + 1e-9) * step


def candidate_targets(start: float, stop: float, step: float) -> np.ndarray:
    """Every target in ``[start + step, stop − step]`` (the pools the code creates, §3.3)."""
    n = int(round((stop - start) / step))
    return np.round(start + step * np.arange(1, n), 6)


def target_offset(start: float, step: float) -> float:
    return round(start % step, 9)


# ----------------------------------------------------------------------------------------------------------
# uniform sampling, the subnet map and the conditional sampler


def sample_uniform(space: Space, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` subnets of the §3.1 uniform sampler: resolution = make_divisible(U(r_min, r_max), step, r_min)
    (end values half as likely), every multiplier U(width range) rounded to 3 decimals."""
    lo, hi = space.resolutions[0], space.resolutions[-1]
    res = make_divisible_array(rng.uniform(lo, hi, n), space.resolution_step, lo)
    res = np.minimum(res, hi)
    mults = np.round(rng.uniform(*space.width_range, (n, space.n_mults)), MULT_DECIMALS)
    return res, mults


@dataclass(frozen=True)
class SubnetMap:
    """The map of §3.4: subnets drawn uniformly, kept when their target is one of the pools."""

    resolution: np.ndarray  # N
    mults: np.ndarray  # N×L
    mflops: np.ndarray  # N
    target: np.ndarray  # N

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "resolution": self.resolution,
            "mults": self.mults,
            "mflops": self.mflops,
            "target": self.target,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> SubnetMap:
        return cls(*(np.asarray(arrays[k]) for k in ("resolution", "mults", "mflops", "target")))


def build_map(
    space: Space,
    n: int,
    targets: np.ndarray,
    step: float,
    offset: float,
    rng: np.random.Generator,
    chunk: int = 65536,
) -> SubnetMap:
    """Draw uniform subnets in chunks until ``n`` of them fall into one of ``targets`` (rejection, §3.4.1)."""
    keep_r, keep_m, keep_f, keep_t, have, draws = [], [], [], [], 0, 0
    while have < n:
        res, mults = sample_uniform(space, chunk, rng)
        mf = mflops(space, res, mults)
        t = bucket(mf, step, offset)
        ok = np.isin(t, targets)
        keep_r.append(res[ok]), keep_m.append(mults[ok]), keep_f.append(mf[ok]), keep_t.append(t[ok])
        have, draws = have + int(ok.sum()), draws + chunk
        if draws > 200 * max(n, chunk) and have == 0:
            raise ValueError(f"no subnet of the space falls into the targets {targets.tolist()}")
    cat = [np.concatenate(a)[:n] for a in (keep_r, keep_m, keep_f, keep_t)]
    return SubnetMap(*cat)


def cfg_key(resolution: int, mults: Sequence[float]) -> str:
    """Canonical text of a configuration (3-decimal multipliers), so equal configs are equal pool keys."""
    return f"r{int(resolution)}:" + ",".join(f"{float(m):.{MULT_DECIMALS}f}" for m in mults)


def parse_key(key: str) -> tuple[int, np.ndarray]:
    res, mults = key.split(":")
    return int(res[1:]), np.array([float(m) for m in mults.split(",")])


class ConditionalSampler:
    """Draws a subnet of a given target (§3.4.3).

    ``marginal`` (code): per target, the resolution and every multiplier drawn independently from their
    frequencies among the map's subnets of that target; redrawn until the FLOPs fall into the target.
    ``map``: one of the map's subnets of that target, uniformly (the exact conditional distribution).
    """

    def __init__(
        self,
        space: Space,
        subnet_map: SubnetMap,
        step: float,
        offset: float,
        mode: str = "marginal",
        batch: int = 64,
    ) -> None:
        self.space, self.map, self.step, self.offset, self.mode, self.batch = (
            space,
            subnet_map,
            step,
            offset,
            mode,
            batch,
        )
        self.targets = np.unique(subnet_map.target)
        self.values = space.mult_values()
        self.res_values = np.asarray(space.resolutions)
        self._rows = {float(t): np.flatnonzero(subnet_map.target == t) for t in self.targets}
        self._res_cdf, self._mult_cdf = {}, {}
        # Multiplier value → column of the value table (3-decimal grid starting at the range's low end).
        idx = np.round(subnet_map.mults * 10**MULT_DECIMALS).astype(np.int64) - round(
            self.values[0] * 10**MULT_DECIMALS
        )
        ridx = np.searchsorted(self.res_values, subnet_map.resolution)
        for t, rows in self._rows.items():
            r_counts = np.bincount(ridx[rows], minlength=len(self.res_values)).astype(np.float64)
            self._res_cdf[t] = np.cumsum(r_counts / r_counts.sum())
            # counts[l, v] for every multiplier slot l at once: offset each slot's values into its own row.
            flat = (idx[rows] + np.arange(space.n_mults)[None, :] * len(self.values)).ravel()
            counts = np.bincount(flat, minlength=space.n_mults * len(self.values)).reshape(space.n_mults, -1)
            self._mult_cdf[t] = np.cumsum(counts / counts.sum(1, keepdims=True), axis=1)

    def sample(
        self, target: float, rng: np.random.Generator, max_tries: int = 10_000
    ) -> tuple[int, np.ndarray]:
        t = float(target)
        if self.mode == "map":
            row = self._rows[t][rng.integers(len(self._rows[t]))]
            return int(self.map.resolution[row]), self.map.mults[row].copy()
        res_cdf, mult_cdf = self._res_cdf[t], self._mult_cdf[t]
        for _ in range(max_tries):
            # A batch of candidates from the marginals; the first one inside the target is the draw.
            r = self.res_values[
                np.minimum(
                    np.searchsorted(res_cdf, rng.random(self.batch), side="right"), len(self.res_values) - 1
                )
            ]
            u = rng.random((self.batch, self.space.n_mults))
            col = (mult_cdf[None, :, :] <= u[:, :, None]).sum(-1).clip(max=len(self.values) - 1)
            m = self.values[col]
            ok = np.flatnonzero(bucket(mflops(self.space, r, m), self.step, self.offset) == t)
            if ok.size:
                return int(r[ok[0]]), m[ok[0]]
        raise RuntimeError(f"no subnet of target {t} after {max_tries * self.batch} draws")
