"""The stage schedule (spec §3.5, §9.5): which parameters each stage trains, fresh optimisers,
alternating steps, the Random arm's matching budget, and batches."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cvpapers.pipelines.mi_aod.heads import modules_by_role
from cvpapers.pipelines.mi_aod.training import (
    ROLES,
    batch_draw,
    make_step,
    miaod_stages,
    set_trainable,
    train_cycle,
)

C = 4


def _model() -> torch.nn.Module:
    from cvpapers.pipelines.mi_aod.heads import build_miaod_detector

    torch.manual_seed(0)
    return build_miaod_detector("tiny", num_classes=C)


def _data(n: int = 12, size: int = 96) -> dict[str, np.ndarray]:
    from cvpapers.data.detection_shapes import generate_shapes_det

    return generate_shapes_det(n, seed=3, regime_probs={"easy": 0.5, "hard": 0.3, "clutter": 0.2}, image_size=size)


def _role_params(model: torch.nn.Module) -> dict[str, list[torch.Tensor]]:
    return {r: [p.detach().clone() for p in m.parameters()] for r, m in modules_by_role(model).items()}


def _changed(before: dict, model: torch.nn.Module) -> set[str]:
    after = _role_params(model)
    return {r for r in before if any(not torch.equal(a, b) for a, b in zip(before[r], after[r], strict=True))}


def _one_step(model: torch.nn.Module, stage, batch) -> None:
    base = {n: p.requires_grad for n, p in model.named_parameters()}
    set_trainable(model, stage.trainable, base)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    loss, stats = make_step(model, stage, C, 0.5, 0.5, "code", "batch")(model, batch)
    opt.zero_grad()
    loss.backward()
    opt.step()
    set_trainable(model, ROLES, base)
    assert torch.isfinite(loss)


def _stage(kind: str, order: str = "code"):
    return next(s for s in miaod_stages(2, 1, 2, 2, 0.33, order) if s.kind == kind)


def test_code_schedule_is_label_then_min_max_label_per_outer_loop_with_the_final_lr_drop() -> None:
    stages = miaod_stages(150, 2, 40, 60, 0.33)
    assert [s.name for s in stages] == ["A_label", "B1_min", "C1_max", "D1_label", "B2_min", "C2_max", "D2_label"]
    assert [s.lr_drop_at for s in stages] == [None] * 6 + [40]
    assert stages[1].trainable == ("g", "f_r", "f_mil") and stages[2].trainable == ("f1", "f2")
    assert sum(s.iters for s in stages) == 430, "labelled steps per cycle (spec §8.3)"


def test_random_arm_gets_the_same_labelled_steps_and_optimiser_resets_without_unlabelled_data() -> None:
    mi, rnd = miaod_stages(150, 2, 40, 60, 0.33), miaod_stages(150, 2, 40, 60, 0.33, with_unlabelled=False)
    assert [s.iters for s in mi] == [s.iters for s in rnd] and [s.lr_drop_at for s in mi] == [s.lr_drop_at for s in rnd]
    assert all(s.kind == "label" and not s.alternating and s.trainable == ROLES for s in rnd)


def test_paper_order_is_max_with_g_fixed_then_min_with_the_classifiers_fixed() -> None:
    stages = miaod_stages(1, 1, 1, 1, 0.0, "paper")
    assert [s.kind for s in stages] == ["label", "max", "min", "label"]
    assert "g" not in stages[1].trainable and set(stages[2].trainable) == {"g", "f_mil"}


def test_min_stage_unlabelled_step_leaves_f1_f2_and_trains_the_backbone() -> None:
    model = _model()
    batch = batch_draw(_data(), np.arange(12), 4, 0.5, unlabelled=True)(torch.Generator().manual_seed(0))
    before = _role_params(model)
    _one_step(model, _stage("min"), batch)
    changed = _changed(before, model)
    assert "g" in changed and not changed & {"f1", "f2"}


def test_max_stage_steps_change_only_f1_and_f2() -> None:
    model = _model()
    data = _data()
    for unlabelled in (True, False):
        batch = batch_draw(data, np.arange(12), 4, 0.5, unlabelled=unlabelled)(torch.Generator().manual_seed(1))
        before = _role_params(model)
        _one_step(model, _stage("max"), batch)
        assert _changed(before, model) == {"f1", "f2"}


def test_label_stage_gives_every_role_a_gradient() -> None:
    model = _model()
    batch = batch_draw(_data(), np.arange(12), 4, 0.0, unlabelled=False)(torch.Generator().manual_seed(2))
    loss, _ = make_step(model, _stage("label"), C, 0.5, 0.5, "code", "batch")(model, batch)
    loss.backward()
    for role, m in modules_by_role(model).items():
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters()), role


def test_flipped_batches_keep_boxes_on_their_objects() -> None:
    data = _data(4)
    x = batch_draw(data, np.arange(4), 4, 1.0, unlabelled=False)(torch.Generator().manual_seed(0))
    plain = batch_draw(data, np.arange(4), 4, 0.0, unlabelled=False)(torch.Generator().manual_seed(0))
    torch.testing.assert_close(x["images"], plain["images"].flip(-1))
    valid = x["labels"] >= 0
    w = data["images"].shape[2]
    torch.testing.assert_close(x["boxes"][..., 0][valid], w - plain["boxes"][..., 2][valid])
    assert "boxes" not in batch_draw(data, np.arange(4), 4, 0.5, unlabelled=True)(torch.Generator())


def test_a_cycle_restores_every_role_to_trainable_and_logs_each_stage(tmp_path) -> None:
    model = _model()
    data = _data()
    base = {n: p.requires_grad for n, p in model.named_parameters()}
    train = SimpleNamespace(focal_norm="batch", lr=1e-3, optimizer="adamw", momentum=0.9, weight_decay=1e-4,
                            grad_clip_norm=10.0)
    miaod = SimpleNamespace(param_lambda=0.5, pseudo_label_thr=0.5)
    stages = miaod_stages(2, 1, 2, 3, 0.33)
    summaries = train_cycle(model, stages, batch_draw(data, np.arange(6), 4, 0.5, False),
                            batch_draw(data, np.arange(6, 12), 4, 0.5, True), num_classes=C, train=train, miaod=miaod,
                            mil_mode="code", device=torch.device("cpu"), seed=0, checkpoint_dir=tmp_path,
                            resume=False, fingerprint={})
    assert [s["stage"] for s in summaries] == [s.name for s in stages]
    assert {n: p.requires_grad for n, p in model.named_parameters()} == base
    min_summary = summaries[1]
    assert np.isfinite(min_summary["train_l_dis"]) and np.isfinite(min_summary["train_l_det_cls"])
    assert "train_l_dis_minus" in summaries[2]
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == sorted(f"{s.name}.pt" for s in stages)


def test_a_stage_that_needs_unlabelled_images_refuses_to_run_without_them() -> None:
    model = _model()
    train = SimpleNamespace(focal_norm="batch", lr=1e-3, optimizer="adamw", momentum=0.9, weight_decay=0.0,
                            grad_clip_norm=None)
    with pytest.raises(ValueError, match="B1_min needs unlabelled images"):
        train_cycle(model, miaod_stages(1, 1, 1, 1, 0.0)[1:], batch_draw(_data(), np.arange(4), 2, 0.0, False), None,
                    num_classes=C, train=train, miaod=SimpleNamespace(param_lambda=0.5, pseudo_label_thr=0.5),
                    mil_mode="code", device=torch.device("cpu"), seed=0, checkpoint_dir=None, resume=False,
                    fingerprint={})


def test_a_frozen_backbone_keeps_its_batchnorm_statistics_through_a_max_step() -> None:
    model = _model()
    batch = batch_draw(_data(), np.arange(12), 4, 0.5, unlabelled=True)(torch.Generator().manual_seed(0))
    stats = {k: v.clone() for k, v in modules_by_role(model)["g"].state_dict().items() if "running" in k}
    _one_step(model, _stage("max"), batch)
    after = modules_by_role(model)["g"].state_dict()
    assert all(torch.equal(v, after[k]) for k, v in stats.items())
    _one_step(model, _stage("min"), batch)
    assert any(not torch.equal(v, modules_by_role(model)["g"].state_dict()[k]) for k, v in stats.items())
