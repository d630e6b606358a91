"""One fake MLflow store per test session (creating an sqlite store costs seconds), and its snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.pipelines.compare.fakes import build_store, default_runs


@pytest.fixture(scope="session")
def fake_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_store(tmp_path_factory.mktemp("compare_store"), default_runs())


@pytest.fixture(scope="session")
def snapshot_of(fake_store: str):
    """``snapshot_of(**params)``: what prepare_data reads from the fake store with these parameters."""
    from cvpapers.pipelines.compare import store
    from cvpapers.pipelines.compare.config import CompareParams

    def get(**params: Any) -> dict[str, Any]:
        return store.collect(CompareParams(**{"stores": [fake_store], **params}))

    return get


def params(**kw: Any):
    from cvpapers.pipelines.compare.config import CompareParams

    return CompareParams(**kw)


def project_root(uri: str) -> Path:
    return Path(uri.removeprefix("sqlite:///")).parent
