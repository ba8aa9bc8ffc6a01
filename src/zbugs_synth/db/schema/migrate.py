"""Versioned SQL migrations for the zbugs schema (`db-migrate`).

Migrations are the files `db/schema/migrations/NNNN_name.sql`, applied in version order, each in its own
transaction together with its row in `zbugs_synth.migrations`. That bookkeeping schema is ours
(the loader keeps its state there too) and is not part of Zero's publication. A session advisory
lock makes concurrent runs take turns; the second one finds nothing left to do.

Each applied migration's checksum is recorded: a file edited after it was applied is reported
instead of silently leaving the database different from the files.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

from zbugs_synth.db.connect import connect, mask_url, scrub
from zbugs_synth.errors import UserError

SCHEMA = "zbugs_synth"
TABLE = f"{SCHEMA}.migrations"
_LOCK_KEY = 0x7A627567_5F6D6967  # "zbug_mig": one advisory lock id for all migration runs
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str  # file name without .sql, e.g. "0001_schema"
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class MigrateResult:
    applied: list[str]  # names applied by this run, in order
    already: int  # how many were applied before


def available() -> list[Migration]:
    """The bundled migrations, in version order."""
    found = []
    for entry in resources.files("zbugs_synth.db.schema").joinpath("migrations").iterdir():
        m = _FILE.match(entry.name)
        if m:
            name = entry.name.removesuffix(".sql")
            found.append(Migration(int(m.group(1)), name, entry.read_text("utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):  # a packaging mistake, not something a user did
        raise RuntimeError(f"duplicate migration versions in the package: {versions}")
    return found


def pending(url: str) -> list[str]:
    """Names of the bundled migrations not yet applied to the database at `url`."""
    with connect(url, autocommit=True) as conn:
        done = applied(conn)
    return [m.name for m in available() if m.version not in done]


def applied(conn: psycopg.Connection[Any]) -> dict[int, tuple[str, str]]:
    """version -> (name, checksum) of the migrations recorded in the database."""
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,)).fetchone()
    if not exists or not exists[0]:
        return {}
    rows = conn.execute(f"SELECT version, name, checksum FROM {TABLE}").fetchall()
    return {int(v): (n, c) for v, n, c in rows}


def migrate(url: str) -> MigrateResult:
    """Apply every pending migration to the database at `url`."""
    with connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            return _migrate(conn, url)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def _migrate(conn: psycopg.Connection[Any], url: str) -> MigrateResult:
    _run(conn, url, "create the migrations table", f"""
        CREATE SCHEMA IF NOT EXISTS {SCHEMA};
        CREATE TABLE IF NOT EXISTS {TABLE} (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            checksum   text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        );""")
    done = applied(conn)
    todo: list[Migration] = []
    for mig in available():
        if mig.version not in done:
            todo.append(mig)
        elif done[mig.version][1] != mig.checksum:
            raise UserError(f"migration {mig.name} was changed after it was applied to {mask_url(url)}; "
                            "restore the file or start from a new database")
    for mig in todo:
        with conn.transaction():
            _run(conn, url, f"migration {mig.name}", mig.sql)
            conn.execute(f"INSERT INTO {TABLE} (version, name, checksum) VALUES (%s, %s, %s)",
                         (mig.version, mig.name, mig.checksum))
    return MigrateResult(applied=[m.name for m in todo], already=len(done))


def _run(conn: psycopg.Connection[Any], url: str, what: str, statements: str) -> None:
    try:
        conn.execute(statements)  # no parameters: sent as one simple query, several statements allowed
    except psycopg.Error as e:
        raise UserError(f"{what} failed on {mask_url(url)}: {scrub(str(e), url)}") from None
