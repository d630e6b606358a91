"""The shared dihedral helper (papers/uformer.md §9 check 13)."""

from __future__ import annotations

import torch

from cvpapers.data.augment import dihedral8, draw_dihedral8


def test_the_eight_codes_give_the_eight_distinct_group_elements() -> None:
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(8, 1, 1, 1)
    (out,) = dihedral8(torch.arange(8), x)
    assert len({tuple(o.flatten().tolist()) for o in out}) == 8
    assert torch.equal(out[0], x[0]) and torch.equal(out[1], torch.rot90(x[0], 1, (-2, -1)))
    assert torch.equal(out[4], x[0].flip(-1))


def test_input_and_target_get_the_same_transform_per_sample() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 3, 8, 8)
    code = draw_dihedral8(32, g)
    a, b = dihedral8(code, x, x + 1)
    assert torch.equal(b, a + 1)
    assert set(code.tolist()) == set(range(8)), "uniform over the 8 elements"


def test_fhdrnet_keeps_its_own_draw_byte_for_byte() -> None:
    """FHDRNet's batches do not use the shared helper (flip p = 0.5 then rot90: its own distribution)."""
    import inspect

    from cvpapers.pipelines.fhdrnet import training

    assert "dihedral8" not in inspect.getsource(training)
