"""`db-seed-synthetic --generate --scheduler ADDRESS`: the direct load with its parts as Dask tasks.

The client does what the loader does once (mode checks, record the run, save and drop the schema
objects; afterwards indexes, keys, foreign keys, triggers, ANALYZE, the shortID sequence, finish):
this module is only the COPY step. Each task generates one part (generate.parts: issues
[(K-1)n/N, Kn/N) with their comments and issue labels, part 1 also the small tables) and COPYs it
straight into PostgreSQL over its own connection, in ONE transaction that also records each of the
part's tables as loaded (`issue.part-0003-of-0008`, ...): a part is in whole or not at all, so a
part is the resume unit. Dask retries a task that raised and reruns one whose worker died (the
dead connection's transaction is rolled back by the server); a rerun of the command loads only the
parts not recorded.

Parts' COPYs into one table run concurrently, so nothing is truncated or frozen per part (a force
load empties the tables once, in the loader's prepare step; a seed needs them empty). One
connection carries every table of a part: each chunk's rows go in as one COPY per table.

shortID: the single-process path lets the identity number issues in row order from the run's base;
here parts run in any order, so each issue gets its shortID explicitly, base + its issue index
(prefixed to its CSV row): the same numbers. The loader sets the sequence once at the end.

Duplicates: Dask may run a part twice (a worker presumed dead, a stale task of an interrupted
client). Each part's transaction first takes an advisory lock on (run, part) and skips the part if
it is recorded by then: the second attempt waits for the first to commit or roll back. A task that
outlives its run (its client killed, then the load reset, or finished by a rerun) loads nothing: the
part's transaction holds the run's lock shared and checks the run is still recorded, and finishing or
undoing a run takes that lock exclusively first (state.part_lock / end_run_lock).

The database URL is a secret: it travels inside the task (the workers have no other way to get
it) wrapped so that no repr, log line or error shows it; error texts are scrubbed of it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.db.connect import scrub
from zbugs_synth.db.load import state
from zbugs_synth.db.load.dataset import DataFile
from zbugs_synth.db.load.jobs import CopyDataError, Sequence
from zbugs_synth.db.load.session import APP_WORKER, Sessions
from zbugs_synth.db.load.stream import GeneratedDataset, GeneratedSource, copy_error, describe
from zbugs_synth.db.names import qi, qt
from zbugs_synth.errors import PermanentError, UserError
from zbugs_synth.generate.cluster import TASK_RETRIES, EventProgress, check_scheduler, refused, run_parts
from zbugs_synth.generate.driver import SMALL_TABLES, Prepared, write_tables, written_tables
from zbugs_synth.generate.partitioned import parts_of
from zbugs_synth.generate.parts import PartSpec
from zbugs_synth.generate.sinks import Lease, NullSink, TableSink
from zbugs_synth.generate.sinks.pgbinary import SIGNATURE, TRAILER, EncodeError, Encoder, use_binary
from zbugs_synth.progress import NullProgress, Progress
from zbugs_synth.tables import HEADERS, TABLES

Conn = psycopg.Connection[Any]


class Secret:
    """A value that never shows in a repr (Dask may log a task's arguments)."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "Secret('****')"

    __str__ = __repr__


def part_tables(cfg: GenerateConfig, part: int) -> list[str]:
    """The tables part `part` writes (part 1: also the small ones; no users with SKIP_USERS)."""
    return [t for t in written_tables(cfg) if part == 1 or t not in SMALL_TABLES]


# ---- on the worker -------------------------------------------------------------------------------

class PartCopySink:
    """One table of a part: each batch of rows as one `COPY ... FROM STDIN` on the part's connection
    (inside the part's transaction). `number_from`: the issue table, shortID given explicitly.
    `binary`: the rows are re-encoded as binary COPY (generate/sinks/pgbinary.py), numbered there."""

    def __init__(self, conn: Conn, table: str, number_from: int | None, *, binary: bool = False) -> None:
        self.conn, self.table, self.next = conn, table, number_from
        self.encoder = Encoder(table, HEADERS[table], numbered=number_from is not None) if binary else None
        cols = ((("shortID",) if number_from is not None else ()) + tuple(HEADERS[table]))
        fmt = "binary" if binary else "csv"
        self.sql = f"COPY {qt(table)} ({', '.join(qi(c) for c in cols)}) FROM STDIN WITH (FORMAT {fmt})"
        self.rows = 0
        self.bytes = 0

    def _copy(self, data: bytes | memoryview, n_rows: int) -> None:
        try:
            with self.conn.cursor() as cur:
                with cur.copy(self.sql) as cp:
                    if self.encoder is None:
                        cp.write(data)
                    else:
                        cp.write(SIGNATURE)
                        self.encoder.send(cp.write, data, n_rows, -1 if self.next is None else self.next)
                        cp.write(TRAILER)
                if cur.rowcount != n_rows:
                    raise CopyDataError(f"generated {self.table}: the server read {cur.rowcount:,} rows, "
                                        f"{n_rows:,} were sent")
        except (EncodeError, psycopg.Error) as e:
            mapped = copy_error(self.table, e)
            if mapped is e:
                raise
            raise mapped from None
        self.rows += n_rows
        self.bytes += len(data)

    def write_rows(self, buf: np.ndarray, ends: np.ndarray, n_rows: int, lease: Lease | None = None) -> None:
        if not n_rows:
            return
        view = memoryview(buf)[: int(ends[n_rows - 1])]
        if self.next is None or self.encoder is not None:
            self._copy(view, n_rows)
            if self.next is not None:
                self.next += n_rows
            return
        # "shortID," before every row; rows may hold newlines (quoted text), so cut at `ends`.
        raw = bytes(view)
        stops = ends[:n_rows].tolist()
        pieces: list[bytes] = []
        start = 0
        for i, stop in enumerate(stops):
            pieces.append(b"%d," % (self.next + i))
            pieces.append(raw[start:stop])
            start = stop
        self.next += n_rows
        self._copy(b"".join(pieces), n_rows)

    def write_text(self, text: str, n_rows: int) -> None:
        if n_rows:
            self._copy(text.encode("utf-8"), n_rows)

    def finish(self) -> None:
        return None

    def abort(self) -> None:
        return None


def _progress(topic: str | None, part: int) -> Any:
    return EventProgress(topic, part) if topic else NullProgress()


def load_part_task(cfg: GenerateConfig, prep: Prepared, part: int, parts: int, url: Secret,
                   settings: dict[str, str], run_id: int, seq: Sequence | None, topic: str | None,
                   copy_format: str = "auto") -> dict[str, Any]:
    """The Dask task: generate part `part` and COPY it, with its records, in one transaction.
    `copy_format` (Tuning.copy_format): auto, binary or csv, decided by this worker's own extension."""
    progress = _progress(topic, part)
    if topic:
        progress.send("start")
    try:
        try:  # this worker's encoder (ZBUGS_SEED_COPY_FORMAT=binary refuses a worker without it)
            binary = use_binary(copy_format)
        except UserError as e:
            raise PermanentError(str(e)) from None
        rows, skipped = _load_part(cfg, prep, PartSpec(part, parts), url.value, settings, run_id, seq, progress,
                                   binary)
    except CopyDataError:
        raise
    except PermanentError as e:  # other errors are raised: Dask retries the part
        from distributed import get_worker

        return refused(part, parts, get_worker().address, e)
    except psycopg.Error as e:
        # psycopg's errors do not travel well between processes, and may name the server: one line, scrubbed.
        raise RuntimeError(f"part {part} of {parts}: {type(e).__name__}: {scrub(str(e), url.value)}") from None
    if topic:
        progress.close()
    return {"part": part, "rows": rows[0], "bytes": rows[1], "skipped": skipped}


def _load_part(cfg: GenerateConfig, prep: Prepared, spec: PartSpec, url: str, settings: dict[str, str],
               run_id: int, seq: Sequence | None, progress: Any,
               binary: bool) -> tuple[tuple[dict[str, int], dict[str, int]], bool]:
    tables = part_tables(cfg, spec.part)
    names = {t: state.part_record_name(t, spec.part, spec.parts) for t in tables}
    i0 = spec.issue_range(cfg.num_issues)[0]
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        for name, value in settings.items():
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        with conn.transaction():
            if not state.part_lock(conn, run_id, spec.part):
                return ({}, {}), True  # the run ended (finished or undone) while this task waited: stale
            done = conn.execute(f"SELECT table_name, rows FROM {state.SHARDS} WHERE run_id = %s AND name = ANY(%s)",
                                (run_id, list(names.values()))).fetchall()
            if done:  # another attempt committed this part meanwhile
                return ({str(t): int(r) for t, r in done}, {}), True
            (xid,) = conn.execute("SELECT txid_current()").fetchone() or (0,)
            start = seq.base + i0 if seq is not None else None
            sinks: dict[str, TableSink] = {t: NullSink() for t in TABLES}
            copies = {t: PartCopySink(conn, t, start if t == "issue" else None, binary=binary) for t in tables}
            sinks.update(copies)
            write_tables(cfg, prep.pack, sinks, progress, {}, spec)
            for t in tables:
                state.record_shard(conn, run_id, names[t], t, copies[t].rows, int(xid),
                                   start if t == "issue" else None)
        # COMMIT: the part's rows and its records, together.
    return ({t: copies[t].rows for t in tables}, {t: copies[t].bytes for t in tables}), False


# ---- on the client -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Bound:
    url: str
    sessions: Sessions


class ClusterSource(GeneratedSource):
    """A generator configuration loaded by the parts of a Dask cluster (see the module docstring)."""

    encodes_here = False  # each worker decides by ZBUGS_SEED_COPY_FORMAT and its own extension

    def __init__(self, cfg: GenerateConfig, copy_format: str = "auto") -> None:
        if not cfg.scheduler:
            raise UserError("--parts: only with --scheduler (the parts of a direct load are Dask tasks)")
        super().__init__(cfg, copy_format)
        self.parts = parts_of(cfg)
        self.bound: _Bound | None = None

    def before_load(self) -> None:
        # Not earlier: a dataset already loaded is a no-op that needs no cluster; not later: the
        # loader has not emptied or dropped anything yet.
        check_scheduler(self.cfg.scheduler or "")

    def bind(self, url: str, sessions: Sessions) -> None:
        """The loader's database URL and session settings (the workers connect with them)."""
        self.bound = _Bound(url, sessions)

    def dataset(self) -> GeneratedDataset:
        files = []
        for k in range(1, self.parts + 1):
            for table in part_tables(self.cfg, k):
                files.append(DataFile(state.part_record_name(table, k, self.parts), table, k,
                                      Path("<generated>") / table, self._bytes_hint(table) // self.parts, None,
                                      HEADERS[table]))
        return GeneratedDataset(Path("."), describe(self.cfg), self.dataset_id, self.manifest(), tuple(files),
                                None, cfg=self.cfg)

    def load(self, conn: Conn, open_conn: Callable[[], Conn], run_id: int, todo: list[DataFile],
             seq: Sequence | None, freeze: Callable[[str], bool], progress: Progress,
             on_done: Callable[[DataFile, int], None], dataset: GeneratedDataset, *, as_written: bool = False,
             stop: threading.Event | None = None) -> None:
        # Parts commit one by one into the tables (no TRUNCATE, no FREEZE): `freeze` and `as_written` do not apply.
        if self.bound is None:
            raise RuntimeError("ClusterSource.load before bind")
        state.check_recorded(conn, run_id, {f.name for f in dataset.files},
                       f"db-seed-synthetic --generate --scheduler ... --parts {self.parts}")
        by_part: dict[int, list[DataFile]] = {}
        for f in todo:
            by_part.setdefault(f.shard, []).append(f)
        if len(by_part) < self.parts:
            progress.log(f"{self.parts - len(by_part)} of {self.parts} parts already loaded: skipped")
        if by_part:
            t = time.perf_counter()
            self._run(sorted(by_part), by_part, run_id, seq, progress, on_done, dataset, stop)
            self.phases["generate and copy"] = time.perf_counter() - t

    def _run(self, todo: list[int], files: dict[int, list[DataFile]], run_id: int, seq: Sequence | None,
             progress: Progress, on_done: Callable[[DataFile, int], None], dataset: GeneratedDataset,
             stop: threading.Event | None = None) -> None:
        from zbugs_synth.db.load.loader import LoadFailed
        bound = self.bound
        if bound is None:
            raise RuntimeError("ClusterSource._run before bind")
        settings = bound.sessions.settings(APP_WORKER)
        secret = Secret(bound.url)
        parts = self.parts

        def submit(client: Any, shared: Any, k: int, topic: str) -> Any:
            return client.submit(load_part_task, self.cfg, shared, k, parts, secret, settings, run_id, seq, topic,
                                 self.copy_format, key=f"zbugs-synth-load-part-{k}-of-{parts}-{uuid.uuid4().hex[:8]}",
                                 retries=TASK_RETRIES, pure=False)

        def on_result(info: dict[str, Any]) -> None:
            for f in files[int(info["part"])]:
                dataset.sent[f.table] = dataset.sent.get(f.table, 0) + int(info["bytes"].get(f.table, 0))
                on_done(f, int(info["rows"].get(f.table, 0)))

        run_parts(self.cfg, Prepared(self.pack, self.digest, self.dataset_id), parts, todo, progress,
                  submit=submit, on_result=on_result, error=LoadFailed,
                  rerun="run the same command again to load the missing parts", stop=stop)

