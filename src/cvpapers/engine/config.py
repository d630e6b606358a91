"""Typed, strict parameter validation shared by every pipeline.

Each pipeline declares a pydantic model of its ``parameters_<pipeline>.yml``; unknown keys and
wrong types fail when the run starts, with the dotted key, the problem and what is allowed.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

M = TypeVar("M", bound="StrictModel")


class ParameterError(ValueError):
    """Raised before any node runs when a pipeline's parameters are invalid."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """The keys allowed at the parent of ``loc`` (to tell the user what they could have meant)."""
    current: Any = model
    for part in loc[:-1]:
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return None
        annotation = fields[part].annotation
        current = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        if current is None:
            return None
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else None


def validate_params(model: type[M], values: Any, prefix: str) -> M:
    """Validate ``values`` against ``model``; raise ParameterError naming every bad key."""
    try:
        return model.model_validate(values if values is not None else {})
    except ValidationError as err:
        lines = []
        for e in err.errors():
            loc = tuple(e["loc"])
            key = ".".join([prefix, *map(str, loc)]) if loc else prefix
            if e["type"] == "extra_forbidden":
                allowed = _allowed_keys(model, loc)
                hint = f"; allowed keys here: {', '.join(allowed)}" if allowed else ""
                lines.append(f"  {key}: unknown key{hint}")
            else:
                got = e.get("input")
                lines.append(f"  {key}: {e['msg']} (got {got!r})")
        raise ParameterError(
            f"Invalid parameters for '{prefix}' ({len(lines)} problem(s)):\n" + "\n".join(lines)
        ) from None


class CudaParams(StrictModel):
    """Speed settings that act on CUDA only: a CPU run ignores them (and stays bitwise reproducible).

    ``amp``: bf16 autocast in training and evaluation (no loss scaling needed). ``tf32``: TF32 matmuls and
    convolutions when the run is not deterministic (set false where a paper's numerics need full fp32).
    ``channels_last``: NHWC memory format for the model and its image batches (faster for most conv nets
    under bf16; measure, it does not pay for every net). ``compile``: ``torch.compile`` the training model
    (minutes of compilation at the first step; pays on long runs of launch-bound models).
    """

    amp: bool = True
    tf32: bool = True
    channels_last: bool = False
    compile: bool = False


class RunParams(StrictModel):
    """The run fields every pipeline's parameters start with; a pipeline overrides a default (its paper's
    seed) by re-declaring the field.

    ``checkpoint_dir`` may name ``{pipeline}``: it becomes the registered pipeline being run, so a variant
    (``mi_aod_paper``) never resumes from, or overwrites, another variant's train state. ``conf/base`` adds the
    environment's folder (``data/06_models/{pipeline}${globals:env_dir}/train_state``: ``/smoke`` under
    ``--env smoke``), so an environment never resumes from another's either.

    ``deterministic``: ``auto`` is bitwise reproducible on CPU (as CPU kernels always are here) and fast on
    CUDA (cuDNN autotuning, non-deterministic kernels, TF32 where ``cuda.tf32``); ``true`` asks every device for
    deterministic kernels (slower on CUDA); ``false`` is fast everywhere. The run records the resolved choice
    in its MLflow tags.
    """

    seed: int = Field(0, ge=0)
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$")
    cpu_threads: int = Field(1, ge=0)  # torch intra-op threads on CPU; 0 = torch's default
    resume: bool = False
    checkpoint_dir: str = "data/06_models/{pipeline}/train_state"
    deterministic: bool | Literal["auto"] = "auto"
    cuda: CudaParams = CudaParams()


def check_device_available(device: str, key: str) -> None:
    """A ``cuda`` device on a machine without CUDA fails before any node, naming the key."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ParameterError(f"{key}: '{device}' but CUDA is not available; use 'auto' or 'cpu'")
