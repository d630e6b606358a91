"""Export a trained model to ONNX and to ``torch.export``, then check the exported file against PyTorch.

One round trip per exporter: export the module (dynamic batch size where the exporter manages it, else a
static batch of 1), read the file back (onnxruntime for ONNX, ``torch.export.load`` for the
ExportedProgram), run it on the same inputs as the PyTorch module and report the maximum absolute
difference, the agreement (top-1 agreement for classifiers, PSNR between the two outputs for image
restoration), the file size and the median CPU latency at batch 1. An exporter that fails is a row with
its error, never an exception: the report says which exporter works for which model.

Model-agnostic: what a pipeline's network needs before it exports (binarised convs folded to their
inference form, a subnet materialised, a padding wrapper) is done by the caller.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import statistics
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

Task = Literal["classification", "restoration"]
EXPORTERS: tuple[str, ...] = ("onnx", "torch_export")
#: PSNR reported when two outputs are bitwise equal (finite, so MLflow stores it).
IDENTICAL_PSNR_DB = 300.0

Inputs = tuple[Tensor, ...]
Runner = Callable[[Inputs], Tensor]


@dataclass
class ExportCheck:
    """One row of the export report: a runtime (``pytorch`` is the eager reference) and how it did."""

    runtime: str
    ok: bool
    file: str = ""
    size_mb: float = float("nan")
    dynamic_batch: bool = False
    how: str = ""  # the export path that worked (direct / lowered attention, dynamic / static batch)
    samples: int = 0
    max_abs_err: float = float("nan")
    agreement: float = float("nan")  # top-1 agreement (classification) or PSNR dB (restoration)
    agreement_kind: str = ""
    latency_ms: float = float("nan")  # median over the timed runs, batch 1, CPU
    export_s: float = float("nan")  # export + save; the first exporter of a model also pays the tracing
    error: str = ""
    attempts: list[str] = field(default_factory=list)

    def row(self) -> dict[str, object]:
        out = asdict(self)
        out["attempts"] = " | ".join(self.attempts)
        return out


def _quiet() -> contextlib.ExitStack:
    """The exporters print progress and warn about every decomposition; a report row says what matters."""
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    for name in ("torch.onnx", "torch.export", "torch._dynamo", "torch._export", "onnxscript", "torch.fx"):
        logger = logging.getLogger(name)
        stack.callback(logger.setLevel, logger.level)
        logger.setLevel(logging.CRITICAL)
    return stack


def first_line(err: BaseException) -> str:
    """An exception as one short line for a report cell (exporter errors span pages)."""
    text = " ".join(str(err).split())
    for marker in ("Exception summary", "## Exception summary"):
        if marker in text:  # torch.onnx wraps the cause after a long "next steps" preamble
            text = text[text.index(marker) + len(marker) :].strip()
    return f"{type(err).__name__}: {text[:300]}"


def batch_dims(example: Inputs) -> tuple[dict[int, torch.export.Dim], ...]:
    """Dimension 0 of every input is the batch size (one shared symbol)."""
    batch = torch.export.Dim("batch", min=1, max=4096)
    return tuple({0: batch} for _ in example)


def _repeat_batch(example: Inputs, n: int) -> Inputs:
    """The first sample of ``example`` as batch ``n`` (export specialises a batch of 1, so a dynamic export traces
    2), in its own storage: ``torch.export.save`` stores the example inputs, and a view would drag the whole
    batch's storage into the ``.pt2`` file."""
    return tuple(x[:1].expand(n, *x.shape[1:]).clone(memory_format=torch.contiguous_format) for x in example)


def export_program(model: nn.Module, example: Inputs, dynamic_batch: bool) -> torch.export.ExportedProgram:
    """``torch.export.export`` of ``model`` in eval mode (batch dimension symbolic when ``dynamic_batch``)."""
    model.eval()
    args = _repeat_batch(example, 2) if dynamic_batch else _repeat_batch(example, 1)
    with _quiet():
        return torch.export.export(model, args, dynamic_shapes=batch_dims(args) if dynamic_batch else None)


