"""The loader's unit jobs: COPY one shard, build one index, validate one foreign key, ANALYZE a table.

Each runs on a pool connection (autocommit; a shard's COPY gets its own transaction). Failures come
back as exceptions that say what to tell the user: `CopyDataError` (bad data in a file: the load
is abandoned), `RebuildError` (an index or foreign key the data does not allow: the load stays
resumable once the data is fixed).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pgerr

from zbugs_synth.db.load import append, remote, state
from zbugs_synth.db.load.csv_check import copy_error_location, record_lines
from zbugs_synth.db.load.dataset import DataFile
from zbugs_synth.db.load.objects import SavedForeignKey, SavedIndex, duplicate_sample, orphan_sample
from zbugs_synth.db.names import qi, qt
from zbugs_synth.db.schema import catalog
from zbugs_synth.progress import Task
from zbugs_synth.tables import TABLES

Conn = psycopg.Connection[Any]
CHUNK = 1 << 20  # bytes per write to the COPY stream
# toast_tuple_target's largest value on 8 kB pages. By default PostgreSQL compresses a row's long
# values (pglz) once the row passes ~2 kB; under this target it stores the row as written instead.
AS_WRITTEN_TARGET = 8160


class CopyDataError(Exception):
    """A CSV file the server would not take; the message names the file and line."""


class RebuildError(Exception):
    """An index or foreign key that cannot be rebuilt on the loaded data."""

    def __init__(self, label: str, message: str) -> None:
        super().__init__(message)
        self.label = label


@dataclass(frozen=True)
class Sequence:
    """The identity sequence a table's shards number their rows from (issue.shortID)."""

    name: str  # qualified, for ::regclass
    base: int  # the first value this run gives out
    column: str = "shortID"  # files that carry this column number their rows themselves


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _data_error(f: DataFile, e: psycopg.Error) -> CopyDataError:
    diag = e.diag
    primary = _one_line(diag.message_primary or str(e))
    if isinstance(e, pgerr.UniqueViolation) and diag.message_detail:
        # An append keeps the unique indexes: the clash shows at insert time; say which value.
        primary += f" ({_one_line(diag.message_detail)})"
    where = copy_error_location(diag.context)
    if where is None:
        return CopyDataError(f"{f.display}: {primary}")
    line, column = where
    # Where the record starts needs the file; a remote one is not read a second time for that.
    first, last = record_lines(f.path, line) if f.remote is None else (line, line)
    lines = f"line {first}" if first == last else f"lines {first}-{last}"
    col = f" (column {column})" if column else ""
    return CopyDataError(f"{f.display}: {lines}: {primary}{col}")


