"""Every training loss goes through the loop's NaN/inf guard: with the learning rate driven to 1e9 each
pipeline stops with ``NonFiniteLossError`` naming the stage and the step. MI-AOD used to stop earlier, inside
its image-classification BCE (``RuntimeError: all elements of input should be between 0 and 1``), naming
neither."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from cvpapers.engine.loop import NonFiniteLossError
from tests.conftest import make_project, run_in

# The first stage each pipeline trains (in node order) is the one that diverges first.
FIRST_STAGE = {"dcff": "l1_pretrain", "fhdrnet": "rgb_ahdrnet", "mi_aod": "A_label", "ssda_dual_mix": "baseline_src_only"}


@pytest.mark.parametrize("pipeline", sorted(FIRST_STAGE))
def test_a_diverging_loss_stops_the_run_naming_stage_and_step(pipeline: str, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    with pytest.raises(NonFiniteLossError) as err:
        run_in(project, pipeline, params={f"{pipeline}.train.lr": "1e9"})
    message = str(err.value)
    assert re.match(rf"{FIRST_STAGE[pipeline]}: loss became (nan|inf|-inf) at ", message), message
    assert re.search(r"\b(iteration|step) \d+", message), message
    assert re.search(r"lr=[0-9.]+e\+0[89]", message), message  # the lr at that step (a schedule may have moved it)


def test_mi_aod_image_loss_carries_a_nan_score_to_the_guard() -> None:
    from cvpapers.pipelines.mi_aod.losses import image_cls_loss

    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    score = torch.tensor([[0.9, float("nan")], [0.2, 0.7]])
    assert torch.isnan(image_cls_loss(score, labels))
    assert torch.isnan(image_cls_loss(score, labels, enabled=False))  # 0 · NaN: the guard still sees it


def test_mi_aod_image_loss_of_finite_scores_is_plain_bce() -> None:
    import torch.nn.functional as F

    from cvpapers.pipelines.mi_aod.losses import image_cls_loss

    g = torch.Generator().manual_seed(0)
    score = torch.rand(4, 5, generator=g).clamp(1e-5, 1 - 1e-5).requires_grad_()
    labels = (torch.rand(4, 5, generator=g) > 0.5).float()
    loss = image_cls_loss(score, labels)
    (grad,) = torch.autograd.grad(loss, score)
    reference = F.binary_cross_entropy(score, labels)
    (ref_grad,) = torch.autograd.grad(reference, score)
    assert loss.item() == reference.item() and torch.equal(grad, ref_grad)
