"""The benchmark's scenes (issue 19): in the paper's regime, objects move farther than AHDRNet-small sees,
and the drawn motion stays inside the configured range (papers/fhdrnet.md §8)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from cvpapers.data.hdr_scenes import HdrSceneConfig, _draw_object
from cvpapers.pipelines.fhdrnet import DECLARATION
from tests.conftest import REPO

AHDRNET_SMALL_RF_RADIUS = 25  # test_networks.test_ahdrnet_small_receptive_field_is_51_px


def _env_data(env: str) -> dict:
    from tests.conftest import conf_parameters

    base = conf_parameters("fhdrnet")
    path = REPO / f"conf/{env}/parameters_fhdrnet.yml"
    over = yaml.safe_load(path.read_text())["fhdrnet"] if env != "base" else {}
    return DECLARATION.validate(
        {**base, **{k: ({**base[k], **v} if isinstance(v, dict) else v) for k, v in over.items()}}
    )


@pytest.mark.parametrize("motion", [(4.0, 12.0), (32.0, 64.0)])
def test_every_drawn_displacement_lies_in_the_motion_range(motion: tuple[float, float]) -> None:
    cfg = HdrSceneConfig(image_size=128, object_radius_px=(12, 24), motion_px=motion)
    steps = []
    for k in range(200):
        obj = _draw_object(np.random.default_rng([7, k]), cfg, 128, 1.0, 2.0)
        assert np.all(obj.offsets[1] == 0), "the reference frame does not move"
        steps += [np.hypot(*obj.offsets[0]), np.hypot(*obj.offsets[2])]
    assert motion[0] - 1e-9 <= min(steps) and max(steps) <= motion[1] + 1e-9
    assert max(steps) - min(steps) > 0.8 * (motion[1] - motion[0]), "the whole range is drawn"


@pytest.mark.parametrize("env", ["base", "benchmark"])
def test_the_regime_renders_scenes_larger_than_the_crops_with_motion_beyond_ahdrnets_view(env: str) -> None:
    p = _env_data(env)
    assert p.train.crop is not None and p.data.image_size >= 2 * p.train.crop
    assert p.data.motion_px[0] > AHDRNET_SMALL_RF_RADIUS
    assert p.model.use_bn and p.ahdrnet.init == "kaiming"
