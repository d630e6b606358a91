"""VOC detection AP, MMDetection v2 ``eval_map`` semantics (papers/mi_aod.md §5, §8.4, §9.8, pitfall 13)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from cvpapers.metrics.detection import average_precision, box_iou, evaluate_detections

BOX = [0.0, 0.0, 10.0, 10.0]


def make_gt(per_image: list[list[tuple[list[float], int, bool]]]) -> dict[str, np.ndarray]:
    """The dataset's padded format from per-image lists of (box, label, difficult)."""
    n, g = len(per_image), max([len(objs) for objs in per_image] + [1])
    boxes = np.zeros((n, g, 4), dtype=np.float32)
    labels = np.full((n, g), -1, dtype=np.int64)
    difficult = np.zeros((n, g), dtype=bool)
    for i, objs in enumerate(per_image):
        for j, (box, label, diff) in enumerate(objs):
            boxes[i, j], labels[i, j], difficult[i, j] = box, label, diff
    return {"boxes": boxes, "labels": labels, "difficult": difficult}


def make_det(objs: list[tuple[list[float], float, int]]) -> dict[str, np.ndarray]:
    """One image's detections from (box, score, label)."""
    return {
        "boxes": np.array([o[0] for o in objs], dtype=np.float32).reshape(-1, 4),
        "scores": np.array([o[1] for o in objs], dtype=np.float32),
        "labels": np.array([o[2] for o in objs], dtype=np.int64),
    }


def shifted(dx: float) -> list[float]:
    return [dx, 0.0, 10.0 + dx, 10.0]


# --- hand-made cases ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["area", "11points"])
def test_one_perfect_detection_gives_ap_one(mode: str) -> None:
    out = evaluate_detections([make_det([(BOX, 0.9, 0)])], make_gt([[(BOX, 0, False)]]), 1, mode=mode)
    assert out["mAP"] == pytest.approx(1.0)
    assert out["ap"].tolist() == pytest.approx([1.0])
    assert out["num_gt"].tolist() == [1] and out["num_dets"].tolist() == [1]


def test_duplicate_detection_of_a_matched_gt_is_one_false_positive() -> None:
    gt = make_gt([[(BOX, 0, False)], [(BOX, 0, False)]])
    clean = [make_det([(BOX, 0.9, 0)]), make_det([(BOX, 0.7, 0)])]
    assert evaluate_detections(clean, gt, 1)["mAP"] == pytest.approx(1.0)
    # Ranked: TP (image 0), duplicate of the same GT (image 0, FP), TP (image 1).
    # recall 1/2, 1/2, 1; precision 1, 1/2, 2/3; envelope 1, 2/3, 2/3.
    dup = [make_det([(BOX, 0.9, 0), (shifted(0.5), 0.8, 0)]), make_det([(BOX, 0.7, 0)])]
    area = evaluate_detections(dup, gt, 1, mode="area")
    assert area["mAP"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)  # 5/6
    # 11 points: t = 0 … 0.5 → 1 (six thresholds), t = 0.6 … 1 → 2/3 (five).
    eleven = evaluate_detections(dup, gt, 1, mode="11points")
    assert eleven["mAP"] == pytest.approx((6 * 1 + 5 * 2 / 3) / 11)  # 28/33
    assert area["num_dets"].tolist() == [3]


@pytest.mark.parametrize("mode", ["area", "11points"])
@pytest.mark.parametrize(("height", "expected"), [(4.9, 0.0), (5.0, 1.0), (5.1, 1.0)])
def test_iou_below_threshold_misses_and_at_or_above_hits(mode: str, height: float, expected: float) -> None:
    det_box = [0.0, 0.0, 10.0, height]  # inside the 10×10 GT: IoU = height / 10 (0.49, 0.50, 0.51)
    assert box_iou(np.array([det_box]), np.array([BOX]))[0, 0] == pytest.approx(height / 10)
    out = evaluate_detections([make_det([(det_box, 0.9, 0)])], make_gt([[(BOX, 0, False)]]), 1, mode=mode)
    assert out["mAP"] == pytest.approx(expected)


