"""The trained model of each pipeline, as a user applies it: where its final checkpoint is, which task family it
serves, and how an image becomes the network's input.

This module is the one place that knows, per trained pipeline:

* its **task family** (:data:`FAMILIES`: classification, segmentation, hdr, detection, restoration), and the
  family of every model builder a checkpoint may name (:data:`BUILDER_FAMILIES`), so that a checkpoint of
  another task is refused before any long work, naming the file and the builder;
* the **checkpoint of its final model** under ``data/06_models/<pipeline><env_dir>/`` (:data:`FINAL_MODELS`:
  the file the pipeline's catalog writes, e.g. dcff's ``compact_checkpoint`` → ``compact.pt``; a ``*`` picks the
  last round/cycle), also found by MLflow run id or ``runs:/`` URI (:func:`resolve_checkpoint`);
* the **preprocessing** its training used, read from the pipeline's own validated parameters
  (:func:`preprocessing`): input size, normalisation, channel order, padding multiple, gamma …

The checkpoint format and the one way to rebuild a module are :mod:`cvpapers.engine.checkpoint`'s; nothing here
writes checkpoints. No Kedro import: the predict and export pipelines and plain scripts use it alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

Family = Literal["classification", "segmentation", "hdr", "detection", "restoration"]

#: Task family of every trained pipeline.
FAMILIES: dict[str, Family] = {
    "dcff": "classification",
    "collab_compression": "classification",
    "recu": "classification",
    "pss_net": "classification",
    "ssda_dual_mix": "segmentation",
    "msda_collab": "segmentation",
    "mtda_collab": "segmentation",
    "fhdrnet": "hdr",
    "mi_aod": "detection",
    "uformer": "restoration",
}

#: The final model of each pipeline: the file name (pattern) its catalog writes under
#: ``data/06_models/<pipeline><env_dir>/``. ``*`` = the highest-numbered file (last round / cycle).
FINAL_MODELS: dict[str, str] = {
    "dcff": "compact.pt",  # the pruned compact network (export_compact)
    "collab_compression": "cc_finetuned.pt",  # pruning + decomposition, fine-tuned
    "recu": "recu.pt",
    "pss_net": "pss.pt",  # the PSS supernet (its largest subnet is applied)
    "ssda_dual_mix": "student_r*.pt",  # the last round's student
    "msda_collab": "mscl.pt",  # the collaboratively trained models (their ensemble is "MSCL")
    "mtda_collab": "student.pt",  # the distilled multi-target student
    "fhdrnet": "fhdrnet.pt",
    "mi_aod": "miaod_c*.pt",  # the detector after the last active-learning cycle
    "uformer": "uformer.pt",
}

#: Task family of each model builder a checkpoint may name (``"module:function"``).
BUILDER_FAMILIES: dict[str, Family] = {
    "cvpapers.models.classification:build_classifier": "classification",
    "cvpapers.pipelines.dcff.fusion:build_fused_classifier": "classification",
    "cvpapers.pipelines.collab_compression.export:build_compressed_classifier": "classification",
    "cvpapers.pipelines.recu.models:build_recu_net": "classification",
    "cvpapers.pipelines.pss_net.slimmable:build_supernet": "classification",
    "cvpapers.da.segmenter:build_da_segmenter": "segmentation",
    "cvpapers.pipelines.msda_collab.collab:build_members": "segmentation",
    "cvpapers.pipelines.mtda_collab.ccl:build_members": "segmentation",
    "cvpapers.pipelines.fhdrnet.networks:build_hdr_model": "hdr",
    "cvpapers.pipelines.mi_aod.heads:build_miaod_detector": "detection",
    "cvpapers.pipelines.uformer.networks:build_restoration_model": "restoration",
}
# A builder added later is still classified by the words of its module path (checked in this order).
_MODULE_WORDS: tuple[tuple[str, Family], ...] = (
    ("detection", "detection"),
    ("detector", "detection"),
    ("segment", "segmentation"),
    ("hdr", "hdr"),
    ("restoration", "restoration"),
    ("classif", "classification"),
)

MLFLOW_STORE = (
    "sqlite:///mlflow.db"  # the project's store (conf/base/mlflow.yml), relative to the project root
)
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


class TrainedModelError(ValueError):
    """A checkpoint that cannot serve the requested pipeline (not found, or a model of another task)."""


def _unknown(pipeline: str) -> TrainedModelError:
    return TrainedModelError(
        f"no trained model is known for pipeline '{pipeline}'; known: {', '.join(sorted(FAMILIES))}"
    )


def family_of(pipeline: str) -> Family:
    if pipeline not in FAMILIES:
        raise _unknown(pipeline)
    return FAMILIES[pipeline]


def builder_family(builder: str | None) -> Family | None:
    """The task family of a checkpoint's builder, or ``None`` when it is not recognised."""
    if not isinstance(builder, str):
        return None
    if builder in BUILDER_FAMILIES:
        return BUILDER_FAMILIES[builder]
    module = builder.split(":")[0]
    return next((fam for word, fam in _MODULE_WORDS if word in module), None)


