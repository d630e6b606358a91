"""Invariants of DCFF's filter fusion (``papers/dcff.md`` §9.2), one test per invariant."""

from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cvpapers.models.classification import build_classifier
from cvpapers.models.convs import plain_conv
from cvpapers.pipelines.dcff.fusion import (
    FusedConv2d,
    FusionController,
    export_compact_state_dict,
    filter_distances,
    fusion_summary,
    kl_matrix,
    kl_scores,
    similarity_distribution,
    temperature,
)
from cvpapers.pipelines.dcff.rates import PAPER_RATES, expand_layer_rates


def _kaiming_layer(c: int = 64, in_channels: int = 64, kept: int = 32, seed: int = 0) -> FusedConv2d:
    torch.manual_seed(seed)
    layer = FusedConv2d(in_channels, c, kept, 3, padding=1)
    nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
    return layer


def _random_distribution(c: int = 24, t: float = 1.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    return similarity_distribution(filter_distances(torch.randn(c, 8, 3, 3) * 0.1), t)


def _sgd_steps(model: nn.Module, image_size: int, steps: int = 2, batch: int = 4, seed: int = 0) -> None:
    """A few SGD steps in train mode, so weights move after the recompute and BN stats are non-trivial."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    for _ in range(steps):
        x = torch.randn(batch, 3, image_size, image_size, generator=gen)
        y = torch.randint(0, 10, (batch,), generator=gen)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


# ------------------------------------------------------------------------------- temperature §3.4


@pytest.mark.parametrize("total", [1, 10, 90, 300])
def test_temperature_starts_at_t_start_and_reaches_t_end_at_last_epoch(total: int) -> None:
    assert temperature(0, total) == pytest.approx(1.0, rel=1e-6)
    assert temperature(total, total) == pytest.approx(1e4, rel=1e-6)
    assert temperature(0, total, t_start=2.0, t_end=50.0, slope=0.5) == pytest.approx(2.0, rel=1e-6)
    assert temperature(total, total, t_start=2.0, t_end=50.0, slope=0.5) == pytest.approx(50.0, rel=1e-6)


@pytest.mark.parametrize("total", [10, 300])
def test_temperature_strictly_increasing_including_fractional_epochs(total: int) -> None:
    # Fine steps over the first epochs (where T moves) and integer steps later; T saturates in float64
    # around e≈35, so strictness is checked where the sigmoid is still resolvable.
    epochs = [i / 100 for i in range(0, 300)] + list(range(3, min(total, 30) + 1))
    values = [temperature(e, total) for e in epochs]
    assert all(b > a for a, b in zip(values, values[1:]))


def test_temperature_matches_paper_value_table() -> None:
    table = {0: 1.0, 1: 4621.7, 2: 7616.2, 3: 9051.6, 4: 9640.3, 5: 9866.2, 10: 9999.1, 299: 10000.0}
    for epoch, expected in table.items():
        assert temperature(epoch, 300) == pytest.approx(expected, abs=0.05)
    for total in (10, 20, 90, 180):  # "almost identical for any E >= 10": E=10 gives 4622.1
        assert temperature(1, total) == pytest.approx(4621.7, rel=1e-4)


# --------------------------------------------------------------------------- distribution §3.1


def test_distances_have_exact_zero_diagonal_and_match_float64_reference() -> None:
    torch.manual_seed(0)
    w = torch.randn(40, 16, 3, 3)
    d = filter_distances(w)
    assert d.dtype == torch.float32
    assert torch.equal(d.diagonal(), torch.zeros(40))
    flat = w.reshape(40, -1).double()
    reference = (flat[:, None, :] - flat[None, :, :]).pow(2).sum(-1).sqrt()
    torch.testing.assert_close(d.double(), reference, rtol=1e-6, atol=1e-6)
    assert torch.equal(d, d.T)


def test_rows_of_P_sum_to_one_and_diagonal_is_row_maximum() -> None:
    for t in (1.0, 10.0, 4621.7):
        P, logP = _random_distribution(t=t)
        torch.testing.assert_close(P.sum(1), torch.ones(P.shape[0]), rtol=0, atol=1e-5)
        assert torch.equal(P.diagonal(), P.max(dim=1).values)
        torch.testing.assert_close(logP.exp(), P, rtol=1e-5, atol=1e-7)


def test_temperature_multiplies_the_distance() -> None:
    d = filter_distances(torch.randn(10, 4, 3, 3))
    P, _ = similarity_distribution(d, 3.0)
    torch.testing.assert_close(P, torch.softmax(-3.0 * d, dim=1))


def test_logspace_P_tends_to_identity_as_T_grows() -> None:
    torch.manual_seed(0)
    d = filter_distances(torch.randn(24, 8, 3, 3) * 0.01)  # distances ~0.1: the decay is visible
    gaps = []
    for t in (1.0, 10.0, 30.0, 100.0, 1e3, 1e4):
        P, _ = similarity_distribution(d, t)
        gaps.append(float((P.diagonal() - 1).abs().max()))
    assert all(b < a for a, b in zip(gaps[:4], gaps[1:4]))
    assert all(b <= a for a, b in zip(gaps, gaps[1:]))
    assert gaps[-1] < 1e-6


# ----------------------------------------------------------------------------------- KL §3.2


def test_kl_self_divergence_is_zero_logspace_and_tiny_official() -> None:
    P, logP = _random_distribution(t=1.0)
    assert torch.equal(kl_matrix(P, logP, "logspace").diagonal(), torch.zeros(P.shape[0]))
    assert float(kl_matrix(P, logP, "official").diagonal().abs().max()) < 1e-6


@pytest.mark.parametrize("mode", ["official", "logspace"])
def test_scores_are_nonnegative(mode: str) -> None:
    for t in (1.0, 5.0, 50.0):
        for seed in range(3):
            P, logP = _random_distribution(t=t, seed=seed)
            assert float(kl_scores(P, logP, mode).min()) >= -1e-5


@pytest.mark.parametrize("mode", ["official", "logspace"])
def test_scores_equal_row_sums_of_literal_kl_formula_including_nan_rows(mode: str) -> None:
    # kl_scores uses the separable O(c^2) form; it must agree with the literal c×c×c formula, and in
    # official mode produce NaN exactly in the rows where the literal float32 formula does.
    torch.manual_seed(1)
    d = filter_distances(torch.randn(32, 8, 3, 3) * 0.1)
    # exp(-T·D) underflows in float32 once T·D ≳ 104: at this T about half of the rows contain a 0.
    t_partial = 104.0 / float(d.max(dim=1).values.median())
    for t in (1.0, 20.0, t_partial, 300.0):
        P, logP = similarity_distribution(d, t)
        literal = kl_matrix(P, logP, mode).sum(dim=1)
        fast = kl_scores(P, logP, mode)
        assert torch.equal(torch.isnan(literal), torch.isnan(fast))
        ok = torch.isfinite(literal)
        torch.testing.assert_close(fast[ok], literal[ok], rtol=1e-4, atol=1e-4)
    P, logP = similarity_distribution(d, t_partial)
    nan_rows = torch.isnan(kl_scores(P, logP, mode))
    if mode == "official":  # NaN exactly in the rows holding an exact zero, as the literal formula
        assert bool(nan_rows.any()) and not bool(nan_rows.all())
        assert torch.equal(nan_rows, (P == 0).any(dim=1))
    else:
        assert not bool(nan_rows.any())


def test_kl_direction_sums_over_second_argument() -> None:
    P, logP = _random_distribution(c=12, t=2.0, seed=2)
    manual = torch.stack(
        [torch.stack([(P[j] * (logP[j] - logP[g])).mean() for g in range(12)]) for j in range(12)]
    )
    torch.testing.assert_close(kl_matrix(P, logP, "logspace"), manual)
    torch.testing.assert_close(kl_scores(P, logP, "logspace"), manual.sum(1), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- fused conv §3.3


def test_fused_conv_equals_weighted_sum_of_single_filter_convs() -> None:
    torch.manual_seed(0)
    layer = FusedConv2d(5, 7, 3, 3, stride=2, padding=1, bias=True)
    q = torch.rand(3, 7)
    layer.fusion.copy_(q / q.sum(1, keepdim=True))
    x = torch.randn(2, 5, 9, 9)
    per_filter = F.conv2d(x, layer.weight, layer.bias, stride=2, padding=1)  # [2, 7, 5, 5]
    expected = torch.einsum("qk,nkhw->nqhw", layer.fusion, per_filter)
    torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-5)


def test_one_hot_fusion_equals_plain_conv_on_selected_filters() -> None:
    torch.manual_seed(0)
    layer = FusedConv2d(4, 10, 3, 3, padding=1, bias=True)
    chosen = torch.tensor([1, 4, 8])
    layer.fusion.copy_(F.one_hot(chosen, 10).float())
    x = torch.randn(2, 4, 6, 6)
    expected = F.conv2d(x, layer.weight[chosen], layer.bias[chosen], padding=1)
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-6)


def test_untouched_fused_conv_is_conv_over_first_filters_and_counts_like_compact_conv() -> None:
    layer = FusedConv2d(4, 10, 6, 3, stride=2, padding=1, bias=True)
    compact = plain_conv(4, 10, 6, 3, stride=2, padding=1, bias=True)
    for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "groups", "dilation"):
        assert getattr(layer, attr) == getattr(compact, attr), attr
    assert layer.weight.shape == (10, 4, 3, 3) and layer.bias.shape == (10,)
    assert torch.equal(layer.selected, torch.arange(6))
    x = torch.randn(1, 4, 8, 8)
    expected = F.conv2d(x, layer.weight[:6], layer.bias[:6], stride=2, padding=1)
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-6)


def test_gradients_reach_all_filters_through_fusion() -> None:
    layer = _kaiming_layer(c=16, in_channels=4, kept=4)
    FusionController(nn.Sequential(layer)).recompute(1.0)
    layer(torch.randn(2, 4, 5, 5)).square().sum().backward()
    assert bool((layer.weight.grad.reshape(16, -1).abs().sum(1) > 0).all())
    assert layer.fusion.grad is None


# ------------------------------------------------------------------------ controller §3.4–3.5


def test_controller_selects_top_m_scores_sorted_ascending_and_Q_is_rows_of_P() -> None:
    layer = _kaiming_layer(c=32, in_channels=8, kept=12)
    row = FusionController(nn.Sequential(layer), kl_mode="logspace").recompute(1.0)[0]
    P, logP = similarity_distribution(filter_distances(layer.weight), 1.0)
    scores = kl_scores(P, logP, "logspace")
    assert row["selected"] == sorted(row["selected"])
    assert set(row["selected"]) == set(torch.topk(scores, 12).indices.tolist())
    assert torch.equal(layer.selected, torch.tensor(row["selected"]))
    torch.testing.assert_close(layer.fusion, P[layer.selected])


@pytest.mark.parametrize("min_distance", [None, 0.05])
def test_official_mode_at_large_T_freezes_layer_and_keeps_previous_selection(
    min_distance: float | None,
) -> None:
    layer = _kaiming_layer()  # Kaiming init: pairwise distances ≈ 2
    if min_distance is not None:  # shrink the filters so that the closest pair is exactly this far apart
        with torch.no_grad():
            offdiag = filter_distances(layer.weight)[~torch.eye(64, dtype=torch.bool)]
            layer.weight.mul_(min_distance / float(offdiag.min()))
    controller = FusionController(nn.Sequential(layer), kl_mode="official")
    first = controller.recompute(1.0)[0]
    assert not first["frozen"]
    offdiag = filter_distances(layer.weight)[~torch.eye(64, dtype=torch.bool)]
    assert float(offdiag.min()) >= 0.05 * (1 - 1e-4)
    P, logP = similarity_distribution(filter_distances(layer.weight), 1e4)
    assert not bool(torch.isfinite(kl_scores(P, logP, "official")).all())

    with torch.no_grad():  # the weights move, yet the frozen scores keep the selection
        layer.weight.add_(0.01 * float(offdiag.min()) * torch.randn_like(layer.weight))
    later = controller.recompute(1e4)[0]
    assert later["frozen"]
    assert later["selected"] == first["selected"] and later["n_changed"] == 0
    # Q is taken from the *new* P, which has collapsed to the identity: one-hot fusion.
    assert later["mean_diag_q"] == 1.0
    assert torch.equal(layer.fusion, F.one_hot(layer.selected, 64).float())
    summary = fusion_summary([later])
    assert summary == {"frozen_layers": 1.0, "selection_changes": 0.0, "mean_diag_Q": 1.0}


def test_logspace_mode_stays_finite_and_dynamic_at_large_T() -> None:
    layer = _kaiming_layer()
    controller = FusionController(nn.Sequential(layer), kl_mode="logspace")
    first = controller.recompute(1.0)[0]
    with torch.no_grad():  # push the lowest-ranked filters far out: they must now be selected
        dropped = sorted(set(range(64)) - set(first["selected"]))[:4]
        layer.weight[dropped] *= 5.0
    later = controller.recompute(1e4)[0]
    assert not later["frozen"]
    assert set(dropped) <= set(later["selected"]) and later["n_changed"] >= 4


def test_mean_diagonal_of_Q_is_about_one_tenth_at_T1_for_64_filter_kaiming_layer() -> None:
    values = [
        FusionController(nn.Sequential(_kaiming_layer(seed=s))).recompute(1.0)[0]["mean_diag_q"]
        for s in range(3)
    ]
    for value in values:
        assert value == pytest.approx(0.1, abs=0.02)


def test_selection_is_deterministic_for_identically_seeded_models() -> None:
    def run() -> list[list[dict]]:
        torch.manual_seed(3)
        model = build_classifier("vgg_small", layer_rates=[0.5] * 6, conv=FusedConv2d)
        controller = FusionController(model, kl_mode="logspace")
        log = []
        for it in range(3):
            log.append(controller.recompute(temperature(it / 10, 10)))
            _sgd_steps(model, 16, steps=1, seed=it)
        return log

    assert run() == run()


@pytest.mark.parametrize("mode", ["official", "logspace"])
def test_controller_state_dict_round_trip_resumes_identically(mode: str) -> None:
    schedule = [temperature(e, 10) for e in (0.0, 0.2, 1.0, 2.0)]

    def fresh(seed: int) -> tuple[nn.Module, FusionController]:
        torch.manual_seed(seed)
        model = build_classifier("vgg_small", layer_rates=[0.5] * 6, conv=FusedConv2d)
        return model, FusionController(model, kl_mode=mode)

    model_a, ctrl_a = fresh(0)
    for i, t in enumerate(schedule[:2]):
        ctrl_a.recompute(t)
        _sgd_steps(model_a, 16, steps=1, seed=i)
    buffer = io.BytesIO()
    torch.save({"model": model_a.state_dict(), "fusion": ctrl_a.state_dict()}, buffer)
    rows_a = []
    for i, t in enumerate(schedule[2:]):
        rows_a.append(ctrl_a.recompute(t))
        _sgd_steps(model_a, 16, steps=1, seed=10 + i)

    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    model_b, ctrl_b = fresh(1)
    model_b.load_state_dict(checkpoint["model"])
    ctrl_b.load_state_dict(checkpoint["fusion"])
    rows_b = []
    for i, t in enumerate(schedule[2:]):
        rows_b.append(ctrl_b.recompute(t))
        _sgd_steps(model_b, 16, steps=1, seed=10 + i)
    assert rows_a == rows_b
    for (name, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(a, b), name
    if mode == "official":  # the resumed layers are frozen on the stored (epoch-0) scores
        assert all(row["frozen"] for row in rows_b[-1])


# ------------------------------------------------------------------------------- export §3.6


def _resnet56_uneven_rates() -> list[float]:
    # ResNet-110-like residual widths 6/25/32 (stage rates 0.6/0.2/0.5): the zero-pad shortcuts pad
    # 6→25 and 25→32, odd splits, so the before/after split of pitfall 7 matters.
    return expand_layer_rates("resnet56", [0.3, 0.5, 0.0, 0.7] * 6 + [0.4, 0.1, 0.6] + [0.6, 0.2, 0.5])


# arch -> (layer rates, input size, SGD steps, batch); ResNet-50 at 64×64 and one step to stay fast.
EXPORT_CASES = {
    "vgg_small": (lambda: [0.5] * 6, 16, 2, 4),
    "vgg16": (lambda: expand_layer_rates("vgg16", PAPER_RATES["vgg16"]), 32, 2, 4),
    "resnet56": (_resnet56_uneven_rates, 32, 2, 4),
    "resnet50": (lambda: expand_layer_rates("resnet50", PAPER_RATES["resnet50_step_0.96b"]), 64, 1, 2),
}


@pytest.mark.parametrize("arch", list(EXPORT_CASES))
def test_exported_compact_model_gives_same_logits_as_fused_model(arch: str) -> None:
    rates_fn, size, steps, batch = EXPORT_CASES[arch]
    rates = rates_fn()
    torch.manual_seed(0)
    fused = build_classifier(arch, layer_rates=rates, conv=FusedConv2d)
    rows = FusionController(fused).recompute(1.0)  # non-trivial, strongly mixing Q
    assert max(r["mean_diag_q"] for r in rows) < 0.9
    _sgd_steps(fused, size, steps=steps, batch=batch)  # weights move after Q was set; BN stats accumulate

    compact = build_classifier(arch, layer_rates=rates)
    state = export_compact_state_dict(fused)
    assert not any(k.endswith((".fusion", ".selected")) for k in state)
    compact.load_state_dict(state, strict=True)
    if arch == "vgg16":
        assert compact.features.conv0.bias is not None
    fused.eval()
    compact.eval()
    x = torch.randn(3, 3, size, size)
    with torch.no_grad():
        diff = (fused(x) - compact(x)).abs().max()
    assert float(diff) < 1e-4


def test_export_recomputes_fused_weights_from_current_parameters() -> None:
    # Pitfall 14: the export must not depend on anything cached by a previous forward pass.
    torch.manual_seed(0)
    fused = nn.Sequential(FusedConv2d(3, 8, 4, 3, padding=1, bias=True), nn.BatchNorm2d(4))
    FusionController(fused).recompute(1.0)
    fused(torch.randn(2, 3, 5, 5))
    with torch.no_grad():
        fused[0].weight.mul_(2.0)
        fused[0].bias.add_(1.0)
    state = export_compact_state_dict(fused)
    q, w, b = fused[0].fusion, fused[0].weight, fused[0].bias
    torch.testing.assert_close(state["0.weight"], (q @ w.reshape(8, -1)).reshape(4, 3, 3, 3))
    torch.testing.assert_close(state["0.bias"], q @ b)
    assert set(state) == {"0.weight", "0.bias"} | {f"1.{k}" for k in fused[1].state_dict()}
    assert int(state["1.num_batches_tracked"]) == 1


def test_fusion_summary_aggregates_rows() -> None:
    rows = [
        {"layer": "a", "t": 1.0, "selected": [0], "n_changed": 2, "frozen": True, "mean_diag_q": 0.2},
        {"layer": "b", "t": 1.0, "selected": [1], "n_changed": 1, "frozen": False, "mean_diag_q": 0.6},
    ]
    summary = fusion_summary(rows)
    assert summary["frozen_layers"] == 2.0 - 1.0
    assert summary["selection_changes"] == 3.0
    assert math.isclose(summary["mean_diag_Q"], 0.4)
