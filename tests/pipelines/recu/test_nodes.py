"""The paper's data paths through the nodes (spec §10), on fixtures written in the real layouts: CIFAR-10 with
the official code's ImageNet statistics, ImageNet class folders with the extended transforms; and one
training step of each arm's network on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cvpapers.pipelines.recu import nodes
from cvpapers.pipelines.recu.config import RecuParams
from tests.conftest import conf_parameters

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _images(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), np.arange(n) % 2


def _paper(env: str, root: Path, **train) -> dict:
    params = conf_parameters("recu", env)
    params["data"]["root"] = str(root)
    params["train"].update(train)
    return params


def test_cifar10_paper_path_normalises_with_imagenet_statistics(tmp_path: Path) -> None:
    from cvpapers.data.cifar import write_cifar10_fixture
    from cvpapers.data.classification_source import batch_sources

    x, y = _images(20, 32, 0)
    xt, yt = _images(10, 32, 1)
    write_cifar10_fixture(tmp_path, x, y, xt, yt, n_batches=2)
    params = _paper("paper", tmp_path, batch_size=4, eval_batch_size=10)
    manifest, metrics, _ = nodes.prepare_data(params)
    assert (metrics["n_train"], metrics["n_test"]) == (20.0, 10.0)
    plan, plan_metrics = nodes.plan_model(manifest, params)
    assert plan["arch"] == "resnet20_1w1a" and plan["num_classes"] == 2
    p = RecuParams.model_validate(params)
    data = batch_sources(manifest, p.data, 4, 10, None, seed=0)
    xb, _ = next(iter(data.test.batches(0)))
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    pixels = torch.from_numpy(xt).permute(0, 3, 1, 2).float() / 255
    torch.testing.assert_close(xb, (pixels - mean) / std, rtol=1e-5, atol=1e-5)


def test_imagenet_paper_path_streams_224_crops_into_the_imagenet_resnet(tmp_path: Path) -> None:
    from cvpapers.data.classification import Lighting
    from cvpapers.data.classification_source import batch_sources
    from cvpapers.data.imagefolder import write_imagefolder_fixture
    from cvpapers.pipelines.recu.models import build_recu_net

    for split in ("train", "val"):  # the official layout <root>/train, <root>/val
        x, y = _images(4, 40, 2)
        write_imagefolder_fixture(tmp_path, x, y, ["n01", "n02"], split_dir=split)
    params = _paper("paper_imagenet", tmp_path, batch_size=2, eval_batch_size=2)
    params["data"]["workers"] = 0
    manifest, metrics, _ = nodes.prepare_data(params)
    assert metrics["n_classes"] == 2.0
    p = RecuParams.model_validate(params)
    data = batch_sources(manifest, p.data, 2, 2, None, seed=0)
    transforms = data.train.dataset.transform.transforms
    assert transforms[0].scale == (0.08, 1.25) and any(isinstance(t, Lighting) for t in transforms)
    xb, _ = next(iter(data.train.batches(0)))
    assert xb.shape == (2, 3, 224, 224)
    model = build_recu_net("resnet18_imagenet_1w1a", 2).eval()
    with torch.no_grad():
        assert model(xb).shape == (2, 2)
