"""`db-seed-synthetic --generate`: the dataset generated on the fly and streamed into COPY, no CSV on disk.

The generator (zbugs_synth.generate.driver.write_tables) writes each table's rows into a sink; here
the sink of a table is a COPY stream on a connection of its own, inside a transaction that also
records the table as loaded (its "shard" in the loader's bookkeeping is the whole table). Seed and
force loads first TRUNCATE the table in that transaction and COPY with FREEZE: rows are written
frozen, and at wal_level=minimal without WAL. The kernel's chunk buffers are the same CSV bytes
generate-synthetic writes to its files (headers aside); they go to the server re-encoded as binary
COPY (generate/sinks/pgbinary.py: decoded as COPY's CSV reader would, the server's CPU is what bounds
a load) or as they are, so the rows are exactly those of loading the CSVs of the same
configuration, and the dataset id is the same.

Crash safety: a table is committed whole or not at all. The small tables (user, project, label)
commit before the kernel starts; the big ones (issue, comment, issueLabel), generated together
chunk by chunk, commit when generation ends. A rerun regenerates everything and sends only the
tables not yet committed (the others go to a NullSink): the resume unit is a table.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from zbugs_synth import __version__
from zbugs_synth.config import settings_of
from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.db.load import state
from zbugs_synth.db.load.dataset import GENERATED_SOURCE, DataFile, Dataset
from zbugs_synth.db.load.jobs import (
    CopyDataError,
    Sequence,
    _is_data_error,
    _one_line,
    empty_for_copy,
    stored_as_written,
)
from zbugs_synth.db.names import qi, qt
from zbugs_synth.generate import estimate
from zbugs_synth.generate.driver import (
    check_against_pack,
    dataset_id,
    kernel_plan,
    pack_digest,
    write_tables,
    written_tables,
)
from zbugs_synth.generate.estimate import TableSize
from zbugs_synth.generate.plan import KernelPlan
from zbugs_synth.generate.sinks import Lease, NullSink, TableSink
from zbugs_synth.generate.sinks.pgbinary import SIGNATURE, TRAILER, EncodeError, Encoder, use_binary
from zbugs_synth.progress import Progress
from zbugs_synth.tables import HEADERS, TABLES
from zbugs_synth.templates import TemplatePack, load_pack

Conn = psycopg.Connection[Any]
GENERATED_SUFFIX = ".generated"  # a table's record name in seed_shards: "issue.generated"


@dataclass(frozen=True)
class GeneratedDataset(Dataset):
    """The loader's view of a dataset that exists only as a generator configuration."""

    cfg: GenerateConfig | None = None
    sent: dict[str, int] = field(default_factory=dict)  # bytes streamed per table (filled while loading)

    @property
    def num_users(self) -> int | None:
        return self.cfg.num_users if self.cfg is not None else None

    @property
    def generated(self) -> bool:
        return True

    @property
    def total_bytes(self) -> int:
        return sum(self.sent.values())


def describe(cfg: GenerateConfig) -> str:
    """How the source shows in messages and in loaded_datasets.source: NUM_ISSUES and SEED, then every
    other setting that changes the rows and is not at its default (two batches told apart by
    NUM_PROJECTS alone must not read the same)."""
    content = cfg.content_config()
    default = GenerateConfig()
    shown = [f"NUM_ISSUES={cfg.num_issues}", f"SEED={cfg.seed}"]
    for name, setting in settings_of(GenerateConfig):
        if name in ("num_issues", "seed") or setting.env is None:
            continue
        value = getattr(cfg, name)
        if (name in content or name == "templates_dir") and value != getattr(default, name):
            shown.append(f"{setting.env}={str(value).lower() if isinstance(value, bool) else value}")
    return f"{GENERATED_SOURCE}{', '.join(shown)})"


