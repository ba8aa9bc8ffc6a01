"""The loader's bookkeeping in schema zbugs_synth: what was loaded, and how far an unfinished load got.

- `loaded_datasets`: one row per load, the contract `verify` reads (written through
  zbugs_synth.db.load.bookkeeping); `finished_at` is null while a load is in progress or was interrupted.
- `seed_runs`: the unfinished load, if any (a finished load leaves no row here).
- `seed_objects`: the definitions of every index, constraint, foreign key and trigger state the
  run dropped, saved in the same transaction as the drops.
- `seed_shards`: one row per loaded shard, inserted in the same transaction as its COPY (with the
  transaction id, which marks the rows it added, and the first shortID it gave out).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from zbugs_synth.db.load import bookkeeping
from zbugs_synth.db.load.objects import Saved, from_json, to_json, validated
from zbugs_synth.db.schema.migrate import SCHEMA
from zbugs_synth.errors import UserError
from zbugs_synth.tables import TABLES

Conn = psycopg.Connection[Any]

DATASETS = bookkeeping.LOADED_DATASETS
RUNS = f"{SCHEMA}.seed_runs"
OBJECTS = f"{SCHEMA}.seed_objects"
SHARDS = f"{SCHEMA}.seed_shards"

@dataclass(frozen=True)
class ShardRecord:
    name: str
    table: str
    rows: int
    xid: int


@dataclass
class Run:
    id: int
    dataset_row: int
    dataset_id: str
    source: str
    mode: str
    shortid_base: int | None
    started_at: datetime
    directory: str | None = None  # absolute path of the dataset (None: recorded by an older loader)
    objects: list[Saved] = field(default_factory=list)
    shards: dict[str, ShardRecord] = field(default_factory=dict)

    def rows_by_table(self) -> dict[str, int]:
        out = dict.fromkeys(TABLES, 0)
        for s in self.shards.values():
            out[s.table] = out.get(s.table, 0) + s.rows
        return out


def require_tables(conn: Conn, where: str) -> None:
    bookkeeping.require_bookkeeping(conn, where)


def unfinished_run(conn: Conn) -> Run | None:
    row = conn.execute(f"SELECT id, dataset_row, dataset_id, source, mode, shortid_base, started_at, directory "
                       f"FROM {RUNS} ORDER BY id LIMIT 1").fetchone()
    if row is None:
        return None
    run = Run(*row)
    reload(conn, run)
    return run


def reload(conn: Conn, run: Run) -> None:
    # Every saved definition is checked before anything may replay it (objects.validated says why).
    run.objects = [validated(from_json(r[0])) for r in conn.execute(
        f"SELECT spec FROM {OBJECTS} WHERE run_id = %s ORDER BY seq", (run.id,)).fetchall()]
    run.shards = {n: ShardRecord(n, t, int(r), int(x)) for n, t, r, x in conn.execute(
        f"SELECT name, table_name, rows, xid FROM {SHARDS} WHERE run_id = %s", (run.id,)).fetchall()}


def create_run(conn: Conn, *, dataset_id: str, source: str, manifest: dict[str, Any] | None, mode: str,
               shortid_base: int | None, objects: list[Saved], directory: str | None = None) -> Run:
    """Record a new load (call inside the transaction that drops the objects)."""
    load_id = bookkeeping.record_load_started(conn, dataset_id=dataset_id, source=source, manifest=manifest,
                                              mode=mode, rows=dict.fromkeys(TABLES, 0))
    run_row = conn.execute(
        f"INSERT INTO {RUNS} (dataset_row, dataset_id, source, mode, shortid_base, directory) "
        "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id, started_at",
        (load_id, dataset_id, source, mode, shortid_base, directory)).fetchone()
    if run_row is None:
        raise RuntimeError(f"INSERT INTO {RUNS} ... RETURNING returned no row")
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {OBJECTS} (run_id, seq, spec) VALUES (%s, %s, %s)",
                        [(run_row[0], i, Jsonb(to_json(o))) for i, o in enumerate(objects)])
    return Run(run_row[0], load_id, dataset_id, source, mode, shortid_base, run_row[1], directory,
               list(objects), {})


def record_shard(conn: Conn, run_id: int, name: str, table: str, rows: int, xid: int,
                 shortid_start: int | None) -> None:
    conn.execute(f"INSERT INTO {SHARDS} (run_id, name, table_name, rows, xid, shortid_start) "
                 "VALUES (%s, %s, %s, %s, %s, %s)", (run_id, name, table, rows, xid, shortid_start))


def part_record_name(table: str, part: int, parts: int) -> str:
    """The seed_shards name of one table of one part of a Dask direct load (db/load/cluster_load.py)."""
    width = max(4, len(str(parts)))
    return f"{table}.part-{part:0{width}d}-of-{parts:0{width}d}"


_PART_RECORD = re.compile(r"\.part-0*(\d+)-of-0*(\d+)$")


def parts_of_record(name: str) -> int | None:
    """The number of parts a part_record_name was made with; None for any other record."""
    m = _PART_RECORD.search(name)
    return int(m.group(2)) if m else None


def loaded_issue_rows(conn: Conn, run_id: int) -> int:
    row = conn.execute(f"SELECT coalesce(sum(rows), 0) FROM {SHARDS} WHERE run_id = %s AND table_name = 'issue'",
                       (run_id,)).fetchone()
    return int(row[0]) if row else 0


# Parts loaded by Dask tasks (cluster_load) may outlive the client that started them. Each part's
# transaction holds this lock shared and loads only while its run is recorded; whatever ends a run
# (finish, undo) holds it exclusively first, so it waits for parts in flight and later ones find the
# run gone. Two-key advisory locks are a space apart from the loader's one-key lock; parts use
# (run, part >= 0), the run itself (run, -1).
RUN_LOCK = -1


def _run_key(run_id: int) -> int:
    return run_id % 2**31


def end_run_lock(conn: Conn, run_id: int) -> None:
    """Wait for the run's parts in flight, and keep new ones out until this session ends."""
    conn.execute("SELECT pg_advisory_lock(%s, %s)", (_run_key(run_id), RUN_LOCK))


