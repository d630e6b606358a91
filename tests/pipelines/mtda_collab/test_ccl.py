"""Spec §9 checks of the method's pieces (no training): the per-batch LAB bridge, gradient routing, the weight
regulariser, joint optimisation, the forward-call rule and determinism."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from cvpapers.pipelines.mtda_collab import ccl

NAMES = ["city", "fog"]
CFG = {"name": "tiny_deeplabv2", "num_classes": 8, "widths": [4, 4, 4, 4], "rates": [1, 2, 4, 6], "aux": True}


def _data(n_src: int = 6, n_t: int = 5, h: int = 16, w: int = 32) -> ccl.DomainData:
    g = torch.Generator().manual_seed(0)
    img = lambda n, lo, hi: torch.randint(lo, hi, (n, h, w, 3), generator=g, dtype=torch.uint8)  # noqa: E731
    lab = lambda n: torch.randint(0, 8, (n, h, w), generator=g, dtype=torch.uint8)  # noqa: E731
    return ccl.DomainData(
        img(n_src, 0, 256), lab(n_src), [img(n_t, 100, 256), img(n_t, 0, 90)], [lab(n_t), lab(n_t)]
    )


def _bank(data: ccl.DomainData, **kw) -> ccl.LabBank:
    from cvpapers.da.lab import lab_stats

    means, stds = zip(*[lab_stats(x) for x in data.tgt_x], strict=True)
    return ccl.LabBank(list(means), list(stds), n_source=len(data.src_x), **kw)


def _models(members: list[str], seed: int = 0) -> nn.ModuleDict:
    torch.manual_seed(seed)
    one = ccl.build_members(["m"], CFG)["m"]
    return nn.ModuleDict({m: copy.deepcopy(one) for m in members}).train()


def _batch(plan: ccl.BatchPlan, seed: int = 1, **bank_kw) -> dict:
    data = _data()
    return ccl.mtda_draw(data, _bank(data, **bank_kw), plan, 4, 2, ccl.float_normaliser("embedded"))(
        torch.Generator().manual_seed(seed)
    )


FULL = ccl.BatchPlan(experts=True, bridge=True, mixed=True)
RECIPE = ccl.ExpertRecipe(1.0, 0.5, 0.1)
WEIGHTS = ccl.CclWeights(0.5, 1.0, 1.0, 0.01)


# -- 1. the per-batch LAB bridge --------------------------------------------------------------------------------


def test_references_depend_only_on_the_batch_generator() -> None:
    a, b, c = _batch(FULL, 3), _batch(FULL, 3), _batch(FULL, 4)
    for key in ("src_to", "tgt"):
        for x, y in zip(a[key], b[key], strict=True):
            torch.testing.assert_close(x, y, rtol=0, atol=0)
    for pair in a["bridge"]:
        torch.testing.assert_close(a["bridge"][pair], b["bridge"][pair], rtol=0, atol=0)
    assert not torch.equal(a["src_to"][0], c["src_to"][0])


def test_fixed_redraw_gives_an_image_the_same_reference_every_time() -> None:
    data = _data()
    bank = _bank(data, redraw="fixed")
    images = torch.tensor([0, 3, 3, 1])
    r1 = bank.refs(1, images, torch.Generator().manual_seed(0))
    r2 = bank.refs(1, images, torch.Generator().manual_seed(99))
    torch.testing.assert_close(r1, r2, rtol=0, atol=0)
    torch.testing.assert_close(r1[0][1], r1[0][2], rtol=0, atol=0)  # image 3 twice → one reference
    per_batch = _bank(data)
    assert not torch.equal(
        per_batch.refs(1, images, torch.Generator().manual_seed(0))[0],
        per_batch.refs(1, images, torch.Generator().manual_seed(99))[0],
    )


def test_translating_an_image_to_its_own_statistics_is_the_identity() -> None:
    from cvpapers.da.lab import lab_stats

    x = _data().tgt_x[0]
    out = _bank(_data()).translate(x, lab_stats(x))
    torch.testing.assert_close(out, ccl.nchw(ccl.to_float(x)), rtol=0, atol=1e-4)


def test_labels_are_never_translated_and_one_routine_serves_every_direction(monkeypatch) -> None:
    calls = []
    original = ccl.lab_transfer_float

    def spy(rgb, mean, std, eps=1e-6, clip=True):
        calls.append(rgb.shape)
        return original(rgb, mean, std, eps, clip)

    monkeypatch.setattr(ccl, "lab_transfer_float", spy)
    data = _data()
    g = torch.Generator().manual_seed(5)
    batch = ccl.mtda_draw(data, _bank(data), FULL, 4, 2, ccl.float_normaliser("embedded"))(g)
    g = torch.Generator().manual_seed(5)
    idx = ccl.pick(len(data.src_x), 4, g)
    assert torch.equal(batch["src_y"], data.src_y[idx].long())
    # N source → target translations, N(N−1) bridge translations, one for the mixed source: all the same call
    assert len(calls) == 2 + 2 + 1


# -- 2. gradient routing ----------------------------------------------------------------------------------------


def _grads(model: nn.ModuleDict) -> dict[str, bool]:
    return {
        k: any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())
        for k, m in model.items()
    }


def test_bridge_term_of_expert_i_gives_gradients_to_expert_i_only() -> None:
    model, batch = _models(NAMES + [ccl.STUDENT]), _batch(FULL)
    q_fog = torch.softmax(ccl.main_logits(model["fog"](batch["tgt"][1])), 1).detach()
    con = ccl.consistency("kl", q_fog, ccl.main_logits(model["city"](batch["bridge"][(0, 1)])), 0.9)
    con.backward()
    assert _grads(model) == {"city": True, "fog": False, ccl.STUDENT: False}


@pytest.mark.parametrize("kind", ["kl", "sym_kl", "ce_pseudo"])
def test_teacher_outputs_are_detached_in_every_consistency_form(kind: str) -> None:
    model, batch = _models(NAMES), _batch(FULL)
    q = torch.softmax(ccl.main_logits(model["fog"](batch["tgt"][1])) * 20, 1)  # not detached on purpose
    ccl.consistency(kind, q, ccl.main_logits(model["city"](batch["bridge"][(0, 1)])), 0.1).backward()
    assert _grads(model) == {"city": True, "fog": False}


def test_imitation_gives_gradients_to_the_student_only() -> None:
    model, batch = _models(NAMES + [ccl.STUDENT]), _batch(FULL)
    q = [torch.softmax(ccl.main_logits(model[t](batch["tgt"][i])), 1) for i, t in enumerate(NAMES)]
    ccl.student_loss(model[ccl.STUDENT], batch, q, NAMES, WEIGHTS, 2, {}).backward()
    assert _grads(model) == {"city": False, "fog": False, ccl.STUDENT: True}


@pytest.mark.parametrize("to_student", [False, True])
def test_weight_regulariser_reaches_the_student_only_when_asked(to_student: bool) -> None:
    model = _models(NAMES + [ccl.STUDENT])
    with torch.no_grad():
        for p in model["city"].parameters():
            p.add_(0.1)
    sum(
        ccl.weight_regulariser([model["city"], model["fog"]], model[ccl.STUDENT], "to_student", to_student)
    ).backward()
    assert _grads(model) == {"city": True, "fog": False, ccl.STUDENT: to_student}


# -- 3. the weight regulariser ----------------------------------------------------------------------------------


def test_weight_regulariser_is_zero_for_a_copy_and_its_gradient_is_two_lambda_delta() -> None:
    model = _models(["e", "m"])
    assert float(ccl.weight_sq_distance(model["e"], model["m"])) == 0.0
    with torch.no_grad():
        for p in model["e"].parameters():
            p.add_(torch.randn_like(p) * 0.1)
    lam = 0.01
    (lam * ccl.weight_regulariser([model["e"]], model["m"], "to_student")[0]).backward()
    for pe, pm in zip(model["e"].parameters(), model["m"].parameters(), strict=True):
        torch.testing.assert_close(pe.grad, 2 * lam * (pe.detach() - pm.detach()))


def test_weight_regulariser_ignores_batchnorm_running_statistics() -> None:
    model = _models(["e", "m"])
    before = float(ccl.weight_sq_distance(model["e"], model["m"]))
    for mod in model["e"].modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.add_(5.0)
            mod.running_var.mul_(3.0)
    assert float(ccl.weight_sq_distance(model["e"], model["m"])) == before == 0.0


def test_pairwise_form_on_two_experts_is_their_squared_distance() -> None:
    model = _models(["a", "b", "m"])
    with torch.no_grad():
        for p in model["b"].parameters():
            p.add_(torch.randn_like(p))
    expected = sum(
        float((p - q).pow(2).sum())
        for p, q in zip(model["a"].parameters(), model["b"].parameters(), strict=True)
    )
    terms = ccl.weight_regulariser([model["a"], model["b"]], model["m"], "pairwise")
    assert float(sum(terms)) == pytest.approx(expected, rel=1e-5)


# -- 4. joint optimisation --------------------------------------------------------------------------------------


def _ccl_losses(model: nn.ModuleDict, batch: dict) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Each network's own loss, computed from one snapshot (teachers and student weights read before any step)."""
    experts = [model[t] for t in NAMES]
    own, q = [], []
    for i, t in enumerate(NAMES):
        loss, qi = ccl.expert_losses(experts[i], batch, i, RECIPE, 1.0, t, {})
        own.append(loss)
        q.append(qi)
    for (i, j), x in batch["bridge"].items():
        own[i] = own[i] + 0.5 * ccl.consistency("kl", q[j], ccl.main_logits(experts[i](x)), 0.5)
    for i, reg in enumerate(ccl.weight_regulariser(experts, model[ccl.STUDENT], "to_student")):
        own[i] = own[i] + 0.01 * reg
    return own, ccl.student_loss(model[ccl.STUDENT], batch, q, NAMES, WEIGHTS, 2, {})