# ------------------------------------------------------------------------------------------------
# where the checkpoint is
# ------------------------------------------------------------------------------------------------


def _number(path: Path) -> int:
    digits = re.findall(r"\d+", path.stem)
    return int(digits[-1]) if digits else -1


def default_checkpoint(pipeline: str, env_dir: str = "", root: str | Path = ".") -> Path:
    """The final model of ``pipeline`` as its run in the environment ``env_dir`` (``""`` base, ``/smoke`` …) wrote
    it under ``root``; raises :class:`TrainedModelError` naming the folder when it was never trained there."""
    if pipeline not in FINAL_MODELS:
        raise _unknown(pipeline)
    folder = Path(root) / "data" / "06_models" / f"{pipeline}{env_dir}"
    pattern = FINAL_MODELS[pipeline]
    found = sorted(folder.glob(pattern), key=_number) if "*" in pattern else [folder / pattern]
    if not found or not found[-1].is_file():
        raise TrainedModelError(
            f"no trained {pipeline} model at {folder / pattern}: run `kedro run --pipelines {pipeline}"
            f"{' --env ' + env_dir.strip('/') if env_dir else ''}` first, or pass a checkpoint file or MLflow run id"
        )
    return found[-1]


def _artifact_files(client: Any, run_id: str, path: str | None = None) -> list[str]:
    files = []
    for info in client.list_artifacts(run_id, path):
        files.extend(_artifact_files(client, run_id, info.path) if info.is_dir else [info.path])
    return files


def _download(client: Any, run_id: str, artifact: str, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    return Path(client.download_artifacts(run_id, artifact, str(dst)))


def resolve_checkpoint(
    source: str,
    pipeline: str,
    *,
    env_dir: str = "",
    root: str | Path = ".",
    tracking_uri: str | None = None,
    download_dir: str | Path | None = None,
) -> Path:
    """A local checkpoint file from ``source``:

    * ``""`` — the pipeline's final model (:func:`default_checkpoint`);
    * a file path;
    * ``runs:/<run_id>/<artifact path>`` — that artifact of that MLflow run;
    * a bare MLflow run id — the run, or one of its child runs (each node logs its checkpoints there), holding
      the final model's file (``checkpoints/<file>``).

    MLflow artifacts are downloaded to ``<download_dir>/<run id>/`` (default ``data/06_models/<pipeline>/from_mlflow``);
    ``tracking_uri`` defaults to the project's ``sqlite:///mlflow.db``.
    """
    import fnmatch

    if pipeline not in FINAL_MODELS:
        raise _unknown(pipeline)
    source = str(source or "").strip()
    if not source:
        return default_checkpoint(pipeline, env_dir, root)
    is_uri = source.startswith("runs:/")
    if not is_uri and not _RUN_ID.match(source):
        path = Path(source)
        if not path.is_file():
            raise TrainedModelError(
                f"checkpoint {source} not found (a file path, `runs:/<run_id>/<path>` or an MLflow run id)"
            )
        return path

    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri or MLFLOW_STORE)
    if is_uri:
        run_id, _, artifact = source[len("runs:/") :].partition("/")
        if not run_id or not artifact:
            raise TrainedModelError(f"{source}: expected runs:/<run_id>/<artifact path>")
        dst = Path(download_dir or Path(root) / "data/06_models" / pipeline / "from_mlflow") / run_id
        try:
            return _download(client, run_id, artifact, dst)
        except (MlflowException, OSError) as err:
            raise TrainedModelError(f"cannot fetch {source} from {client.tracking_uri}: {err}") from None
    try:
        parent = client.get_run(source)
    except MlflowException:
        raise TrainedModelError(f"MLflow run {source} not found in {client.tracking_uri}") from None
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{source}'")
    pattern = FINAL_MODELS[pipeline]
    matches = sorted(
        (
            (run.info.run_id, f)
            for run in [parent, *children]
            for f in _artifact_files(client, run.info.run_id)
            if fnmatch.fnmatch(Path(f).name, pattern) and f.endswith(".pt")
        ),
        key=lambda rf: _number(Path(rf[1])),
    )
    if not matches:
        raise TrainedModelError(
            f"MLflow run {source} (and its {len(children)} child runs) logged no artifact "
            f"named {pattern}, the final {pipeline} model"
        )
    run_id, artifact = matches[-1]
    dst = Path(download_dir or Path(root) / "data/06_models" / pipeline / "from_mlflow") / source
    return _download(client, run_id, artifact, dst)


