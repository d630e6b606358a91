"""The paper path on fixtures in the real layouts: the manifest and its preflight, the official training crop
(same window and flip/rot90 on every exposure and the truth, seeded per sample), streamed training batches,
full-size evaluation scene by scene, and the scaled MAC count (papers/fhdrnet.md §3.6, §3.7, §10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cvpapers.data.decode import BadSampleError
from cvpapers.data.hdr_formats import write_kalantari
from cvpapers.data.hdr_scenes import HdrSceneConfig, build_inputs, make_scenes
from cvpapers.data.streaming import SkipLog, stream
from cvpapers.pipelines.fhdrnet import DECLARATION
from cvpapers.pipelines.fhdrnet.scenes import real_manifest
from cvpapers.pipelines.fhdrnet.streams import FullInputs, TrainingCrop, scene_set


def _scenes(n: int, size: int = 48, seed: int = 3) -> dict:
    s = make_scenes(n, HdrSceneConfig(image_size=size), seed=seed)
    return {k: (v[:, :, :40] if k == "ldr" else v[:, :40] if k in ("hdr", "mask") else v) for k, v in s.items()}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Kalantari layout, 40×48 scenes: 5 training, 2 test (grouped)."""
    root = tmp_path_factory.mktemp("kalantari")
    s = _scenes(7)
    write_kalantari(root, "Training", {k: v[:5] for k, v in s.items()})
    write_kalantari(root, "Test/PAPER", {k: v[5:] for k, v in s.items()}, names=["A", "B"])
    return root


def _params(root: Path, **data):
    return DECLARATION.validate({"data": {"source": "kalantari", "root": str(root), **data},
                                 "train": {"crop": 32, "batch_size": 3}})


def test_manifest_splits_training_scenes_by_seed_and_keeps_the_test_split(root: Path) -> None:
    p = _params(root, val_fraction=0.4)
    m = real_manifest(p.data, 7, "rgb", 32, SkipLog())
    assert list(m["split"].value_counts().sort_index().items()) == [("test", 2), ("train", 3), ("val", 2)]
    assert list(m.loc[m["split"] == "test", "name"]) == ["Test/PAPER/A", "Test/PAPER/B"]
    again = real_manifest(p.data, 7, "rgb", 32, SkipLog())
    assert again.equals(m) and not real_manifest(p.data, 8, "rgb", 32, SkipLog())["split"].equals(m["split"])
    assert {"ldr_1", "ldr_2", "ldr_3", "hdr", "exposure_1", "height", "width"} <= set(m.columns)


def test_preflight_errors_name_the_file_or_skip_and_count(tmp_path: Path) -> None:
    s = _scenes(4)
    write_kalantari(tmp_path, "Training", {k: v[:3] for k, v in s.items()})
    write_kalantari(tmp_path, "Test", {k: v[3:] for k, v in s.items()})
    hdr = tmp_path / "Training" / "002" / "HDRImg.hdr"
    hdr.write_bytes(hdr.read_bytes()[:200])
    with pytest.raises(BadSampleError, match=rf"{hdr}: truncated.*on_bad_sample=skip"):
        real_manifest(_params(tmp_path).data, 0, "rgb", 32, SkipLog())
    skips = SkipLog()
    m = real_manifest(_params(tmp_path, on_bad_sample="skip").data, 0, "rgb", 32, skips)
    assert "Training/002" not in set(m["name"]) and skips.metrics() == {"skipped_samples": 1.0}
    write_kalantari(tmp_path, "Training", {k: v[:3] for k, v in s.items()})
    with pytest.raises(BadSampleError, match=r"Training.001: is 40×48, smaller than the 48-px training crop "
                                             r"\(and 2 more: .*Training.002: is 40×48"):
        real_manifest(_params(tmp_path).data, 0, "rgb", 48, SkipLog())
    with pytest.raises(ValueError, match=r"holds RGB data but this pipeline is the RAW one"):
        real_manifest(_params(tmp_path).data, 0, "raw", 32, SkipLog())