def _perturbed() -> nn.ModuleDict:
    model = _models(NAMES + [ccl.STUDENT])
    with torch.no_grad():
        for k, m in enumerate(model.values()):
            for p in m.parameters():
                p.add_(0.01 * (k + 1))
    return model


def test_one_adam_step_on_the_module_dict_equals_separate_steps_per_network() -> None:
    batch = _batch(FULL)
    joint, separate = _perturbed(), _perturbed()
    opt = torch.optim.Adam(joint.parameters(), lr=1e-2)
    loss, _ = ccl.ccl_step(NAMES, ccl.ExpertRecipe(1.0, 0.5, 0.1), WEIGHTS, 2)(joint, batch)
    opt.zero_grad()
    loss.backward()
    opt.step()
    own, student = _ccl_losses(separate, batch)
    opts = {k: torch.optim.Adam(m.parameters(), lr=1e-2) for k, m in separate.items()}
    for k, loss in zip([*NAMES, ccl.STUDENT], [*own, student], strict=True):
        opts[k].zero_grad()
        grads = torch.autograd.grad(
            loss, list(separate[k].parameters()), retain_graph=True, allow_unused=True
        )
        for p, gr in zip(separate[k].parameters(), grads, strict=True):
            p.grad = gr
    for o in opts.values():
        o.step()
    for a, b in zip(joint.parameters(), separate.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_simultaneous_step_equals_experts_then_student_from_one_snapshot() -> None:
    batch = _batch(FULL)
    simultaneous, sequential = _perturbed(), _perturbed()
    own, student = _ccl_losses(simultaneous, batch)
    opt = torch.optim.Adam(simultaneous.parameters(), lr=1e-2)
    opt.zero_grad()
    (sum(own) + student).backward()
    opt.step()
    own, student = _ccl_losses(sequential, batch)  # the snapshot: q and θ_M read before any update
    experts = [p for t in NAMES for p in sequential[t].parameters()]
    opt_e, opt_m = (
        torch.optim.Adam(experts, lr=1e-2),
        torch.optim.Adam(sequential[ccl.STUDENT].parameters(), lr=1e-2),
    )
    opt_e.zero_grad()
    sum(own).backward()
    opt_e.step()  # the experts move first ...
    opt_m.zero_grad()
    student.backward()  # ... the student's loss still reads the snapshot's teachers
    opt_m.step()
    for a, b in zip(simultaneous.parameters(), sequential.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# -- 5. the forward-call rule -----------------------------------------------------------------------------------


def test_no_forward_call_mixes_source_and_target_and_the_student_meets_the_right_teacher(monkeypatch) -> None:
    model, batch = _models(NAMES + [ccl.STUDENT]), _batch(FULL)
    calls: list[tuple[str, torch.Tensor]] = []
    for k, m in model.items():
        original = m.forward

        def spy(x, output_size=None, _k=k, _f=original):
            calls.append((_k, x))
            return _f(x, output_size)

        monkeypatch.setattr(m, "forward", spy)
    seen = []
    original_kd = ccl.kd_loss
    monkeypatch.setattr(ccl, "kd_loss", lambda q, z, *a, **kw: seen.append(q) or original_kd(q, z, *a, **kw))
    ccl.ccl_step(NAMES, RECIPE, WEIGHTS, 2)(model, batch)
    sources = [batch["src_to"][0], batch["src_to"][1], batch["mixed"]]
    targets = [*batch["tgt"], *batch["bridge"].values(), batch["tgt_mixed"]]
    for _, x in calls:
        assert any(x is s for s in sources) or any(x is t for t in targets), "every call is one input kind"
    student_inputs = [x for k, x in calls if k == ccl.STUDENT]
    assert any(x is batch["tgt_mixed"] for x in student_inputs) and any(
        x is batch["mixed"] for x in student_inputs
    )
    torch.testing.assert_close(batch["tgt_mixed"], torch.cat([batch["tgt"][0][:2], batch["tgt"][1][:2]]))
    # the last N kd calls are the student's, in target order, each against its own expert's first k outputs
    for i, t in enumerate(NAMES):
        own = torch.softmax(ccl.main_logits(model[t](batch["tgt"][i])).detach(), 1)[:2]
        assert seen[-len(NAMES) + i].shape == own.shape


# -- 6. determinism ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["source_only", "stage1", "ccl", "mixed"])
def test_same_seed_gives_identical_first_iteration_losses(stage: str) -> None:
    clock = ccl.IterationClock()
    plans = {
        "source_only": (
            ccl.BatchPlan(mixed=True, targets=False),
            ccl.single_step(RECIPE, clock, NAMES, 2, False),
        ),
        "stage1": (ccl.BatchPlan(experts=True), ccl.experts_step(NAMES, RECIPE, clock)),
        "ccl": (FULL, ccl.ccl_step(NAMES, RECIPE, WEIGHTS, 2)),
        "mixed": (ccl.BatchPlan(mixed=True), ccl.single_step(RECIPE, clock, NAMES, 2)),
    }
    plan, step = plans[stage]
    members = (
        ["m"] if stage in ("source_only", "mixed") else NAMES + ([ccl.STUDENT] if stage == "ccl" else [])
    )

    def first_loss() -> float:
        model = _models(members)
        m = model["m"] if members == ["m"] else model
        return float(step(m, _batch(plan, 11))[0])

    a, b = first_loss(), first_loss()
    assert np.isfinite(a) and a == b


def test_self_training_weight_ramps_linearly_then_stays() -> None:
    r = ccl.ExpertRecipe(2.0, 0.9, 0.1, rampup_iters=10)
    assert [r.st_weight(i) for i in (0, 5, 10, 50)] == [0.0, 1.0, 2.0, 2.0]
    assert ccl.ExpertRecipe(2.0, 0.9, 0.1).st_weight(0) == 2.0
