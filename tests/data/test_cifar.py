"""CIFAR-10 pickle layout: writer ↔ reader round trip, torchvision cross-check, error messages."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from cvpapers.data.cifar import (
    CIFAR10_CLASS_NAMES,
    cifar10_manifest,
    read_cifar_batch,
    write_cifar10_fixture,
)
from cvpapers.data.classification import load_split
from cvpapers.data.decode import BadSampleError
from cvpapers.data.manifest import validate_manifest


def _images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n)


@pytest.fixture()
def fixture_root(tmp_path):
    """2 train batches of 20 images + a test batch of 20, in the real layout."""
    xtr, ytr = _images(40, 0)
    xte, yte = _images(20, 1)
    write_cifar10_fixture(tmp_path, xtr, ytr, xte, yte, n_batches=2)
    return tmp_path, (xtr, ytr), (xte, yte)


def test_fixture_files_follow_the_cifar_layout(fixture_root) -> None:
    root, (xtr, _), _ = fixture_root
    folder = root / "cifar-10-batches-py"
    assert sorted(p.name for p in folder.iterdir()) == ["batches.meta", "data_batch_1", "data_batch_2", "test_batch"]
    with (folder / "data_batch_1").open("rb") as f:
        entry = pickle.load(f, encoding="bytes")  # how the original Python 2 files are usually read
    data = entry["data"]
    assert data.dtype == np.uint8 and data.shape == (20, 3072)
    # R plane first, row-major: element 0 is R of pixel (0,0), element 1024 is G of pixel (0,0), 33 is R(1,1).
    assert data[0, 0] == xtr[0, 0, 0, 0] and data[0, 1024] == xtr[0, 0, 0, 1] and data[0, 33] == xtr[0, 1, 1, 0]


def test_manifest_and_load_split_read_fixture_back_pixel_exact(fixture_root) -> None:
    root, (xtr, ytr), (xte, yte) = fixture_root
    df = validate_manifest(cifar10_manifest(root), ["train", "test"])
    train = df[df["split"] == "train"]
    assert len(train) == 40 and list(train["index"][:21]) == [*range(20), 0]
    assert train["path"].iloc[20].endswith("data_batch_2")
    assert list(df["class_name"][:3]) == [CIFAR10_CLASS_NAMES[c] for c in ytr[:3]]
    x, y = load_split(df, "train")
    assert torch.equal(x, torch.from_numpy(xtr).permute(0, 3, 1, 2)) and torch.equal(y, torch.from_numpy(ytr))
    x, y = load_split(df, "test")
    assert torch.equal(x, torch.from_numpy(xte).permute(0, 3, 1, 2)) and torch.equal(y, torch.from_numpy(yte))
    imgs, labels = read_cifar_batch(root / "cifar-10-batches-py" / "test_batch")
    assert np.array_equal(imgs, xte) and np.array_equal(labels, yte)


def test_torchvision_cifar10_reads_the_same_pixels(tmp_path, monkeypatch) -> None:
    """torchvision checks md5 sums of the real files; the layout check is what matters, so bypass it."""
    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *args, **kwargs: True)
    xtr, ytr = _images(15, 2)
    xte, yte = _images(6, 3)
    write_cifar10_fixture(tmp_path, xtr, ytr, xte, yte, n_batches=5)  # torchvision opens all 5
    tv_data = {}
    for train, (x, y) in ((True, (xtr, ytr)), (False, (xte, yte))):
        ds = tv_cifar.CIFAR10(str(tmp_path), train=train, download=False)
        assert np.array_equal(ds.data, x) and ds.targets == y.tolist()
        assert ds.classes == list(CIFAR10_CLASS_NAMES)
        tv_data[train] = ds.data
    df = cifar10_manifest(tmp_path)
    for train, split in ((True, "train"), (False, "test")):
        ours, _ = load_split(df, split)
        assert torch.equal(ours, torch.from_numpy(tv_data[train]).permute(0, 3, 1, 2))


def test_missing_cifar_folder_error_names_expected_path_and_layout(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"cifar-10-batches-py.*data_batch_1\.\.5"):
        cifar10_manifest(tmp_path)


def test_missing_test_batch_error_names_the_file(fixture_root) -> None:
    root, _, _ = fixture_root
    (root / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(FileNotFoundError, match="test_batch"):
        cifar10_manifest(root)


def test_gap_in_train_batches_is_reported(fixture_root) -> None:
    root, _, _ = fixture_root
    (root / "cifar-10-batches-py" / "data_batch_1").unlink()
    with pytest.raises(FileNotFoundError, match=r"data_batch_1\.\.k"):
        cifar10_manifest(root)
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        cifar10_manifest(root, n_train_batches=2)


def test_pickle_with_foreign_globals_is_refused(tmp_path) -> None:
    path = tmp_path / "evil"
    with path.open("wb") as f:
        pickle.dump({"data": np.zeros((1, 3072), np.uint8), "labels": [0], "x": os.system}, f)
    with pytest.raises(BadSampleError, match="refusing to load global"):
        read_cifar_batch(path)
