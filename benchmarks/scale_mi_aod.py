"""MI-AOD's paper-data path at scale (driven by ``benchmarks/real_scale.py``): memory must not grow with N.

``write(root, n)`` writes a PASCAL VOC devkit with the project's VOC writer (``cvpapers.data.voc.write_voc``):
a pool of ``n`` JPEGs (VOC2007 trainval landscape 500×375, VOC2012 trainval portrait 375×500, VOC's usual
sizes) and a test set of ``n // 2`` (VOC2007 test), ShapesDet-AL scenes with their boxes under VOC class names.

``run(root)`` runs the paper configuration's data path on it with a CPU-sized detector (TinyRetina instead of
RetinaNet R50-FPN): the data stage (annotations → manifest, preflight over every listed image), a loader pass
over the pool with the paper's test-time preprocessing (resize to fit 1000×600, pad to 32), a few training
iterations of every stage kind (label-set, then the alternating labelled + unlabelled min and max steps,
streamed from the files with the random flip; X_L and X_U hold a landscape and a portrait image each, so every
batch is padded to 800×800, the largest), one uncertainty-scoring pass over the whole pool and one
evaluation pass over the test set (both ``stream`` passes at the paper's batch of one image).

    .venv/bin/python benchmarks/real_scale.py --families mi_aod --n 8
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

VOC_NAMES = ("person", "car", "dog", "cat")  # the four ShapesDet classes written as these VOC classes
SIZES = {"landscape": (375, 500), "portrait": (500, 375)}  # (height, width)


def _scenes(n: int, seed: int, orientation: str, id_format: str, offset: int = 0) -> dict[str, np.ndarray]:
    import cv2

    from cvpapers.data.detection_shapes import generate_shapes_det
    from cvpapers.data.voc import VOC_CLASSES

    h, w = SIZES[orientation]
    side = max(h, w)
    data = generate_shapes_det(n, seed, {"easy": 0.5, "hard": 0.3, "clutter": 0.2}, image_size=side)
    data["images"] = np.stack([cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA) for im in data["images"]])
    data["boxes"] = data["boxes"] * np.float32([w / side, h / side, w / side, h / side])
    mapping = np.asarray([VOC_CLASSES.index(c) for c in VOC_NAMES])
    data["labels"] = np.where(data["labels"] >= 0, mapping[np.maximum(data["labels"], 0)], -1)
    data["image_id"] = np.asarray([id_format.format(i + offset) for i in range(n)])
    return data


def write(root: Path, n: int) -> None:
    from cvpapers.data.voc import VOC_CLASSES, write_voc

    devkit = Path(root) / "VOCdevkit"
    n07 = n // 2
    write_voc(devkit, _scenes(n07, 0, "landscape", "{:06d}"), VOC_CLASSES, "VOC2007", "trainval", image_ext="jpg")
    write_voc(devkit, _scenes(n - n07, 1, "portrait", "2008_{:06d}"), VOC_CLASSES, "VOC2012", "trainval",
              image_ext="jpg")
    write_voc(devkit, _scenes(max(1, n // 2), 2, "landscape", "{:06d}", offset=100_000), VOC_CLASSES, "VOC2007",
              "test", image_ext="jpg")


def _params(root: Path) -> object:
    import yaml

    from cvpapers.pipelines.mi_aod import DECLARATION

    repo = Path(__file__).resolve().parents[1]
    paper = yaml.safe_load((repo / "conf/paper/parameters_mi_aod.yml").read_text())["mi_aod"]
    return DECLARATION.validate({
        **paper, "device": "cpu", "cpu_threads": 2, "checkpoint_dir": str(Path(root) / "state"),
        "data": {**paper["data"], "root": str(Path(root) / "VOCdevkit"), "workers": 1},
        # CPU-sized detector on the paper's preprocessing; a few iterations of every stage kind
        "model": {"backbone": "tiny", "fpn_channels": 32, "tower_depth": 1, "anchor_sizes": None},
        "al": {"initial_fraction": 0.25, "select_fraction": 0.25},
        "train": {**paper["train"], "budget_unit": "iterations", "iters_label_first": 2, "outer_loops": 1,
                  "iters_minmax": 1, "iters_label": 2},
    })


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _fixed_mmap_threshold() -> None:
    """Large buffers always mmapped and unmapped when freed: glibc otherwise raises its mmap threshold after
    the first big free and keeps later activation buffers of the training step in the heap, which makes the
    peak RSS vary by ±8 % from run to run whatever N is (measured: 2130–2295 MB at N = 8 and 32; 1723–1725 MB
    with the fixed threshold). The same as ``MALLOC_MMAP_THRESHOLD_=1048576`` in the environment."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc: measure as is
        pass


