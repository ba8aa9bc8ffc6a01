"""Which datasets are in the database: the table the loader writes and `verify` reads.

`zbugs_synth.loaded_datasets` (made by migration 0004, like the loader's other tables) lives in our
own schema, outside Zero's publication, so zero-cache never replicates it. The loader inserts one
row when a load starts and sets `finished_at` when it ends; a row with no `finished_at` is a load
that is running or was interrupted. A `force` load truncates this table together with the zbugs
tables, so the finished rows always describe exactly the data present: expected rows of a zbugs
table = sum of `rows->>table` over finished loads
(+1 `project` for the built-in Zero row the migrations insert).

This module is the one place that spells the table out (the loader and verify both import it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import xxhash

from zbugs_synth.db.schema.migrate import SCHEMA
from zbugs_synth.errors import UserError
from zbugs_synth.tables import SHARD_RE

LOADED_DATASETS = f"{SCHEMA}.loaded_datasets"
MODES = ("seed", "force", "append")
DIR_PREFIX = "dir:"  # dataset_id of a manifest-less (original-tool) dataset

BOOKKEEPING_MIGRATION = 4  # db/schema/migrations/0004_loader_bookkeeping.sql makes these tables


def require_bookkeeping(conn: psycopg.Connection[Any], where: str) -> None:
    """The loader's tables exist in their current shape (made by the migrations, never here)."""
    row = conn.execute("SELECT to_regclass('zbugs_synth.migrations') IS NOT NULL").fetchone()
    applied = bool(row and row[0]) and bool(conn.execute(
        "SELECT EXISTS (SELECT 1 FROM zbugs_synth.migrations WHERE version = %s)",
        (BOOKKEEPING_MIGRATION,)).fetchone()[0])  # type: ignore[index]
    if not applied:
        raise UserError(f"{where} lacks the loader's bookkeeping tables (migration 0004_loader_bookkeeping): "
                        "run `zbugs-synth db-migrate` first")


@dataclass(frozen=True)
class LoadedDataset:
    id: int
    dataset_id: str
    source: str
    manifest: dict[str, Any] | None
    rows: dict[str, int]
    mode: str
    started_at: datetime
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


def has_bookkeeping(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (LOADED_DATASETS,)).fetchone()
    return bool(row and row[0])


def loaded_datasets(conn: psycopg.Connection[Any]) -> list[LoadedDataset]:
    """Every recorded load, oldest first; empty if the table does not exist (read-only: never creates it)."""
    if not has_bookkeeping(conn):
        return []
    rows = conn.execute(
        f"SELECT id, dataset_id, source, manifest, rows, mode, started_at, finished_at "
        f"FROM {LOADED_DATASETS} ORDER BY id").fetchall()
    return [LoadedDataset(int(i), str(d), str(s), m if isinstance(m, dict) else None, _row_counts(r),
                          str(mode), st, fin) for i, d, s, m, r, mode, st, fin in rows]


def _row_counts(raw: Any) -> dict[str, int]:
    """`rows` jsonb as {table: int}; anything that is not a whole number counts as 0 (it is not ours to trust)."""
    if not isinstance(raw, dict):
        return {}
    out: dict[str, int] = {}
    for table, value in raw.items():
        try:
            out[str(table)] = int(value)
        except (TypeError, ValueError):
            out[str(table)] = 0
    return out


def expected_rows(loads: Iterable[LoadedDataset], tables: Iterable[str]) -> dict[str, int]:
    """Rows each table should hold after the finished `loads` (the built-in Zero project included)."""
    finished = [d for d in loads if d.finished]
    out = {t: sum(d.rows.get(t, 0) for d in finished) for t in tables}
    if "project" in out:
        out["project"] += 1
    return out


def record_load_started(conn: psycopg.Connection[Any], *, dataset_id: str, source: str,
                        manifest: dict[str, Any] | None, mode: str, rows: dict[str, int] | None = None) -> int:
    """Insert the row of a load that is starting; returns its id (the caller commits)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    row = conn.execute(
        f"INSERT INTO {LOADED_DATASETS} (dataset_id, source, manifest, rows, mode) "
        f"VALUES (%s, %s, %s::jsonb, %s::jsonb, %s) RETURNING id",
        (dataset_id, source, None if manifest is None else json.dumps(manifest), json.dumps(rows or {}), mode),
    ).fetchone()
    if row is None:
        raise RuntimeError(f"INSERT INTO {LOADED_DATASETS} ... RETURNING id returned no row")
    return int(row[0])


def record_load_finished(conn: psycopg.Connection[Any], load_id: int, rows: dict[str, int]) -> None:
    """Store the rows the load added and mark it finished (the caller commits)."""
    conn.execute(f"UPDATE {LOADED_DATASETS} SET rows = %s::jsonb, finished_at = now() WHERE id = %s",
                 (json.dumps(rows), load_id))


def dir_dataset_id(directory: Path) -> str:
    """dataset_id of a manifest-less dataset: 'dir:' + xxh3_64 hex of its sorted "name:size" lines.

    The lines are joined with "\\n"; only files named like dataset shards count.
    """
    entries = sorted(f"{p.name}:{p.stat().st_size}" for p in directory.iterdir()
                     if p.is_file() and SHARD_RE.match(p.name))
    return DIR_PREFIX + xxhash.xxh3_64_hexdigest("\n".join(entries).encode())
