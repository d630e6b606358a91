"""MI-AOD's nodes on their own: the VOC source, the protected embedded folder, the comparison and the claim
rule, the paper configuration in miniature, resume."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cvpapers.pipelines.mi_aod import nodes


def _devkit(root: Path) -> Path:
    """A miniature VOC07 + VOC12 devkit written from generated images (the real layout)."""
    from cvpapers.data.detection_shapes import CLASS_NAMES, generate_shapes_det
    from cvpapers.data.voc import VOC_CLASSES, write_voc

    names = {i: VOC_CLASSES.index(n) for i, n in enumerate(("person", "car", "dog", "cat"))}
    assert len(names) == len(CLASS_NAMES)
    for year, split, n, seed, fmt in (("VOC2007", "trainval", 6, 0, "{:06d}"), ("VOC2012", "trainval", 4, 1, "2008_{:06d}"),
                                      ("VOC2007", "test", 3, 2, "{:06d}")):
        data = generate_shapes_det(n, seed, {"easy": 1.0}, image_size=64)
        data["labels"] = np.where(data["labels"] >= 0, np.vectorize(names.get)(np.maximum(data["labels"], 0)), -1)
        offset = 100 if split == "test" else 0
        data["image_id"] = np.asarray([fmt.format(i + offset) for i in range(n)])
        write_voc(root, data, VOC_CLASSES, year, split, image_ext="jpg")
    return root


def test_voc_source_travels_as_a_manifest_in_voc07_then_voc12_order_with_unknown_regimes(tmp_path: Path) -> None:
    from cvpapers.pipelines.mi_aod.data import on_disk, split_data

    root = _devkit(tmp_path / "VOCdevkit")
    manifest, pool, test, metrics, fig = nodes.prepare_data({"data": {"source": "voc", "root": str(root)}},
                                                            "mi_aod_paper")
    assert set(pool) == set(test) == {"class_names"}  # no pixels between nodes: the manifest carries the data
    assert list(manifest[manifest.split == "pool"]["year"]) == ["VOC2007"] * 6 + ["VOC2012"] * 4
    assert "pool/hard_fraction" not in metrics and metrics["pool/class/person"] > 0
    assert metrics["unusable_files"] == 0.0 and metrics["pool/images"] == 10.0 and metrics["test/images"] == 3.0
    # the manifest as the catalog stores it (CSV) gives the same ground truth back
    csv = tmp_path / "manifest.csv"
    manifest.to_csv(csv, index=False)
    import pandas as pd

    back = split_data(pd.read_csv(csv), pool, "pool")
    assert on_disk(back) and (back["regime"] == -1).all() and len(back["class_names"]) == 20
    assert back["image_id"].tolist()[:2] == ["000000", "000001"] and back["image_id"][-1] == "2008_000003"
    assert back["boxes"].shape[0] == 10 and (back["labels"] >= -1).all()
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_voc_preflight_names_a_mis_sized_or_unreadable_image_before_any_work(tmp_path: Path) -> None:
    from PIL import Image

    from cvpapers.data.decode import BadSampleError

    root = _devkit(tmp_path / "VOCdevkit")
    (root / "VOC2012/JPEGImages/2008_000002.jpg").write_bytes(b"not a jpeg")
    Image.new("RGB", (30, 20)).save(root / "VOC2007/JPEGImages/000001.jpg")
    params = {"data": {"source": "voc", "root": str(root)}}
    with pytest.raises(BadSampleError, match=r"2 of 13 listed images(.|\n)*000001\.jpg: image is 30×20 but its "
                                             r"annotation says 64×64(.|\n)*2008_000002\.jpg: not an image"):
        nodes.prepare_data(params, "mi_aod_paper")
    params["data"]["on_bad_sample"] = "skip"  # counted now, skipped when a pass meets them
    *_, metrics, fig = nodes.prepare_data(params, "mi_aod_paper")
    assert metrics["unusable_files"] == 2.0
    import matplotlib.pyplot as plt

    plt.close(fig)
    (root / "VOC2012/JPEGImages/2008_000002.jpg").unlink()  # a listed image that is not there: always an error
    with pytest.raises(FileNotFoundError, match=r"JPEGImages/2008_000002\.jpg"):
        nodes.prepare_data(params, "mi_aod_paper")


def _cycle_metrics(arm: str, maps: list[float], hard: list[int]) -> dict[str, dict[str, float]]:
    """What the train and select nodes of an arm return (bare keys, as their JSON files hold them)."""
    out = {}
    for c, m in enumerate(maps):
        out[f"{arm}_c{c}"] = {"map": float(m), "labelled": 10.0 * (c + 1), "labelled_fraction": 0.1 * (c + 1),
                              "ap/circle": float(m)}
    for c, h in enumerate(hard):
        out[f"{arm}_select_c{c}"] = {"selected": 10.0, "hard_selected": float(h), "hard_base_rate": 0.4}
    return out


def test_claims_are_the_mean_gap_of_the_last_three_cycles_and_the_hard_selection_ratio() -> None:
    results = {**_cycle_metrics("miaod", [10, 20, 30, 40, 50], [8, 8, 6, 6]),
               **_cycle_metrics("random", [10, 18, 25, 37, 44], [4, 4, 4, 4])}
    table, per_class, fig, claims = nodes.compare_arms({}, ("miaod", "random"), 5, **results)
    assert claims["claim/map_gap_last3"] == pytest.approx((5 + 3 + 6) / 3)
    assert claims["compare/hard_selection_ratio"] == pytest.approx(28 / 40 / 0.4)
    assert claims["compare/hard_selection_ratio_random"] == pytest.approx(1.0)
    assert claims["claim/holds"] == 1.0
    assert all(isinstance(v, float) for v in claims.values())
    assert all(k.startswith(("claim/", "compare/")) for k in claims)
    assert table["gap (MI-AOD − Random)"].tolist() == [0, 2, 5, 3, 6]
    assert len(per_class) == 10
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_without_regime_tags_the_claim_rests_on_the_map_gap_alone() -> None:
    results = {**_cycle_metrics("miaod", [10, 20, 30], []), **_cycle_metrics("random", [12, 21, 31], [])}
    *_, claims = nodes.compare_arms({}, ("miaod", "random"), 3, **results)
    assert "compare/hard_selection_ratio" not in claims and claims["claim/holds"] == 0.0
    assert math.isclose(claims["claim/map_gap_last3"], -4 / 3)
    results = {**_cycle_metrics("miaod", [20, 30, 40], []), **_cycle_metrics("random", [12, 21, 31], [])}
    assert nodes.compare_arms({}, ("miaod", "random"), 3, **results)[-1]["claim/holds"] == 1.0


@pytest.mark.parametrize("gap, ratio, final, holds", [
    (3.0, 1.5, [30.0, 27.0], True),        # the spec's margins, exactly
    (2.9, 2.0, [30.0, 27.0], False),       # a positive gap below +3 mAP is not the claim
    (5.0, 1.3, [30.0, 25.0], False),       # the selection does not prefer hard images enough
    (5.0, None, [30.0, 25.0], True),       # real data: no regime tags, the gap decides
    (3.5, 1.6, [3.5, 0.0], False),         # the baseline learned nothing: no comparison
    (0.0, 1.6, [0.0, 0.0], False),         # nothing learned at all
    (float("nan"), 1.6, [30.0, 25.0], False),
    (4.0, float("nan"), [30.0, 25.0], False),
])
def test_one_rule_decides_whether_the_claim_holds(gap: float, ratio: float | None, final: list[float],
                                                  holds: bool) -> None:
    from cvpapers.pipelines.mi_aod.claims import claim_holds

    assert claim_holds(gap, ratio, final) is holds


def test_a_run_whose_detectors_learned_nothing_never_holds() -> None:
    """The smoke run's case: every mAP ≈ 0, MI-AOD's selection happens to be hard-heavy and the gap ≥ 0."""
    results = {**_cycle_metrics("miaod", [0, 0, 0.5, 0, 0], [8, 8, 8, 8]),
               **_cycle_metrics("random", [0, 0, 0, 0, 0], [4, 4, 4, 4])}
    *_, claims = nodes.compare_arms({}, ("miaod", "random"), 5, **results)
    assert claims["claim/map_gap_last3"] > 0 and claims["compare/hard_selection_ratio"] > 1.5
    assert claims["claim/holds"] == 0.0


def test_the_paper_configuration_trains_and_selects_on_a_voc_devkit(tmp_path: Path) -> None:
    """The paper path in miniature: VOC devkit, RetinaNet R50-FPN with 4-conv towers, SGD, epoch budget,
    11-point AP; one tiny cycle and a selection."""
    import matplotlib.pyplot as plt
    import yaml

    from tests.conftest import REPO

    paper = yaml.safe_load((REPO / "conf/paper/parameters_mi_aod.yml").read_text())["mi_aod"]
    root = _devkit(tmp_path / "VOCdevkit")
    # the paper's preprocessing at a CPU-sized scale: resize to fit (96, 64), pad to 32, flip 0.5
    params = {**paper, "data": {**paper["data"], "root": str(root), "img_scale": [96, 64], "workers": 0},
              "model": {**paper["model"], "backbone_weights": None},
              "al": {"initial_fraction": 0.2, "select_fraction": 0.2},
              "train": {**paper["train"], "iters_label_first": 1, "iters_minmax": 1, "iters_label": 1, "outer_loops": 1},
              "checkpoint_dir": str(tmp_path / "state"), "eval": {**paper["eval"], "batch_size": 2}}
    manifest, pool, test, _, fig = nodes.prepare_data(params, "mi_aod_paper")
    plt.close(fig)
    plan, _ = nodes.make_initial_split(manifest, pool, params, cycles=2)
    ckpt, metrics, fig = nodes.train_and_evaluate(manifest, pool, test, plan, params, "mi_aod_paper", "miaod", 0)
    plt.close(fig)
    assert ckpt["config"]["backbone"] == "resnet50_fpn" and 0 <= metrics["map"] <= 100
    assert metrics["skipped_samples"] == 0.0
    # epoch budget: 2 labelled images at batch 2 → one iteration per pass, so each stage ran its passes
    assert sorted(p.stem for p in (tmp_path / "state" / "miaod_c0").glob("*.pt")) == ["A_label", "B1_min", "C1_max",
                                                                                    "D1_label"]
    nxt, sel, *figs = nodes.select_by_uncertainty(ckpt, manifest, pool, plan, params, "mi_aod_paper", "miaod", 0)
    for f in figs:
        plt.close(f)
    assert len(nxt["selected"]) == 2 and not set(nxt["selected"]) & set(plan["labelled"])
    assert math.isfinite(sel["mean_u_selected"]) and sel["skipped_samples"] == 0.0


def test_a_killed_cycle_resumes_from_its_last_finished_stage_with_identical_results(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt
    import torch

    params = {"data": {"root": str(tmp_path / "VOCdevkit"), "pool_size": 16, "test_size": 4, "image_size": 32},
              "al": {"initial_fraction": 0.25, "select_fraction": 0.25},
              "checkpoint_dir": str(tmp_path / "{pipeline}" / "state"),
              "train": {"batch_size": 2, "iters_label_first": 2, "outer_loops": 1, "iters_minmax": 2, "iters_label": 3}}
    manifest, pool, test, _, fig = nodes.prepare_data(params, "mi_aod")
    plt.close(fig)
    plan, _ = nodes.make_initial_split(manifest, pool, params, cycles=2)
    first, m1, fig = nodes.train_and_evaluate(manifest, pool, test, plan, params, "mi_aod", "miaod", 0)
    plt.close(fig)
    state = tmp_path / "mi_aod" / "state" / "miaod_c0"  # the registered pipeline's own train state
    (state / "D1_label.pt").unlink()  # killed during the last stage
    again, m2, fig = nodes.train_and_evaluate(manifest, pool, test, plan, {**params, "resume": True}, "mi_aod", "miaod", 0)
    plt.close(fig)
    assert all(torch.equal(v, again["state_dict"][k]) for k, v in first["state_dict"].items())
    assert m1["map"] == m2["map"]
    assert first["builder"] == "cvpapers.pipelines.mi_aod.heads:build_miaod_detector"
    with pytest.raises(ValueError, match="cannot resume"):  # other settings: refused, naming the difference
        nodes.train_and_evaluate(manifest, pool, test, plan, {**params, "resume": True, "miaod": {"param_lambda": 0.1}},
                                 "mi_aod", "miaod", 0)
    # another registered pipeline never resumes from (or overwrites) this one's train state
    before = {p.name: p.stat().st_mtime_ns for p in state.glob("*.pt")}
    nodes.train_and_evaluate(manifest, pool, test, plan, {**params, "resume": True}, "mi_aod_ablation", "miaod", 0)
    assert (tmp_path / "mi_aod_ablation" / "state" / "miaod_c0" / "D1_label.pt").is_file()
    assert {p.name: p.stat().st_mtime_ns for p in state.glob("*.pt")} == before
