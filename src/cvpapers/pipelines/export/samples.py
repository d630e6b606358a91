"""A sample of the trained pipeline's own test set, as network inputs, read from the files its run wrote.

Classification: the pipeline's manifest (``data/02_intermediate/<pipeline><env_dir>/manifest.csv``) through the
shared batch sources, normalised as its training was. Restoration: the fixed degraded test set (uformer
``test.npz``), the stacked exposure inputs (fhdrnet ``test_set.npz``). PSS-Net also needs its BN calibration
images (the first training images, fixed order) and the subnet pools its run retained.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

Arrays = dict[str, np.ndarray]

#: Where each family's test set lies in the trained pipeline's project (relative to the project root).
CLASSIFICATION = ("collab_compression", "dcff", "pss_net", "recu")
_ARRAYS = {
    "uformer": "data/05_model_input/{p}{e}/test.npz",
    "fhdrnet": "data/05_model_input/{p}{e}/test_set.npz",
}
_MANIFEST = "data/02_intermediate/{p}{e}/manifest.csv"
_POOLS = "data/03_primary/{p}{e}/pss_pools_plan.json"
#: HDR inputs are reflect-padded to this multiple, as the pipeline's own inference does (fhdrnet/inference.py).
HDR_MULTIPLE = 8


def _need(path: Path, pipeline: str, env_dir: str) -> Path:
    if not path.is_file():
        env = f" --env {env_dir.strip('/')}" if env_dir else ""
        raise FileNotFoundError(
            f"{path} not found: the export checks the model on {pipeline}'s own test set; run "
            f"`kedro run --pipelines {pipeline}{env}` in this project first"
        )
    return path


def _classification(pipeline: str, p: Any, env_dir: str, root: Path, max_samples: int) -> Arrays:
    import pandas as pd

    from cvpapers.data.classification_source import batch_sources

    manifest = pd.read_csv(_need(root / _MANIFEST.format(p=pipeline, e=env_dir), pipeline, env_dir))
    data = batch_sources(manifest, p.data, 256, 256, None, 0)
    x, y = _first(data.test.batches(0), max_samples)
    out = {"x0": x, "label": y}
    if pipeline == "pss_net":  # its evaluation's BN re-calibration set (evaluation.calibration_source)
        from cvpapers.pipelines.pss_net.evaluation import calibration_source

        calib = calibration_source(data, p.data.calib_size, p.eval.calib_batch_size)
        out["calib"], _ = _first(calib.batches(0), p.eval.calib_batches * p.eval.calib_batch_size)
    return out


def _first(batches: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys, have = [], [], 0
    for x, y in batches:
        xs.append(x.float().numpy())
        ys.append(y.numpy())
        have += len(x)
        if have >= n:
            break
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _restoration(pipeline: str, env_dir: str, root: Path, max_samples: int) -> Arrays:
    with np.load(_need(root / _ARRAYS[pipeline].format(p=pipeline, e=env_dir), pipeline, env_dir)) as f:
        if pipeline == "uformer":
            return {"x0": np.asarray(f["noisy"][:max_samples], dtype=np.float32)}
        x = np.asarray(f["x"][:max_samples], dtype=np.float32)  # N × 3 frames × C × H × W
    h, w = x.shape[-2:]
    pad = ((0, 0),) * 3 + ((0, -h % HDR_MULTIPLE), (0, -w % HDR_MULTIPLE))
    x = np.pad(x, pad, mode="reflect") if any(p[1] for p in pad) else x
    return {f"x{i}": np.ascontiguousarray(x[:, i]) for i in range(x.shape[1])}


def test_sample(
    pipeline: str, params: Any, env_dir: str = "", root: str | Path = ".", max_samples: int = 512
) -> Arrays:
    """The first ``max_samples`` test inputs of ``pipeline`` (``x0``, ``x1`` … one array per network input; plus
    ``label``/``calib`` where they exist). ``params`` are the pipeline's validated parameters."""
    root = Path(root)
    if pipeline in CLASSIFICATION:
        return _classification(pipeline, params, env_dir, root, max_samples)
    return _restoration(pipeline, env_dir, root, max_samples)


def retained_subnets(env_dir: str = "", root: str | Path = ".") -> dict[str, str]:
    """PSS-Net's retained subnet of every target (rank 0 of its pool: best score, ties by key, as
    ``SubnetPools.ranked``): target name → configuration key (``r32:0.500,…``)."""
    path = _need(Path(root) / _POOLS.format(p="pss_net", e=env_dir), "pss_net", env_dir)
    pools = json.loads(path.read_text())
    return {
        t: sorted(((e["cfg"], float(e["score"])) for e in v), key=lambda kv: (-kv[1], kv[0]))[0][0]
        for t, v in pools.items()
        if v
    }
