"""The registered MI-AOD pipelines (``mi_aod``, ``mi_aod_ablation``, ``mi_aod_paper``) live side by side: no
dataset, file, checkpoint folder or embedded-data folder of one is another's, so running one after the other
keeps both outputs."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pytest

from tests.conftest import REPO

NAMES = ("mi_aod", "mi_aod_ablation", "mi_aod_paper")


@pytest.fixture(scope="module")
def pipelines() -> dict:
    from cvpapers import registry

    return {name: registry.resolve(name).declaration.build(name) for name in NAMES}


def _outputs(pipeline) -> set[str]:
    return {d for d in pipeline.datasets() if not d.startswith("params:")}


def test_every_dataset_is_named_after_its_registered_pipeline(pipelines: dict) -> None:
    for name, pipeline in pipelines.items():
        assert {d.split(".")[0] for d in _outputs(pipeline)} == {name}
        assert {d for d in pipeline.datasets() if d.startswith("params:")} == {"params:mi_aod"}


def test_no_two_variants_share_a_dataset_or_a_file(pipelines: dict) -> None:
    from kedro.config import OmegaConfigLoader
    from kedro.io import DataCatalog

    catalog = DataCatalog.from_config(OmegaConfigLoader(str(REPO / "conf"), base_env="base",
                                                        default_run_env="base")["catalog"])
    files = {name: {str(catalog.get(d)._describe()["filepath"]) for d in _outputs(p)} for name, p in pipelines.items()}
    for name, paths in files.items():
        assert len(paths) == len(_outputs(pipelines[name]))  # one file per dataset
        assert all(Path(f).parent.name == name for f in paths), name
    for a, b in combinations(NAMES, 2):
        assert not _outputs(pipelines[a]) & _outputs(pipelines[b]), (a, b)
        assert not files[a] & files[b], (a, b)


def test_train_state_and_embedded_data_folders_are_the_registered_pipelines_own() -> None:
    from cvpapers.engine.run import RunContext
    from cvpapers.pipelines.mi_aod import DECLARATION

    p = DECLARATION.validate({})
    states = {RunContext.start(p, name).checkpoint_dir for name in NAMES}
    roots = {p.data.root.format(pipeline=name) for name in NAMES}
    assert len(states) == len(roots) == len(NAMES)