def test_detection_on_difficult_gt_is_ignored_and_difficult_gt_do_not_count_toward_recall() -> None:
    far = [50.0, 50.0, 60.0, 60.0]
    gt = make_gt([[(BOX, 0, False), (far, 0, True)]])
    # A higher-scored hit on the difficult box: were it an FP, precision at the TP would be 1/2 (AP 0.5).
    out = evaluate_detections([make_det([(far, 0.95, 0), (BOX, 0.9, 0)])], gt, 1)
    assert out["num_gt"].tolist() == [1]
    assert out["mAP"] == pytest.approx(1.0)
    # The difficult box is never detected, yet recall reaches 1.
    assert evaluate_detections([make_det([(BOX, 0.9, 0)])], gt, 1)["mAP"] == pytest.approx(1.0)
    # A second hit on the same difficult box is ignored too (not a duplicate FP).
    out = evaluate_detections([make_det([(far, 0.97, 0), (far, 0.95, 0), (BOX, 0.9, 0)])], gt, 1)
    assert out["mAP"] == pytest.approx(1.0)


def test_iou_tie_between_difficult_and_normal_gt_goes_to_the_normal_one() -> None:
    gt = make_gt([[(BOX, 0, True), (BOX, 0, False)]])  # the difficult copy comes first in the padding
    assert evaluate_detections([make_det([(BOX, 0.9, 0)])], gt, 1)["mAP"] == pytest.approx(1.0)