def file_chunks(f: DataFile) -> Iterator[bytes]:
    """The file's bytes: read from disk, or streamed (and verified at the end) from object storage."""
    if f.remote is not None:
        try:
            yield from remote.stream(f.remote, f.bytes)
        except remote.RemoteMismatch as e:
            raise CopyDataError(str(e)) from None
        return
    with open(f.path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def _is_data_error(e: psycopg.Error) -> bool:
    code = e.sqlstate or ""
    return code.startswith(("22", "23")) or isinstance(e, pgerr.BadCopyFileFormat)


def empty_for_copy(conn: Conn, table: str, *, as_written: bool) -> bool:
    """TRUNCATE `table` in the COPY's transaction (what lets COPY FREEZE, and at wal_level=minimal skip
    WAL), and with `as_written` store its rows as written (`store_as_written`). Returns whether the
    caller must call `stored_as_written` before the commit."""
    conn.execute(f"TRUNCATE {qt(table)}")
    return as_written and store_as_written(conn, table)


def store_as_written(conn: Conn, table: str) -> bool:
    """In the transaction that emptied `table` (TRUNCATE): store its rows of up to a page as written,
    uncompressed, until `stored_as_written` (in the same transaction, before the commit: no other
    session ever sees the setting). pglz compresses at ~100 MB/s: 2 of the ~36 CPU-seconds of a
    1 M-issue load, for 2.6 % less disk (Tuning.toast_compress). Returns False (nothing done) where
    the schema sets toast_tuple_target itself: its choice stands."""
    (options,) = conn.execute("SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = %s::regclass",
                              (qt(table),)).fetchone() or ([],)
    if any(o.startswith("toast_tuple_target=") for o in options):
        return False
    conn.execute(f"ALTER TABLE {qt(table)} SET (toast_tuple_target = {AS_WRITTEN_TARGET})")
    return True


def stored_as_written(conn: Conn, table: str) -> None:
    conn.execute(f"ALTER TABLE {qt(table)} RESET (toast_tuple_target)")


def copy_files(conn: Conn, run_id: int, files: list[DataFile], seq: Sequence | None, task: Task,
               on_done: Callable[[DataFile, int], None], *, freeze: bool = False, as_written: bool = False,
               checks: list[SavedForeignKey] | None = None) -> None:
    """COPY files and record them as loaded, in one transaction: each is loaded once or not at all.

    `checks` (an append, see db.load.append): each file goes through a temporary table, its
    references are checked against these foreign keys, then its rows are inserted.

    `freeze` (all files of one table, which must hold no rows of value): TRUNCATE the table first,
    then COPY ... FREEZE, which writes the rows already frozen and visible to all: no hint-bit
    writes (and their WAL full-page images) when the first index build reads the table, and no
    freezing VACUUM of the whole table later. `as_written` (with `freeze`): see `store_as_written`.
    """
    sent = 0
    done: list[tuple[DataFile, int]] = []
    try:
        with conn.transaction():
            as_written = freeze and empty_for_copy(conn, files[0].table, as_written=as_written)
            for f in files:
                rows, n = _copy_one(conn, run_id, f, seq, task, freeze, checks)
                sent += n
                done.append((f, rows))
            if as_written:
                stored_as_written(conn, files[0].table)
    except BaseException:
        task.advance(-sent)
        raise
    for f, rows in done:
        on_done(f, rows)


def _copy_one(conn: Conn, run_id: int, f: DataFile, seq: Sequence | None, task: Task, freeze: bool,
              checks: list[SavedForeignKey] | None) -> tuple[int, int]:
    cols = ", ".join(qi(c) for c in f.columns)
    options = "FORMAT csv, HEADER true" + (", FREEZE true" if freeze else "")
    stmt = f"COPY {qt(f.table)} ({cols}) FROM STDIN WITH ({options})"
    sent = 0
    try:
        xid_row = conn.execute("SELECT txid_current()").fetchone()
        if xid_row is None:
            raise RuntimeError("SELECT txid_current() returned no row")
        start = None
        if seq is not None and seq.column not in f.columns:
            # Each shard numbers its rows right after the shards before it, whatever the order of
            # retries: a resumed or repeated load gives every issue the same shortID.
            start = seq.base + state.loaded_issue_rows(conn, run_id)
            conn.execute("SELECT setval(%s::regclass, %s, false)", (seq.name, start))
        if checks is not None:
            stmt = append.stage(conn, f)
        with conn.cursor() as cur:
            with cur.copy(stmt) as copy:
                for chunk in file_chunks(f):
                    copy.write(chunk)
                    sent += len(chunk)
                    task.advance(len(chunk))
            rows = cur.rowcount
        if f.rows is not None and rows != f.rows:
            raise CopyDataError(f"{f.display}: the server read {rows:,} rows but manifest.json says {f.rows:,} "
                                "(the file does not match its manifest)")
        if checks is not None:
            try:
                append.check_references(conn, f, [fk for fk in checks if fk.table == f.table])
            except append.ReferenceError_ as e:
                raise CopyDataError(str(e)) from None
            append.insert_staged(conn, f, start)
            if seq is not None and start is not None:  # numbered explicitly: the sequence moves past them
                conn.execute("SELECT setval(%s::regclass, %s, false)", (seq.name, start + rows))
            conn.execute(f"DROP TABLE {append.STAGE}")
        state.record_shard(conn, run_id, f.name, f.table, rows, int(xid_row[0]), start)
    except psycopg.Error as e:
        task.advance(-sent)
        if _is_data_error(e):
            raise _data_error(f, e) from None
        raise
    except BaseException:
        task.advance(-sent)
        raise
    return rows, sent


def build_index(conn: Conn, ix: SavedIndex) -> None:
    statement = ix.build_sql()
    try:
        conn.execute(statement)
    except pgerr.UniqueViolation as e:
        sample = _safe(lambda: duplicate_sample(conn, ix))
        detail = _one_line(e.diag.message_detail or "")
        cause = f"duplicate values: {sample}" if sample else f"duplicate values ({detail or e})"
        if ix.constraint_type == "p":
            # Without its primary key a published table refuses DELETE and UPDATE (no replica identity).
            cause += (f" (until it is rebuilt, DELETE/UPDATE on {ix.table} needs "
                      + ("its rows copied aside, the table truncated and the rows to keep put back: its publication "
                         "lists its columns, so PostgreSQL refuses them even with REPLICA IDENTITY FULL"
                         if _has_column_list(conn, ix.table) else "ALTER TABLE ... REPLICA IDENTITY FULL first")
                      + "; ZERO_SEED_RESET=true removes the whole load instead)")
        raise RebuildError(ix.label, f"cannot rebuild {ix.label}: {cause}") from None
    except psycopg.OperationalError:
        raise
    except psycopg.Error as e:
        raise RebuildError(ix.label, f"cannot rebuild {ix.label}: {_one_line(str(e))}") from None


def _has_column_list(conn: Conn, table: str) -> bool:
    """Whether a publication publishes only some of `table`'s columns (zbugs' user: not its email)."""
    try:
        row = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_publication_rel WHERE prrelid = %s::regclass "
                           "AND prattrs IS NOT NULL)", (qt(table),)).fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0])


