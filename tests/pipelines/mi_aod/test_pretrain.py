"""The ImageNet stand-in (issue 19): ShapesCls, the ``pretrain_backbone`` node, frozen BatchNorm statistics and
frozen first stage while the detector trains, and the pretrained stages reloaded fresh in every cycle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cvpapers.pipelines.mi_aod import nodes

SMALL = {"pretrain": {"n_train": 24, "n_val": 8, "iters": 2, "batch_size": 4, "eval_every": 1}}


def _params(tmp_path: Path, **extra) -> dict:
    return {
        "data": {"root": str(tmp_path / "VOCdevkit"), "pool_size": 16, "test_size": 4, "image_size": 32},
        "al": {"initial_fraction": 0.25, "select_fraction": 0.25},
        "checkpoint_dir": str(tmp_path / "state"),
        "train": {
            "batch_size": 2,
            "budget_unit": "iterations",
            "iters_label_first": 2,
            "outer_loops": 1,
            "iters_minmax": 1,
            "iters_label": 2,
        },
        **SMALL,
        **extra,
    }


def _data(params: dict):
    import matplotlib.pyplot as plt

    manifest, pool, test, _, fig = nodes.prepare_data(params, "mi_aod")
    plt.close(fig)
    return manifest, pool, test


def test_shapes_cls_is_the_detection_image_family_with_eight_classes_and_is_seeded() -> None:
    from cvpapers.data.detection_shapes import CLASS_NAMES, EXTRA_CLASS_NAMES, generate_shapes_cls

    data = generate_shapes_cls(40, 3, {"easy": 0.4, "hard": 0.3, "clutter": 0.3}, image_size=48)
    assert data["images"].shape == (40, 48, 48, 3) and data["images"].dtype == np.uint8
    assert data["labels"].shape == (40,) and set(data["labels"]) <= set(
        range(len(CLASS_NAMES + EXTRA_CLASS_NAMES))
    )
    assert len(set(data["labels"])) > 4  # the extra shapes occur
    again = generate_shapes_cls(40, 3, {"easy": 0.4, "hard": 0.3, "clutter": 0.3}, image_size=48)
    assert all(np.array_equal(data[k], again[k]) for k in data)
    four = generate_shapes_cls(20, 3, {"easy": 1.0}, image_size=48, classes=CLASS_NAMES)
    assert four["labels"].max() < 4
    with pytest.raises(ValueError, match="unknown class"):
        generate_shapes_cls(2, 0, {"easy": 1.0}, classes=("circle", "moon"))


def test_pretrain_node_saves_a_classifier_whose_stand_in_is_disjoint_from_pool_and_test(
    tmp_path: Path,
) -> None:
    from cvpapers.data.detection_shapes import generate_shapes_cls
    from cvpapers.engine.checkpoint import rebuild_model
    from cvpapers.pipelines.mi_aod.pretrain import BackboneClassifier, image_digests

    params = _params(tmp_path)
    manifest, pool, test = _data(params)
    ckpt, metrics = nodes.pretrain_backbone(manifest, pool, test, params, "mi_aod")
    assert ckpt["pretrained"] and metrics["overlap_with_detection_sets"] == 0.0 and metrics["classes"] == 8.0
    assert 0.0 <= metrics["val_accuracy"] <= 100.0
    model = rebuild_model(ckpt)
    assert isinstance(model, BackboneClassifier)
    assert model(torch.rand(3, 3, 32, 32)).shape == (3, 8)
    # the stand-in's own seeds: none of its images is a pool or test image (checked here on the arrays too)
    from cvpapers.engine.run import RunContext
    from cvpapers.pipelines.mi_aod import DECLARATION

    run = RunContext.start(DECLARATION.validate(params), "mi_aod")
    stand_in = generate_shapes_cls(
        24,
        run.seed("pretrain_data", "train"),
        {"easy": 1 / 3, "hard": 1 / 3, "clutter": 1 / 3},
        32,
        object_scale=2.0,
    )
    assert not image_digests(stand_in["images"]) & (
        image_digests(pool["images"]) | image_digests(test["images"])
    )
    off, off_metrics = nodes.pretrain_backbone(
        manifest, pool, test, {**params, "pretrain": {"enabled": False}}, "mi_aod"
    )
    assert off == {"pretrained": False} and off_metrics == {"enabled": 0.0}


def test_a_pretrained_backbone_keeps_its_bn_statistics_and_first_stage_through_a_training_step() -> None:
    from cvpapers.pipelines.mi_aod.heads import build_miaod_detector
    from cvpapers.pipelines.mi_aod.pretrain import (
        build_backbone_classifier,
        load_pretrained_stages,
        stage_state,
    )
    from cvpapers.pipelines.mi_aod.training import make_step, miaod_stages

    torch.manual_seed(0)
    classifier = build_backbone_classifier(8)
    for m in classifier.modules():  # non-trivial statistics, so "unchanged" is not "still at init"
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    detector = build_miaod_detector(
        num_classes=4, anchor_sizes=((16, 20, 25), (32, 40, 50)), norm_eval=True, frozen_stages=1
    )
    load_pretrained_stages(detector, stage_state(classifier))
    before = {k: v.clone() for k, v in detector.state_dict().items()}
    detector.train()
    assert not any(m.training for m in detector.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))
    step = make_step(detector, miaod_stages(1, 1, 1, 1, 0.0)[0], 4, 0.5, 0.5, "code", "batch")
    batch = {
        "images": torch.rand(2, 3, 64, 64),
        "boxes": torch.tensor([[[4.0, 4, 30, 30]], [[10, 10, 40, 40]]]),
        "labels": torch.tensor([[0], [2]]),
        "unlabelled": False,
    }
    opt = torch.optim.SGD([p for p in detector.parameters() if p.requires_grad], lr=0.1)
    loss, _ = step(detector, batch)
    loss.backward()
    opt.step()
    after = detector.state_dict()
    stats = [k for k in after if k.startswith("backbone.") and ("running_" in k or "num_batches" in k)]
    assert stats and all(torch.equal(before[k], after[k]) for k in stats)  # BN statistics frozen
    assert all(
        torch.equal(before[k], after[k]) for k in after if k.startswith("backbone.stage1.")
    )  # frozen stage
    assert not torch.equal(
        before["backbone.stage2.0.0.weight"], after["backbone.stage2.0.0.weight"]
    )  # trains
    assert not torch.equal(
        before["backbone.stage2.0.1.weight"], after["backbone.stage2.0.1.weight"]
    )  # BN affine


def test_every_cycle_and_arm_reloads_the_same_pretrained_stages_fresh(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    from cvpapers.engine.checkpoint import rebuild_model
    from cvpapers.pipelines.mi_aod.pretrain import stage_state

    params = _params(tmp_path)
    manifest, pool, test = _data(params)
    pretrained, _ = nodes.pretrain_backbone(manifest, pool, test, params, "mi_aod")
    stages = stage_state(rebuild_model(pretrained))
    plan, _ = nodes.make_initial_split(manifest, pool, params, cycles=2)
    trained = {}
    for arm, cycle in (("miaod", 0), ("random", 0), ("miaod", 1)):
        ckpt, _, fig = nodes.train_and_evaluate(
            manifest, pool, test, plan, params, "mi_aod", arm, cycle, pretrained=pretrained
        )
        plt.close(fig)
        trained[arm, cycle] = ckpt["state_dict"]
        assert ckpt["config"]["norm_eval"] is True and ckpt["config"]["frozen_stages"] == 1
        # what was frozen comes back exactly as pretrained (stage1 weights, every BN statistic): a fresh copy
        for k, v in stages.items():
            if k.startswith("stage1.") or "running_" in k:
                assert torch.equal(ckpt["state_dict"][f"backbone.{k}"], v), (arm, cycle, k)
    # the later stages trained away from the pretrained weights, and differently per arm: the next cycle did not
    # start from them (its stage1 and statistics equal the file, checked above)
    key = "backbone.stage3.0.0.weight"
    assert not torch.equal(trained["miaod", 0][key], trained["random", 0][key])
    # without pretraining, the detector is the from-scratch one (no norm_eval, BN statistics trained)
    off = {**params, "pretrain": {"enabled": False}}
    ckpt, _, fig = nodes.train_and_evaluate(
        manifest, pool, test, plan, off, "mi_aod", "random", 0, pretrained={"pretrained": False}
    )
    plt.close(fig)
    assert "norm_eval" not in ckpt["config"]