def test_class_without_gt_is_excluded_from_map() -> None:
    gt = make_gt([[(BOX, 0, False), ([20.0, 20.0, 30.0, 30.0], 2, True)]])  # class 2: difficult only
    dets = [make_det([(BOX, 0.9, 0), ([40.0, 40.0, 50.0, 50.0], 0.8, 1), ([20.0, 20.0, 30.0, 30.0], 0.7, 2)])]
    out = evaluate_detections(dets, gt, 4)
    assert out["num_gt"].tolist() == [1, 0, 0, 0]
    assert out["num_dets"].tolist() == [1, 1, 1, 0]
    assert out["ap"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert out["mAP"] == pytest.approx(1.0)  # not 1/4
    assert not np.isnan(out["ap"]).any()


def test_no_gt_at_all_gives_map_zero() -> None:
    out = evaluate_detections([make_det([(BOX, 0.9, 0)])], make_gt([[]]), 2)
    assert out["mAP"] == 0.0 and out["num_gt"].tolist() == [0, 0]


def test_detection_of_another_class_is_a_false_positive() -> None:
    gt = make_gt([[(BOX, 0, False)]])
    out = evaluate_detections([make_det([(BOX, 0.9, 1)])], gt, 2)
    assert out["ap"].tolist() == [0.0, 0.0] and out["mAP"] == 0.0


def test_score_ties_are_ranked_in_image_order() -> None:
    gt = make_gt([[], [(BOX, 0, False)]])
    far = [50.0, 50.0, 60.0, 60.0]
    # Equal scores: image 0's FP ranks before image 1's TP → precision 0 then 1/2 → AP 1/2.
    out = evaluate_detections([make_det([(far, 0.5, 0)]), make_det([(BOX, 0.5, 0)])], gt, 1)
    assert out["mAP"] == pytest.approx(0.5)


def test_eleven_point_and_area_differ_on_hand_computed_curve() -> None:
    # Ranked TP, TP, FP, TP with 4 GT (one never found).
    recall = np.array([0.25, 0.5, 0.5, 0.75])
    precision = np.array([1.0, 1.0, 2 / 3, 0.75])
    # Envelope 1, 1, 0.75, 0.75 → 0.25·1 + 0.25·1 + 0 + 0.25·0.75.
    assert average_precision(recall, precision, "area") == pytest.approx(0.6875)
    # t = 0 … 0.5 → 1 (six), t = 0.6, 0.7 → 0.75 (two), t = 0.8 … 1 → none reached, 0 (three).
    assert average_precision(recall, precision, "11points") == pytest.approx(7.5 / 11)
    # The same curve end to end.
    gt = make_gt([[(shifted(20.0 * j), 0, False) for j in range(4)]])
    miss = [0.0, 50.0, 10.0, 60.0]
    dets = [make_det([(shifted(0), 0.9, 0), (shifted(20), 0.8, 0), (miss, 0.7, 0), (shifted(40), 0.6, 0)])]
    assert evaluate_detections(dets, gt, 1, mode="area")["mAP"] == pytest.approx(0.6875)
    assert evaluate_detections(dets, gt, 1, mode="11points")["mAP"] == pytest.approx(7.5 / 11)


def test_eleven_point_thresholds_are_mmdetections_floats() -> None:
    # MMDetection's np.arange(0, 1.001, 0.1) has t = 0.30000000000000004 > 0.3, so a curve that stops at
    # recall exactly 3/10 reaches t = 0, 0.1, 0.2 only (3/11, not the decimal 4/11) …
    assert average_precision(np.array([0.1, 0.2, 0.3]), np.ones(3), "11points") == pytest.approx(3 / 11)
    # … while 0.4 and 0.5 are exact: recall 1/2 reaches six thresholds.
    assert average_precision(np.array([0.5]), np.ones(1), "11points") == pytest.approx(6 / 11)


def test_empty_curve_and_unknown_mode() -> None:
    assert average_precision(np.array([]), np.array([]), "area") == 0.0
    assert average_precision(np.array([]), np.array([]), "11points") == 0.0
    with pytest.raises(ValueError, match="11points"):
        average_precision(np.array([1.0]), np.array([1.0]), "coco")
    with pytest.raises(ValueError, match="area"):
        evaluate_detections([make_det([])], make_gt([[]]), 1, mode="101points")


def test_images_without_detections_or_gt_are_fine() -> None:
    gt = make_gt([[(BOX, 0, False)], [], [(BOX, 0, False)]])
    out = evaluate_detections([make_det([(BOX, 0.9, 0)]), make_det([]), make_det([])], gt, 1)
    # recall 1/2 at precision 1.
    assert out["mAP"] == pytest.approx(0.5)
    assert evaluate_detections([make_det([])] * 3, gt, 1)["mAP"] == 0.0


def test_length_mismatch_raises_naming_both_lengths() -> None:
    gt = make_gt([[(BOX, 0, False)], [(BOX, 0, False)], []])
    with pytest.raises(ValueError, match=r"2 detection entries but 3 ground-truth images"):
        evaluate_detections([make_det([]), make_det([])], gt, 1)


def test_out_of_range_detection_label_raises() -> None:
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        evaluate_detections([make_det([(BOX, 0.9, 2)])], make_gt([[(BOX, 0, False)]]), 2)


# --- random data -------------------------------------------------------------------------------------


def random_case(
    rng: np.random.Generator, n_images: int, num_classes: int, max_gt: int = 6, max_dets: int = 12
) -> tuple[list[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Overlapping GT and detections (jittered GT copies, duplicates, strays, wrong classes)."""
    gts, dets = [], []
    for _ in range(n_images):
        k = int(rng.integers(0, max_gt + 1))
        xy = rng.uniform(0, 60, (k, 2))
        wh = rng.uniform(5, 30, (k, 2))
        boxes = np.concatenate([xy, xy + wh], 1)
        labels = rng.integers(0, num_classes, k)
        gts.append([(b.tolist(), int(c), bool(rng.random() < 0.2)) for b, c in zip(boxes, labels)])
        m = int(rng.integers(0, max_dets + 1))
        src = rng.integers(0, max(k, 1), m)
        jitter = rng.normal(0, 3, (m, 4))
        stray = np.concatenate([rng.uniform(0, 60, (m, 2)), rng.uniform(0, 60, (m, 2)) + 5], 1)
        use_gt = (rng.random(m) < 0.7) & (k > 0)
        det_boxes = np.where(use_gt[:, None], boxes[src % max(k, 1)] + jitter if k else stray, stray)
        det_boxes[:, 2:] = np.maximum(det_boxes[:, 2:], det_boxes[:, :2] + 0.5)
        det_labels = np.where(use_gt & (rng.random(m) < 0.85), labels[src % max(k, 1)] if k else 0,
                              rng.integers(0, num_classes, m))
        dets.append(make_det([(b.tolist(), float(s), int(c)) for b, s, c in
                              zip(det_boxes, rng.random(m), det_labels)]))
    return dets, make_gt(gts)


def reference_map(dets, gt, num_classes: int, iou_thr: float, mode: str) -> tuple[float, list[float]]:
    """Brute force, plain Python: the rules written out one detection at a time."""

    def iou(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = w * h
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / max(union, np.finfo(np.float32).eps)

    aps, present = [], []
    for c in range(num_classes):
        gts = {}  # image → [(box, difficult)]
        num_gt = 0
        for i in range(len(dets)):
            gts[i] = [(gt["boxes"][i, j].tolist(), bool(gt["difficult"][i, j]))
                      for j in range(gt["labels"].shape[1]) if gt["labels"][i, j] == c]
            num_gt += sum(not d for _, d in gts[i])
        ranked = [(float(d["scores"][k]), i, d["boxes"][k].tolist())
                  for i, d in enumerate(dets) for k in range(len(d["scores"])) if d["labels"][k] == c]
        ranked.sort(key=lambda t: -t[0])  # stable
        matched = set()
        flags = []  # "tp" / "fp" / "ignore"
        for _, i, box in ranked:
            best, best_j = -1.0, None
            # Non-difficult GT first: MMDetection stacks the ignored ones last, so they lose IoU ties.
            for j in sorted(range(len(gts[i])), key=lambda j: gts[i][j][1]):
                g = gts[i][j][0]
                v = iou(box, g)
                if v > best:
                    best, best_j = v, j
            if best_j is None or best < iou_thr:
                flags.append("fp")
            elif gts[i][best_j][1]:
                flags.append("ignore")
            elif (i, best_j) in matched:
                flags.append("fp")
            else:
                matched.add((i, best_j))
                flags.append("tp")
        tp = fp = 0
        curve = []  # (tp count, precision) per rank
        for f in flags:
            tp += f == "tp"
            fp += f == "fp"
            curve.append((tp, tp / max(tp + fp, np.finfo(np.float32).eps)))
        ap = 0.0
        if num_gt:
            if mode == "area":
                # Each TP adds 1/num_gt of recall at the best precision from its rank on.
                for r, f in enumerate(flags):
                    if f == "tp":
                        ap += max(p for _, p in curve[r:]) / num_gt
            else:
                for k in range(11):  # MMDetection's thresholds: 0.1·k in floating point (0.3 → 0.3…04)
                    ps = [p for t, p in curve if t / num_gt >= k * 0.1]
                    ap += (max(ps) if ps else 0.0) / 11
        aps.append(ap)
        present.append(num_gt > 0)
    kept = [a for a, p in zip(aps, present) if p]
    return (sum(kept) / len(kept) if kept else 0.0), aps


@pytest.mark.parametrize("mode", ["area", "11points"])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("iou_thr", [0.5, 0.3])
def test_matches_brute_force_reference_on_random_data(mode: str, seed: int, iou_thr: float) -> None:
    rng = np.random.default_rng(seed)
    dets, gt = random_case(rng, n_images=40, num_classes=3)
    out = evaluate_detections(dets, gt, 3, iou_thr=iou_thr, mode=mode)
    ref_map, ref_ap = reference_map(dets, gt, 3, iou_thr, mode)
    assert out["ap"].tolist() == pytest.approx(ref_ap, abs=1e-12)
    assert out["mAP"] == pytest.approx(ref_map, abs=1e-12)
    assert 0.0 < out["mAP"] < 1.0  # a non-trivial case


def test_invariant_to_detection_order_within_an_image() -> None:
    rng = np.random.default_rng(3)
    dets, gt = random_case(rng, n_images=30, num_classes=3)
    shuffled = []
    for d in dets:
        p = rng.permutation(len(d["scores"]))
        shuffled.append({k: v[p] for k, v in d.items()})
    for mode in ("area", "11points"):
        a = evaluate_detections(dets, gt, 3, mode=mode)
        b = evaluate_detections(shuffled, gt, 3, mode=mode)
        assert a["ap"].tolist() == b["ap"].tolist() and a["mAP"] == b["mAP"]
        assert a["num_dets"].tolist() == b["num_dets"].tolist()


def test_torch_tensors_give_the_same_result_as_numpy() -> None:
    rng = np.random.default_rng(4)
    dets, gt = random_case(rng, n_images=20, num_classes=2)
    as_torch = [{k: torch.from_numpy(v) for k, v in d.items()} for d in dets]
    a = evaluate_detections(dets, gt, 2)
    b = evaluate_detections(as_torch, gt, 2)
    assert a["ap"].tolist() == b["ap"].tolist()


def test_300_images_100_detections_4_classes_well_under_a_second() -> None:
    rng = np.random.default_rng(5)
    _, gt = random_case(rng, n_images=300, num_classes=4, max_gt=10, max_dets=0)
    dets = []
    for _ in range(300):
        xy = rng.uniform(0, 60, (100, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(5, 30, (100, 2))], 1)
        dets.append({"boxes": boxes, "scores": rng.random(100), "labels": rng.integers(0, 4, 100)})
    start = time.perf_counter()
    out = evaluate_detections(dets, gt, 4)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"{elapsed:.3f} s"
    assert out["num_dets"].sum() == 300 * 100
