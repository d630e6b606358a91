from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from cvpapers.engine import tracking


class _FileDataset(AbstractDataset):
    def __init__(self, filepath: str, artifact_path: str | None = None, log_artifact: bool = True, *,
                 metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self._artifact_path = artifact_path
        self._log = log_artifact
        self.metadata = metadata  # e.g. {"kedro-viz": {"layer": "reporting"}}

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(PurePosixPath(self._filepath)), "artifact_path": self._artifact_path}

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _attach(self, *paths: Path) -> None:
        if self._log:
            for p in paths:
                tracking.log_artifact(p, self._artifact_path)

    def _require(self) -> Path:
        if not self._filepath.is_file():
            raise DatasetError(f"{type(self).__name__}: file not found: {self._filepath}")
        return self._filepath


class TorchCheckpointDataset(_FileDataset):
    """A ``torch.save``d object; loaded with ``weights_only=True`` (no pickle code execution)."""

    def __init__(self, filepath: str, artifact_path: str | None = "checkpoints", log_artifact: bool = True, *,
                 metadata: dict[str, Any] | None = None) -> None:
        super().__init__(filepath, artifact_path, log_artifact, metadata=metadata)

    def load(self) -> Any:
        from cvpapers.engine.checkpoint import safe_load

        return safe_load(self._require())

    def save(self, data: Any) -> None:
        from cvpapers.engine.checkpoint import atomic_save

        self._attach(atomic_save(data, self._filepath))


class TableDataset(_FileDataset):
    """A pandas table written as CSV (loadable) and as a Markdown twin (``.md``, for people)."""

    def __init__(
        self, filepath: str, artifact_path: str | None = "tables", log_artifact: bool = True,
        markdown: bool = True, float_format: str = ".4g", *, metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(filepath, artifact_path, log_artifact, metadata=metadata)
        self._markdown = markdown
        self._float_format = float_format

    def load(self) -> Any:
        import pandas as pd

        return pd.read_csv(self._require())

    def save(self, data: Any) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        data.to_csv(self._filepath, index=False)
        paths = [self._filepath]
        if self._markdown:
            md = self._filepath.with_suffix(".md")
            md.write_text(to_markdown(data, self._float_format) + "\n")
            paths.append(md)
        self._attach(*paths)


def to_markdown(df: Any, float_format: str = ".4g") -> str:
    """A GitHub table without the optional ``tabulate`` dependency."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return format(v, float_format)
        return str(v).replace("|", "\\|")

    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


class FigureDataset(_FileDataset):
    """A matplotlib figure saved as PNG (the figure is closed after saving)."""

    def __init__(self, filepath: str, artifact_path: str | None = "plots", log_artifact: bool = True, dpi: int = 120,
                 *, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(filepath, artifact_path, log_artifact, metadata=metadata)
        self._dpi = dpi

    def load(self) -> Any:
        from PIL import Image

        return Image.open(self._require())

    def save(self, data: Any) -> None:
        import matplotlib.pyplot as plt

        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        data.savefig(self._filepath, dpi=self._dpi, bbox_inches="tight")
        plt.close(data)
        self._attach(self._filepath)


class NpzDataset(_FileDataset):
    """A dict of numpy arrays in one compressed ``.npz`` (intermediate image/label sets between nodes).

    Loaded without pickle (``allow_pickle=False``); not attached to MLflow by default (data, not results).
    """

    def __init__(self, filepath: str, artifact_path: str | None = None, log_artifact: bool = False,
                 compress: bool = True, *, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(filepath, artifact_path, log_artifact, metadata=metadata)
        self._compress = compress

    def load(self) -> dict[str, Any]:
        import numpy as np

        with np.load(self._require(), allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def save(self, data: dict[str, Any]) -> None:
        import numpy as np

        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        arrays = {k: np.asarray(v) for k, v in data.items()}
        tmp = self._filepath.with_name(self._filepath.name + ".tmp.npz")
        (np.savez_compressed if self._compress else np.savez)(tmp, **arrays)
        tmp.replace(self._filepath)
        self._attach(self._filepath)


class OutputNotWritableError(PermissionError):
    """Raised before any node runs when a folder the run writes into cannot be written."""


def _local_filepath(dataset: Any) -> Path | None:
    path = getattr(dataset, "_filepath", None)
    if path is None or getattr(dataset, "_protocol", "file") not in ("file", None):
        return None
    return Path(str(path))


def _write_problem(folder: Path) -> str | None:
    """Why nothing can be created in ``folder`` (a real write, so read-only mounts and ACLs count too), or None."""
    import os
    import tempfile

    if not folder.is_dir():
        return "a file, not a folder"
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".cvpapers-write-check-")
    except OSError as err:
        return err.strerror or type(err).__name__
    os.close(fd)
    os.remove(probe)
    return None


def check_outputs_writable(catalog: Any, pipeline: Any, extra_dirs: Any = ()) -> None:
    """Before any node runs: every local file ``pipeline`` writes through ``catalog`` (and every folder in
    ``extra_dirs``, e.g. train-state folders) can be created, so a read-only ``data/`` fails in a second with
    the folder named, not with a ``PermissionError`` inside a node minutes into the run.

    Raises :class:`OutputNotWritableError` naming each folder that cannot be written, why, and a file the run
    would have written there.
    """
    import os

    from cvpapers.engine.checkpoint import display_path

    targets: list[tuple[Path, str]] = []
    for name in dict.fromkeys(o for node in pipeline.nodes for o in node.outputs):  # in run order
        try:
            path = _local_filepath(catalog.get(name))
        except Exception:  # noqa: BLE001 — a dataset the catalog cannot build fails on its own, with its error
            path = None
        if path is not None:
            targets.append((path, name))
    targets += [(Path(d) / "*", "") for d in extra_dirs]
    problems: dict[Path, tuple[str, list[tuple[Path, str]]]] = {}
    seen: dict[Path, str | None] = {}
    for path, name in targets:
        if path.exists():
            folder = path
            problem = None if os.access(path, os.W_OK) else "the file is read-only"
        else:
            folder = path.parent
            while not folder.exists() and folder != folder.parent:
                folder = folder.parent
            if folder not in seen:
                seen[folder] = _write_problem(folder)
            problem = seen[folder]
        if problem:
            problems.setdefault(folder, (problem, []))[1].append((path, name))
    if not problems:
        return
    lines = ["cannot write this run's outputs; nothing has run yet:"]
    for folder, (problem, files) in list(problems.items())[:5]:
        path, name = files[0]
        example = f"{display_path(path)} ({name})" if name else display_path(path.parent)
        more = f" and {len(files) - 1} more" if len(files) > 1 else ""
        lines.append(f"  {display_path(folder)}: not writable ({problem}); the run writes {example}{more} under it")
    lines.append("  Make those folders writable (chmod -R u+w, or mount them read-write), or point the catalog and "
                 "checkpoint_dir elsewhere, and run again.")
    raise OutputNotWritableError("\n".join(lines))
