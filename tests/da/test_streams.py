"""The file-backed side of the DA image sets: the reader (paper resizing, LAB on the fly, full-resolution labels),
index spaces for mixed batches, the bridge to the engine's iteration loop (same batches, replayed after a
resume) and evaluation one image at a time equal to the in-memory evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cvpapers.da.batches import pick
from cvpapers.da.lab import lab_transfer
from cvpapers.da.segmenter import evaluate_arrays, evaluate_stream, segment_logits
from cvpapers.da.streams import (
    LAB_MEAN,
    LAB_STD,
    DAReader,
    PairDataset,
    StreamSource,
    UnionDataset,
    dataset,
    manifest_digest,
    train_transform,
)
from cvpapers.data.segmentation import cityscapes_manifest, gta5_manifest, resize_pair, write_street_fixture
from cvpapers.data.streaming import SkipLog, stream
from cvpapers.engine.iterative import IterationBatches, train_iterations


@pytest.fixture
def city(tmp_path: Path) -> pd.DataFrame:
    write_street_fixture(tmp_path, "cityscapes", 5, (32, 64), split="val", city="ulm", seed=1)
    return cityscapes_manifest(tmp_path, splits=("val",)).assign(id=np.arange(5))


@pytest.fixture
def gta(tmp_path: Path) -> pd.DataFrame:
    write_street_fixture(tmp_path, "gta5", 4, (36, 60), seed=2)
    return gta5_manifest(tmp_path).assign(id=np.arange(4))


def test_the_reader_resizes_like_the_paper_keeps_full_labels_and_translates_on_the_fly(city, gta) -> None:
    from cvpapers.data.segmentation import read_pair

    row = city.iloc[0]
    image, label = read_pair(row["path"], row["label_path"], "cityscapes")
    s = DAReader(19, (16, 32))(row)
    ref_x, ref_y = resize_pair(image, label, (16, 32))
    np.testing.assert_array_equal(s["image"], ref_x)
    np.testing.assert_array_equal(s["mask"], ref_y)
    assert s["full_size"].tolist() == [32, 64]
    full = DAReader(19, (16, 32), full_label=True)(row)
    assert full["image"].shape == (16, 32, 3) and full["mask"].shape == (32, 64)
    unl = DAReader(19, (16, 32), label=None, placeholder=True)(row)
    assert (unl["mask"] == 255).all()
    assert "mask" not in DAReader(19, label=None)(row)
    # a translated source row: its reference statistics, applied after the resize
    g = gta.iloc[0]
    ref = {**dict(zip(LAB_MEAN, (60.0, 2.0, -3.0), strict=True)), **dict(zip(LAB_STD, (15.0, 4.0, 6.0), strict=True))}
    s = DAReader(19, (18, 30), lab_eps=1e-6)(pd.Series({**g.to_dict(), **ref}))
    plain = DAReader(19, (18, 30))(g)["image"]
    want = lab_transfer(plain[None], np.array([[60.0, 2.0, -3.0]]), np.array([[15.0, 4.0, 6.0]]))[0]
    np.testing.assert_array_equal(s["image"], want)


def test_the_random_crop_is_seeded_per_sample_and_moves_image_and_mask_together(city) -> None:
    data = dataset(city, DAReader(19), train_transform((16, 24), hflip=True))
    a, b, c = data[(0, 7)], data[(0, 7)], data[(0, 8)]
    assert a["image"].shape == (16, 24, 3) and a["mask"].shape == (16, 24)
    np.testing.assert_array_equal(a["image"], b["image"])
    assert not np.array_equal(a["image"], c["image"]) or not np.array_equal(a["mask"], c["mask"])


def test_union_and_pair_datasets_index_the_parts_and_combine_in_the_worker(city, gta) -> None:
    reader = DAReader(19, (16, 32))
    both = UnionDataset([dataset(city, reader), dataset(gta, reader)])
    assert len(both) == 9 and both.offset(1) == 5
    assert both[(6, 0)]["index"] == 6
    np.testing.assert_array_equal(both[(6, 0)]["image"], reader(gta.iloc[1])["image"])

    def combine(a, b, seed):
        return {"image": np.concatenate([a["image"], b["image"]], 1), "mask": a["mask"], "seed": seed}

    pairs = PairDataset(dataset(city, reader), dataset(gta, reader), combine)
    key = int(pairs.key(torch.tensor(3), torch.tensor(2)))
    assert len(pairs) == 20 and key == 14
    s = pairs[(key, 5)]
    np.testing.assert_array_equal(s["image"][:, :32], reader(city.iloc[3])["image"])
    np.testing.assert_array_equal(s["image"][:, 32:], reader(gta.iloc[2])["image"])
    assert s["index"] == key and s["seed"] == pairs[(key, 5)]["seed"] != pairs[(key, 6)]["seed"]


def _draw_setup(city: pd.DataFrame) -> tuple:
    data = dataset(city, DAReader(19, (16, 32)), train_transform((8, 16)))

    def pick3(g: torch.Generator) -> torch.Tensor:
        return pick(len(data), 3, g)

    return data, pick3


def test_stream_source_picks_the_in_memory_draws_images_and_replays_a_chunk_after_a_resume(city) -> None:
    data, pick3 = _draw_setup(city)
    chunk, seed = 3, 11
    first = StreamSource(data, pick3, lambda b: b)(chunk, seed)
    served = {e: list(first.batches(e)) for e in range(2)}
    # the indices are the in-memory draws' (same generator seeds)
    for e in range(2):
        assert [b["index"].tolist() for b in served[e]] == [t.tolist() for t in IterationBatches(pick3, chunk, seed).batches(e)]
    # a resumed stage starts at chunk 1 with a new source: the same batches, crops included
    again = list(StreamSource(data, pick3, lambda b: b)(chunk, seed).batches(1))
    for got, want in zip(again, served[1], strict=True):
        assert torch.equal(got["index"], want["index"]) and torch.equal(got["image"], want["image"])


def test_stream_source_trains_through_the_engines_loop(city) -> None:
    from cvpapers.da.batches import supervised_step
    from cvpapers.da.segmenter import normaliser
    from cvpapers.da.streams import images_nchw
    from cvpapers.models.segmentation import build_segmenter

    data, pick3 = _draw_setup(city)
    norm = normaliser("embedded")
    source = StreamSource(data, pick3, lambda b: (norm(images_nchw(b)), b["mask"].long()))
    torch.manual_seed(0)
    model = build_segmenter("tiny_deeplabv2", 19, widths=[4, 4, 4, 4])
    result = train_iterations(model, None, supervised_step(0.1), stage="t", iters=4, eval_every=2, lr=1e-3,
                              device=torch.device("cpu"), seed=1, log_prefix="", source=source)
    assert len(result.history) == 2 and np.isfinite(result.last["train_loss"])


def test_streamed_evaluation_equals_the_in_memory_evaluation(city) -> None:
    from cvpapers.data.segmentation import load_segmentation
    from cvpapers.models.segmentation import build_segmenter

    torch.manual_seed(0)
    model = build_segmenter("tiny_deeplabv2", 19, widths=[4, 4, 4, 4]).eval()
    x, y = load_segmentation(city)
    ref = evaluate_arrays(model, x.permute(0, 2, 3, 1).numpy(), y.numpy(), 19, "embedded", torch.device("cpu"), 2)
    data = dataset(city, DAReader(19, full_label=True))
    got = evaluate_stream(model, stream(data, 2), 19, "embedded", torch.device("cpu"))
    assert torch.equal(got["confusion"], ref["confusion"]) and got["miou"] == ref["miou"]
    # network input at half size, scored against the full-resolution labels
    half = evaluate_stream(model, stream(dataset(city, DAReader(19, (16, 32), full_label=True))), 19, "embedded",
                           torch.device("cpu"))
    assert int(half["confusion"].sum()) == int(ref["confusion"].sum()) == int((y != 255).sum())


def test_sliding_window_covers_the_input_and_one_window_equals_the_whole_image() -> None:
    from cvpapers.models.segmentation import build_segmenter

    torch.manual_seed(0)
    model = build_segmenter("tiny_deeplabv2", 5, widths=[4, 4, 4, 4]).eval()
    x = torch.randn(1, 3, 24, 40)
    with torch.inference_mode():
        whole = segment_logits(model, x, (24, 40))
        one = segment_logits(model, x, (24, 40), window=(24, 40))
        tiles = segment_logits(model, x, (48, 80), window=(16, 16), stride=(8, 12))
    torch.testing.assert_close(one, whole)
    assert tiles.shape == (1, 5, 48, 80) and bool(torch.isfinite(tiles).all())


def test_bad_samples_stop_the_pass_or_are_skipped_and_counted(city) -> None:
    Path(city["path"][2]).write_bytes(b"\x89PNG broken")
    data = dataset(city, DAReader(19, full_label=True))
    with pytest.raises(ValueError, match="000021_leftImg8bit.png"):
        list(stream(data))
    skips = SkipLog()
    seen = [int(i) for b in stream(dataset(city, DAReader(19), on_bad_sample="skip"), 2, skips=skips)
            for i in b["index"]]
    assert seen == [0, 1, 3, 4] and skips.metrics() == {"skipped_samples": 1.0}


def test_manifest_digest_changes_with_the_files_listed(city) -> None:
    assert manifest_digest(city) == manifest_digest(city.copy())
    assert manifest_digest(city) != manifest_digest(city.iloc[::-1])
