"""Multi-teacher knowledge distillation of DDM (``papers/ssda_dual_mix.md`` §3.4, Eq. 4).

The student learns from the average of the region-level and sample-level teachers on unlabelled
target images: ``L_kl = T² · mean_pixels Σ_c p_T,c (log p_T,c − log softmax(z_S/T)_c)``, i.e.
KL(p_T ‖ p_S) with the teacher ensemble as the target. The paper gives neither the temperature nor
the T² factor (the official config has ``KL_T = 10``); both stay explicit parameters because with
T = 10 and no T² the gradient is ~100× smaller (§11).

:class:`TeacherEnsemble` wraps the teachers as one module whose output is the ensemble's log-probabilities, so
the ensemble is evaluated (paper Table 3) like any single segmenter.

Class axis is dim 1 throughout (``N×C×H×W`` logits, or ``N×C`` for classification-shaped inputs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

EnsembleMode = Literal["prob", "logit"]
_MODES: tuple[str, ...] = ("prob", "logit")


def ensemble_probs(logits_list: Sequence[Tensor], temperature: float, mode: EnsembleMode = "prob") -> Tensor:
    """Teacher ensemble distribution ``p_T`` over dim 1.

    ``prob`` (default, "average of the teachers' outputs"): ``mean_k softmax(z_k / T)``.
    ``logit``: ``softmax(mean_k z_k / T)`` — the variant of some re-implementations; it is the one
    whose target a single student logit map can match exactly. Accumulated in place rather than
    stacked, so K teachers cost one extra map of memory, not K.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if len(logits_list) == 0:
        raise ValueError("need at least one teacher's logits")
    shape = logits_list[0].shape
    if any(z.shape != shape for z in logits_list):
        raise ValueError(
            f"all teachers' logits must share one shape, got {[tuple(z.shape) for z in logits_list]}"
        )
    if mode == "logit":
        total = torch.zeros_like(logits_list[0])
        for z in logits_list:
            total = total + z
        return F.softmax(total / (len(logits_list) * temperature), dim=1)
    total = torch.zeros_like(logits_list[0])
    for z in logits_list:
        total = total + F.softmax(z / temperature, dim=1)
    return total / len(logits_list)


def kd_loss(
    teacher_probs: Tensor, student_logits: Tensor, temperature: float, t2_scaling: bool = True
) -> Tensor:
    """``(T² if t2_scaling) · mean over pixels of KL(p_T ‖ softmax(z_S / T))`` → scalar.

    The teacher distribution is the target (detached). ``p log p`` uses ``xlogy`` and ``p log q`` is
    zeroed where ``p = 0``, so sharp teachers with exact zeros give finite values and gradients.
    "Mean over pixels" is over every position of every image (all of dim 0 and dims 2+): no pixel is
    ignored, as unlabelled target images have no ignore label.
    """
    if teacher_probs.shape != student_logits.shape:
        raise ValueError(
            f"teacher_probs and student_logits must share one shape, got {tuple(teacher_probs.shape)} "
            f"and {tuple(student_logits.shape)}"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    p = teacher_probs.detach()
    log_q = F.log_softmax(student_logits / temperature, dim=1)
    cross = torch.where(p > 0, p * log_q, torch.zeros_like(log_q))
    kl = (torch.xlogy(p, p) - cross).sum(dim=1).mean()
    return kl * temperature**2 if t2_scaling else kl


class TeacherEnsemble(nn.Module):
    """E(teachers): the teachers' ensemble distribution (:func:`ensemble_probs`) as one segmenter.

    Its output is the ensemble's log-probabilities, so an argmax, a softmax and an upsampling behave as for
    logits and the ensemble goes through the same evaluation as a single model.
    """

    def __init__(self, teachers: Sequence[nn.Module], temperature: float, mode: EnsembleMode = "prob") -> None:
        super().__init__()
        self.teachers = nn.ModuleList(teachers)
        self.temperature, self.mode = temperature, mode

    def forward(self, x: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        """Log-probabilities at ``output_size`` (default: the teachers' own output size): each teacher upsamples
        its logits there itself, as a single segmenter would, before the ensemble is averaged."""
        outs = [t(x) if output_size is None else t(x, output_size=output_size) for t in self.teachers]
        return ensemble_probs(outs, self.temperature, self.mode).clamp_min(1e-12).log()