class Programs:
    """The model's ExportedPrograms (dynamic and static batch), traced once and shared by both exporters; a
    tracing error is kept and raised again on every request."""

    def __init__(self, model: nn.Module, example: Inputs) -> None:
        self.model, self.example = model, example
        self._made: dict[bool, torch.export.ExportedProgram | Exception] = {}

    def get(self, dynamic: bool) -> torch.export.ExportedProgram:
        if dynamic not in self._made:
            try:
                self._made[dynamic] = export_program(self.model, self.example, dynamic)
            except Exception as err:  # noqa: BLE001 — reported by the caller
                self._made[dynamic] = err
        made = self._made[dynamic]
        if isinstance(made, Exception):
            raise made
        return made


def program_is_batch_dynamic(program: torch.export.ExportedProgram) -> bool:
    """Whether every user input of the program has a symbolic batch dimension."""
    user = set(program.graph_signature.user_inputs)
    shapes = [n.meta["val"].shape for n in program.graph.nodes if n.op == "placeholder" and n.name in user]
    return bool(shapes) and all(not isinstance(s[0], int) for s in shapes)


def onnx_is_batch_dynamic(path: Path) -> bool:
    """Whether every input of the ONNX graph has a symbolic (or unknown) batch dimension."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    dims = [i.type.tensor_type.shape.dim[0] for i in graph.input]
    return all(bool(d.dim_param) or not d.HasField("dim_value") for d in dims)


def _attention_math(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """softmax(q·kᵀ·scale + mask)·v for any number of leading dims, as ``scaled_dot_product_attention``
    computes it in eval mode (boolean masks keep where True, ``is_causal`` keeps the lower triangle,
    ``enable_gqa`` shares each key/value head across its group of query heads): the ONNX translator handles
    only 4-D ``scaled_dot_product_attention``."""
    if dropout_p:
        raise ValueError(f"attention dropout {dropout_p} in an exported program: export the model in eval mode")
    if enable_gqa and k.shape[-3] != q.shape[-3]:
        group = q.shape[-3] // k.shape[-3]
        k, v = k.repeat_interleave(group, dim=-3), v.repeat_interleave(group, dim=-3)
    scores = (q * (q.shape[-1] ** -0.5 if scale is None else scale)) @ k.transpose(-2, -1)
    if is_causal:
        keep = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    if attn_mask is not None:
        scores = (
            scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else scores + attn_mask
        )
    return scores.softmax(-1) @ v

#: Ops lowered before the ONNX translation when it fails on the program as traced.
ONNX_LOWERINGS = {torch.ops.aten.scaled_dot_product_attention.default: _attention_math}


def export_onnx_file(
    program: torch.export.ExportedProgram, path: Path, lowered: bool, opset: int | None = None
) -> Path:
    """Write the program as one ONNX file through the dynamo exporter. ``lowered`` first rewrites the ops of
    :data:`ONNX_LOWERINGS` (attention over 5-D windows) into plain matmuls and a softmax."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if lowered:
        program = program.run_decompositions(ONNX_LOWERINGS)
    with _quiet():
        torch.onnx.export(program, (), str(path), dynamo=True, opset_version=opset, external_data=False)
    return path


