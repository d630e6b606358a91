"""The data of spec §8 and §10: Gratings-10 with pss_net's normalisation; ImageNet class folders streamed with
PSS's transforms (crop scale 0.25–1, colour jitter, lighting, flip)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cvpapers.pipelines.pss_net.config import PssNetParams


class _Run:
    def seed(self) -> int:
        return 0


def test_embedded_gratings_are_normalised_with_std_0_25(tmp_path: Path) -> None:
    from cvpapers.data.classification_source import prepare_classification_data
    from cvpapers.pipelines.pss_net.nodes import _data

    p = PssNetParams.model_validate({"data": {"root": str(tmp_path), "n_train": 40, "n_test": 20}})
    manifest, metrics, _ = prepare_classification_data(p.data)
    assert metrics == {"n_train": 40.0, "n_test": 20.0, "n_classes": 10.0}
    assert manifest["class_name"].iloc[0].startswith("grating_")
    data = _data(manifest, p, _Run())
    assert data.train.std == (0.25, 0.25, 0.25) and not data.train.hflip
    x, _ = next(iter(data.test.batches(0)))
    raw = data.test.images[: len(x)].float() / 255
    torch.testing.assert_close(x, (raw - 0.5) / 0.25)


def test_imagenet_folders_stream_through_pss_transforms(tmp_path: Path) -> None:
    from cvpapers.data.classification_source import prepare_classification_data
    from cvpapers.data.imagefolder import write_imagefolder_fixture
    from cvpapers.pipelines.pss_net.nodes import _data

    rng = np.random.default_rng(0)
    wnids = ["n01440764", "n01443537"]
    for split in ("train", "val"):
        x = rng.integers(0, 255, (6, 30, 40, 3), dtype=np.uint8)
        write_imagefolder_fixture(tmp_path, x, np.array([0, 0, 0, 1, 1, 1]), wnids, split_dir=split)
    p = PssNetParams.model_validate(
        {
            "data": {"source": "imagenet", "root": str(tmp_path), "normalisation": None},
            "train": {"batch_size": 4},
            "eval": {"batch_size": 6},
        }
    )
    manifest, metrics, _ = prepare_classification_data(p.data)
    assert metrics["n_train"] == 6 and metrics["n_classes"] == 2
    data = _data(manifest, p, _Run())
    ops = [type(t).__name__ for t in data.train.dataset.transform.transforms]
    assert ops[:3] == ["RandomResizedCrop", "ColorJitter", "RandomHorizontalFlip"] and "Lighting" in ops
    assert data.train.dataset.transform.transforms[0].scale == (0.25, 1.0)
    x, y = next(iter(data.train.batches(0)))
    assert x.shape == (4, 3, 224, 224) and x.dtype == torch.float32 and set(y.tolist()) <= {0, 1}
    xv, _ = next(iter(data.test.batches(0)))
    assert xv.shape == (6, 3, 224, 224)
