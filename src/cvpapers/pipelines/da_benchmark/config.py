"""Schema of ``parameters_da_benchmark.yml`` (checked when a run that includes the benchmark starts)."""

from __future__ import annotations

from pydantic import Field, field_validator

from cvpapers.engine.config import StrictModel


class SplitCounts(StrictModel):
    train: int = Field(0, ge=0)
    val: int = Field(0, ge=0)
    test: int = Field(0, ge=0)


class DaBenchmarkParams(StrictModel):
    root: str = "data/01_raw/da_benchmark"
    base_seed: int = Field(0, ge=0)
    height: int = Field(64, ge=8)
    width: int = Field(128, ge=8)
    night_lights: bool = False
    counts: dict[str, SplitCounts] = {
        "game": SplitCounts(train=600),
        "synthetic": SplitCounts(train=600),
        "city": SplitCounts(train=400, val=100),
        "fog": SplitCounts(train=400, val=100),
        "night": SplitCounts(train=400, val=100),
    }

    @field_validator("counts")
    @classmethod
    def _known_styles(cls, v: dict[str, SplitCounts]) -> dict[str, SplitCounts]:
        from cvpapers.data.street_scenes import OPTIONAL_STYLES, STYLES

        unknown = sorted(set(v) - set(STYLES) - set(OPTIONAL_STYLES))
        if unknown:
            raise ValueError(f"unknown style(s) {unknown}; allowed: {list(STYLES) + list(OPTIONAL_STYLES)}")
        return v
