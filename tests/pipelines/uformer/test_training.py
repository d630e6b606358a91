"""Training batches, MixUp and the real-data path (papers/uformer.md §3.6, §7, §8, §10): batches depend only on
their generator (so every model sees the same noisy batches and a resume replays them), MixUp switches on at
its iteration, and SIDD pairs stream from disk through the shared loop."""

from __future__ import annotations

import numpy as np
import torch

from cvpapers.pipelines.uformer.config import DataConfig, TrainConfig, UformerParams
from cvpapers.pipelines.uformer.training import MixupFrom, PairCrop, batch_sampler


def _clean(n: int = 8) -> np.ndarray:
    from cvpapers.data.degraded import clean_images

    return clean_images(0, "train", n, 16).transpose(0, 3, 1, 2).copy()


def test_batches_depend_only_on_their_generator_and_pair_clean_with_degraded() -> None:
    draw = batch_sampler(_clean(), TrainConfig(batch_size=6), DataConfig(image_size=16))
    y, x, perm, lam = draw(torch.Generator().manual_seed(3))
    y2, x2, _, _ = draw(torch.Generator().manual_seed(3))
    assert torch.equal(y, y2) and torch.equal(x, x2)
    assert y.shape == x.shape == (6, 3, 16, 16) and torch.equal(perm, torch.arange(6)) and torch.all(lam == 1)
    assert 5 < float((y - x).std() * 255) < 55, "blind Gaussian noise in the σ range"


def test_mixup_applies_from_its_iteration_to_input_and_target_alike() -> None:
    draw = batch_sampler(_clean(), TrainConfig(batch_size=6, mixup=True), DataConfig(image_size=16))
    y, x, perm, lam = draw(torch.Generator().manual_seed(1))
    assert lam.min() > 0 and lam.max() < 1
    mix = MixupFrom(True, start=10)
    mix.on_iteration_start(0, 9, 5, None)  # global iteration 9
    assert mix.apply(y, x, perm, lam)[0] is y
    mix.on_iteration_start(2, 0, 5, None)  # global iteration 10
    my, mx = mix.apply(y, x, perm, lam)
    w = lam.view(-1, 1, 1, 1)
    assert torch.allclose(my - mx, w * (y - x) + (1 - w) * (y - x)[perm], atol=1e-6)


def test_pair_crop_takes_the_same_window_and_transform_of_input_and_target() -> None:
    a = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    out = PairCrop(16, "dihedral8")({"input": a, "target": a}, seed=5)
    assert out["x"].shape == (3, 16, 16) and torch.equal(out["x"], out["y"])
    assert torch.equal(PairCrop(16, "dihedral8")({"input": a, "target": a}, seed=5)["x"], out["x"])


def test_sidd_pairs_stream_through_the_shared_loop_and_resume_identically(tmp_path) -> None:
    from cvpapers.data.degraded import write_sidd_fixture
    from cvpapers.pipelines.uformer.models import model_config, training_data
    from cvpapers.pipelines.uformer.networks import build_restoration_model
    from cvpapers.pipelines.uformer.sets import real_manifest
    from cvpapers.pipelines.uformer.training import fit_network

    root = write_sidd_fixture(tmp_path / "SIDD", n=4, size=32)
    p = UformerParams.model_validate(
        {
            "data": {"source": "sidd", "real_roots": {"sidd": str(root)}, "val_images": 1},
            "model": {"embed_dim": 4},
            "train": {"iters": 4, "eval_every": 2, "batch_size": 2, "crop": 32},
        }
    )
    manifest = real_manifest(p.data)
    assert list(manifest["split"]) == ["train"] * 3 + ["val"] + ["test"] * 4

    def run(resume: bool, kill: bool = False):
        torch.manual_seed(0)
        model = build_restoration_model(**model_config("uformer", p))
        data, digest = training_data({}, {}, manifest, p, torch.device("cpu"))
        return fit_network(
            model,
            data,
            p.train,
            stage="uformer",
            device=torch.device("cpu"),
            seed=7,
            checkpoint_path=tmp_path / "state.pt",
            resume=resume,
            fingerprint={"data": digest},
        )

    model, metrics, history = run(False)
    assert np.isfinite(metrics["best_val_psnr"]) and list(history["iteration"]) == [2, 4]
    again, _, _ = run(True)  # resuming a finished stage gives the same weights
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True)
    )
