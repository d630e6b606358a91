"""tqdm progress bars that stay quiet in tests and non-interactive logs.

The training loop asks for one bar per epoch, described ``"<stage> <epoch>/<epochs>"``; those epochs are
drawn as **one bar per training stage** (all its iterations: epochs × batches, or the iterations of an
iteration-based stage, whose loop "epochs" are its evaluation chunks), which stays on the
line while the stage evaluates between epochs and is erased when the stage ends, so the console keeps one
line per node. Any other description gets a bar of its own.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_EPOCH_OF_STAGE = re.compile(r"^(?P<stage>.+) (?P<epoch>\d+)/(?P<epochs>\d+)$")


def quiet() -> bool:
    return (
        "PYTEST_CURRENT_TEST" in os.environ
        or os.environ.get("CVPAPERS_QUIET", "") not in ("", "0")
        or not sys.stderr.isatty()
    )


class _StageBar:
    def __init__(self, stage: str, epochs: int, per_epoch: int, epoch: int) -> None:
        from tqdm.auto import tqdm

        self.stage, self.epochs, self.next_epoch = stage, epochs, epoch
        self.bar = tqdm(total=epochs * per_epoch, initial=(epoch - 1) * per_epoch, desc=stage, unit="it",
                        leave=False, dynamic_ncols=True)


_stage: _StageBar | None = None


def close_bars() -> None:
    """Erase the stage bar still open (a stage that stopped on an error)."""
    global _stage
    if _stage is not None:
        _stage.bar.close()
        _stage = None


def _stage_epoch(iterable: Iterable[T], stage: str, epoch: int, epochs: int, per_epoch: int) -> Iterator[T]:
    global _stage
    current = _stage
    if current is None or (current.stage, current.epochs, current.next_epoch) != (stage, epochs, epoch):
        close_bars()
        current = _stage = _StageBar(stage, epochs, per_epoch, epoch)  # resumed stages start part-way
    done = False
    try:
        for item in iterable:
            yield item
            current.bar.update(1)
        done = True
    finally:
        current.next_epoch = epoch + 1
        if (not done or epoch >= epochs) and _stage is current:
            close_bars()


def progress(iterable: Iterable[T], total: int | None = None, desc: str = "", **kwargs: Any) -> Iterable[T]:
    if quiet() or kwargs.pop("disable", False):
        return iterable
    match = _EPOCH_OF_STAGE.match(desc)
    if match is not None and total:
        return _stage_epoch(iterable, match["stage"], int(match["epoch"]), int(match["epochs"]), total)
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True, **kwargs)
