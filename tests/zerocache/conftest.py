"""Fixtures for tests against the real zero-cache (see zero_harness.py for what runs and where).

- `zero_install` (session): the cached `@rocicorp/zero` install (installed on first use, ≈ 25-45 s;
  then instant).
- `zero_dataset` (session): a small dataset generated once by our CLI (2,000 issues, seed 42).
- `zero_dbs` (function): a fresh, migrated upstream database (the suite's `fresh_db`) plus the CVR and
  change databases zero-cache wants beside it. At teardown the replication slots zero-cache left
  upstream are dropped (a database with a slot cannot be dropped) and the extra databases too.
- `zero_cache` (function): a factory `zero_cache(dbs=None, extra_env=None, start=True, timeout=...)` ->
  `ZeroCache`, started and ready unless `start=False`; every server it made is stopped at teardown,
  before `zero_dbs` cleans up. Logs, replica and temp files live in a pytest tmp folder.

A new test, e.g. "an append while zero-cache runs":

    def test_append_streams(zero_dbs, zero_cache, zero_dataset, tmp_path):
        seed(zero_dbs.upstream, zero_dataset)
        zc = zero_cache()
        ...load more..., then wait_for_replica(zc) and assert zc.running()
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from zero_harness import (
    READY_TIMEOUT,
    ZeroCache,
    ZeroDbs,
    ZeroInstall,
    create_database,
    drop_database,
    drop_replication_slots,
    generate_dataset,
    install_zero,
    start_zero_cache,
)

DATASET_ISSUES = 2000  # test_initial_sync.py counts on this figure


@pytest.fixture(scope="session")
def zero_install() -> ZeroInstall:
    return install_zero()


@pytest.fixture(scope="session")
def zero_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("zero-data") / "data", DATASET_ISSUES)


@pytest.fixture
def zero_dbs(pg_admin_url: str, fresh_db: str) -> Iterator[ZeroDbs]:
    suffix = uuid.uuid4().hex[:10]
    names = {"cvr": f"zero_cvr_{suffix}", "change": f"zero_cdc_{suffix}"}
    dbs = ZeroDbs(pg_admin_url, fresh_db, create_database(pg_admin_url, names["cvr"]),
                  create_database(pg_admin_url, names["change"]))
    try:
        yield dbs
    finally:
        drop_replication_slots(pg_admin_url, dbs.upstream_name)
        for name in names.values():
            drop_database(pg_admin_url, name)


@pytest.fixture
def zero_cache(zero_install: ZeroInstall, zero_dbs: ZeroDbs,
               tmp_path: Path) -> Iterator[Callable[..., ZeroCache]]:
    made: list[ZeroCache] = []

    def make(dbs: ZeroDbs | None = None, extra_env: dict[str, str] | None = None, start: bool = True,
             timeout: float = READY_TIMEOUT) -> ZeroCache:
        d = dbs or zero_dbs
        workdir = tmp_path / f"zero-cache-{len(made)}"
        workdir.mkdir()
        if start:
            zc = start_zero_cache(zero_install, d.upstream, d.cvr, d.change, workdir, extra_env=extra_env,
                                  timeout=timeout)
        else:
            zc = ZeroCache(zero_install, d.upstream, d.cvr, d.change, workdir, extra_env=dict(extra_env or {}))
        made.append(zc)
        return zc

    try:
        yield make
    finally:
        for zc in made:
            zc.stop()