def copy_error(table: str, e: BaseException) -> BaseException:
    """What a failure while streaming generated rows of `table` is: a CopyDataError (the load is
    undone) for rows the encoder or the server refuses, else `e` itself."""
    if isinstance(e, EncodeError):  # what COPY would have refused as CSV
        return CopyDataError(str(e))
    if isinstance(e, psycopg.Error) and _is_data_error(e):
        return CopyDataError(f"generated {table}: {_one_line(e.diag.message_primary or str(e))}")
    return e


class GeneratedSource:
    """A generator configuration as something the loader can load (see Loader's `source`)."""

    encodes_here = True  # the COPY streams run in this process (ClusterSource: on the Dask workers)

    def __init__(self, cfg: GenerateConfig, copy_format: str = "auto") -> None:
        self.cfg = cfg
        self.copy_format = copy_format  # Tuning.copy_format
        self.binary = use_binary(copy_format) if self.encodes_here else False
        self.pack: TemplatePack = load_pack(cfg.templates_dir)
        check_against_pack(cfg, self.pack)
        self.digest = pack_digest(self.pack)
        self.dataset_id = dataset_id(cfg, self.digest)
        self.phases: dict[str, float] = {}
        self._plan: KernelPlan | None = None

    def _kernel_plan(self) -> KernelPlan:
        if self._plan is None:
            self._plan = kernel_plan(self.cfg, self.pack)
        return self._plan

    def sizes(self) -> dict[str, TableSize]:
        """About how many rows and CSV bytes the big tables get (the loader's disk space check); the
        plan made for it is the one the load then uses."""
        return estimate.big_tables(self._kernel_plan(), 0, self.cfg.num_issues)

    def before_load(self) -> None:
        """Called once the loader knows there is something to load, before it changes anything."""

    def manifest(self) -> dict[str, Any]:
        """What loaded_datasets.manifest records: manifest.json's identity and config, no files."""
        config = {**self.cfg.content_config(), "templates": str(self.cfg.templates_dir or "bundled"),
                  "templatesDigest": self.digest}
        return {"datasetId": self.dataset_id, "toolVersion": __version__, "generated": True, "config": config}

    def dataset(self) -> GeneratedDataset:
        files = []
        written = written_tables(self.cfg)
        for i, table in enumerate(TABLES):
            if table not in written:
                continue
            name = table + GENERATED_SUFFIX
            files.append(DataFile(name, table, i, Path("<generated>") / table, self._bytes_hint(table), None,
                                  HEADERS[table], expected=self._rows_hint(table)))
        return GeneratedDataset(Path("."), describe(self.cfg), self.dataset_id, self.manifest(), tuple(files),
                                None, cfg=self.cfg)

    def _rows_hint(self, table: str) -> int | None:
        """About how many rows a big table gets (the loader ranks index builds by it: issue's hint by
        bytes alone outranked comment's three times as many rows, and comment's long builds ran last)."""
        n = self.cfg.num_issues
        per = {"issue": 1.0, "comment": self.cfg.comments_per_issue, "issueLabel": self.cfg.labels_per_issue}
        return round(n * per[table]) if table in per else None

    def _bytes_hint(self, table: str) -> int:
        """Rough bytes of a table (only the loader's cost hints use it)."""
        n = self.cfg.num_issues
        per = {"issue": 700, "comment": 230 * self.cfg.comments_per_issue,
               "issueLabel": 60 * self.cfg.labels_per_issue}
        return int(n * per.get(table, 0)) or 100_000

    def load(self, conn: Conn, open_conn: Callable[[], Conn], run_id: int, todo: list[DataFile],
             seq: Sequence | None, freeze: Callable[[str], bool], progress: Progress,
             on_done: Callable[[DataFile, int], None], dataset: GeneratedDataset, *, as_written: bool = False,
             stop: threading.Event | None = None) -> None:
        """Generate every table; stream the `todo` ones into COPY (one transaction each), drop the rest.
        `as_written`: the tables `freeze` empties are stored as written (jobs.store_as_written).
        `stop`: the load is stopping: end at the next chunk (the COPYs roll back)."""
        state.check_recorded(conn, run_id, {f.name for f in dataset.files}, "db-seed-synthetic --generate")
        wanted = {f.table: f for f in todo}
        extra: list[Conn] = []
        sinks: dict[str, TableSink] = {}
        try:
            for table in TABLES:
                f = wanted.get(table)
                if f is None:
                    sinks[table] = NullSink()
                    continue
                if any(isinstance(s, CopySink) for s in sinks.values()):
                    extra.append(open_conn())
                    c = extra[-1]
                else:
                    c = conn
                sinks[table] = CopySink(c, run_id, f, seq if table == "issue" else None, freeze(table),
                                        on_done, dataset.sent, binary=self.binary, as_written=as_written)
            t = time.perf_counter()
            write_tables(self.cfg, self.pack, sinks, progress, self.phases, plan=self._plan, stop=stop)
            for s in sinks.values():  # the tables commit on their own threads, at once: wait for each
                if isinstance(s, CopySink):
                    s.wait()
            self.phases["generate and copy"] = time.perf_counter() - t
        except BaseException:
            for s in sinks.values():
                s.abort()
            raise
        finally:
            for c in extra:
                c.close()


