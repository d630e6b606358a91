"""Training batches and padded inference: identical transforms for frames and truth, batches that depend
only on their generator, any-size prediction (papers/fhdrnet.md §3.6, §3.7)."""

from __future__ import annotations

import numpy as np
import torch

from cvpapers.pipelines.fhdrnet.inference import predict
from cvpapers.pipelines.fhdrnet.networks import build_hdr_model
from cvpapers.pipelines.fhdrnet.training import batch_sampler, dihedral


def _set(n: int = 6, h: int = 16, w: int = 16) -> dict:
    rng = np.random.default_rng(0)
    y = rng.random((n, 3, h, w), dtype=np.float32)
    x = np.repeat(y[:, None], 3, 1)
    x = np.concatenate([x, x], 2)  # 6 channels per frame, each a copy of the truth
    return {"x": x, "y": y}


def test_each_sample_gets_one_transform_shared_by_its_frames_and_truth() -> None:
    draw = batch_sampler(_set(), batch=16, augment="dihedral", crop=8)
    x, y = draw(torch.Generator().manual_seed(3))
    assert x.shape == (16, 3, 6, 8, 8) and y.shape == (16, 3, 8, 8)
    assert torch.equal(x[:, 0, :3], y) and torch.equal(x[:, 2, 3:], y), "frames and truth move together"
    again = draw(torch.Generator().manual_seed(3))
    assert torch.equal(again[0], x), "batches depend only on the generator"


def test_per_sample_dihedral_views_match_their_codes() -> None:
    x = torch.arange(16.0).reshape(1, 1, 4, 4).repeat(3, 1, 1, 1)
    flip, vertical, k = torch.tensor([False, True, True]), torch.tensor([False, False, True]), torch.tensor([1, 0, 2])
    out, _ = dihedral(x, x.clone(), flip, vertical, k)
    assert torch.equal(out[0], torch.rot90(x[0], 1, (-2, -1)))
    assert torch.equal(out[1], x[1].flip(-1))
    assert torch.equal(out[2], torch.rot90(x[2].flip(-2), 2, (-2, -1)))


def test_inference_pads_sizes_not_divisible_by_8_and_crops_back() -> None:
    model = build_hdr_model("fhdrnet", nf=4, n_res_blocks=1)
    x = np.random.default_rng(1).random((2, 3, 6, 20, 30), dtype=np.float32)  # like Kalantari's 1000×1500
    out = predict(model, x, torch.device("cpu"), batch=2)
    assert out.shape == (2, 3, 20, 30) and torch.isfinite(out).all()


def test_training_draws_crops_while_validation_predicts_whole_scenes() -> None:
    """The paper's regime: scenes larger than the training crops; evaluation on the whole scene."""
    from cvpapers.pipelines.fhdrnet.config import TrainConfig
    from cvpapers.pipelines.fhdrnet.training import in_memory

    scenes = _set(n=4, h=32, w=32)
    t = TrainConfig(batch_size=3, crop=16, eval_batch_size=2)
    data = in_memory(scenes, scenes, t, torch.device("cpu"))
    x, y = data.batches(torch.Generator().manual_seed(0))
    assert x.shape == (3, 3, 6, 16, 16) and y.shape == (3, 3, 16, 16)
    model = build_hdr_model("fhdrnet", in_channels=6, out_channels=3, nf=4, n_res_blocks=1)
    assert predict(model, scenes["x"], torch.device("cpu"), 2).shape == (4, 3, 32, 32)
    assert np.isfinite(data.evaluate(model)["val_psnr_mu"])


def test_train_network_returns_one_curve_row_per_evaluation_and_fit_network_the_same_model() -> None:
    from cvpapers.pipelines.fhdrnet.config import TrainConfig
    from cvpapers.pipelines.fhdrnet.training import CURVE_COLUMNS, fit_network, in_memory, train_network

    scenes = _set(n=4, h=32, w=32)
    t = TrainConfig(batch_size=2, iters=4, eval_every=2, crop=16)
    runs = []
    for fit in (train_network, fit_network):
        torch.manual_seed(0)
        model = build_hdr_model("fhdrnet", nf=4, n_res_blocks=1, use_bn=True)
        runs.append(fit(model, in_memory(scenes, scenes, t, torch.device("cpu")), t, stage="s",
                        device=torch.device("cpu"), seed=1, checkpoint_path="", resume=False, fingerprint={}))
    (model, summary, curve), (again, summary_again) = runs
    assert tuple(curve.columns) == CURVE_COLUMNS and curve["iteration"].tolist() == [2, 4]
    assert summary["best_val_psnr_mu"] == curve["val_psnr_mu"].max() == summary_again["best_val_psnr_mu"]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True))
