"""ssda_dual_mix (DDM) at the paper's resolution: GTA5 → Cityscapes streamed from disk, memory flat in N.

``write(root, n)``: ``n`` GTA5 images at 1914×1052 (``GTA5/images``, palette labelId PNGs) and ``n`` Cityscapes
train + ``n`` val images at 2048×1024 (``leftImg8bit``/``gtFine``), procedural street scenes written by the
project's fixture writers (:func:`cvpapers.data.segmentation.write_street_fixture`).

``run(root)``: the paper configuration (``conf/paper``: GTA5 resized to 1280×720 then a random 1024×512 crop,
Cityscapes train at 1024×512, LAB translation, val at full 2048×1024 resolution one image at a time, histogram
BDL thresholds) with the CPU-sized TinyDeepLabV2 in place of DeepLab-v2 ResNet-101 and a few iterations:
``prepare_data`` (manifests + file checks) → ``split_labelled`` → ``lab_translate`` (target LAB statistics in a
streaming pass) → the region-level teacher (``train.iters`` iterations of 1024×512 mixed pairs, then its
evaluation pass over Cityscapes val at full resolution). Also times the training loader alone (decode, resize,
LAB transfer, crop and region mixing per pair). The pseudo-labelling passes are left out to keep the
benchmark within ~3 minutes on 2 cores; ``python benchmarks/scale_ssda_dual_mix.py DIR N --pseudo`` adds them.

    .venv/bin/python benchmarks/real_scale.py --families ssda_dual_mix --n 8
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = "ssda_dual_mix_paper"
ITERS = 3
GTA5_HW, CITYSCAPES_HW = (1052, 1914), (1024, 2048)


def write(root: Path, n: int) -> None:
    from cvpapers.data.segmentation import write_street_fixture

    fast = {"compress_level": 1}  # the same pixels, written 4× faster than zlib's default level
    write_street_fixture(root, "gta5", n, GTA5_HW, seed=1, **fast)
    write_street_fixture(root / "cityscapes", "cityscapes", n, CITYSCAPES_HW, split="train", seed=2, **fast)
    write_street_fixture(root / "cityscapes", "cityscapes", n, CITYSCAPES_HW, split="val", city="lindau", seed=3, **fast)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    return {**base, **{k: _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
                       for k, v in over.items()}}


def paper_params(root: Path, work: Path) -> dict[str, Any]:
    """conf/base + conf/paper, with the CPU-sized model and budget of this benchmark."""
    params: dict[str, Any] = {}
    for env in ("base", "paper"):
        text = (ROOT / f"conf/{env}/parameters_ssda_dual_mix.yml").read_text().replace("${globals:env_dir}", "")
        params = _merge(params, yaml.safe_load(text)["ssda_dual_mix"])
    return _merge(params, {
        "cpu_threads": 1, "checkpoint_dir": str(work / "train_state"),
        "data": {"roots": {"gta5": str(root), "cityscapes": str(root / "cityscapes")}, "workers": 0},
        "model": {"name": "tiny_deeplabv2", "input_norm": "embedded", "weights_path": None},
        "train": {"iters": ITERS, "eval_every": ITERS, "optimizer": "adam", "lr": 2e-3, "weight_decay": 0.0},
        "n_labelled": 2, "lab": {"stats_images": 2},
        "pseudo": {"label_dir": str(work / "pseudo_labels")},
    })


def _loader_speed(params: dict[str, Any], source: Any, target_set: Any, iters: int) -> float:
    """Images per second through the region teacher's training loader alone (no network)."""
    from cvpapers.pipelines.ssda_dual_mix.nodes import _start
    from cvpapers.pipelines.ssda_dual_mix.sets import ManifestSets

    _, st = _start(params, PIPELINE)
    draw, _ = ManifestSets.region(st, source, target_set, "loader_speed", 1)
    t0 = time.perf_counter()
    for it in draw.source.batches(0):
        del it
    return 2 * iters * st.p.train.batch_size / (time.perf_counter() - t0)  # a source and a target image per pair


def _teacher(params: dict[str, Any], source: Any, target_set: Any, val: Any) -> tuple[Any, dict[str, float]]:
    """The region-level teacher: ``ITERS`` streamed iterations, then one evaluation pass over Cityscapes val."""
    from cvpapers.da.batches import supervised_step
    from cvpapers.engine.iterative import train_iterations
    from cvpapers.pipelines.ssda_dual_mix.nodes import _start
    from cvpapers.pipelines.ssda_dual_mix.sets import ManifestSets

    p, st = _start(params, PIPELINE)
    model = st.fresh_model("region_teacher")
    draw, _ = ManifestSets.region(st, source, target_set, "rl_r1", 1)
    t0 = time.perf_counter()
    train_iterations(model, draw, supervised_step(p.train.lambda_aux), stage="rl_r1", iters=ITERS, eval_every=ITERS,
                     lr=p.train.lr, device=st.device, seed=st.run.seed("batches", "rl_r1"), log_prefix="")
    t1 = time.perf_counter()
    scores = st.scores(model, val)
    return st.checkpoint(model), {"train_s": t1 - t0, "eval_s": time.perf_counter() - t1, **scores}


def run(root: Path, pseudo: bool = False) -> dict[str, float]:
    import tempfile

    import matplotlib.pyplot as plt

    from cvpapers.pipelines.ssda_dual_mix import nodes

    with tempfile.TemporaryDirectory(prefix="scale_ddm_") as tmp:
        params = paper_params(Path(root), Path(tmp))
        t0 = time.perf_counter()
        source, pool, val, _ = nodes.prepare_data(params, streaming=True)
        labelled, unlabelled, _ = nodes.split_labelled(pool, params)
        t1 = time.perf_counter()
        translated, lab, fig = nodes.lab_translate(source, pool, params, PIPELINE)
        plt.close(fig)
        t2 = time.perf_counter()
        target_set = nodes.init_target_set(labelled)
        loader = _loader_speed(params, translated, target_set, ITERS)
        ckpt, rl = _teacher(params, translated, target_set, val)
        extra: dict[str, float] = {}
        if pseudo:  # two streaming passes: histogram thresholds, then the PNGs
            t3 = time.perf_counter()
            labels, pl, _, fig = nodes.pseudo_label(ckpt, unlabelled, params, PIPELINE, 1)
            plt.close(fig)
            extra = {"pseudo_images_per_s": 2 * len(unlabelled) / (time.perf_counter() - t3),
                     "pl_kept_frac": pl["kept_frac"], "n_pseudo_labels": float(len(labels))}
    return {
        "images": float(len(source) + len(pool) + len(val)),
        "loader_images_per_s": loader,
        "eval_images_per_s": len(val) / rl["eval_s"],
        "lab_stats_images_per_s": (lab["target_images"] + lab["stats_images"]) / (t2 - t1),
        "train_s_per_iter": rl["train_s"] / ITERS,
        "val_miou": rl["val_miou"],
        "prepare_s": t1 - t0,
        **extra,
    }


if __name__ == "__main__":  # one size, in this process: .venv/bin/python benchmarks/scale_ssda_dual_mix.py /tmp/x 4
    import resource
    import sys

    where, size = Path(sys.argv[1]), int(sys.argv[2])
    if not (where / "GTA5").is_dir():
        write(where, size)
    print(run(where, pseudo="--pseudo" in sys.argv),
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