def onnx_runner(path: Path, threads: int) -> Runner:
    """Run the ONNX file with onnxruntime on CPU (``threads`` intra-op threads, like the PyTorch side)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(inputs: Inputs) -> Tensor:
        feeds = {n: x.detach().cpu().numpy() for n, x in zip(names, inputs, strict=True)}
        return torch.from_numpy(session.run(None, feeds)[0])

    return run


def program_runner(path: Path) -> Runner:
    """Load the saved ExportedProgram and run its module (what a user of the ``.pt2`` file gets)."""
    module = torch.export.load(str(path)).module()

    def run(inputs: Inputs) -> Tensor:
        with torch.inference_mode():
            return module(*inputs)

    return run


def per_sample(runner: Runner) -> Runner:
    """A runner for a static batch-1 export, fed any batch one sample at a time."""

    def run(inputs: Inputs) -> Tensor:
        n = inputs[0].shape[0]
        return torch.cat([runner(tuple(x[i : i + 1] for x in inputs)) for i in range(n)])

    return run


def agreement(reference: Tensor, output: Tensor, task: Task, peak: float = 1.0) -> tuple[float, float]:
    """(max |Δ|, agreement): top-1 agreement in [0, 1] for logits, PSNR (dB, peak ``peak``) for images."""
    reference, output = reference.double(), output.double()
    max_err = float((reference - output).abs().max())
    if task == "classification":
        return max_err, float((reference.argmax(1) == output.argmax(1)).double().mean())
    mse = float((reference - output).pow(2).mean())
    return max_err, IDENTICAL_PSNR_DB if mse == 0 else min(IDENTICAL_PSNR_DB, 10 * math.log10(peak**2 / mse))


def median_latency_ms(runner: Runner, inputs: Inputs, runs: int, warmup: int = 3) -> float:
    """Median wall time of ``runs`` calls at batch 1 (after ``warmup`` untimed calls), in milliseconds."""
    single = tuple(x[:1] for x in inputs)
    for _ in range(warmup):
        runner(single)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runner(single)
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def _compare(
    runner: Runner, batches: Sequence[Inputs], references: Sequence[Tensor], task: Task, peak: float
) -> tuple[float, float, int]:
    outs = [runner(b) for b in batches]
    ref, out = torch.cat(list(references)), torch.cat(outs)
    if ref.shape != out.shape:
        raise ValueError(
            f"exported output shape {tuple(out.shape)} differs from PyTorch's {tuple(ref.shape)}"
        )
    max_err, agree = agreement(ref, out, task, peak)
    return max_err, agree, int(ref.shape[0])


class ExportFailed(RuntimeError):
    """Every export path failed; ``attempts`` holds each path's error."""

    def __init__(self, attempts: list[str]) -> None:
        self.attempts = attempts
        super().__init__(attempts[-1] if attempts else "no export path was tried")


def _export_attempts(
    programs: Programs, stem: Path, runtime: str, dynamic_batch: bool, opset: int | None
) -> tuple[Path, bool, str, list[str]]:
    """Try the export paths in order of preference (dynamic before static batch; for ONNX the program as traced
    before the lowered one); return the file, whether its batch is dynamic, the path that worked and the errors of
    the ones that did not (:class:`ExportFailed` when all fail)."""
    errors: list[str] = []
    for dynamic in (True, False) if dynamic_batch else (False,):
        batch = "dynamic batch" if dynamic else "static batch"
        try:
            program = programs.get(dynamic)
        except Exception as err:  # noqa: BLE001 — every exporter failure is a reported result
            errors.append(f"trace, {batch}: {first_line(err)}")
            continue
        if runtime == "torch_export":
            path = Path(f"{stem}.pt2")
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.export.save(program, str(path))
            return path, program_is_batch_dynamic(program), f"direct, {batch}", errors
        for lowered in (False, True):
            how = f"{'lowered attention' if lowered else 'direct'}, {batch}"
            try:
                path = export_onnx_file(program, Path(f"{stem}.onnx"), lowered, opset)
                if dynamic and not onnx_is_batch_dynamic(path):
                    raise ValueError("the ONNX file came out with a fixed batch dimension")
                return path, dynamic, how, errors
            except Exception as err:  # noqa: BLE001
                errors.append(f"{how}: {first_line(err)}")
    raise ExportFailed(errors)


