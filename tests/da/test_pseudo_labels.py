"""Invariants of the shared BDL pseudo-label rule (ssda_dual_mix.md §3.5, §9.6)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cvpapers.da.pseudo_labels import (
    PseudoLabelTally,
    ThresholdHistogram,
    bdl_pseudo_labels,
    bdl_thresholds,
    confidence_histogram,
    pseudo_label_stats,
    thresholds_from_histogram,
)

NUM_CLASSES = 6


def _prob_map(seed: int = 0, n: int = 8, h: int = 24, w: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Confidence and argmax of a synthetic softmax map with classes of very different sharpness."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, NUM_CLASSES, h, w, generator=gen)
    # Class c gets a bias and a sharpness so some classes are confident (median ≥ 0.9), others not.
    sharp = torch.tensor([0.5, 1.0, 2.0, 4.0, 8.0, 12.0])[None, :, None, None]
    probs = torch.softmax(logits * sharp + torch.linspace(0, 1, NUM_CLASSES)[None, :, None, None], dim=1)
    conf, pred = probs.max(dim=1)
    return conf, pred


def _reference_thresholds(conf: torch.Tensor, pred: torch.Tensor, portion: float, cap: float) -> np.ndarray:
    """The §3.5 rule written naively, one class at a time."""
    out = np.full(NUM_CLASSES, cap, dtype=np.float64)
    c_np, p_np = conf.numpy().ravel(), pred.numpy().ravel()
    for c in range(NUM_CLASSES):
        vals = np.sort(c_np[p_np == c])
        if len(vals):
            out[c] = min(vals[min(len(vals) - 1, int(round(portion * len(vals))))], cap)
    return out


@pytest.mark.parametrize("portion", [0.5, 0.2, 0.8])
def test_exact_thresholds_equal_per_class_sorted_index_rule(portion: float) -> None:
    conf, pred = _prob_map()
    tau = bdl_thresholds(conf, pred, NUM_CLASSES, portion=portion, cap=0.9)
    expected = _reference_thresholds(conf, pred, portion, 0.9).astype(np.float32)  # the cap in conf's dtype
    np.testing.assert_array_equal(tau.numpy(), expected)


def test_the_synthetic_map_has_classes_on_both_sides_of_the_cap() -> None:
    conf, pred = _prob_map()
    medians = [conf[pred == c].median() for c in range(NUM_CLASSES) if (pred == c).any()]
    assert min(medians) < 0.9 < max(medians)


@pytest.mark.parametrize("portion", [0.5, 0.2])
def test_a_each_class_keeps_at_least_its_share_when_its_quantile_is_below_the_cap(portion: float) -> None:
    conf, pred = _prob_map(seed=1)
    tau = bdl_thresholds(conf, pred, NUM_CLASSES, portion=portion, cap=0.9)
    labels = bdl_pseudo_labels(conf, pred, tau)
    for c in range(NUM_CLASSES):
        n_c = int((pred == c).sum())
        kept = int((labels == c).sum())
        if n_c:
            # The index rule keeps ≥ n − round(portion·n) pixels: (1 − portion)·n up to half a pixel.
            assert kept >= (1 - portion) * n_c - 0.5
            assert kept >= n_c - min(n_c - 1, round(portion * n_c))


def test_b_every_pixel_at_least_cap_confident_is_kept() -> None:
    conf, pred = _prob_map(seed=2)
    labels = bdl_pseudo_labels(conf, pred, bdl_thresholds(conf, pred, NUM_CLASSES))
    assert (conf >= 0.9).any()
    assert (labels[conf >= 0.9] != 255).all()


def test_c_kept_labels_equal_argmax_and_d_dropped_pixels_are_255() -> None:
    conf, pred = _prob_map(seed=3)
    tau = bdl_thresholds(conf, pred, NUM_CLASSES)
    labels = bdl_pseudo_labels(conf, pred, tau)
    assert labels.dtype == torch.uint8 and labels.shape == pred.shape
    kept = labels != 255
    assert torch.equal(labels[kept].long(), pred[kept])
    assert torch.equal(kept, conf >= tau[pred])
    assert (~kept).any() and set(labels[~kept].unique().tolist()) == {255}


def test_e_thresholds_never_exceed_the_cap() -> None:
    conf, pred = _prob_map(seed=4)
    for method in ("exact", "histogram"):
        tau = bdl_thresholds(conf, pred, NUM_CLASSES, cap=0.9, method=method)  # type: ignore[arg-type]
        assert (tau <= 0.9).all()
    # With a confident set the cap binds.
    confident = bdl_thresholds(torch.full((10,), 0.99), torch.zeros(10, dtype=torch.long), 1)
    assert confident[0].item() == pytest.approx(0.9)


def test_never_predicted_class_gets_the_cap() -> None:
    conf, pred = _prob_map(seed=5)
    pred = pred.clamp(max=NUM_CLASSES - 2)  # the last class is never predicted
    for method in ("exact", "histogram"):
        tau = bdl_thresholds(conf, pred, NUM_CLASSES, cap=0.85, method=method)  # type: ignore[arg-type]
        assert tau[-1].item() == pytest.approx(0.85)


@pytest.mark.parametrize("bins", [1000, 37])
def test_histogram_thresholds_within_one_bin_below_exact(bins: int) -> None:
    conf, pred = _prob_map(seed=6)
    exact = bdl_thresholds(conf, pred, NUM_CLASSES, method="exact")
    hist = bdl_thresholds(conf, pred, NUM_CLASSES, method="histogram", bins=bins)
    assert ((exact - hist).abs() <= 1.0 / bins + 1e-6).all()
    assert (hist <= exact + 1e-6).all()  # lower bin edge: keeps every pixel the exact rule keeps


def test_histograms_of_batches_add_up_to_the_whole_set_histogram() -> None:
    conf, pred = _prob_map(seed=7)
    whole = confidence_histogram(conf, pred, NUM_CLASSES, bins=200)
    parts = sum(
        confidence_histogram(conf[i : i + 3], pred[i : i + 3], NUM_CLASSES, bins=200) for i in (0, 3, 6)
    )
    assert torch.equal(whole, parts)
    assert int(whole.sum()) == conf.numel()
    assert torch.equal(
        thresholds_from_histogram(parts),
        bdl_thresholds(conf, pred, NUM_CLASSES, method="histogram", bins=200),
    )


def test_thresholds_are_computed_over_the_whole_set_not_per_image() -> None:
    # Image 0 all class-0 pixels at 0.3, image 1 at 0.7: the set's median is 0.7 (index round(0.5·8)=4).
    conf = torch.tensor([[0.3] * 4, [0.7] * 4])
    pred = torch.zeros(2, 4, dtype=torch.long)
    tau = bdl_thresholds(conf, pred, 1)
    assert tau[0].item() == pytest.approx(0.7)
    labels = bdl_pseudo_labels(conf, pred, tau)
    assert torch.equal(labels[0], torch.full((4,), 255, dtype=torch.uint8))


def test_out_of_range_predictions_are_rejected() -> None:
    with pytest.raises(ValueError):
        bdl_thresholds(torch.rand(4), torch.tensor([0, 1, 2, 3]), 3)
    with pytest.raises(ValueError):
        bdl_thresholds(torch.rand(4), torch.tensor([0, 1, 2, 0]), 3, method="median")  # type: ignore[arg-type]


def test_pseudo_label_stats_on_a_hand_made_example() -> None:
    pseudo = torch.tensor([[0, 0, 255, 1], [1, 255, 2, 2]], dtype=torch.uint8)
    truth = torch.tensor([[0, 1, 0, 1], [1, 1, 255, 0]], dtype=torch.uint8)
    predicted = torch.tensor([[0, 0, 0, 1], [1, 2, 2, 2]])
    stats = pseudo_label_stats(pseudo, truth, predicted=predicted, num_classes=3)
    assert stats["kept_frac"] == pytest.approx(6 / 8)
    assert sum(stats[f"kept_frac/{c}"] for c in range(3)) == pytest.approx(stats["kept_frac"])
    assert stats["kept_of_predicted/0"] == pytest.approx(2 / 3)
    assert stats["kept_of_predicted/2"] == pytest.approx(2 / 3)
    # Kept pixels with valid truth: (0,0)✓ (0,1)✗ (0,3)✓ (1,0)✓ (1,3)✗ → 3/5; (1,2) has truth 255.
    assert stats["acc"] == pytest.approx(3 / 5)
    assert stats["acc/0"] == pytest.approx(1 / 2) and stats["acc/1"] == pytest.approx(1.0)
    assert stats["acc/2"] == pytest.approx(0.0)
    assert all(isinstance(v, float) for v in stats.values())
    assert set(pseudo_label_stats(pseudo)) == {"kept_frac", "kept_frac/0", "kept_frac/1", "kept_frac/2"}


# -- the streaming pass: batch by batch, never all confidences at once -----------------------------------------

@pytest.mark.parametrize("bins", [100, 1000])
def test_streamed_thresholds_equal_the_in_memory_histogram_and_lie_within_a_bin_of_exact(bins: int) -> None:
    conf, pred = _prob_map(seed=5, n=12)
    streamed = ThresholdHistogram(NUM_CLASSES, bins)
    for k in range(0, 12, 5):  # uneven batches, as a real pass ends
        streamed.add(conf[k:k + 5], pred[k:k + 5])
    tau = streamed.thresholds(0.5, 0.9)
    assert torch.equal(tau, bdl_thresholds(conf, pred, NUM_CLASSES, 0.5, 0.9, "histogram", bins))
    exact = bdl_thresholds(conf, pred, NUM_CLASSES, 0.5, 0.9, "exact")
    assert bool(((exact - tau) >= 0).all()) and bool(((exact - tau) < 1.0 / bins).all())
    assert torch.equal(streamed.predicted_pixels, torch.bincount(pred.flatten(), minlength=NUM_CLASSES))
    # the labels differ from the exact rule's only in pixels of the threshold's bin
    diff = bdl_pseudo_labels(conf, pred, tau) != bdl_pseudo_labels(conf, pred, exact)
    assert bool(((conf[diff] >= tau[pred[diff]]) & (conf[diff] < exact[pred[diff]])).all())


def test_the_tally_of_batches_equals_the_stats_of_the_whole_set() -> None:
    conf, pred = _prob_map(seed=6, n=9)
    truth = torch.where(torch.rand(pred.shape, generator=torch.Generator().manual_seed(1)) < 0.8, pred,
                        (pred + 1) % NUM_CLASSES)
    truth[:, :2] = 255
    pseudo = bdl_pseudo_labels(conf, pred, bdl_thresholds(conf, pred, NUM_CLASSES))
    tally = PseudoLabelTally(NUM_CLASSES)
    for k in range(0, 9, 4):
        tally.add(pseudo[k:k + 4], pred[k:k + 4], truth[k:k + 4])
    assert tally.stats() == pseudo_label_stats(pseudo, truth, pred, NUM_CLASSES)
    bare = PseudoLabelTally(NUM_CLASSES)
    bare.add(pseudo)
    assert bare.stats() == pseudo_label_stats(pseudo, num_classes=NUM_CLASSES)
