"""Appending a batch to tables that may already hold rows, without changing their schema.

A seed drops keys, indexes and foreign keys and rebuilds them; an append must not: the tables are
big (rebuilding their indexes costs what the database holds, not what the batch adds), and a running
zero-cache sees every DDL statement as a schema change (it may resync, or set a replica identity on
an index the next load drops). So an append keeps every primary key, unique index and foreign key,
and keeps triggers out of the way without DDL:

- triggers: the loading sessions run with `session_replication_role = replica`, under which
  ordinary (ENABLE, not ENABLE ALWAYS/REPLICA) triggers do not fire. Setting it needs superuser or
  `GRANT SET ON PARAMETER session_replication_role` (PostgreSQL 15+); without it the triggers are
  disabled with ALTER TABLE instead, and the loader says so (`replication_role_allowed`).
- foreign keys: under that role the foreign-key triggers do not fire either, so each shard is
  COPYed into a temporary table first, its references are checked there against the parent tables
  (an anti-join through the parents' primary/unique indexes, so it costs the batch's rows, not the
  table's), and only then inserted. A table's shards start when its parents' shards are all in.
- indexes: kept and maintained row by row (the rows go in primary-key order, so the key's pages are
  touched once per shard). A batch as big as the data is loaded faster the way a seed does it
  (every index, key and foreign key dropped and rebuilt): `ZERO_SEED_INDEXES=auto` does that from
  REBUILD_RATIO on, `full` always, `rebuild` drops only the secondary indexes (not unique, backing no
  constraint, not the replica identity), `keep` never. Never while a logical slot is active.

The rows of an append are identified by their primary keys as its shards hold them: undoing it
COPYs each loaded shard into a temporary table again and deletes the rows with those keys. Nothing
per row is stored, and a row the application updated after a crash is still found (it keeps its key).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg

from zbugs_synth.db.load import undo
from zbugs_synth.db.load.dataset import DataFile
from zbugs_synth.db.load.objects import SavedForeignKey, SavedIndex
from zbugs_synth.db.names import qi, qt
from zbugs_synth.tables import FOREIGN_KEYS, INDEXES, TABLES

Conn = psycopg.Connection[Any]
STAGE = "zbugs_seed_stage"  # the temporary table a shard goes through (one per transaction)

# ZERO_SEED_INDEXES=auto loads the way a seed does (everything rebuilt) when the batch adds at least
# this many issues per issue already there, and at least REBUILD_MIN_ROWS. Measured (bench/bench_append.py,
# 2 shared cores): keeping the indexes costs ~0.5 ms per appended issue (with its comments and labels),
# a full rebuild a fixed cost that grows with the table (25 s at 250K issues, 93 s at 1M); they cross
# at about a fifth of the table (50K into 250K). The secondary-only rebuild never beat both.
REBUILD_RATIO = 0.2
REBUILD_MIN_ROWS = 50_000


def primary_key(table: str) -> tuple[str, ...]:
    return INDEXES[f"{table}_pkey"].columns


def parents(table: str) -> set[str]:
    """Loaded tables `table` has foreign keys to (their shards go in first)."""
    return {fk.ref_table for fk in FOREIGN_KEYS.values() if fk.table == table and fk.ref_table in TABLES
            and fk.ref_table != table}


# ---- triggers ---------------------------------------------------------------------------------------

def replication_role_allowed(conn: Conn) -> bool:
    """May this role set session_replication_role? (Tried in a transaction that is rolled back.)"""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SELECT set_config('session_replication_role', 'replica', true)")
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


REPLICATION_ROLE_FALLBACK = (
    "note: this role may not set session_replication_role (it needs superuser, or on PostgreSQL 15+ "
    "GRANT SET ON PARAMETER session_replication_role TO <role>): disabling the zbugs triggers with "
    "ALTER TABLE ... DISABLE TRIGGER USER for the load instead, a schema change a running zero-cache sees")


# ---- which secondary indexes to rebuild ---------------------------------------------------------------

def secondary(ix: SavedIndex, identity_index: str | None) -> bool:
    """An index nothing else depends on: not unique, backs no constraint, is not the replica identity."""
    return not ix.unique and ix.constraint is None and ix.name != identity_index


@dataclass(frozen=True)
class IndexPlan:
    mode: str  # keep | rebuild | full
    reason: str


def plan_indexes(mode: str, batch_rows: dict[str, int], table_rows: dict[str, int], slot_active: bool) -> IndexPlan:
    """What to rebuild for a batch of `batch_rows` into tables holding (about) `table_rows`.

    `mode` is ZERO_SEED_INDEXES: keep, rebuild (secondary indexes), full (everything, as a seed), auto.
    Nothing is rebuilt while a logical slot is active (a running zero-cache would see every DDL)."""
    if slot_active and mode != "keep":
        return IndexPlan("keep", "a logical replication slot is active: no DDL while zero-cache streams")
    if mode != "auto":
        return IndexPlan(mode, f"ZERO_SEED_INDEXES={mode}")
    adding, have = batch_rows.get("issue", 0), max(table_rows.get("issue", 0), 0)
    if adding >= REBUILD_MIN_ROWS and adding >= REBUILD_RATIO * have:
        return IndexPlan("full", f"auto: {adding:,} new issues >= {REBUILD_RATIO:g} x the ~{have:,} there "
                                 "(the planner's count)")
    return IndexPlan("keep", f"auto: {adding:,} new issues")


def table_rows(conn: Conn, tables: Iterable[str]) -> dict[str, int]:
    """Estimated rows per table (pg_class.reltuples; -1, never analysed, counts as 0)."""
    return {t: max(int(n), 0) for t, n in conn.execute(
        "SELECT c.relname, c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relname = ANY(%s)", (list(tables),)).fetchall()}


# ---- one shard: stage, check, insert -------------------------------------------------------------------

class ReferenceError_(Exception):
    """Rows of a shard that point to no row of a parent table (the message names file and sample)."""


def stage(conn: Conn, f: DataFile) -> str:
    """Create the transaction's temporary table for `f` (its header's columns, no constraints) and
    return the COPY statement that fills it."""
    cols = ", ".join(qi(c) for c in f.columns)
    # CREATE TABLE AS copies column types but no NOT NULL: shortID may be absent from the file.
    conn.execute(f"CREATE TEMP TABLE {STAGE} ON COMMIT DROP AS SELECT {cols} FROM {qt(f.table)} WITH NO DATA")
    return f"COPY {STAGE} ({cols}) FROM STDIN WITH (FORMAT csv, HEADER true)"


def check_references(conn: Conn, f: DataFile, fks: list[SavedForeignKey]) -> None:
    """Every reference of the staged rows to a parent must exist (what the FK triggers would check)."""
    for fk in fks:
        if not set(fk.columns) <= set(f.columns):
            continue  # a column the file does not set: its default (the Zero project) is there
        not_null = " AND ".join(f"s.{qi(c)} IS NOT NULL" for c in fk.columns)
        match = " AND ".join(f"p.{qi(r)} = s.{qi(c)}" for c, r in zip(fk.columns, fk.ref_columns, strict=True))
        where = f"{not_null} AND NOT EXISTS (SELECT 1 FROM {qt(fk.ref_table)} p WHERE {match})"
        cols = ", ".join(f"s.{qi(c)}::text" for c in fk.columns)
        rows = conn.execute(f"SELECT {cols} FROM {STAGE} s WHERE {where} LIMIT 3").fetchall()
        if rows:
            (n,) = conn.execute(f"SELECT count(*) FROM {STAGE} s WHERE {where}").fetchone() or (0,)
            sample = "; ".join(", ".join(f"{c}={v!r}" for c, v in zip(fk.columns, r, strict=True)) for r in rows)
            raise ReferenceError_(f"{f.path}: {n:,} row(s) point to no row of {fk.ref_table} "
                                  f"(foreign key {fk.name}), e.g. {sample}")


def insert_staged(conn: Conn, f: DataFile, shortid_start: int | None = None) -> None:
    """Move the staged rows into the table in primary-key order.

    Key order makes the inserts into the primary key (and other indexes led by it) land on
    neighbouring leaf pages instead of random ones: each page is read, dirtied and logged (full-page
    image after a checkpoint) once per shard rather than once per row. issue.shortID still follows
    the file's order: when the file does not carry it, it is given explicitly as `shortid_start` +
    the row's position in the file (the staged table's physical order is the file's)."""
    cols = [qi(c) for c in f.columns]
    select = list(cols)
    if shortid_start is not None:
        cols.append(qi("shortID"))
        select.append(f"{int(shortid_start) - 1} + row_number() OVER (ORDER BY ctid)")
    order = ", ".join(qi(c) for c in primary_key(f.table))
    conn.execute(f"INSERT INTO {qt(f.table)} ({', '.join(cols)}) SELECT {', '.join(select)} FROM {STAGE} "
                 f"ORDER BY {order}")


def delete_shard_rows(conn: Conn, f: DataFile, chunks: Iterable[bytes]) -> None:
    """Undo: delete the rows whose primary keys the shard holds (inside the caller's transaction);
    `chunks` are the file's bytes (read again from disk, or streamed again from object storage)."""
    with conn.cursor() as cur, cur.copy(stage(conn, f)) as copy:
        for chunk in chunks:
            copy.write(chunk)
    key = ", ".join(qi(c) for c in primary_key(f.table))
    # Through undo.delete_rows: after a full rebuild's drops the table has no key (no replica identity).
    undo.delete_rows(conn, f.table, f"({key}) IN (SELECT {key} FROM {STAGE})", ())
    conn.execute(f"DROP TABLE {STAGE}")
