"""FHDRNet's paper path at the paper's scale, for ``benchmarks/real_scale.py`` (peak memory must not grow with N).

    .venv/bin/python benchmarks/real_scale.py --families fhdrnet --n 8

``write(root, n)`` writes ``n`` training and ``max(1, n // 8)`` test scenes in the Kalantari layout at the
dataset's 1000×1500 (three 16-bit TIFFs, ``exposure.txt``, ``HDRImg.hdr`` per scene) with the project's
writer, :func:`cvpapers.data.hdr_formats.write_kalantari`. Each scene is one of the procedural HDR scenes
(``make_scenes``) rendered at 256 px and resized to 1000×1500 (rendering at full size takes ~5 s a scene).

``run(root)`` does what ``kedro run --pipelines fhdrnet --env paper`` does, with a CPU-sized FHDRNet: the
data stage (manifest + preflight, then the test-set summary read scene by scene), the streaming loader on
its own (``loader_images_per_s``: training samples read, 256-px crops with flip/rot90 and inputs built, per
second), a few training iterations on 256-px crops with full-size validation, and one evaluation pass over
the full-size test scenes (batch 1, padded to 1000×1504). Returned: ``images`` (test scenes evaluated),
``loader_images_per_s``, and the times and PSNR of each part.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import yaml

H, W = 1000, 1500          # Kalantari's test (and training) images
CPU_MODEL = {"nf": 4, "n_res_blocks": 1, "use_bn": True}   # paper: nf 64, 9 blocks
TRAIN = {"iters": 3, "batch_size": 4, "eval_every": 3}   # paper: 100 000 iterations of 16 crops
WORKERS = 2
REPO = Path(__file__).resolve().parents[1]


def write(root: Path, n: int) -> None:
    import cv2

    from cvpapers.data.hdr_formats import write_kalantari
    from cvpapers.data.hdr_scenes import HdrSceneConfig, make_scenes

    n_test = max(1, n // 8)
    cfg = HdrSceneConfig(image_size=256)
    for k in range(n + n_test):
        small = make_scenes(1, cfg, seed=k)
        scene = {"ldr": np.stack([[cv2.resize(f, (W, H), interpolation=cv2.INTER_LINEAR) for f in small["ldr"][0]]]),
                 "hdr": cv2.resize(small["hdr"][0], (W, H), interpolation=cv2.INTER_LINEAR)[None],
                 "exposure": small["exposure"], "mask": np.zeros((1, H, W), bool)}
        split, name = ("Training", f"{k + 1:03d}") if k < n else ("Test", f"{k - n + 1:03d}")
        write_kalantari(root, split, scene, names=[name])


def _paper_params(root: Path):
    """conf/base merged with conf/paper (the paper configuration), CPU-sized network and budget."""
    from cvpapers.pipelines.fhdrnet import DECLARATION

    base, paper = (yaml.safe_load((REPO / f"conf/{env}/parameters_fhdrnet.yml").read_text())["fhdrnet"]
                   for env in ("base", "paper"))
    merged = {k: ({**v, **paper.get(k, {})} if isinstance(v, dict) else paper.get(k, v)) for k, v in base.items()}
    merged["checkpoint_dir"] = str(root / "train_state")
    merged["data"] = {**merged["data"], "root": str(root), "workers": WORKERS}
    merged["model"] = {**merged["model"], **CPU_MODEL}
    merged["train"] = {**merged["train"], **TRAIN}
    return DECLARATION.validate(merged)


def run(root: Path) -> dict:
    import matplotlib.pyplot as plt
    import torch

    from cvpapers.data.streaming import SkipLog
    from cvpapers.pipelines.fhdrnet import figures, streams
    from cvpapers.pipelines.fhdrnet.evaluation import evaluate_networks_streamed
    from cvpapers.pipelines.fhdrnet.networks import build_hdr_model, network_config
    from cvpapers.pipelines.fhdrnet.scenes import real_manifest, streamed_summary
    from cvpapers.pipelines.fhdrnet.training import fit_network, streamed

    torch.set_num_threads(2)
    torch.manual_seed(0)
    p, device, out = _paper_params(root), torch.device("cpu"), {}
    d, t = p.data, p.train

    t0 = time.perf_counter()  # the data stage: manifest + preflight, test-set summary, montage
    skips = SkipLog()
    manifest = real_manifest(d, p.seed, "rgb", t.crop, skips)
    summary, shown = streamed_summary(manifest, d, "rgb", skips)
    plt.close(figures.streamed_montage(shown, "rgb"))
    out["data_stage_s"] = time.perf_counter() - t0

    train_set = streams.scene_set(manifest, "train", d, streams.TrainingCrop(t.crop, t.augment, d.gamma, "rgb"))
    val_set = streams.scene_set(manifest, "val", d, streams.FullInputs(d.gamma, "rgb"))
    data = streamed(train_set, val_set, t, device, d.workers, skips)
    t0, loaded = time.perf_counter(), 0
    for x, _ in data.batches(t.iters, 1).batches(0):  # the loader alone: what feeds training
        loaded += len(x)
    out["loader_images_per_s"] = loaded / (time.perf_counter() - t0)

    model = build_hdr_model(**network_config("fhdrnet", "rgb", p.model.model_dump(), p.ahdrnet.model_dump()))
    t0 = time.perf_counter()
    model, metrics = fit_network(model, data, t, stage="scale_fhdrnet", device=device, seed=0,
                                 checkpoint_path=root / "train_state.pt", resume=False, fingerprint={})
    out["train_s"] = time.perf_counter() - t0
    out["val_psnr_mu"] = metrics["best_val_psnr_mu"]

    t0 = time.perf_counter()
    test_set = streams.scene_set(manifest, "test", d, streams.FullInputs(d.gamma, "rgb"))
    per, shown = evaluate_networks_streamed({"fhdrnet": model}, streams.scenes_of(test_set, d, skips, "test"),
                                            device, t.mu, keep=figures.shrunk)
    eval_s = time.perf_counter() - t0
    n_test = float(summary["n_test"])
    out.update({"images": n_test, "eval_images_per_s": n_test / eval_s, "test_psnr_mu": per["fhdrnet"]["psnr_mu"],
                "train_scenes": float(summary["n_train"] + summary["n_val"]), "crop": float(t.crop),
                "iters": float(t.iters), "batch": float(t.batch_size), **skips.metrics()})
    return out