def run(root: Path) -> dict[str, float]:
    _fixed_mmap_threshold()
    import torch

    from cvpapers.data.streaming import ManifestDataset, SkipLog, stream
    from cvpapers.engine.seeding import seed_everything
    from cvpapers.pipelines.mi_aod.data import load_detection_sets, split_data
    from cvpapers.pipelines.mi_aod.heads import build_miaod_detector
    from cvpapers.pipelines.mi_aod.loading import EvalTransform, VocReader, pad_images
    from cvpapers.pipelines.mi_aod.training import evaluate, score_pool, train_arm

    p = _params(root)
    torch.set_num_threads(p.cpu_threads)
    t0 = time.perf_counter()
    manifest, pool_arrays, test_arrays, bad = load_detection_sets(p.data, p.seed, p.data.root)
    pool, test = split_data(manifest, pool_arrays, "pool"), split_data(manifest, test_arrays, "test")
    data_s = time.perf_counter() - t0
    peaks = {"peak_mb_data": _peak_mb()}

    # the loader alone: decode + resize to fit 1000×600 + pad to 32, batch by batch (timed from the first
    # batch on, so the worker's start-up does not count)
    dataset = ManifestDataset(pool["manifest"], VocReader(False), EvalTransform(p.data.img_scale))
    shapes, loaded, t0 = set(), 0, None
    for batch in stream(dataset, p.train.batch_size, workers=p.data.workers):
        shapes.add(tuple(pad_images(list(batch["image"]), p.data.size_divisor).shape[-2:]))
        if t0 is None:
            t0 = time.perf_counter()
        else:
            loaded += len(batch["index"])
    loader_s = time.perf_counter() - t0
    peaks["peak_mb_loader"] = _peak_mb()

    n_pool = len(pool["labels"])
    # One landscape (VOC07) and one portrait (VOC12) image in X_L and in X_U: every batch of two is padded to
    # 800×800, the largest VOC batch, whatever N (the peak then does not depend on which images are drawn).
    n07 = n_pool // 2
    labelled, unlabelled = np.array([0, n07]), np.array([1, n07 + 1])
    seed_everything(p.seed)
    model = build_miaod_detector(**p.model.detector_config(20))
    skips = SkipLog()
    t0 = time.perf_counter()
    summaries = train_arm(model, pool, {"labelled": labelled.tolist(), "unlabelled": unlabelled.tolist()}, p,
                          with_unlabelled=True, device=torch.device("cpu"), seed=p.seed, checkpoint_dir=None,
                          resume=False, fingerprint={}, skips=skips)
    train_s = time.perf_counter() - t0
    peaks["peak_mb_train"] = _peak_mb()
    t = p.train  # A, then per outer loop B and C (a labelled and an unlabelled step each iteration) and D
    steps = t.iters_label_first + t.outer_loops * (4 * t.iters_minmax + t.iters_label)
    t0 = time.perf_counter()
    scores = score_pool(model, pool, p, torch.device("cpu"), skips)
    score_s = time.perf_counter() - t0
    peaks["peak_mb_score"] = _peak_mb()
    t0 = time.perf_counter()
    dets, result = evaluate(model, test, p, torch.device("cpu"), skips)
    eval_s = time.perf_counter() - t0
    peaks["peak_mb_eval"] = _peak_mb()
    n_test = len(test["labels"])
    return {
        "images": float(n_pool + n_test), "pool_images": float(n_pool), "test_images": float(n_test),
        "unusable_files": float(bad), "skipped_samples": float(len(skips.skipped)),
        "padded_sizes": float(len(shapes)), "data_stage_s": data_s,
        "loader_images_per_s": loaded / loader_s if loaded else float("nan"),
        "train_steps": float(steps), "train_images_per_s": steps * p.train.batch_size / train_s,
        "score_images_per_s": n_pool / score_s, "eval_images_per_s": n_test / eval_s,
        "finite_losses": float(all(np.isfinite(v) for s in summaries for k, v in s.items() if k.startswith("train_"))),
        "finite_scores": float(np.isfinite(scores).all()), "map": 100 * float(result["mAP"]),
        "detections_per_image": float(np.mean([len(d["scores"]) for d in dets])), **peaks,
    }