def check_export(
    model: nn.Module,
    batches: Sequence[Inputs],
    stem: Path,
    task: Task,
    runtime: str,
    *,
    dynamic_batch: bool = True,
    latency_runs: int = 20,
    threads: int = 1,
    opset: int | None = None,
    peak: float = 1.0,
    references: Sequence[Tensor] | None = None,
    programs: Programs | None = None,
) -> ExportCheck:
    """Export ``model`` with ``runtime`` (``onnx`` | ``torch_export``) to ``stem``.onnx/.pt2 and check the
    file on ``batches`` against the PyTorch outputs (``references``, computed here when not given)."""
    if runtime not in EXPORTERS:
        raise ValueError(f"unknown exporter {runtime!r}; allowed: {', '.join(EXPORTERS)}")
    model.eval()
    references = list(references) if references is not None else reference_outputs(model, batches)
    programs = programs or Programs(model, batches[0])
    start = time.perf_counter()
    try:
        path, dynamic, how, attempts = _export_attempts(programs, stem, runtime, dynamic_batch, opset)
    except ExportFailed as err:
        return ExportCheck(
            runtime, False, error=str(err), attempts=err.attempts, export_s=time.perf_counter() - start
        )
    check = ExportCheck(
        runtime,
        True,
        file=path.name,
        size_mb=path.stat().st_size / 2**20,
        dynamic_batch=dynamic,
        how=how,
        attempts=attempts,
        export_s=time.perf_counter() - start,
        agreement_kind="top1_agreement" if task == "classification" else "psnr_db",
    )
    try:
        runner = onnx_runner(path, threads) if runtime == "onnx" else program_runner(path)
        runner = runner if dynamic else per_sample(runner)
        check.max_abs_err, check.agreement, check.samples = _compare(runner, batches, references, task, peak)
        check.latency_ms = median_latency_ms(runner, batches[0], latency_runs)
    except Exception as err:  # noqa: BLE001 — a file that exports but does not run is reported too
        check.ok, check.error = False, f"runs: {first_line(err)}"
    return check


def reference_outputs(model: nn.Module, batches: Iterable[Inputs]) -> list[Tensor]:
    model.eval()
    with torch.inference_mode():
        return [model(*b).detach().clone() for b in batches]


def state_size_mb(model: nn.Module) -> float:
    """Bytes of the module's state dict as ``torch.save`` writes it (the eager baseline's file size)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes / 2**20


def eager_check(model: nn.Module, batches: Sequence[Inputs], task: Task, latency_runs: int) -> ExportCheck:
    """The PyTorch reference row: its own latency and state-dict size (agreement with itself is exact)."""
    model.eval()

    def run(inputs: Inputs) -> Tensor:
        with torch.inference_mode():
            return model(*inputs)

    return ExportCheck(
        "pytorch",
        True,
        size_mb=state_size_mb(model),
        dynamic_batch=True,
        how="eager",
        samples=sum(int(b[0].shape[0]) for b in batches),
        max_abs_err=0.0,
        agreement=1.0 if task == "classification" else IDENTICAL_PSNR_DB,
        agreement_kind="top1_agreement" if task == "classification" else "psnr_db",
        latency_ms=median_latency_ms(run, batches[0], latency_runs),
    )


def export_report(
    model: nn.Module,
    batches: Sequence[Inputs],
    stem: Path,
    task: Task,
    exporters: Sequence[str] = EXPORTERS,
    *,
    dynamic_batch: bool = True,
    latency_runs: int = 20,
    threads: int = 1,
    opset: int | None = None,
    peak: float = 1.0,
) -> list[ExportCheck]:
    """The eager reference row and one checked row per exporter, for one model (traced once for both)."""
    references = reference_outputs(model, batches)
    programs = Programs(model, batches[0])
    rows = [eager_check(model, batches, task, latency_runs)]
    for runtime in exporters:
        rows.append(
            check_export(
                model,
                batches,
                stem,
                task,
                runtime,
                dynamic_batch=dynamic_batch,
                latency_runs=latency_runs,
                threads=threads,
                opset=opset,
                peak=peak,
                references=references,
                programs=programs,
            )
        )
    return rows


def to_numpy_batches(arrays: Sequence[np.ndarray], batch_size: int) -> list[Inputs]:
    """Stacked float arrays (one per model input, same length) as batches of float32 tensors."""
    n = len(arrays[0])
    return [
        tuple(torch.from_numpy(np.ascontiguousarray(a[i : i + batch_size], dtype=np.float32)) for a in arrays)
        for i in range(0, n, batch_size)
    ]
