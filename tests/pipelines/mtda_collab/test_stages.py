"""Experts, student and baselines share one initialisation (spec §11.2) whichever ``expert.init``."""

from __future__ import annotations

import pytest
import torch

from cvpapers.engine.run import RunContext
from cvpapers.pipelines.mtda_collab import stages
from cvpapers.pipelines.mtda_collab.config import MtdaParams
from cvpapers.pipelines.mtda_collab.room import Room


def _room(tmp_path, **expert) -> Room:
    p = MtdaParams.model_validate(
        {"model": {"widths": [4, 4, 4, 4]}, "expert": expert, "checkpoint_dir": str(tmp_path)}
    )
    return Room(p, RunContext.start(p, "mtda_collab"))


@pytest.mark.parametrize("init", ["source_only", "initial"])
def test_every_expert_and_the_student_start_from_one_state(tmp_path, init: str) -> None:
    room = _room(tmp_path, init=init)
    torch.manual_seed(3)
    theta0 = room.single_checkpoint(room.fresh(["m"], "theta0")["m"])
    experts = stages._expert_init(room, theta0, None)
    student = stages._student_init(room, theta0, experts)
    for t in room.targets:
        for k, v in experts[t].state_dict().items():
            assert torch.equal(v, experts["city"].state_dict()[k]) and torch.equal(v, student[k]), (t, k)
    same_as_theta0 = all(torch.equal(v, theta0["state_dict"][k]) for k, v in student.items())
    assert same_as_theta0 == (init == "source_only")