def part_lock(conn: Conn, run_id: int, part: int) -> bool:
    """In a part's transaction: true when the run is still open (and, until commit, stays so), with the
    part's own lock held; false for a task that outlived its run (nothing may be loaded)."""
    conn.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", (_run_key(run_id), RUN_LOCK))
    row = conn.execute(f"SELECT EXISTS (SELECT 1 FROM {RUNS} WHERE id = %s)", (run_id,)).fetchone()
    if not (row and row[0]):
        return False
    conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_run_key(run_id), part))
    return True


def finish_run(conn: Conn, run: Run, rows: dict[str, int] | None = None) -> None:
    """Mark the load finished with the rows it added (`rows`, else those its shards copied), and forget
    its progress (one transaction)."""
    bookkeeping.record_load_finished(conn, run.dataset_row, run.rows_by_table() if rows is None else rows)
    conn.execute(f"DELETE FROM {RUNS} WHERE id = %s", (run.id,))


def forget_run(conn: Conn, run: Run) -> None:
    """Remove every trace of an abandoned load (its loaded_datasets row cascades to the rest)."""
    conn.execute(f"DELETE FROM {DATASETS} WHERE id = %s", (run.dataset_row,))


def clear_shards(conn: Conn, run: Run) -> None:
    conn.execute(f"DELETE FROM {SHARDS} WHERE run_id = %s", (run.id,))
    run.shards = {}


def has_open_run(conn: Conn) -> bool:
    """An unfinished load is recorded (read-only: false when our tables do not exist yet)."""
    row = conn.execute(f"SELECT to_regclass('{RUNS}') IS NOT NULL").fetchone()
    if not (row and row[0]):
        return False
    row = conn.execute(f"SELECT EXISTS (SELECT 1 FROM {RUNS})").fetchone()
    return bool(row and row[0])


def recorded_loads(conn: Conn) -> int:
    row = conn.execute(f"SELECT count(*) FROM {DATASETS}").fetchone()
    return int(row[0]) if row else 0


def truncate_bookkeeping(conn: Conn) -> None:
    conn.execute(f"TRUNCATE {SHARDS}, {OBJECTS}, {RUNS}, {DATASETS} RESTART IDENTITY")


def finished_datasets(conn: Conn) -> list[bookkeeping.LoadedDataset]:
    return [d for d in bookkeeping.loaded_datasets(conn) if d.finished]


def check_recorded(conn: Conn, run_id: int, names: set[str], how: str) -> None:
    """Refuse to resume a load whose recorded pieces are not this source's (another --parts, or the
    other path): loading again what they hold would duplicate rows."""
    recorded = {r[0] for r in conn.execute(f"SELECT name FROM {SHARDS} WHERE run_id = %s",
                                           (run_id,)).fetchall()}
    stray = sorted(recorded - names)
    if stray:
        raise UserError(f"the interrupted load recorded {stray[0]}, which this command would not load: resume it "
                        f"as it was started ({len(stray)} piece(s) recorded differently; {how} only matches its "
                        "own), or undo it with ZERO_SEED_RESET=true")