def validate_fk(conn: Conn, fk: SavedForeignKey) -> None:
    statement = fk.validate_sql()
    try:
        conn.execute(statement)
    except pgerr.ForeignKeyViolation as e:
        sample = _safe(lambda: orphan_sample(conn, fk))
        cause = sample or _one_line(e.diag.message_detail or str(e))
        _drop_unvalidated(conn, fk)
        raise RebuildError(fk.label, f"cannot rebuild {fk.label}: {cause}") from None
    except psycopg.OperationalError:
        raise
    except psycopg.Error as e:
        _drop_unvalidated(conn, fk)
        raise RebuildError(fk.label, f"cannot rebuild {fk.label}: {_one_line(str(e))}") from None


def _drop_unvalidated(conn: Conn, fk: SavedForeignKey) -> None:
    """Take the NOT VALID constraint away again: a key that does not hold must show as missing, not
    sit in the catalog looking like the real one (a resumed load adds and validates it again)."""
    with contextlib.suppress(psycopg.Error):
        conn.execute(fk.drop_sql())


def add_fk(conn: Conn, fk: SavedForeignKey) -> None:
    """ADD the constraint already validated (one step; the measured alternative to NOT VALID + VALIDATE)."""
    try:
        conn.execute(fk.add_sql(not_valid=not fk.validated))
    except pgerr.ForeignKeyViolation as e:
        sample = _safe(lambda: orphan_sample(conn, fk))
        cause = sample or _one_line(e.diag.message_detail or str(e))
        raise RebuildError(fk.label, f"cannot rebuild {fk.label}: {cause}") from None
    except psycopg.OperationalError:
        raise
    except psycopg.Error as e:
        raise RebuildError(fk.label, f"cannot rebuild {fk.label}: {_one_line(str(e))}") from None


def analyze(conn: Conn, table: str) -> None:
    conn.execute(f"ANALYZE {qt(table)}")


def _safe(fn: Callable[[], str]) -> str:
    """A sample for an error message; a failure to get one must not hide the error itself."""
    try:
        return fn()
    except psycopg.Error:
        return ""


# ---- the order of the foreign key checks ----------------------------------------------------------

def merge_checkable(fk: SavedForeignKey, indexes: list[SavedIndex]) -> bool:
    """Whether a one-column key's check can read both sides from indexes, in order: an index of the
    referencing table leads with the column (the referenced side has its unique one)."""
    return len(fk.columns) == 1 and any(ix.table == fk.table and ix.columns[:1] == fk.columns for ix in indexes)