# ------------------------------------------------------------------------------------------------
# how an image becomes the model's input
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preprocess:
    """How an RGB image in [0, 1] (H×W×3) becomes the network's input, per the pipeline's training.

    ``size`` (h, w): resize to it (``None``: keep the image's size). ``fit`` (long, short): resize keeping the
    aspect ratio to fit (detection). ``mean``/``std``: per-channel ``(x - mean) / std`` (``None``: the model
    normalises itself, or takes [0, 1]). ``bgr``: feed channels reversed. ``multiple``: the network needs sizes
    divisible by it (the family's predict code pads). ``gamma``: HDR linearisation. ``detect``: keyword arguments
    of the detector's post-processing. ``imagenet_crop``: resize the short side to size/0.875, centre-crop.
    """

    size: tuple[int, int] | None = None
    fit: tuple[int, int] | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    bgr: bool = False
    multiple: int = 1
    gamma: float = 2.2
    size_divisor: int = 1
    imagenet_crop: bool = False
    detect: Mapping[str, Any] = field(default_factory=dict)


def _validated(pipeline: str, params: Mapping[str, Any] | None) -> Any:
    """The pipeline's parameters validated by its own schema (its defaults when ``params`` is None)."""
    from cvpapers.registry import declarations

    declaration = declarations()[pipeline]
    return declaration.schema() if params is None else declaration.validate(dict(params))


def _classification(p: Any) -> tuple[Preprocess, tuple[str, ...]]:
    from cvpapers.data.classification_source import input_size
    from cvpapers.data.sources import NORMALISATION

    d = p.data
    side = input_size(d)[-1]
    norm = d.normalisation
    mean, std = (tuple(norm.mean), tuple(norm.std)) if norm is not None else NORMALISATION[d.source]
    if d.source == "embedded":
        from cvpapers.data.shapes import ShapesConfig, class_names

        names = class_names(ShapesConfig.preset(d.family, n_classes=d.n_classes))
    elif d.source == "cifar10":
        from cvpapers.data.cifar import CIFAR10_CLASS_NAMES as names
    else:
        names = ()  # ImageNet: class folder order of the training root; indices are reported
    pre = Preprocess(
        size=(side, side), mean=tuple(mean), std=tuple(std), imagenet_crop=d.source == "imagenet"
    )
    return pre, tuple(names)


def _segmentation(p: Any) -> tuple[Preprocess, tuple[str, ...]]:
    from cvpapers.da.segmenter import INPUT_NORMS
    from cvpapers.data.street_scenes import CLASS_NAMES

    mean, std, bgr = INPUT_NORMS[p.model.input_norm]
    return Preprocess(mean=mean, std=std, bgr=bgr), CLASS_NAMES


def _hdr(p: Any) -> tuple[Preprocess, tuple[str, ...]]:
    return Preprocess(gamma=float(p.data.gamma), multiple=8), ()


def _detection(p: Any) -> tuple[Preprocess, tuple[str, ...]]:
    from cvpapers.data.detection_shapes import CLASS_NAMES
    from cvpapers.data.voc import VOC_CLASSES

    d = p.data
    embedded = d.source == "embedded"
    fit = (d.image_size, d.image_size) if embedded else tuple(d.img_scale)
    return (
        Preprocess(fit=fit, size_divisor=16 if embedded else d.size_divisor, detect=p.eval.detect_kwargs()),
        CLASS_NAMES if embedded else VOC_CLASSES,
    )


def _restoration(p: Any) -> tuple[Preprocess, tuple[str, ...]]:
    return Preprocess(), ()  # [0, 1] RGB at any size: the network pads to its multiple itself (``restore``)


_PREPROCESSING = {
    "classification": _classification,
    "segmentation": _segmentation,
    "hdr": _hdr,
    "detection": _detection,
    "restoration": _restoration,
}


