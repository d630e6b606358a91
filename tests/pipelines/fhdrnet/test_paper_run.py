"""`kedro run --pipelines fhdrnet --env paper` end to end on a tiny Kalantari fixture (CPU-sized networks, two
iterations), and `fhdrnet_raw` on a tiny fixture of the paper's RAW layout: the manifest travels between the
nodes, a damaged scene is skipped and counted when asked, every network is trained on streamed crops and
evaluated on whole scenes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from cvpapers.data.hdr_formats import write_kalantari, write_raw_dataset
from cvpapers.data.hdr_scenes import HdrSceneConfig, make_scenes
from tests.conftest import run_in

TINY = {"fhdrnet.model.nf": 4, "fhdrnet.model.n_res_blocks": 1, "fhdrnet.model.use_bn": False,
        "fhdrnet.ahdrnet.nfeat": 4, "fhdrnet.ahdrnet.n_dense_layers": 1, "fhdrnet.ahdrnet.growth": 4,
        "fhdrnet.ahdrnet.n_drdb": 1, "fhdrnet.train.iters": 2, "fhdrnet.train.eval_every": 2,
        "fhdrnet.train.batch_size": 2, "fhdrnet.data.workers": 0, "fhdrnet.cpu_threads": 1}


def _kalantari(root: Path) -> Path:
    """5 training scenes (one with a truncated exposure) and 2 grouped test scenes of 40×48, like 1000×1500."""
    s = make_scenes(7, HdrSceneConfig(image_size=48), seed=3)
    s = {k: (v[:, :, :40] if k == "ldr" else v[:, :40] if k in ("hdr", "mask") else v) for k, v in s.items()}
    folders = write_kalantari(root, "Training", {k: v[:5] for k, v in s.items()})
    write_kalantari(root, "Test/PAPER", {k: v[5:] for k, v in s.items()}, names=["A", "B"])
    bad = sorted(folders[2].glob("*.tif"))[0]
    bad.write_bytes(bad.read_bytes()[:1000])
    return bad


def test_paper_configuration_streams_the_real_layouts_end_to_end(kedro_project: Path) -> None:
    raw_dir = kedro_project / "data/01_raw"
    bad = _kalantari(raw_dir / "kalantari")
    r = make_scenes(4, HdrSceneConfig(image_size=24), seed=5, domain="raw")
    r["ldr"], r["hdr"], r["mask"] = r["ldr"][:, :, :16], r["hdr"][:, :16], r["mask"][:, :16]
    write_raw_dataset(raw_dir / "raw", r, names=["a", "b", "c", "d"], test_names=["d"])
    run_in(kedro_project, "fhdrnet", env="paper",
           params={**TINY, "fhdrnet.train.crop": 32, "fhdrnet.data.on_bad_sample": "skip"})
    run_in(kedro_project, "fhdrnet_raw", params={
        **TINY, "fhdrnet.train.crop": 16, "fhdrnet.data.source": "raw_official", "fhdrnet.data.root": "data/01_raw/raw",
        "fhdrnet.data.raw_height": 32, "fhdrnet.data.raw_width": 48})

    manifest = pd.read_csv(kedro_project / "data/02_intermediate/fhdrnet/paper/manifest.csv")
    assert manifest["split"].value_counts().to_dict() == {"train": 3, "val": 1, "test": 2}
    assert str(bad.parent) not in set(manifest["folder"].map(lambda f: str(kedro_project / f)))
    rep = kedro_project / "data/08_reporting/fhdrnet/paper"
    data = json.loads((rep / "data_metrics.json").read_text())
    assert data["skipped_samples"] == 1.0 and data["n_test"] == 2.0 and data["input_bit_depth"] == 16.0
    assert (data["image_height"], data["image_width"]) == (40.0, 48.0)
    with np.load(kedro_project / "data/05_model_input/fhdrnet/paper/train_set.npz") as arrays:
        assert not arrays.files, "real data travels as the manifest, not as arrays"
    for run, domain in ((rep, "rgb"), (kedro_project / "data/08_reporting/fhdrnet_raw/smoke", "raw")):
        table = pd.read_csv(run / "results.csv")
        assert list(table["method"]) == ["AHDRNet", "FHDRNet w/o HF", "FHDRNet", "naive merge", "reference only"]
        assert table["psnr_mu"].map(math.isfinite).all()
        test = json.loads((run / "test_metrics.json").read_text())
        assert test["skipped_samples"] == 0.0 and test["fhdrnet/macs_per_image"] > 0
        train = json.loads((run / "fhdrnet_metrics.json").read_text())
        assert math.isfinite(train["best_val_psnr_mu"]) and train["skipped_samples"] == 0.0
        assert (run / "samples.png").is_file() and (run / "scenes_montage.png").is_file(), domain