def all_visible(conn: Conn, *tables: str) -> bool:
    """Whether (nearly) every page of the tables is marked all-visible (COPY FREEZE marks them): an
    index-only scan of them then never reads the heap. pg_class counts them as of the last ANALYZE,
    VACUUM or CREATE INDEX; counts older than the table's growth since (an append's rows, never
    analyzed) say no."""
    rows = conn.execute(
        "SELECT relpages, relallvisible, reltuples, pg_relation_size(oid) / current_setting('block_size')::int "
        "FROM pg_class WHERE oid = ANY(%s::regclass[])", ([qt(t) for t in tables],)).fetchall()

    def visible(pages: int, marked: int, tuples: float, now: int) -> bool:
        if now == 0:
            return True  # nothing to read
        if tuples < 0 or now > 1.1 * pages:
            return False  # never counted, or counted before the table grew
        return marked >= 0.9 * pages

    return len(rows) == len(set(tables)) and all(visible(*r) for r in rows)


@contextlib.contextmanager
def merge_anti_join(conn: Conn) -> Iterator[None]:
    """The check's anti-join as a merge of the two indexes instead of a hash of the referenced table.
    The planner prices the hash lower, but at 1 M issues the merge over index-only scans took 0.30 s
    against 0.64-0.74 s (comment.issueID) and 0.13 s against 0.19-0.21 s (issue.creatorID), and at
    10 M the hash of issue's ids no longer fits the check's memory."""
    conn.execute("SET enable_hashjoin = off")
    try:
        yield
    finally:
        if not conn.broken:
            conn.execute("RESET enable_hashjoin")


def covers(index_columns: tuple[str, ...], key_columns: tuple[str, ...]) -> bool:
    """Whether an index with these key columns leads with a foreign key's columns (in any order): the
    key's check then reads that index, sorted, instead of the table's heap."""
    n = len(key_columns)
    return len(index_columns) >= n and set(index_columns[:n]) == set(key_columns)


def fk_priorities(fks: list[SavedForeignKey], rows: dict[str, float],
                  indexed: dict[str, list[tuple[str, ...]]]) -> dict[str, float]:
    """A priority per foreign key (by name; higher starts first) for the checks' pool.

    One table's checks take turns (each locks its table), so the stage lasts at least as long as the
    busiest table's checks: that table's go first, its longest first, and the short ones fill in.
    A check's cost, estimated: its table's rows, read from an index on the key's columns (sorted, the
    cheap case) or else from the heap (about twice as costly), plus, without such an index, a hash or
    sort of the referenced table. Measured at 10 M issues (64MB): issueLabel (issueID, projectID)
    13.7 s, comment creatorID 5.8, comment issueID 4.2, issueLabel (labelID, projectID) 2.4, issue's
    three 1.2-2.0; started by table size instead, the largest waited for the small ones and ran alone
    at the end."""
    def cost(fk: SavedForeignKey) -> float:
        child = rows.get(fk.table, 0.0)
        if any(covers(cols, fk.columns) for cols in indexed.get(fk.table, [])):
            return child
        return 2 * child + 2 * rows.get(fk.ref_table, 0.0)

    costs = {fk.name: cost(fk) for fk in fks}
    lane = {t: sum(costs[fk.name] for fk in fks if fk.table == t) for t in {fk.table for fk in fks}}
    # Lane totals dominate (the busiest table first); within a table, its costliest check first.
    top = max(costs.values(), default=0.0) + 1.0
    return {fk.name: lane[fk.table] * top + costs[fk.name] for fk in fks}


def fk_order_facts(conn: Conn) -> tuple[dict[str, float], dict[str, list[tuple[str, ...]]]]:
    """What fk_priorities needs, as the catalog has it now: rows per table (the planner's count: the
    tables were just loaded and analyzed) and the key columns of each table's indexes."""
    rows = {t: float(n) for t, n in append.table_rows(conn, TABLES).items()}
    indexed: dict[str, list[tuple[str, ...]]] = {}
    for ix in catalog.indexes(conn):
        indexed.setdefault(ix.table, []).append(ix.key_columns)
    return rows, indexed