def preprocessing(
    pipeline: str, params: Mapping[str, Any] | None = None
) -> tuple[Preprocess, tuple[str, ...]]:
    """The input preprocessing of ``pipeline``'s model and its class names (empty when it has none), from the
    pipeline's parameters (as its training ran: pass the same environment's ``params:<pipeline>``)."""
    return _PREPROCESSING[family_of(pipeline)](_validated(pipeline, params))


# ------------------------------------------------------------------------------------------------
# the module
# ------------------------------------------------------------------------------------------------


@dataclass
class TrainedModel:
    pipeline: str
    family: Family
    module: nn.Module  # eval mode, on the CPU; an nn.ModuleDict for an ensemble of members
    checkpoint: Path
    builder: str
    config: dict[str, Any]
    preprocess: Preprocess
    class_names: tuple[str, ...]

    @property
    def is_ensemble(self) -> bool:
        return isinstance(self.module, nn.ModuleDict)


def check_family(ckpt: Any, path: str | Path, pipeline: str, expected: str | None = None) -> str:
    """The checkpoint's builder, after checking it builds a model of ``pipeline``'s task family; otherwise a
    :class:`TrainedModelError`: ``<file> holds a detection model (<builder>); dcff_predict expects classification``."""
    from cvpapers.engine.checkpoint import check_model_checkpoint, display_path

    want = family_of(pipeline)
    ckpt = check_model_checkpoint(ckpt, display_path(path))
    builder = ckpt.get("builder")
    found = builder_family(builder)
    who = expected or pipeline
    if found is None:
        raise TrainedModelError(
            f"{display_path(path)} names no known model builder ({builder!r}); {who} expects a {want} model"
        )
    if found != want:
        raise TrainedModelError(
            f"{display_path(path)} holds a {found} model ({builder}); {who} expects {want}"
        )
    return builder


def load_trained(
    pipeline: str,
    source: str | Path = "",
    params: Mapping[str, Any] | None = None,
    *,
    env_dir: str = "",
    root: str | Path = ".",
    tracking_uri: str | None = None,
    expected: str | None = None,
    download_dir: str | Path | None = None,
    weights: Literal["last", "best"] = "last",
) -> TrainedModel:
    """``pipeline``'s trained model from ``source`` (see :func:`resolve_checkpoint`), rebuilt with
    :func:`~cvpapers.engine.checkpoint.rebuild_model`, in eval mode, with the preprocessing of ``params`` (the
    pipeline's parameters; its defaults when None). ``expected`` names the caller in the task-family error
    (e.g. ``dcff_predict``); ``download_dir`` is where an MLflow artifact is fetched to. ``weights``: the final
    (``last``) weights, or the ``best`` epoch's that some pipelines store beside them. The family is checked
    before the module is built."""
    from cvpapers.engine.checkpoint import display_path, rebuild_model, safe_load

    path = resolve_checkpoint(
        str(source),
        pipeline,
        env_dir=env_dir,
        root=root,
        tracking_uri=tracking_uri,
        download_dir=download_dir,
    )
    ckpt = safe_load(path, remedy="Point predict.checkpoint at a model checkpoint this project wrote.")
    builder = check_family(ckpt, path, pipeline, expected)
    preprocess, names = preprocessing(pipeline, params)
    # Every weight is in the file: a backbone file named in the config is not read again.
    overrides = {"weights_path": None} if "weights_path" in ckpt["config"] else {}
    if weights == "best" and not isinstance((ckpt.get("best") or {}).get("state_dict"), dict):
        raise TrainedModelError(f"{display_path(path)} stores no best-epoch weights; use weights 'last'")
    module = rebuild_model(
        ckpt, display_path(path), weights="best" if weights == "best" else "state_dict", **overrides
    )
    if hasattr(module, "activate_max"):  # a slimmable supernet (pss_net): its largest subnet
        module.activate_max()
    module.eval()
    return TrainedModel(
        pipeline, family_of(pipeline), module, path, builder, dict(ckpt["config"]), preprocess, tuple(names)
    )


def to_model_input(images: torch.Tensor, pre: Preprocess) -> torch.Tensor:
    """N×3×H×W float RGB in [0, 1] → the normalised network input (channel order and statistics of ``pre``)."""
    x = images.flip(1) if pre.bgr else images
    if pre.mean is not None and pre.std is not None:
        mean = torch.tensor(pre.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(pre.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        x = (x - mean) / std
    return x
