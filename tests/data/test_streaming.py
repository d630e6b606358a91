"""Manifest-backed streaming: seeded per-sample transforms replay, iteration batches match the in-memory
draws' indices and survive a restart, bad samples stop the run or are skipped and counted."""

from __future__ import annotations

from pathlib import Path

import albumentations as A
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from cvpapers.data.decode import decode_image
from cvpapers.data.streaming import (
    IterationSampler,
    ManifestDataset,
    SeededAlbumentations,
    SkipLog,
    StreamingBatches,
    collate,
    stream,
)
from cvpapers.engine.iterative import IterationBatches


@pytest.fixture
def files(tmp_path: Path) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(10):
        img = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
        path = tmp_path / f"{i:02d}.png"
        Image.fromarray(img).save(path)
        rows.append({"path": str(path), "label": i % 3})
    return pd.DataFrame(rows)


def _read(row) -> dict:
    return {"image": decode_image(row["path"]), "label": int(row["label"])}


def _pick(g: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 10, (3,), generator=g)


def test_iteration_indices_equal_the_in_memory_draws(files: pd.DataFrame) -> None:
    ds = ManifestDataset(files, _read)
    seen = [b["index"].tolist() for b in StreamingBatches([(ds, _pick)], 4, seed=7).batches(2)]
    expected = [d.tolist() for d in IterationBatches(_pick, 4, seed=7).batches(2)]
    assert seen == expected


def test_a_restarted_source_replays_the_chunk_with_workers(files: pd.DataFrame) -> None:
    crop = SeededAlbumentations(A.Compose([A.RandomCrop(8, 8), A.HorizontalFlip()]), targets=["image"])
    ds = ManifestDataset(files, _read, transform=crop)
    first = [b["image"] for b in StreamingBatches([(ds, _pick)], 3, seed=1).batches(1)]
    again = [b["image"] for b in StreamingBatches([(ds, _pick)], 3, seed=1, workers=2).batches(1)]
    other = [b["image"] for b in StreamingBatches([(ds, _pick)], 3, seed=2).batches(1)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert first[0].shape == (3, 8, 8, 3)
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_streams_take_turns_by_global_iteration(files: pd.DataFrame) -> None:
    a, b = ManifestDataset(files.iloc[:5], _read), ManifestDataset(files.iloc[5:], _read)
    pick5 = lambda g: torch.randint(0, 5, (2,), generator=g)  # noqa: E731
    batches = list(StreamingBatches([(a, pick5), (b, pick5)], 5, seed=3).batches(1))
    # chunk 1 starts at global iteration 5: stream b first
    assert [bt["image"].shape[0] for bt in batches] == [2] * 5
    in_b = [bool(np.isin(bt["label"].numpy(), files.iloc[5:]["label"].to_numpy()).all()) for bt in batches]
    assert in_b[0] and len(IterationSampler(pick5, 5, 3, turn=0, turns=2)) == 3


def test_seeded_albumentations_moves_image_and_mask_together() -> None:
    img = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)
    mask = img[:, :, 0].copy()
    t = SeededAlbumentations(A.Compose([A.RandomCrop(8, 8), A.HorizontalFlip(p=0.5)]))
    out = t({"image": img, "mask": mask}, seed=5)
    np.testing.assert_array_equal(out["image"][:, :, 0], out["mask"])
    np.testing.assert_array_equal(t({"image": img, "mask": mask}, seed=5)["image"], out["image"])


def test_bad_sample_stops_or_is_skipped_and_counted(files: pd.DataFrame) -> None:
    path = Path(files.loc[3, "path"])
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(Exception, match=str(path)):
        list(stream(ManifestDataset(files, _read), batch_size=4))
    skips = SkipLog()
    batches = list(stream(ManifestDataset(files, _read, on_bad_sample="skip"), batch_size=4, skips=skips))
    assert sum(len(b["index"]) for b in batches) == 9
    assert skips.metrics() == {"skipped_samples": 1.0} and str(path) in skips.skipped


def test_stream_visits_every_sample_once_in_order(files: pd.DataFrame) -> None:
    order = [i for b in stream(ManifestDataset(files, _read), batch_size=3, workers=2) for i in b["index"].tolist()]
    assert order == list(range(10))


def test_collate_keeps_ragged_fields_as_lists() -> None:
    batch = collate([{"image": np.zeros((2, 2)), "boxes": np.zeros((1, 4)), "id": "a"},
                     {"image": np.ones((2, 2)), "boxes": np.zeros((3, 4)), "id": "b"}])
    assert batch["image"].shape == (2, 2, 2) and isinstance(batch["boxes"], list) and batch["id"] == ["a", "b"]
