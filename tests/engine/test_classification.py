"""engine/classification.train_classifier: the options it hands to the one loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cvpapers.data.classification import TensorBatches


@pytest.mark.parametrize("clip", [None, 0.5])
def test_grad_clip_reaches_the_loop(clip: float | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Collaborative Compression fine-tunes with max-norm clipping 1.0; the default (None) is off as before."""
    import cvpapers.engine.classification as classification

    seen = {}

    def fake_fit(model, train, step, opt, sched, config, *args, **kwargs):
        seen["grad_clip"] = config.grad_clip

    monkeypatch.setattr(classification, "fit", fake_fit)
    data = TensorBatches(
        torch.zeros(4, 3, 8, 8, dtype=torch.uint8),
        torch.zeros(4, dtype=torch.long),
        2,
        (0.5,) * 3,
        (0.3,) * 3,
    )
    kwargs = {} if clip is None else {"grad_clip": clip}
    classification.train_classifier(
        nn.Linear(1, 1), data, None, stage="s", epochs=1, lr=0.1, device=torch.device("cpu"), **kwargs
    )
    assert seen["grad_clip"] == clip
