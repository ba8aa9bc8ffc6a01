"""A dataset generated once per test session, read by many tests (it takes about a second)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from zbugs_synth.config import build
from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.generate.driver import Result, generate
from zbugs_synth.tables import TABLES

SMALL = {"NUM_ISSUES": "60000", "SHARD_SIZE": "25000", "NUM_PROJECTS": "100", "NUM_USERS": "100"}


def make_config(out: Path, **env: str) -> GenerateConfig:
    return build(GenerateConfig, None, {"OUTPUT_DIR": str(out), "WORKERS": "2", **env})


@dataclass
class Dataset:
    cfg: GenerateConfig
    result: Result
    dir: Path

    def files(self, table: str) -> list[Path]:
        return sorted(self.dir.glob(f"{table}_*.csv"))

    def rows(self, table: str) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        for f in self.files(table):
            with open(f, newline="", encoding="utf-8") as fh:
                out.extend(csv.DictReader(fh))
        return out


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    out = tmp_path_factory.mktemp("small") / "data"
    cfg = make_config(out, **SMALL)
    return Dataset(cfg, generate(cfg), out)


@pytest.fixture(scope="session")
def table_rows(small_dataset: Dataset) -> dict[str, list[dict[str, str]]]:
    return {t: small_dataset.rows(t) for t in TABLES}


@pytest.fixture
def generate_into(tmp_path: Path) -> Callable[..., Dataset]:
    def run(name: str = "d", **env: str) -> Dataset:
        out = tmp_path / name
        cfg = make_config(out, **env)
        return Dataset(cfg, generate(cfg), out)

    return run