def test_training_crop_moves_every_exposure_with_the_truth_and_is_seeded_per_sample() -> None:
    rng = np.random.default_rng(0)
    hdr = rng.random((40, 48, 3), dtype=np.float32)
    scene = {"ldr": np.stack([hdr, hdr, hdr]), "hdr": hdr, "exposure": np.zeros(3, np.float32),
             "mask": np.zeros((40, 48), bool)}
    crop = TrainingCrop(32, "dihedral", 2.2, "rgb")
    views = set()
    for seed in range(64):
        out = crop(scene, seed)
        assert out["x"].shape == (3, 6, 32, 32) and out["y"].shape == (3, 32, 32)
        for i in range(3):  # LDR part of every frame = truth: the same window and the same flip/rotation
            np.testing.assert_array_equal(out["x"][i, :3], out["y"])
        views.add(out["y"].tobytes())
        np.testing.assert_array_equal(crop(scene, seed)["x"], out["x"])
    assert len(views) > 32, "windows and dihedral views vary with the sample seed"


def test_training_crop_builds_the_inputs_of_the_whole_scene_cut_to_the_window() -> None:
    s = _scenes(1, size=32)
    s = {k: v[:, :, :32] if k == "ldr" else v[:, :32] if k in ("hdr", "mask") else v for k, v in s.items()}
    full = build_inputs(s, 2.2, "rgb")
    out = TrainingCrop(32, "none", 2.2, "rgb")({k: v[0] for k, v in s.items()}, 5)
    np.testing.assert_array_equal(out["x"], full["x"][0])
    np.testing.assert_array_equal(out["y"], full["y"][0])


def test_the_albumentations_transform_draws_the_official_flip_and_rotation_distribution() -> None:
    x = np.arange(16, dtype=np.float32).reshape(4, 4, 1).repeat(3, -1)
    scene = {"ldr": np.stack([x, x, x]), "hdr": x, "exposure": np.zeros(3, np.float32), "mask": np.zeros((4, 4), bool)}
    crop = TrainingCrop(None, "dihedral", 1.0, "rgb")
    counts: dict[bytes, int] = {}
    for seed in range(800):
        y = crop(scene, seed)["y"][0]
        counts[y.tobytes()] = counts.get(y.tobytes(), 0) + 1
    # p=.5 a horizontal or vertical flip, then rot90 k ∈ {0..3}: the 8 views of the square, each 1/8
    assert len(counts) == 8 and all(60 < c < 140 for c in counts.values())


def test_streamed_batches_replay_by_position_and_validation_reads_whole_scenes(root: Path) -> None:
    from cvpapers.pipelines.fhdrnet.training import streamed

    p = _params(root)
    m = real_manifest(p.data, 0, "rgb", 32, SkipLog())
    train = scene_set(m, "train", p.data, TrainingCrop(32, "dihedral", 2.2, "rgb"))
    val = scene_set(m, "val", p.data, FullInputs(2.2, "rgb"))
    data = streamed(train, val, p.train, torch.device("cpu"), 0, SkipLog())
    first = [b for b in data.batches(2, 11).batches(1)]
    again = [b for b in data.batches(2, 11).batches(1)]
    assert len(first) == 2 and first[0][0].shape == (3, 3, 6, 32, 32) and first[0][1].shape == (3, 3, 32, 32)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again, strict=True))
    (whole,) = [b["x"] for b in stream(val, 1)]
    assert whole.shape == (1, 3, 6, 40, 48)


def test_scaled_macs_equal_a_full_size_count() -> None:
    from cvpapers.engine.flops import count_macs_params
    from cvpapers.pipelines.fhdrnet.evaluation import scaled_macs
    from cvpapers.pipelines.fhdrnet.networks import StackedFrames, build_hdr_model

    for name in ("fhdrnet", "ahdrnet"):
        model = build_hdr_model(name, nf=4, n_res_blocks=1) if name == "fhdrnet" else build_hdr_model(
            name, nfeat=4, n_dense_layers=1, growth=4, n_drdb=1)
        direct = count_macs_params(StackedFrames(model), (1, 18, 40, 96), mode="conv_linear")
        assert scaled_macs(model, 3, 6, 40, 96) == direct
