"""ImageNet-style class folders: fixture writer ↔ manifest, labels in sorted-wnid order, error messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cvpapers.data.classification import ImageFileDataset, load_split
from cvpapers.data.imagefolder import imagefolder_manifest, write_imagefolder_fixture
from cvpapers.data.manifest import validate_manifest
from cvpapers.data.shapes import ShapesConfig, generate_shapes

# Deliberately not in sorted order: the class index must follow sorted wnids, not this list.
WNIDS = ["n03000134", "n01440764", "n02102040"]


def _write(root, split_dir: str, seed: int) -> np.ndarray:
    # Smooth flat-colour shapes (JPEG-friendly), cropped to 20×24 so height != width is exercised.
    images = generate_shapes(12, ShapesConfig(image_size=24, noise=0.0, seed=seed))[0][:, 2:22]
    labels = np.repeat(np.arange(3), 4)  # 3 wnids × 4 JPEGs
    write_imagefolder_fixture(root, images, labels, WNIDS, split_dir=split_dir)
    return images


def test_fixture_gives_sorted_wnid_labels_for_train_and_val(tmp_path) -> None:
    _write(tmp_path, "ILSVRC2012_img_train", 0)
    _write(tmp_path, "val", 1)
    df = validate_manifest(imagefolder_manifest(tmp_path), ["train", "val"])
    assert len(df) == 24 and (df["index"] == -1).all()
    expected = {w: i for i, w in enumerate(sorted(WNIDS))}
    assert all(expected[name] == lab for name, lab in zip(df["class_name"], df["label"]))
    assert df.groupby("split")["label"].apply(lambda s: np.bincount(s).tolist()).to_dict() == {
        "train": [4, 4, 4],
        "val": [4, 4, 4],
    }
    assert all(p.endswith(".JPEG") and f"/{c}/{c}_" in p for p, c in zip(df["path"], df["class_name"]))


def test_custom_split_folder_names(tmp_path) -> None:
    _write(tmp_path, "train", 0)
    _write(tmp_path, "validation", 1)
    df = imagefolder_manifest(tmp_path, train_dir="train", val_dir="validation")
    assert set(df["split"]) == {"train", "val"}


def test_load_split_and_streaming_dataset_read_jpegs(tmp_path) -> None:
    images = _write(tmp_path, "ILSVRC2012_img_train", 0)
    _write(tmp_path, "val", 1)
    df = imagefolder_manifest(tmp_path)
    x, y = load_split(df, "train")
    assert x.shape == (12, 3, 20, 24) and x.dtype == torch.uint8
    # JPEG is lossy: close on average, not exact. Rows are sorted by wnid then file name.
    order = np.argsort([sorted(WNIDS).index(WNIDS[i // 4]) * 4 + i % 4 for i in range(12)])
    ref = torch.from_numpy(images[order]).permute(0, 3, 1, 2).float()
    err = (x.float()[:, None] - ref[None]).abs().mean((2, 3, 4))  # row × reference image
    assert torch.equal(err.argmin(1), torch.arange(12)) and err.diagonal().max() < 20
    x16, _ = load_split(df, "val", image_size=16)
    assert x16.shape == (12, 3, 16, 16)
    ds = ImageFileDataset(df, "val")
    img, label = ds[5]
    assert img.shape == (3, 224, 224) and img.dtype == torch.float32 and label == df[df.split == "val"].label.iloc[5]


def test_missing_root_error_names_path(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        imagefolder_manifest(tmp_path / "nowhere")


def test_missing_val_folder_error_names_path(tmp_path) -> None:
    _write(tmp_path, "ILSVRC2012_img_train", 0)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "val")):
        imagefolder_manifest(tmp_path)


def test_empty_class_folder_error_names_folder(tmp_path) -> None:
    _write(tmp_path, "ILSVRC2012_img_train", 0)
    _write(tmp_path, "val", 1)
    (tmp_path / "val" / "n09999999").mkdir()
    (tmp_path / "ILSVRC2012_img_train" / "n09999999").mkdir()
    with pytest.raises(FileNotFoundError, match="n09999999"):
        imagefolder_manifest(tmp_path)


def test_val_class_missing_from_train_is_rejected(tmp_path) -> None:
    _write(tmp_path, "ILSVRC2012_img_train", 0)
    _write(tmp_path, "val", 1)
    (tmp_path / "val" / "n00000001").mkdir()
    with pytest.raises(ValueError, match="n00000001"):
        imagefolder_manifest(tmp_path)
