"""MSCL's training pieces (spec §9.1–§9.7): the collaborative KL, the joint optimisation of N models, the stage
switch and its resume, the ensemble, the online pseudo labels, the λ_t ramp and the member checkpoint."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from cvpapers.models.segmentation import TinyDeepLabV2, seg_loss
from cvpapers.pipelines.msda_collab import collab as C

H, W, K = 16, 32, 4
NAMES = ("a", "b")


def _net(seed: int) -> TinyDeepLabV2:
    torch.manual_seed(seed)
    return TinyDeepLabV2(num_classes=K, widths=(4, 8, 8, 8), rates=(1, 2, 2, 2))


def _models(same: bool = False) -> nn.ModuleDict:
    return nn.ModuleDict({"a": _net(0), "b": _net(0 if same else 1)})


def _data(n: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in NAMES:
        x = torch.randint(0, 256, (n, 3, H, W), dtype=torch.uint8, generator=g)
        y = torch.randint(0, K, (n, H, W), dtype=torch.uint8, generator=g)
        out.append((x, y))
    target = torch.randint(0, 256, (n, 3, H, W), dtype=torch.uint8, generator=g)
    hidden = torch.randint(0, K, (n, H, W), dtype=torch.uint8, generator=g)
    return out, target, hidden


def _norm(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 255 - 0.5


def _weights(**kw) -> C.CollabWeights:
    return C.CollabWeights(**{"stage_a_iters": 2, "iters": 6, **kw})


# -- §9.1 collaborative loss --------------------------------------------------------------------------------


def test_collaborative_kl_is_zero_between_identical_models_and_never_negative() -> None:
    models = _models(same=True).train()
    sources, _, _ = _data()
    xa, xb = _norm(sources[0][0][:3]), _norm(sources[1][0][:3])
    za, zb = models["a"](xb)[0], models["b"](xb)[0]
    assert C.collaborative_kl(torch.softmax(zb, 1), za, 1.0).item() == pytest.approx(0.0, abs=1e-6)
    other = _models().train()
    for x in (xa, xb):
        kl = C.collaborative_kl(torch.softmax(other["b"](x)[0], 1), other["a"](x)[0], 1.0)
        assert kl.item() >= 0
        assert C.collaborative_kl(torch.softmax(other["b"](x)[0], 1), other["a"](x)[0], 2.0).item() >= 0


def test_the_owner_gets_no_gradient_through_its_soft_labels() -> None:
    models = _models().train()
    sources, _, _ = _data()
    batch = C.multi_source_draw(sources, 3, _norm)(torch.Generator().manual_seed(0))
    step = C.CollabStep(NAMES, _weights(lambda_col=1.0, lambda_aux=0.0))
    # The KL term alone: drop the supervised terms by reading the collaborative losses directly.
    outs = [models[s](x) for s, x in zip(NAMES, batch[0], strict=True)]
    col = step._collaborative([models["a"], models["b"]], outs, batch[0], batch[1])
    col[0].backward()  # model a's KL toward b's soft labels on b's images
    assert all(p.grad is None or not p.grad.any() for p in models["b"].parameters())
    assert any(p.grad is not None and p.grad.any() for p in models["a"].parameters())


# -- §9.2 joint optimisation ------------------------------------------------------------------------------


def test_one_adam_step_on_the_sum_equals_separate_adam_steps() -> None:
    sources, _, _ = _data()
    batch = C.multi_source_draw(sources, 3, _norm)(torch.Generator().manual_seed(3))
    joint = _models().train()
    opt = torch.optim.Adam(joint.parameters(), lr=1e-2)
    loss, _ = C.CollabStep(NAMES, _weights(lambda_col=0.5))(joint, batch)
    loss.backward()
    opt.step()
    # Each model alone, on its own L_i (the other model's soft labels as fixed targets, as in the joint step).
    alone = _models().train()
    with torch.no_grad():
        q = {s: torch.softmax(copy.deepcopy(alone[s])(x)[0], 1) for s, x in zip(NAMES, batch[0], strict=True)}
    for i, s in enumerate(NAMES):
        j, m = 1 - i, alone[s]
        o = torch.optim.Adam(m.parameters(), lr=1e-2)
        li = seg_loss(m(batch[0][i]), batch[1][i], 0.1) + 0.5 * C.collaborative_kl(
            q[NAMES[j]], m(batch[0][j])[0], 1.0
        )
        li.backward()
        o.step()
    for a, b in zip(joint.state_dict().values(), alone.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def _train(
    models: nn.ModuleDict,
    draw,
    step: C.CollabStep,
    iters: int,
    tmp=None,
    resume: bool = False,
    stage: str = "t",
    kill_at: int | None = None,
):
    from cvpapers.engine.iterative import train_iterations

    clock = C.IterationClock(step)
    if kill_at is not None:
        original = clock.on_epoch_start

        def killed(epoch, model):
            if epoch == kill_at:
                raise KeyboardInterrupt("killed")
            original(epoch, model)

        clock.on_epoch_start = killed  # type: ignore[method-assign]
    return train_iterations(
        models,
        draw,
        step,
        stage=stage,
        iters=iters,
        eval_every=2,
        lr=1e-2,
        device=torch.device("cpu"),
        seed=5,
        callbacks=[clock],
        log_prefix=None,
        checkpoint_path=None if tmp is None else tmp / f"{stage}.pt",
        resume=resume,
    )


def test_zero_weights_reproduce_separate_source_only_runs_bit_exactly() -> None:
    """λ_col = λ_t = 0: N independent supervised runs on the same draws, weights and BN buffers included."""
    from cvpapers.da.batches import supervised_step
    from cvpapers.engine.iterative import train_iterations

    sources, target, hidden = _data()
    draw = C.multi_source_draw(sources, 2, _norm, target=target, target_hidden=hidden, batch_target=2)
    joint = _models()
    _train(joint, draw, C.CollabStep(NAMES, _weights(lambda_col=0.0, lambda_t=0.0)), 4)
    separate = _models()
    for i, s in enumerate(NAMES):

        def own(g: torch.Generator, i: int = i):
            xs, ys, _, _ = draw(g)
            return xs[i], ys[i]

        train_iterations(
            separate[s],
            own,
            supervised_step(0.1),
            stage=s,
            iters=4,
            eval_every=2,
            lr=1e-2,
            device=torch.device("cpu"),
            seed=5,
            log_prefix=None,
        )
    for (k, a), b in zip(joint.state_dict().items(), separate.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


# -- §9.3 stage switch and resume ------------------------------------------------------------------------


def test_the_target_term_starts_at_stage_a_iters() -> None:
    sources, target, hidden = _data()
    draw = C.multi_source_draw(sources, 2, _norm, target=target, target_hidden=hidden, batch_target=2)
    step = C.CollabStep(NAMES, _weights(lambda_t=0.1, lambda_t_ramp="none"))
    models = _models().train()
    batch = draw(torch.Generator().manual_seed(0))
    for it, used in ((0, False), (1, False), (2, True), (5, True)):
        step.iteration = it
        _, stats = step(models, batch)
        assert ("tgt_loss/a" in stats) is used, it


def test_stage_a_iters_off_the_evaluation_chunk_fails_validation() -> None:
    from pydantic import ValidationError

    from cvpapers.pipelines.msda_collab.config import MsdaParams

    MsdaParams.model_validate({"train": {"iters": 400, "eval_every": 100}, "collab": {"stage_a_iters": 200}})
    with pytest.raises(ValidationError, match="multiple of the evaluation chunk"):
        MsdaParams.model_validate(
            {"train": {"iters": 400, "eval_every": 100}, "collab": {"stage_a_iters": 150}}
        )
    with pytest.raises(ValidationError, match="exceeds train.iters"):
        MsdaParams.model_validate(
            {"train": {"iters": 400, "eval_every": 100}, "collab": {"stage_a_iters": 500}}
        )


def test_a_run_killed_in_stage_b_resumes_to_the_same_weights(tmp_path) -> None:
    sources, target, hidden = _data()
    draw = C.multi_source_draw(sources, 2, _norm, target=target, target_hidden=hidden, batch_target=2)
    w = _weights(lambda_col=0.5, lambda_t=0.5, lambda_t_ramp="linear_full")
    full = _models()
    _train(full, draw, C.CollabStep(NAMES, w), 6)
    resumed = _models()
    with pytest.raises(KeyboardInterrupt):
        _train(
            resumed, draw, C.CollabStep(NAMES, w), 6, tmp_path, kill_at=2
        )  # chunk 2 = iterations 4–5 (stage B)
    resumed = _models()
    _train(resumed, draw, C.CollabStep(NAMES, w), 6, tmp_path, resume=True)
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


# -- §9.4 ensemble ------------------------------------------------------------------------------------------


def test_ensemble_of_identical_models_is_one_model_and_leaves_them_in_train_mode() -> None:
    models = _models(same=True).train()
    x = torch.randn(2, 3, H, W)
    p = C.ensemble_target([models["a"], models["b"]], x)
    models["a"].eval()
    single = torch.softmax(models["a"](x), 1)
    models["a"].train()
    torch.testing.assert_close(p, single)
    torch.testing.assert_close(
        C.ensemble_target([models["a"]], x, "prob"), C.ensemble_target([models["a"]], x, "logit")
    )
    assert all(m.training for m in models.modules())


def test_the_ensemble_pass_does_not_touch_bn_running_statistics() -> None:
    models = _models().train()
    before = copy.deepcopy(models.state_dict())
    C.ensemble_target([models["a"], models["b"]], torch.randn(2, 3, H, W))
    for k, v in models.state_dict().items():
        assert torch.equal(v, before[k]), k


# -- §9.5 online pseudo labels ---------------------------------------------------------------------------


def test_online_pseudo_labels_keep_confident_pixels_and_cap_thresholds() -> None:
    torch.manual_seed(0)
    probs = torch.softmax(torch.randn(2, K, H, W) * 3, 1)
    pseudo, conf, pred = C.online_pseudo_labels(probs, "class_balanced", 0.5, 0.9)
    confident = conf >= 0.9
    assert (pseudo[confident].long() == pred[confident]).all()
    kept = pseudo != 255
    assert kept.float().mean() >= 0.45  # about half of each class is kept (portion 0.5), at least
    fixed, _, _ = C.online_pseudo_labels(probs, "fixed_threshold", 0.5, 0.9)
    assert torch.equal(fixed != 255, confident)
    from cvpapers.da.pseudo_labels import bdl_thresholds

    assert (bdl_thresholds(conf, pred, K, 0.5, 0.9) <= 0.9).all()


def test_an_all_ignored_target_batch_gives_a_finite_zero_loss() -> None:
    models = _models().train()
    x = torch.randn(2, 3, H, W)
    loss = seg_loss(models["a"](x)[0], torch.full((2, H, W), 255, dtype=torch.long), 0.0)
    assert torch.isfinite(loss) and loss.item() == 0.0
    # Through the step: a threshold no confidence reaches keeps no pixel; the target loss is a finite 0.
    sources, target, hidden = _data()
    batch = C.multi_source_draw(sources, 2, _norm, target=target, target_hidden=hidden, batch_target=2)(
        torch.Generator().manual_seed(0)
    )
    step = C.CollabStep(
        NAMES, _weights(lambda_t=1.0, lambda_t_ramp="none", pl_mode="fixed_threshold", pl_max_threshold=1.0)
    )
    step.iteration = 3
    total, stats = step(models, batch)
    assert torch.isfinite(total) and float(stats["tgt_loss/a"]) == 0.0


# -- §9.6 λ_t ramp ---------------------------------------------------------------------------------------


def test_lambda_t_ramps_from_zero_at_stage_b_to_its_value_half_way() -> None:
    f = C.lambda_t_at
    assert f(199, 200, 400, 0.1, "linear_half") == 0.0
    assert f(200, 200, 400, 0.1, "linear_half") == 0.0
    assert f(250, 200, 400, 0.1, "linear_half") == pytest.approx(0.05)
    assert f(300, 200, 400, 0.1, "linear_half") == pytest.approx(0.1)
    assert f(399, 200, 400, 0.1, "linear_half") == pytest.approx(0.1)
    assert f(300, 200, 400, 0.1, "linear_full") == pytest.approx(0.05)
    assert f(200, 200, 400, 0.1, "none") == 0.1


# -- §9.7 member checkpoint ------------------------------------------------------------------------------


def test_member_checkpoint_rebuilds_models_with_identical_predictions() -> None:
    from cvpapers.engine.checkpoint import model_checkpoint
    from cvpapers.pipelines.msda_collab.arms import load_members

    cfg = {
        "name": "tiny_deeplabv2",
        "num_classes": K,
        "widths": [4, 8, 8, 8],
        "rates": [1, 2, 2, 2],
        "aux": True,
    }
    torch.manual_seed(0)
    models = C.build_members({"a": cfg, "b": cfg})
    ckpt = model_checkpoint(models, {"members": {"a": cfg, "b": cfg}}, C.build_members)
    rebuilt = load_members(ckpt, torch.device("cpu")).eval()
    models.eval()
    x = torch.randn(2, 3, H, W)
    for s in NAMES:
        assert torch.equal(models[s](x), rebuilt[s](x))
