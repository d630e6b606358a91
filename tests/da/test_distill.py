"""Multi-teacher ensemble and KD loss invariants (ssda_dual_mix.md §3.4, §9.5)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cvpapers.da.distill import ensemble_probs, kd_loss

C = 8


def _logits(seed: int, shape: tuple[int, ...] = (3, C, 8, 16), scale: float = 3.0) -> torch.Tensor:
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("mode", ["prob", "logit"])
@pytest.mark.parametrize("temperature", [1.0, 10.0])
def test_ensemble_of_identical_teachers_is_that_teachers_distribution(mode: str, temperature: float) -> None:
    z = _logits(0)
    p = ensemble_probs([z, z.clone()], temperature, mode)  # type: ignore[arg-type]
    assert torch.allclose(p, F.softmax(z / temperature, dim=1), atol=1e-12)


def test_prob_mode_averages_softmaxes_and_logit_mode_softmaxes_the_mean_logit() -> None:
    z1, z2 = _logits(1), _logits(2)
    p_prob = ensemble_probs([z1, z2], 2.0, "prob")
    p_logit = ensemble_probs([z1, z2], 2.0, "logit")
    assert torch.allclose(p_prob, 0.5 * (F.softmax(z1 / 2, 1) + F.softmax(z2 / 2, 1)), atol=1e-12)
    assert torch.allclose(p_logit, F.softmax((z1 + z2) / 4, 1), atol=1e-12)
    for p in (p_prob, p_logit):
        assert torch.allclose(p.sum(1), torch.ones_like(p.sum(1)), atol=1e-12) and (p >= 0).all()


@pytest.mark.parametrize("t2_scaling", [True, False])
@pytest.mark.parametrize("temperature", [1.0, 10.0])
def test_kd_loss_is_zero_when_student_equals_the_logit_mode_ensemble(
    temperature: float, t2_scaling: bool
) -> None:
    z1, z2 = _logits(3), _logits(4)
    p = ensemble_probs([z1, z2], temperature, "logit")
    loss = kd_loss(p, 0.5 * (z1 + z2), temperature, t2_scaling)
    assert abs(loss.item()) < 1e-10


def test_kd_loss_is_zero_when_teachers_and_student_share_logits_in_prob_mode() -> None:
    z = _logits(5)
    assert abs(kd_loss(ensemble_probs([z, z], 10.0, "prob"), z, 10.0).item()) < 1e-10


def test_kd_loss_is_non_negative_and_positive_for_a_different_student() -> None:
    for seed in range(10):
        z1, z2, zs = _logits(10 + seed), _logits(30 + seed), _logits(50 + seed)
        for mode in ("prob", "logit"):
            for t in (0.5, 1.0, 10.0):
                loss = kd_loss(ensemble_probs([z1, z2], t, mode), zs, t)  # type: ignore[arg-type]
                assert loss.item() > 0


def test_kd_loss_equals_t2_times_pixel_mean_kl_divergence() -> None:
    z1, z2, zs = _logits(6), _logits(7), _logits(8)
    t = 4.0
    p = ensemble_probs([z1, z2], t, "prob")
    log_q = F.log_softmax(zs / t, dim=1)
    n_pixels = p.numel() // C
    reference = F.kl_div(log_q, p, reduction="sum") / n_pixels
    assert torch.allclose(kd_loss(p, zs, t, t2_scaling=False), reference, rtol=1e-10)
    assert torch.allclose(kd_loss(p, zs, t, t2_scaling=True), t**2 * reference, rtol=1e-10)


def test_kd_loss_is_finite_with_exact_zero_teacher_probabilities() -> None:
    p = torch.zeros(2, C, 4, 4, dtype=torch.float64)
    p[:, 0] = 1.0  # one-hot teacher: p·log p terms at p = 0 must count as 0
    zs = _logits(9, (2, C, 4, 4)).requires_grad_(True)
    loss = kd_loss(p, zs, 1.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(zs.grad).all()
    assert torch.allclose(loss, -F.log_softmax(zs.detach(), 1)[:, 0].mean())


def test_kd_loss_gradient_reaches_the_student_only() -> None:
    z1 = _logits(11).requires_grad_(True)
    zs = _logits(12).requires_grad_(True)
    kd_loss(ensemble_probs([z1], 1.0, "prob"), zs, 1.0).backward()
    assert z1.grad is None and zs.grad is not None and zs.grad.abs().sum() > 0


def test_large_temperature_makes_the_ensemble_uniform() -> None:
    z1, z2 = _logits(13), _logits(14)
    for mode in ("prob", "logit"):
        p = ensemble_probs([z1, z2], 1e6, mode)  # type: ignore[arg-type]
        assert torch.allclose(p, torch.full_like(p, 1.0 / C), atol=1e-5)
    # And the approach is monotone: the distance to uniform shrinks as T grows.
    dists = [(ensemble_probs([z1, z2], t, "prob") - 1.0 / C).abs().max().item() for t in (1, 10, 100, 1000)]
    assert dists == sorted(dists, reverse=True)


def test_invalid_arguments_are_rejected() -> None:
    z = _logits(15)
    with pytest.raises(ValueError):
        ensemble_probs([], 1.0, "prob")
    with pytest.raises(ValueError):
        ensemble_probs([z, z[:, :-1]], 1.0, "prob")
    with pytest.raises(ValueError):
        ensemble_probs([z], 0.0, "prob")
    with pytest.raises(ValueError):
        ensemble_probs([z], 1.0, "geometric")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        kd_loss(F.softmax(z, 1), z[:, :-1], 1.0)


@pytest.mark.parametrize("mode", ["prob", "logit"])
def test_teacher_ensemble_outputs_the_log_of_the_ensemble_distribution(mode: str) -> None:
    from cvpapers.da.distill import TeacherEnsemble

    class Fixed(torch.nn.Module):
        def __init__(self, z: torch.Tensor) -> None:
            super().__init__()
            self.z = z

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.z

    z1, z2 = _logits(5), _logits(6)
    ensemble = TeacherEnsemble([Fixed(z1), Fixed(z2)], 1.0, mode)  # type: ignore[arg-type]
    out = ensemble(torch.zeros(1))
    assert len(list(ensemble.children())[0]) == 2
    assert torch.allclose(out.exp(), ensemble_probs([z1, z2], 1.0, mode), atol=1e-12)  # type: ignore[arg-type]
    assert torch.equal(out.argmax(1), ensemble_probs([z1, z2], 1.0, mode).argmax(1))  # type: ignore[arg-type]