_FINISH = object()  # the sending thread's last item: end the COPY and commit
_STOP = object()  # ... or stop without committing (abort)


class CopySink:
    """One table's rows into `COPY table (columns) FROM STDIN (FORMAT binary)` (`binary`, else CSV as
    written), in a transaction that also records the table as loaded. `finish` commits; `abort` rolls
    back (nothing of the table stays).

    Rows go to the server from a thread of the sink's own: the generator hands every table its part
    of a chunk and goes on, so the three big tables' COPYs all run while the next chunk is made
    (written from one thread, each table waited for the server in turn: ~25 % of the CPUs idled).
    The chunk's buffers are lent (`Lease`), not copied, and come back once sent. `finish` queues
    the commit behind the rows, so the tables commit (and sync their files) at the same time;
    `wait` joins the thread and raises what went wrong there."""

    def __init__(self, conn: Conn, run_id: int, f: DataFile, seq: Sequence | None, freeze: bool,
                 on_done: Callable[[DataFile, int], None], sent: dict[str, int], *, binary: bool = False,
                 as_written: bool = False) -> None:
        self.conn, self.run_id, self.f, self.on_done, self.sent = conn, run_id, f, on_done, sent
        # Encoded on the sending thread (the C encoder lets go of the GIL), beside the generator.
        self.encoder = Encoder(f.table, f.columns) if binary else None
        self.rows = 0
        self.bytes = 0
        self.closed = False  # committed or rolled back
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.sender: threading.Thread | None = None
        self.error: BaseException | None = None
        self.stopping = False
        self.as_written = False  # stored uncompressed until the commit (jobs.store_as_written)
        self.tx = conn.transaction()
        self.tx.__enter__()
        try:
            (xid,) = conn.execute("SELECT txid_current()").fetchone() or (0,)
            self.xid = int(xid)
            if freeze:
                self.as_written = empty_for_copy(conn, f.table, as_written=as_written)
            self.start: int | None = None
            if seq is not None and seq.column not in f.columns:
                self.start = seq.base + state.loaded_issue_rows(conn, run_id)
                conn.execute("SELECT setval(%s::regclass, %s, false)", (seq.name, self.start))
            cols = ", ".join(qi(c) for c in f.columns)
            options = ("FORMAT binary" if binary else "FORMAT csv") + (", FREEZE true" if freeze else "")
            self.cur = conn.cursor()
            self.copy_cm = self.cur.copy(f"COPY {qt(f.table)} ({cols}) FROM STDIN WITH ({options})")
            self.copy = self.copy_cm.__enter__()
            if binary:
                self.copy.write(SIGNATURE)
        except BaseException as e:
            self._rollback(e)
            raise

    # -- the generating thread ----------------------------------------------------------------------
    def _send(self, data: memoryview | bytes, n_rows: int, lease: Lease | None) -> None:
        self._raise_error()
        if lease is not None:
            lease.hold()
        else:
            data = bytes(data)  # the caller reuses its buffer once this returns
        if self.sender is None:
            self.sender = threading.Thread(target=self._send_loop, name=f"copy {self.f.table}", daemon=True)
            self.sender.start()
        self.queue.put((data, n_rows, lease))
        self.rows += n_rows
        self.bytes += len(data)
        self.sent[self.f.table] = self.bytes

    def write_rows(self, buf: np.ndarray, ends: np.ndarray, n_rows: int, lease: Lease | None = None) -> None:
        if n_rows:
            self._send(memoryview(buf)[: int(ends[n_rows - 1])], n_rows, lease)

    def write_text(self, text: str, n_rows: int) -> None:
        if n_rows:
            self._send(text.encode("utf-8"), n_rows, None)

    def finish(self) -> None:
        """All rows are written: commit once they are sent (on the sending thread; see `wait`)."""
        self._raise_error()
        if self.sender is None:
            self._commit()
        else:
            self.queue.put(_FINISH)

    def wait(self) -> None:
        """Block until the table is committed (after `finish`); raise what failed on the sending thread."""
        if self.sender is not None:
            self.sender.join()
            self.sender = None
        self._raise_error()

    def abort(self) -> None:
        if self.closed:
            return
        self.stopping = True  # rows still queued are dropped, and a queued commit does not happen
        if self.sender is not None:
            self.queue.put(_STOP)
            self.sender.join()
            self.sender = None
        if not self.closed:
            self._rollback(RuntimeError("generation stopped"))

    def _raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    # -- the sending thread -------------------------------------------------------------------------
    def _send_loop(self) -> None:
        """Send each queued chunk, then commit. After a failure (raised to the generating thread at its
        next call), keep taking items and giving their leases back: the generator may be waiting for
        its buffers, and it stops or finishes the sink only once it has seen the error."""
        while True:
            item = self.queue.get()
            if item is _STOP:
                return
            if item is _FINISH:
                if not self.stopping and self.error is None:
                    try:
                        self._commit()
                    except BaseException as e:
                        self.error = self._error(e)
                return
            data, n_rows, lease = item
            try:
                if not self.stopping and self.error is None:
                    if self.encoder is None:
                        self.copy.write(data)
                    else:
                        self.encoder.send(self.copy.write, data, n_rows)
            except BaseException as e:
                self.error = self._error(e)
            finally:
                if lease is not None:
                    lease.release()

    def _commit(self) -> None:
        try:
            if self.encoder is not None:
                self.copy.write(TRAILER)
            self.copy_cm.__exit__(None, None, None)
        except psycopg.Error as e:
            raise self._error(e) from None
        rows = self.cur.rowcount
        if rows != self.rows:
            raise CopyDataError(f"generated {self.f.table}: the server read {rows:,} rows, {self.rows:,} were sent")
        if self.as_written:
            stored_as_written(self.conn, self.f.table)
        state.record_shard(self.conn, self.run_id, self.f.name, self.f.table, rows, self.xid, self.start)
        self.tx.__exit__(None, None, None)  # COMMIT: the table and its record, together
        self.closed = True
        self.on_done(self.f, rows)

    def _rollback(self, exc: BaseException) -> None:
        self.closed = True
        with contextlib.suppress(psycopg.Error, AttributeError):
            self.copy_cm.__exit__(type(exc), exc, None)
        with contextlib.suppress(psycopg.Error):
            self.tx.__exit__(type(exc), exc, None)

    def _error(self, e: BaseException) -> BaseException:
        return copy_error(self.f.table, e)
