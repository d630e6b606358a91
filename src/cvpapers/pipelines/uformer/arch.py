"""The architecture figures of Table E (papers/uformer.md §4) through the project's one counter, mode
``restoration`` (conv + linear MACs without bias, LayerNorm elements, the attention products), counted on
``meta`` tensors (no activation memory, so Uformer-B at 256² costs nothing)."""

from __future__ import annotations

from typing import Any

import torch

from cvpapers.pipelines.uformer.networks import VARIANTS, Uformer, UNet

__all__ = ["EXPECTED", "arch_rows", "count", "model_macs"]

#: Table E: (params with modulator, params without, GMACs at 256²).
EXPECTED: dict[str, tuple[int, int | None, float | None]] = {
    "T": (5_291_853, 5_230_413, 11.997),
    "S": (20_751_197, 20_628_317, 43.858),
    "B": (50_880_946, 50_467_250, 89.456),
}
#: Embedded / smoke models of Table E: params, GMACs at 256², GMACs at 32².
EXPECTED_SMALL: dict[str, tuple[int, float | None, float | None]] = {
    "uformer_nano": (784_432, 1.68, 0.026),
    "uformer_smoke": (205_552, None, None),
    "unet_32": (9_503_779, 15.49, None),
    "unet_16": (2_377_747, 3.90, None),
    "unet_10": (929_653, 1.54, 0.024),
    "unet_8": (595_339, 0.99, 0.015),
    "unet_4": (149_287, None, None),
}
GMACS_TOLERANCE = 0.005
NANO = {"embed_dim": 8, "depths": (1,) * 9, "win_size": 4}


def count(build: Any, size: int) -> tuple[int, int]:
    """(MACs, params) of ``build()`` on one size×size image, built and run on ``meta``."""
    from cvpapers.engine.flops import count_macs_params

    with torch.device("meta"):
        return count_macs_params(build(), (1, 3, size, size), mode="restoration")


def model_macs(kind: str, config: dict[str, Any], size: int) -> tuple[int, int]:
    """(MACs, params) of a checkpoint's model config at ``size``² (Uformer rebuilt with ``img_size = size``'s
    nominal decision kept: its own ``img_size``)."""
    from cvpapers.pipelines.uformer.networks import build_restoration_model

    return count(lambda: build_restoration_model(kind, **config), size)


def _check(name: str, got: float, want: float | None, tol: float = 0.0) -> float:
    if want is not None and abs(got - want) > tol * abs(want):
        raise AssertionError(f"{name}: {got} deviates from Table E's {want} (tolerance {tol:.1%})")
    return float(got)


def _check_rounded(name: str, got: float, want: float | None) -> float:
    """Table E lists the small models' GMACs rounded: equal at the precision given."""
    if want is not None:
        digits = len(repr(want).split(".")[1])
        if round(got, digits) != want:
            raise AssertionError(f"{name}: {got} does not round to Table E's {want}")
    return float(got)


def arch_rows(variants: tuple[str, ...], size: int) -> list[dict[str, Any]]:
    """One row per Table E model: params (with / without modulator), GMACs at ``size``² and 32²; raises if a
    figure deviates from Table E (params exact, GMACs 0.5 %, only when ``size`` is 256)."""
    rows = []
    at256 = size == 256
    for v in variants:
        p_mod, p_nomod, g = EXPECTED[v]
        macs, params = count(lambda v=v: Uformer(img_size=size, modulator=True, **VARIANTS[v]), size)
        _, params_nomod = count(lambda v=v: Uformer(img_size=size, modulator=False, **VARIANTS[v]), size)
        rows.append(
            {
                "model": f"Uformer-{v}",
                "params": _check(f"Uformer-{v} params", params, p_mod if at256 else None),
                "params_no_modulator": _check(
                    f"Uformer-{v} params w/o modulator", params_nomod, p_nomod if at256 else None
                ),
                f"gmacs{size}": _check(
                    f"Uformer-{v} GMACs", macs / 1e9, g if at256 else None, GMACS_TOLERANCE
                ),
                "gmacs32": float("nan"),
            }
        )
    small = {
        "uformer_nano": lambda s: Uformer(img_size=32, **NANO),
        "uformer_smoke": lambda s: Uformer(img_size=32, embed_dim=4, depths=(1,) * 9, win_size=4),
        **{f"unet_{d}": (lambda s, d=d: UNet(d)) for d in (32, 16, 10, 8, 4)},
    }
    for name, build in small.items():
        p, g256, g32 = EXPECTED_SMALL[name]
        macs, params = count(lambda b=build: b(size), size)
        macs32, _ = count(lambda b=build: b(32), 32)
        rows.append(
            {
                "model": name,
                "params": _check(f"{name} params", params, p),
                "params_no_modulator": float("nan"),
                f"gmacs{size}": _check_rounded(f"{name} GMACs", macs / 1e9, g256 if at256 else None),
                "gmacs32": _check_rounded(f"{name} GMACs@32", macs32 / 1e9, g32),
            }
        )
    return rows
