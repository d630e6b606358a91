"""The project's one checkpoint format.

A *model checkpoint* is ``{"format": "cvpapers.model/1", "config": {...}, "state_dict": {...}}``: the
config holds what rebuilds the module (e.g. ``{"arch": "vgg_small", "layer_rates": [...]}``), so a
checkpoint file alone gives back a working model. A *training checkpoint* (for ``resume: true``) adds
optimiser, scheduler, epoch, history and algorithm state. Files are written atomically (temp file +
rename) so a run killed while saving never leaves a corrupt checkpoint, and loaded with
``weights_only=True`` so no pickle of untrusted files is executed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

MODEL_FORMAT = "cvpapers.model/1"


def display_path(path: str | Path) -> str:
    """``path`` as the user typed it: relative to the working folder when inside it (Kedro makes catalog paths
    absolute), so messages read ``data/06_models/dcff/fused.pt``."""
    path = Path(path)
    try:
        return path.absolute().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read back; the message names the file, what is wrong and the remedy."""

    def __init__(self, path: str | Path, problem: str, remedy: str) -> None:
        self.path, self.problem, self.remedy = Path(path), problem, remedy
        super().__init__(f"cannot read the checkpoint {display_path(self.path)}: {problem}. {remedy}")


STALE_TEMP_S = 600.0  # a temp file untouched this long belongs to a write that was killed


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temp file beside ``path``, then rename it over ``path``: a process killed while
    writing (even ``kill -9``) leaves the previous file whole, plus a stray ``.<name>.*.tmp``, which the next
    save of ``path`` removes once it is :data:`STALE_TEMP_S` old (a write in progress keeps touching its own)."""
    import time

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(f".{path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                if time.time() - stale.stat().st_mtime > STALE_TEMP_S:
                    stale.unlink()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise OSError(err.errno, f"cannot write the checkpoint {display_path(path)}: {err.strerror} "
                      f"({display_path(err.filename or path)})") from err
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def describe_unreadable(path: Path, err: BaseException) -> str:
    """What is wrong with a file ``torch.load`` failed on, in words (truncated, empty, pickled code …)."""
    import zipfile

    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(4)
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    if size == 0:
        return "the file is empty (0 bytes)"
    if head == b"PK\x03\x04" and not zipfile.is_zipfile(path):
        return f"the file is truncated ({size} bytes; the end of its zip archive is missing)"
    if "Weights only load failed" in first or "weights_only" in first:
        return ("it holds pickled Python objects, which a weights-only load refuses to run "
                "(not a checkpoint this project wrote)")
    return f"it is not a complete torch checkpoint ({size} bytes; {type(err).__name__}: {first[:200]})"


def safe_load(path: str | Path, map_location: str | torch.device = "cpu", *,
              remedy: str = "Delete it and re-run the node that writes it.") -> Any:
    """``torch.load(weights_only=True)``; a file that does not load raises :class:`CheckpointError` naming it,
    what is wrong and ``remedy``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except MemoryError:
        raise
    except Exception as err:  # noqa: BLE001 — torch raises RuntimeError, EOFError, UnpicklingError, KeyError …
        raise CheckpointError(path, describe_unreadable(path, err), remedy) from err


def builder_path(builder: Callable[..., torch.nn.Module]) -> str:
    """``"module:function"`` of a model builder, as a checkpoint stores it."""
    return f"{builder.__module__}:{builder.__qualname__}"


def model_checkpoint(
    model: torch.nn.Module | dict[str, torch.Tensor],
    config: dict[str, Any],
    builder: Callable[..., torch.nn.Module] | None = None,
) -> dict[str, Any]:
    """A model checkpoint; with ``builder`` (called as ``builder(**config)``) :func:`rebuild_model` gives the
    module back from the file alone."""
    state = model.state_dict() if isinstance(model, torch.nn.Module) else model
    ckpt = {
        "format": MODEL_FORMAT,
        "config": dict(config),
        "state_dict": {k: v.detach().cpu() for k, v in state.items()},
    }
    if builder is not None:
        ckpt["builder"] = builder_path(builder)
    return ckpt


def check_model_checkpoint(ckpt: Any, source: str = "checkpoint") -> dict[str, Any]:
    if not isinstance(ckpt, dict) or ckpt.get("format") != MODEL_FORMAT:
        raise ValueError(
            f"{source} is not a cvpapers model checkpoint (expected a dict with format='{MODEL_FORMAT}', "
            "'config' and 'state_dict')"
        )
    return ckpt


def rebuild_model(ckpt: Any, source: str = "checkpoint", *, weights: str = "state_dict",
                  **overrides: Any) -> torch.nn.Module:
    """The one way to get a module back from a model checkpoint: ``builder(**config, **overrides)`` with the
    checkpoint's weights (``weights`` names another state dict stored beside it, e.g. the best epoch's).

    Only builders inside the ``cvpapers`` package are imported, so a checkpoint cannot name arbitrary code.
    """
    import importlib

    ckpt = check_model_checkpoint(ckpt, source)
    path = ckpt.get("builder")
    if not isinstance(path, str) or ":" not in path or not path.startswith("cvpapers."):
        raise ValueError(f"{source} names no cvpapers model builder (got {path!r}); re-create it with "
                         "model_checkpoint(model, config, builder)")
    module, name = path.split(":")
    builder = importlib.import_module(module)
    for part in name.split("."):
        builder = getattr(builder, part)
    model = builder(**{**ckpt["config"], **overrides})
    state = ckpt[weights] if weights == "state_dict" else ckpt[weights]["state_dict"]
    load_state_checked(model, state, source)
    return model


def data_digest(*arrays: Any) -> str:
    """Content hash of a training stage's input arrays: a resumed stage never continues on other data."""
    import hashlib

    import numpy as np

    h = hashlib.sha1()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(memoryview(a).cast("B") if a.dtype.kind not in "OU" else a.tobytes())  # no copy of big sets
    return h.hexdigest()


def read_state_dict(path: str | Path, what: str = "state dict") -> dict[str, torch.Tensor]:
    """A local weights file as a flat state dict (``weights_only`` load; nothing is downloaded).

    Accepts a plain state dict or one nested under ``state_dict``/``model`` (training scripts save both).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    raw = safe_load(path, remedy=f"Replace it with a complete copy of the {what} file.")
    for nest in ("state_dict", "model"):
        if isinstance(raw, dict) and isinstance(raw.get(nest), dict):
            raw = raw[nest]
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise ValueError(f"{path}: expected a {what} of tensors, got {type(raw).__name__}")
    return raw


def load_state_checked(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str,
                       optional: Callable[[str], bool] = lambda k: k.endswith("num_batches_tracked")) -> None:
    """Load ``state`` into ``module`` only if every key matches in name and shape (``optional`` keys may be
    absent or extra); otherwise raise ``ValueError`` naming ``source`` and the keys, because a silently
    half-loaded backbone trains to plausible but wrong numbers."""
    own = module.state_dict()
    missing = [k for k in own if k not in state and not optional(k)]
    unexpected = [k for k in state if k not in own and not optional(k)]
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
             if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        parts = [f"cannot load {source}:"]
        for name, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", wrong)):
            if keys:
                keys = sorted(keys)
                more = f" … (+{len(keys) - 12} more)" if len(keys) > 12 else ""
                parts.append(f"{name} ({len(keys)}): {', '.join(keys[:12])}{more}")
        raise ValueError("\n  ".join(parts))
    module.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
