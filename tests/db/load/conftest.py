"""The loader's tests' shared datasets: generated once per session (BATCH1, then BATCH2 appended)."""

from __future__ import annotations

from pathlib import Path

import pytest
from loader_helpers import BATCH1, BATCH2, make_dataset


@pytest.fixture(scope="session")
def batch1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("batch1") / "data", BATCH1)


@pytest.fixture(scope="session")
def batch2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("batch2") / "data", BATCH2)
