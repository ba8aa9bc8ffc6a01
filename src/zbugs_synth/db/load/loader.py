"""`db-seed-synthetic`: bulk-load a dataset directory into the zbugs database, in parallel, crash-safe.

The guide's steps, in this order:

1. check the dataset directory (manifest, sizes, headers), then ask the database what the mode
   needs (seed: already seeded?; append: loaded before? the batch's users there?), and only then
   read every file for its checksum; nothing is changed until all of that passed;
2. one transaction: (force: empty the zbugs tables; force, or seed into emptied tables: forget
   our bookkeeping of earlier loads, put back the Zero project)
   record the load, save the definition of every index, constraint, foreign key and trigger state
   of the loaded tables, drop those indexes, constraints and foreign keys, disable user triggers;
3. COPY every shard (`COPY ... FROM STDIN CSV HEADER`, columns from the header), each in its own
   transaction together with its "loaded" record; on N connections at once, tables in dependency
   order; a table's indexes start building as soon as its last shard is in, and a big table's
   foreign keys to a small table that no index covers are checked right after those (its heap
   still cached);
4. attach the primary-key/unique constraints to their new indexes, add the other foreign keys NOT
   VALID, then validate them (in parallel);
5. restore the trigger states, ANALYZE the loaded tables, mark the load finished.

Every session sets maintenance_work_mem (the guide's 2GB shared by the connections, unless set;
index builds and foreign key checks sort with less: Tuning.index_sort_mem, fk_sort_mem) and work_mem. A
killed run is resumed by running the same command again (see state.py); a CSV the server
rejects undoes the whole load; an index or foreign key the data does not allow leaves the load
resumable once the data is fixed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from zbugs_synth.config.seed import SeedConfig, Tuning
from zbugs_synth.db import schema, server
from zbugs_synth.db.connect import connect, mask_url, names_local_server, resolve_db_url, scrub
from zbugs_synth.db.load import append, bookkeeping, session, space, state, undo, undo_generated, zerocache
from zbugs_synth.db.load import jobs as work
from zbugs_synth.db.load.dataset import DataFile, Dataset, check_checksums, generated_source, inspect_dataset
from zbugs_synth.db.load.jobs import CopyDataError, RebuildError, Sequence
from zbugs_synth.db.load.minimal_wal import minimal_wal
from zbugs_synth.db.load.objects import (
    Present,
    Saved,
    SavedForeignKey,
    SavedIndex,
    SavedTrigger,
    capture,
    drop_statements,
    present,
    restore_statements,
)
from zbugs_synth.db.load.pool import Blocked, Job, Outcome, Pool, span_of
from zbugs_synth.db.load.remote import is_remote
from zbugs_synth.db.names import qt
from zbugs_synth.db.schema import replica
from zbugs_synth.disk import free_bytes
from zbugs_synth.errors import Cancelled, UserError
from zbugs_synth.progress import NullProgress, Progress, Task, human_bytes
from zbugs_synth.tables import IDENTITY, MAX_ISSUES, TABLES

Conn = psycopg.Connection[Any]
Say = Callable[[str], None]


class _LazyTask:
    """A progress task that appears when work on it starts (so its clock and rate are the real ones)."""

    _lock = threading.Lock()

    def __init__(self, progress: Progress, name: str, total: float, unit: str, parts: int = 0) -> None:
        self.progress, self.name, self.total, self.unit = progress, name, total, unit
        self.parts = parts  # pieces of work (files) that make it whole
        self._task: Task | None = None

    def finish_units(self, n: int) -> bool:
        """Count `n` pieces as done; True when that completes the task."""
        with self._lock:
            self.parts -= n
            return self.parts <= 0

    def _get(self) -> Task:
        with self._lock:
            if self._task is None:
                self._task = self.progress.task(self.name, self.total, self.unit)
            return self._task

    def advance(self, n: float = 1) -> None:
        self._get().advance(n)

    def set_total(self, total: float | None) -> None:
        self._get().set_total(total)

    def done(self, outcome: str = "done") -> None:
        if self._task is not None:
            self._task.done(outcome)


# Stage 1's priorities: copies first, then the early ANALYZEs, then what the early foreign key checks
# wait for and the checks themselves, then index builds by cost (rows times columns, < 1e13).
_EARLY = 1e13

# An external server (ZERO_UPSTREAM_DB) is never reconfigured; for big initial loads, say what would help.
EXTERNAL_HINT_BYTES = 1 << 30
EXTERNAL_HINT = ("note: this server is not one zbugs-synth runs, so it was loaded as configured; for initial loads "
                 "its administrator can make them faster with wal_level=minimal and max_wal_senders=0 for the "
                 "load (a restart; no replication slot may exist; back to logical for zero-cache), and "
                 "max_wal_size=16GB and checkpoint_timeout=30min otherwise (the loader sets its own sort memory)")


class LoadInterrupted(KeyboardInterrupt):
    """Ctrl-C (or a stop signal) after the load had started: it stays open in the database (the message
    says what to do). `cause`: the KeyboardInterrupt (interrupts.Terminated for a stop signal)."""

    def __init__(self, message: str, cause: KeyboardInterrupt) -> None:
        super().__init__(message)
        self.cause = cause


DISK_FULL = "53100"  # SQLSTATE disk_full: a table, index or sort's temporary file could not grow
OPEN_LOAD_HINT = "the load is open: run the same command again to resume it, or set ZERO_SEED_RESET=true to undo it"
FINISHED_HINT = ("the load had finished (every row, index, key and trigger in place; `zbugs-synth verify` checks "
                 "it): only its summary was not printed")


class LoadFailed(UserError):
    """The load stopped and stays recorded: fix the cause and run the same command again."""

    exit_code = 3


@dataclass
class SeedResult:
    status: str  # loaded | already-seeded | reset | nothing-to-reset
    mode: str = ""
    source: str = ""
    dataset_id: str = ""
    resumed: bool = False
    rows: dict[str, int] = field(default_factory=dict)
    rows_before: int = 0  # of `rows`, those an interrupted run had copied (a resume copies the rest)
    bytes: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0
    jobs: int = 0
    maintenance_work_mem: str = ""  # per connection
    index_mem: str = ""  # ... while it builds an index
    fk_mem: str = ""  # ... while it checks a foreign key
    notes: list[str] = field(default_factory=list)
    job_times: list[tuple[str, float, float]] = field(default_factory=list)  # (job, start, seconds) for benches


def _manifest_seed(manifest: dict[str, Any] | None) -> int | None:
    """SEED a dataset was generated with (manifest.json's config.seed), if it says."""
    config = manifest.get("config") if isinstance(manifest, dict) else None
    value = config.get("seed") if isinstance(config, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _users(dataset: Dataset, article: str = "") -> str:
    """A dataset's users in messages: its user CSV, or (--generate) its users."""
    return "users" if dataset.generated else f"{article}user CSV"


def _pieces(dataset: Dataset) -> str:
    """What a dataset's loading units are: files, or (--generate) tables, or tables' parts (Dask)."""
    if not dataset.generated:
        return "files"
    return "tables" if len({f.table for f in dataset.files}) == len(dataset.files) else "table parts"


# ---- the load ------------------------------------------------------------------------------------

def _missing_key(fk: SavedForeignKey, indexes: list[SavedIndex], present_indexes: Any) -> SavedIndex | None:
    """The saved unique index `fk` references, when it is not there now (its rebuild failed)."""
    for ix in indexes:
        if ix.table == fk.ref_table and ix.unique and set(ix.columns) == set(fk.ref_columns):
            return None if ix.name in present_indexes else ix
    return None


class Loader:
    def __init__(self, cfg: SeedConfig, tuning: Tuning, progress: Progress, say: Say, source: Any = None) -> None:
        self.cfg, self.tuning, self.progress, self.say = cfg, tuning, progress, say
        # A generator configuration to stream into COPY instead of a dataset directory (stream.GeneratedSource).
        self.source = source
        self.url = resolve_db_url(cfg)
        self.sessions = session.Sessions(self.url, cfg, tuning)
        if (bind := getattr(source, "bind", None)) is not None:
            bind(self.url, self.sessions)  # a cluster load's workers connect themselves (cluster_load.py)
        self.phases: dict[str, float] = {}
        self.seq: str | None = None  # issue.shortID's sequence, found once connected
        self.jobs = 0  # connections in the pool, planned once connected
        self.job_times: list[tuple[str, float, float]] = []
        self.t0 = time.perf_counter()
        # True from the commit that dropped the schema objects (or found them dropped) until the load
        # is finished: an interruption then leaves the load open, resumable or undoable.
        self.load_open = False
        self.starting = False  # this run reached the transaction that opens a load (see seed())
        self.finished = False  # ... and ended it: every row, index, key and trigger in place
        self.zc = zerocache.ZeroCache()
        self.stop = threading.Event()  # set by the pool when the load stops (Pool.stop)
        self.batch_rows: dict[str, int] = {}
        self.table_rows: dict[str, int] = {}
        self.minimal = False  # the embedded server runs at wal_level=minimal for this load
        self.analyzed: set[str] = set()  # tables analyzed right after their copy (see _rebuild)
        # A resume of a run whose rows were all in: counted at the end, not taken from the copies
        # (see _rows_now). `recorded`: what loaded_datasets got.
        self.recount = False
        self.recorded: dict[str, int] = {}

    # -- entry points ----------------------------------------------------------------------------------

    def seed(self) -> SeedResult:
        started = time.perf_counter()
        cfg = self.cfg
        if cfg.force and cfg.append:
            raise UserError("ZERO_SEED_FORCE (--force) and ZERO_SEED_APPEND (--append) are both set: choose one "
                            "(force replaces the data, append adds to it)")
        if cfg.reset:
            return self.reset()
        t = time.perf_counter()
        dataset = self.source.dataset() if self.source is not None else \
            inspect_dataset(cfg.seed_dir, checksums=False, endpoint_url=cfg.endpoint_url)
        if cfg.mode != "append" and not dataset.has_users:
            raise UserError(f"{dataset.source} has no {_users(dataset)} (a SKIP_USERS=true batch): load it with "
                            "ZERO_SEED_APPEND=true into a database that already has the users")
        result = SeedResult("loaded", cfg.mode, dataset.source, dataset.dataset_id)
        if not cfg.bulk:
            result.notes.append("ZERO_SEED_BULK=false is ignored: bulk loading is the only mode")
        # The cheap questions first (already seeded? the users there?): checksums read every byte.
        if not self._precheck(dataset, result):
            return result
        if self.source is not None:
            self.source.before_load()  # e.g. reach the Dask scheduler: only now that there is work to do
        if cfg.checksums and self.source is None:
            check_checksums(dataset, self.progress)
        self.phases["check files"] = time.perf_counter() - t
        with minimal_wal(cfg, self.tuning, self.url, self.say) as self.minimal, self._control() as ctl:
            t = time.perf_counter()
            run = state.unfinished_run(ctl)
            self.zc = zerocache.detect(ctl)
            self._zero_cache_checks(run.mode if run is not None else cfg.mode, dataset.total_bytes, result)
            if (run.mode if run is not None else cfg.mode) == "append":
                self._replica_role(ctl, result)
            if run is not None:
                self._check_resumable(run, dataset)
                self.load_open = True
                result.resumed = True
                result.rows_before = sum(run.rows_by_table().values())  # copied by the interrupted run
                self.recount = all(f.name in run.shards for f in dataset.files)
                self.say(f"resuming the interrupted {run.mode} load of {run.source} "
                         f"({len(run.shards)} of {len(dataset.files)} {_pieces(dataset)} already loaded)")
            else:
                # Again, under the lock: the database may have changed while the files were checked.
                if not self._mode_checks(ctl, dataset, result):
                    return result
                self.starting = True  # from here a stop may find the load open before load_open says so
                run = self._start(ctl, dataset, result)
                self.load_open = True
            self.phases["prepare"] = time.perf_counter() - t
            result.jobs = self.jobs
            result.maintenance_work_mem = self.sessions.maintenance_work_mem
            result.index_mem = self.sessions.index_mem
            result.fk_mem = self.sessions.fk_mem
            pool = Pool(lambda: self.sessions.open(session.APP_WORKER), self.jobs, self.stop)
            try:
                self._load(ctl, pool, run, dataset)
                self.load_open = False
                self.finished = True
            finally:
                pool.close()
            result.rows = self.recorded
            if self.recount:  # nothing was copied by this run (what is there was counted, see _rows_now)
                result.rows_before = sum(result.rows.values())
            result.bytes = dataset.total_bytes
            if not names_local_server(cfg) and cfg.mode in ("seed", "force") and result.bytes >= EXTERNAL_HINT_BYTES:
                result.notes.append(EXTERNAL_HINT)
            diffs = schema.differences(ctl)
            if diffs:
                result.notes.append("note: the schema differs from zbugs' contract (not changed by this load?): "
                                    + "; ".join(diffs))
        result.phases = dict(self.phases)
        result.job_times = list(self.job_times)
        result.elapsed = time.perf_counter() - started
        return result

    def reset(self) -> SeedResult:
        started = time.perf_counter()
        with self._control() as ctl:
            run = state.unfinished_run(ctl)
            self.zc = zerocache.detect(ctl)
            self._zero_cache_checks("reset", 0, SeedResult("reset"))
            if run is None:
                repaired = self._repair_identities(ctl)
                if repaired:
                    return SeedResult("reset", notes=repaired)
                if self.cfg.force or self.cfg.append:
                    # A ZERO_SEED_RESET=true left in the shell or .env (the hints suggest it) would
                    # otherwise turn every later load into a no-op that exits 0.
                    mode = "ZERO_SEED_FORCE" if self.cfg.force else "ZERO_SEED_APPEND"
                    raise UserError(f"ZERO_SEED_RESET is set with {mode}, but there is no interrupted load to undo "
                                    f"in {mask_url(self.url)}, and a reset loads nothing: unset ZERO_SEED_RESET "
                                    f"(--reset) to run the {mode.split('_')[-1].lower()} load")
                return SeedResult("nothing-to-reset", notes=[
                    f"nothing to reset: no interrupted load in {mask_url(self.url)} (a reset loads nothing: "
                    "unset ZERO_SEED_RESET to load a dataset)"])
            pool = Pool(lambda: self.sessions.open(session.APP_WORKER), self.jobs, self.stop)
            try:
                self._undo(ctl, pool, run)
            finally:
                pool.close()
            repaired = self._repair_identities(ctl)
        result = SeedResult("reset", run.mode, run.source, run.dataset_id, notes=repaired)
        result.elapsed = time.perf_counter() - started
        removed = ("emptied the zbugs tables, as the force load had" if run.mode == "force"
                   else "removed the rows it had added")
        result.notes.append(f"reset: undid the interrupted {run.mode} load of {run.source} "
                            f"({removed}; every index, foreign key and trigger is back)")
        return result

    def _repair_identities(self, ctl: Conn) -> list[str]:
        """Published tables whose replica identity names no usable index (an earlier load dropped the
        index zero-cache had chosen) go back to DEFAULT; one without a primary key is only reported."""
        with ctl.transaction():
            done, left = replica.repair(ctl)
        notes = [f"repaired: {sql}" for sql in done]
        notes += [f"warning: {p.table}: {p.what}; repair: {p.repair}" for p in left]
        return notes

    # -- control connection ---------------------------------------------------------------------------

    class _Control:
        def __init__(self, loader: Loader) -> None:
            self.loader = loader
            self.conn: Conn | None = None

        def __enter__(self) -> Conn:
            ld = self.loader
            self.conn = session.lock_waiting(lambda: ld.sessions.open(session.APP_CONTROL), ld.url, ld.say)
            try:
                session.end_orphans(self.conn)
                session.check_schema(self.conn, ld.url)
                ld._plan(self.conn)  # before any work on this connection: the memory settings depend on it
                state.require_tables(self.conn, mask_url(ld.url))
                ld.seq = session.sequence_name(self.conn)
            except BaseException:
                self.conn.close()
                raise
            return self.conn

        def __exit__(self, *exc: object) -> None:
            if self.conn is not None:
                self.conn.close()  # also releases the advisory lock

    def _control(self) -> Loader._Control:
        return Loader._Control(self)

    def _plan(self, ctl: Conn) -> None:
        cores = session.server_cores(ctl, self.url)
        self.jobs = self.cfg.jobs or cores
        # Beside the pool: a --generate load streams each table after the first on a connection of its own.
        extra = 1 + (len(TABLES) if self.source is not None else 0)
        room = self._connection_room(ctl, extra)
        if self.jobs > room:
            asked = f"ZERO_SEED_JOBS={self.jobs}" if self.cfg.jobs else f"{self.jobs} jobs (the server's cores)"
            self.say(f"note: {asked} lowered to {room}: the server takes that many more connections "
                     "(max_connections, less those reserved, in use, and the load's own besides)")
            self.jobs = room
        self.sessions.plan(self.jobs, cores)
        self.sessions.probe_writeback(ctl)
        self.sessions.apply_plan(ctl)

    @staticmethod
    def _connection_room(ctl: Conn, extra: int) -> int:
        """Connections the pool may open: the server's max_connections less the superuser reserve, those in
        use, and the `extra` the load opens beside its pool."""
        row = ctl.execute("SELECT current_setting('max_connections')::int - "
                          "current_setting('superuser_reserved_connections')::int - "
                          "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')").fetchone()
        return max(1, (int(row[0]) if row else 1) - extra)

    # -- what the mode needs of the database ----------------------------------------------------------

    def _precheck(self, dataset: Dataset, result: SeedResult) -> bool:
        """`_mode_checks` on a short connection, before the expensive checksums. Read-only: creates
        nothing (not even our bookkeeping) and takes no lock. An open load is left to the locked path."""
        conn = self.sessions.open(session.APP_CONTROL)
        with conn:
            session.check_schema(conn, self.url)
            if state.has_open_run(conn):
                # Refused here, not after the restart at wal_level=minimal: a refusal must not cut off the
                # server's other clients. Not while its loader is at work: then the locked path waits for
                # it (and asks again: the run may end meanwhile).
                run = None if session.loader_at_work(conn) else state.unfinished_run(conn)
                if run is not None:
                    self._check_resumable(run, dataset)
                return True
            if not self._mode_checks(conn, dataset, result):
                return False
            self._check_room(conn, dataset)
            return True

    def _check_room(self, conn: Conn, dataset: Dataset) -> None:
        """Refuse a load that clearly does not fit on the local server's disk (space.py). Not for a
        resume: what is left of it is smaller, and it says so itself if the disk fills again."""
        cluster = None if self.cfg.skip_space_check else self._local_cluster()
        if cluster is None:
            return
        sizes = self.source.sizes() if self.source is not None else space.dataset_sizes(dataset)
        space.check_local_room(conn, self.cfg, self.tuning, sizes, cluster.pgdata)

    def _check_shortid_room(self, conn: Conn, dataset: Dataset) -> None:
        """issue.shortID is int4: refuse up front a batch that would run the sequence past its end
        (PostgreSQL would only say so after copying up to 2^31 rows)."""
        adding = sum(f.rows or 0 for f in dataset.files_of("issue"))
        seq = session.sequence_name(conn)
        if not adding or seq is None or not self._numbers_issues(dataset):
            return
        if self.cfg.mode == "force":
            first = int(IDENTITY["start"])  # force empties the table and restarts the sequence
        else:
            row = conn.execute('SELECT max("shortID") FROM public.issue').fetchone()  # its index: cheap
            first = max(session.next_value(conn, seq), (int(row[0]) + 1) if row and row[0] is not None else 0)
        room = int(IDENTITY["max"]) - first + 1
        if adding > room:
            raise UserError(f"{dataset.source} adds {adding:,} issues but issue.shortID (a 4-byte integer, at most "
                            f"{int(IDENTITY['max']):,}) has room for {max(room, 0):,} more after the ones already "
                            f"in {mask_url(self.url)}: generate a smaller batch (a database holds at most "
                            f"{MAX_ISSUES:,} issues)")

    def _mode_checks(self, conn: Conn, dataset: Dataset, result: SeedResult) -> bool:
        """Refuse what the mode cannot do here; False: already seeded, nothing to do (a note says so)."""
        self._check_shortid_room(conn, dataset)
        if self.cfg.mode == "seed":
            busy = session.tables_with_rows(conn)
            if busy:
                self._check_same_dataset(conn, dataset, busy)
                result.status = "already-seeded"
                result.notes.append(self._already_seeded_message(conn, dataset, busy))
                return False
        elif self.cfg.mode == "append":
            self._check_not_loaded(conn, dataset)
            self._check_seed_not_loaded(conn, dataset)
            if dataset.has_users and "user" in session.tables_with_rows(conn):
                raise UserError(f"{dataset.source} has {_users(dataset, 'a ')} but the database already has users "
                                "(user ids are the same in every batch): generate the batches after the "
                                "first with SKIP_USERS=true")
            self._check_users(conn, dataset)
        return True

    def _check_users(self, conn: Conn, dataset: Dataset) -> None:
        """A batch without users refers to users already in the database: all of them must be there
        (else the load would only fail at foreign-key validation, after copying everything)."""
        if dataset.has_users:
            return
        wanted = dataset.num_users
        if wanted is None:  # no manifest.json: which users it needs is unknown; at least some must exist
            if "user" not in session.tables_with_rows(conn):
                raise UserError(f"{dataset.source} has no {_users(dataset)} and {mask_url(self.url)} has no users: "
                                "load the first batch (with its users) first, then append the SKIP_USERS=true ones")
            return
        found = session.generated_users(conn, wanted)
        if found < wanted:
            ids = f"{session.user_id(0)}..{session.user_id(wanted - 1)}"
            have = f"has only {found:,} of its users ({ids})" if found else f"has none of its users ({ids})"
            raise UserError(f"{dataset.source} is a SKIP_USERS batch generated with NUM_USERS={wanted:,}, but "
                            f"{mask_url(self.url)} {have}: generate it with the NUM_USERS of the batch that "
                            "loaded the users, or load that batch (with its users) first")

    # -- starting, resuming ---------------------------------------------------------------------------

    def _check_resumable(self, run: state.Run, dataset: Dataset) -> None:
        if run.dataset_id == dataset.dataset_id and run.mode == self.cfg.mode:
            stray = sorted(set(run.shards) - {f.name for f in dataset.files})
            if stray:  # the same dataset cut into other pieces (another --parts, or the other path)
                parts = state.parts_of_record(stray[0])
                was = f" (it was started with --parts {parts})" if parts else ""
                raise UserError(f"the interrupted {run.mode} load of {run.source} recorded {stray[0]}, which this "
                                f"command would not load{was}: resume it as it was started, or undo it with "
                                "ZERO_SEED_RESET=true")
            return
        flag = {"force": " ZERO_SEED_FORCE=true", "append": " ZERO_SEED_APPEND=true"}.get(run.mode, "")
        # A --generate load has no directory: the generator settings it names say which dataset it is.
        how = (f"db-seed-synthetic --generate and the generator settings of {run.source}{flag}"
               if generated_source(run.source) else f"ZERO_SEED_DATA_DIR={run.source}{flag}")
        here = str(dataset.directory.resolve()) if dataset.directory else dataset.source
        if (run.directory or run.source) == here and run.mode == self.cfg.mode \
                and not generated_source(run.source):
            # The same command, but the files changed since the load began (e.g. "fixed" after it failed):
            # they are another dataset now, and the rows already in came from the old files.
            raise UserError(
                f"the files of {run.source} changed since its interrupted {run.mode} load began (dataset "
                f"{run.dataset_id} then, {dataset.dataset_id} now), so it cannot be resumed from them: put the "
                f"files back as they were to resume it, or undo it with ZERO_SEED_RESET=true and then run this "
                f"command again")
        raise UserError(
            f"an interrupted {run.mode} load of {run.source} (dataset {run.dataset_id}, started "
            f"{run.started_at:%Y-%m-%d %H:%M:%S %Z}) is still open in this database; resume it with "
            f"{how}, or undo it with ZERO_SEED_RESET=true "
            f"(this run asked for {'an' if self.cfg.mode[0] in 'aeiou' else 'a'} {self.cfg.mode} load of "
            f"{dataset.source}, dataset {dataset.dataset_id})")

    def _check_not_loaded(self, ctl: Conn, dataset: Dataset) -> None:
        for d in state.finished_datasets(ctl):
            if d.dataset_id == dataset.dataset_id:
                raise UserError(f"dataset {dataset.dataset_id} ({dataset.source}) was already loaded "
                                f"({d.mode}, {d.finished_at:%Y-%m-%d %H:%M:%S %Z}) from {d.source}: appending "
                                "it again would duplicate every row; generate the next batch with another SEED")

    def _check_same_dataset(self, ctl: Conn, dataset: Dataset, busy: list[str]) -> None:
        """A plain seed into a database with rows is a no-op only when those rows are this very dataset
        (an idempotent rerun); anything else must not let a script carry on with the wrong data."""
        loaded = state.finished_datasets(ctl)
        if any(d.dataset_id == dataset.dataset_id for d in loaded):
            return
        what = (f"datasets loaded: {', '.join(dict.fromkeys(d.source for d in loaded))}" if loaded
                else "data not loaded by zbugs-synth")
        raise UserError(f"{mask_url(self.url)} already holds other data (rows in {', '.join(busy)}; {what}), not "
                        f"{dataset.source}: set ZERO_SEED_FORCE=true to replace it with this dataset, or "
                        "ZERO_SEED_APPEND=true to add this dataset to it")

    def _check_seed_not_loaded(self, ctl: Conn, dataset: Dataset) -> None:
        """Ids are a bijection of (seed, table, row): a batch with a loaded batch's SEED collides on every
        id. Said here, before anything is dropped, rather than at the primary-key rebuild after the COPY."""
        seed = _manifest_seed(dataset.manifest)
        if seed is None:
            return
        for d in state.finished_datasets(ctl):
            if _manifest_seed(d.manifest) == seed:
                again = ("run it again with another SEED" if dataset.generated
                         else f"generate {dataset.source} again with another SEED")
                raise UserError(f"SEED {seed} is already loaded (from {d.source}): batches need different seeds "
                                f"(ids derive from the seed); {again}")

    def _already_seeded_message(self, ctl: Conn, dataset: Dataset, busy: list[str]) -> str:
        loaded = state.finished_datasets(ctl)
        what = f"datasets loaded: {', '.join(dict.fromkeys(d.source for d in loaded))}"
        return (f"{mask_url(self.url)} is already seeded with dataset {dataset.dataset_id} ({dataset.source}; rows "
                f"in {', '.join(busy)}; {what}): nothing loaded. Set ZERO_SEED_FORCE=true to load it again from "
                "scratch")

    def _zero_cache_checks(self, mode: str, load_bytes: int, result: SeedResult) -> None:
        zc = self.zc
        if zc.active and mode != "append":
            if not self.cfg.ignore_active_slot:
                raise UserError(zerocache.refusal(zc, mode))
            result.notes.append("warning: " + zerocache.refusal(zc, mode).split(": ", 1)[0]
                                + "; loading anyway (ZERO_SEED_IGNORE_ACTIVE_SLOT): zero-cache will resync")
        if zc.active and mode == "append":
            self.say(zerocache.streaming_note(zc))
        for line in zerocache.inactive_note(zc, load_bytes):
            self.say(line)
        if not zc.slots and (zc.schemas or zc.event_triggers):
            self.say(zerocache.trace_note(zc))

    def _replica_role(self, ctl: Conn, result: SeedResult) -> None:
        """An append's workers run with session_replication_role = replica (no triggers, no DDL)."""
        self.sessions.replica_role = append.replication_role_allowed(ctl)
        if not self.sessions.replica_role:
            self.say(append.REPLICATION_ROLE_FALLBACK)

    def _append_objects(self, ctl: Conn, dataset: Dataset) -> list[Saved]:
        """What an append changes: nothing (keep), the secondary indexes of its tables (rebuild), or, for
        a batch as big as the data (full), every index, key and foreign key as a seed does; plus the
        triggers when the role may not set session_replication_role."""
        batch = {t: int(sum(f.rows_estimate for f in dataset.files_of(t))) for t in TABLES}
        self.table_rows = append.table_rows(ctl, TABLES)
        self.batch_rows = batch
        plan = append.plan_indexes(self.cfg.indexes, batch, self.table_rows, bool(self.zc.active))
        loaded = {f.table for f in dataset.files}
        if plan.mode == "full":
            self.say(f"rebuilding every index, key and foreign key of the zbugs tables after the copy, as a seed "
                     f"does ({plan.reason}); UPDATE/DELETE on them wait for the end of the load")
            # Primary keys stay when a zero-cache slot exists (see _start).
            return capture(ctl, TABLES, include_primary_keys=not self.zc.slots,
                           autovacuum_off=self.tuning.autovacuum_off, drop_before_triggers=True)
        everything = capture(ctl, TABLES, include_primary_keys=False)
        out: list[Saved] = []
        if plan.mode == "rebuild":
            idents = {t: i.index for t, i in replica.identities(ctl, list(TABLES)).items() if i.mode == "i"}
            out = [o for o in everything if isinstance(o, SavedIndex) and o.table in loaded
                   and append.secondary(o, idents.get(o.table))]
            self.say(f"rebuilding the secondary indexes of {', '.join(sorted({o.table for o in out}))} after the "
                     f"copy ({plan.reason})")
        if not self.sessions.replica_role:
            out += [o for o in everything if isinstance(o, SavedTrigger) and o.table in loaded]
        return out

    def _start(self, ctl: Conn, dataset: Dataset, result: SeedResult) -> state.Run:
        """Record the load, save and drop the schema objects: all in one transaction."""
        with ctl.transaction():
            if self.cfg.mode == "force":
                ctl.execute("TRUNCATE " + ", ".join(qt(t) for t in schema.COLUMNS) + " RESTART IDENTITY")
                state.truncate_bookkeeping(ctl)
                session.insert_zero_project(ctl)
            elif self.cfg.mode == "seed":
                # Seeding means the zbugs tables are empty (emptied by hand, perhaps): records of
                # earlier loads describe rows that are gone, and verify would expect them on top.
                stale = state.recorded_loads(ctl)
                if stale:
                    state.truncate_bookkeeping(ctl)
                    self.say(f"note: the zbugs tables were empty: forgot {stale} earlier load record(s) "
                             f"in {state.DATASETS}")
                session.insert_zero_project(ctl)
            base = session.next_value(ctl, self.seq) if self.seq else None
            for sql in replica.repair(ctl)[0]:  # a dangling identity is not worth saving
                self.say(f"note: repaired a replica identity that named a dropped index: {sql}")
            if self.cfg.mode == "append":
                objects = self._append_objects(ctl, dataset)
            else:
                # With a zero-cache slot (even inactive) primary keys stay: zero-cache gives a published
                # table without one REPLICA IDENTITY USING INDEX of a unique index, also when it replays
                # the load later, and then halts on the identity it set ("missing its REPLICA IDENTITY
                # INDEX"). Seen with zero-cache 1.9; slower, but it survives the load.
                keep_pk = bool(self.zc.slots) and self.tuning.drop_primary_keys
                if keep_pk:
                    self.say("note: keeping the primary keys during the load (a logical replication slot "
                             "exists: zero-cache must never see a published table without one)")
                objects = capture(ctl, TABLES, include_primary_keys=self.tuning.drop_primary_keys and not keep_pk,
                                  autovacuum_off=self.tuning.autovacuum_off, drop_before_triggers=True)
            run = state.create_run(ctl, dataset_id=dataset.dataset_id, source=dataset.source,
                                        manifest=dataset.manifest, mode=self.cfg.mode, shortid_base=base,
                                        objects=objects,
                                   directory=str(dataset.directory.resolve()) if dataset.directory else dataset.source)
            for stmt in drop_statements(objects, present(ctl)):
                ctl.execute(stmt)
        disabled = [f"{o.table}.{o.name}" for o in objects if o.kind == "trigger" and o.state == "D"]
        if disabled:
            self.say(f"note: trigger(s) {', '.join(disabled)} were disabled before this load; they stay disabled")
        return run

    # -- the load itself ------------------------------------------------------------------------------

    def _load(self, ctl: Conn, pool: Pool, run: state.Run, dataset: Dataset) -> None:
        todo = [f for f in dataset.files if f.name not in run.shards]
        if todo:
            stmts = drop_statements(run.objects, present(ctl))
            if stmts:  # objects rebuilt by an earlier attempt: back to the bulk-load state
                with ctl.transaction():
                    for stmt in stmts:
                        ctl.execute(stmt)
        try:
            failures = self._rebuild(ctl, pool, run, todo, dataset)
        except CopyDataError as e:
            self.say(f"stopping: {e}")
            try:
                self._undo(ctl, pool, run, dataset)
            except UserError as undo_error:
                raise LoadFailed(f"{e}; undoing the load failed too: {undo_error}") from None
            self.load_open = False  # undone: nothing is open any more (a refusal, exit 2)
            emptied = " (ZERO_SEED_FORCE had emptied the database: it is empty now)" if run.mode == "force" else ""
            raise UserError(f"{e} — nothing from this load was kept{emptied}; fix the file and run again") \
                from None
        if failures:
            for f in failures[1:]:
                self.say(f"error: {f}")
            more = f" (and {len(failures) - 1} more, above)" if len(failures) > 1 else ""
            files = "" if generated_source(run.source) else \
                " (the files are loaded already: editing them makes another dataset)"
            raise LoadFailed(f"{failures[0]}{more}. Every other index, foreign key and trigger is in place; "
                             f"fix the rows in the database{files} and run the same command again to finish the "
                             "load, or set ZERO_SEED_RESET=true to undo it")
        t = time.perf_counter()
        state.end_run_lock(ctl, run.id)  # no stale cluster task adds a part from here on
        with ctl.transaction():
            state.reload(ctl, run)
            if self.seq and run.shortid_base is not None and self._numbers_issues(dataset):
                ctl.execute("SELECT setval(%s::regclass, %s, false)",
                            (self.seq, run.shortid_base + run.rows_by_table()["issue"]))
            self.recorded = self._rows_now(ctl, run) if self.recount else run.rows_by_table()
            state.finish_run(ctl, run, self.recorded)
        self.phases["finish"] = time.perf_counter() - t

    @staticmethod
    def _rows_now(ctl: Conn, run: state.Run) -> dict[str, int]:
        """The rows this load leaves, counted. Its rows were all in before this run: the last attempt
        may have stopped on a duplicate or an orphan with the advice to fix the rows in the database,
        and what a user deleted there must not stay in the record (verify would fail forever)."""
        copied = run.rows_by_table()
        others = bookkeeping.expected_rows(bookkeeping.loaded_datasets(ctl), copied)  # finished loads
        out = {}
        for table in copied:
            row = ctl.execute(f"SELECT count(*) FROM {qt(table)}").fetchone()
            out[table] = int(row[0]) - others[table] if row else copied[table]
        return out

    @staticmethod
    def _numbers_issues(dataset: Dataset) -> bool:
        return any("shortID" not in f.columns for f in dataset.files_of("issue"))

    def _rebuild(self, ctl: Conn, pool: Pool, run: state.Run, todo: list[DataFile],
                 dataset: Dataset | None) -> list[str]:
        """COPY `todo`, then build whatever of the saved objects is missing. Returns failure messages."""
        failures: list[str] = []
        now = present(ctl)
        indexes = [o for o in run.objects if isinstance(o, SavedIndex)]
        fks = [o for o in run.objects if isinstance(o, SavedForeignKey)]

        # Stage 1: copies and index builds (a table's indexes start when its last shard is in).
        jobs: list[Job] = []
        copy_keys: dict[str, list[str]] = {}
        rows_hint: dict[str, float] = dict.fromkeys(TABLES, 0.0)
        for f in todo:
            rows_hint[f.table] += f.rows_estimate
        # What the tables hold already, except those the COPY's own transaction empties (TRUNCATE +
        # COPY FREEZE): their counts are the old contents' (a 10 M --force after a 10 M load would
        # count them twice; one after a 1 M load would rank tables by the old sizes).
        emptied = {t for t in {f.table for f in todo} if self._freeze(run, t, [f for f in todo if f.table == t])}
        for t, n in append.table_rows(ctl, TABLES).items():
            if t not in emptied:
                rows_hint[t] = rows_hint.get(t, 0.0) + float(n)
        copy_tasks = {t: _LazyTask(self.progress, f"copy {t}", sum(f.bytes for f in todo if f.table == t), "bytes",
                                   parts=sum(f.table == t for f in todo)) for t in TABLES}
        seq = Sequence(self.seq, run.shortid_base) if self.seq and run.shortid_base is not None else None
        order = {t: i for i, t in enumerate(TABLES)}
        # An append checks each shard's references itself (its sessions fire no FK triggers): parents first.
        checks = ([o for o in capture(ctl, TABLES, include_primary_keys=False) if isinstance(o, SavedForeignKey)]
                  if run.mode == "append" and not fks else None)  # foreign keys dropped: validated later
        generated = self._generated_job(run, todo, seq, copy_keys, dataset) if self.source is not None else None
        if generated is not None:
            jobs.append(generated)
        for table in TABLES:
            files = [f for f in todo if f.table == table]
            if not files or generated is not None:
                continue
            table_seq = seq if table == "issue" else None
            after = frozenset(k for p in append.parents(table) for k in copy_keys.get(p, [])) \
                if checks is not None else frozenset()
            if self._freeze(run, table, files):
                key = f"copy:{table}"
                jobs.append(Job(key, "copy", self._copy_fn(run, files, table_seq, copy_tasks[table], True),
                                priority=1e15 - order[table], fatal=True))
                copy_keys[table] = [key]
                continue
            previous: str | None = None
            for i, f in enumerate(files):
                key = f"copy:{f.name}"
                # issue shards one after another: shortIDs are handed out in file order.
                deps = (frozenset({previous}) if table == "issue" and previous else frozenset()) | after
                previous = key
                jobs.append(Job(key, "copy", self._copy_fn(run, [f], table_seq, copy_tasks[table], False, checks),
                                deps,
                                priority=1e15 - order[table] * 1e6 - i, fatal=True))
                copy_keys.setdefault(table, []).append(key)
        # A table loaded whole in one transaction (seed/force) is analyzed as soon as it is in, before its
        # indexes (ANALYZE and CREATE INDEX lock each other out): the foreign key checks then get plans
        # made with statistics (index-only anti-joins instead of whole-table hashes) and the last
        # stage has nothing left to do for it. Not a table with an expression index: ANALYZE gathers the
        # expression's statistics only once that index exists.
        expressions = {ix.table for ix in indexes if not ix.columns}
        early = [t for t in TABLES if t in copy_keys and t not in expressions and dataset is not None
                 and self._freeze(run, t, [f for f in todo if f.table == t])]
        an_task = _LazyTask(self.progress, "analyze", len(early), "tables")
        for table in early:
            jobs.append(Job(f"analyze:{table}", "analyze", self._analyze_fn(table, an_task, early=True),
                            frozenset(copy_keys[table]), priority=1e14 + rows_hint.get(table, 0.0)))
        missing_ix = [ix for ix in indexes if not now.has_index(ix) and ix.constraint_type != "x"]
        # A big table's foreign keys to a small one that no index covers (comment -> user, issueLabel
        # -> label) are checked as soon as the big table's indexes are built: its heap, which the
        # check reads whole, is still in the page cache then. At the end, after the other tables'
        # builds, it may not be: at 10 M issues (31.5 GB of database, 24 GiB of memory) comment's
        # creatorID check read its 11.8 GB heap back from disk, 43 s instead of ~9. The small
        # tables' index builds (instant) go first for them.
        fk_todo = [fk for fk in fks if not (now.has_fk(fk) and now.fk_done(fk))] \
            if self.tuning.fk_mode == "validate" else [fk for fk in fks if not now.has_fk(fk)]
        fk_task = _LazyTask(self.progress, "foreign keys", len(fk_todo), "keys")
        # Not on an append's workers (session_replication_role = replica): DDL there fires no event
        # trigger, and the control connection adds the keys at the end as an ordinary session.
        early_fks = [] if self.sessions.replica_role else self._early_fks(fk_todo, now, rows_hint, indexes)
        referenced = {fk.ref_table for fk in early_fks}
        ix_task = _LazyTask(self.progress, "indexes", len(missing_ix), "indexes")
        for ix in missing_ix:
            cost = rows_hint.get(ix.table, 0.0) * (1 + 0.25 * max(len(ix.columns), 1))
            deps = copy_keys.get(ix.table, []) + ([f"analyze:{ix.table}"] if ix.table in early else [])
            jobs.append(Job(f"index:{ix.name}", "index", self._index_fn(ix, ix_task), frozenset(deps),
                            priority=cost + (_EARLY if ix.table in referenced else 0.0)))
        for fk in early_fks:
            deps = copy_keys.get(fk.table, []) + copy_keys.get(fk.ref_table, [])
            deps += [f"index:{ix.name}" for ix in missing_ix if ix.table in (fk.table, fk.ref_table)]
            deps += [f"analyze:{t}" for t in (fk.table, fk.ref_table) if t in early]
            jobs.append(Job(f"fk:{fk.table}.{fk.name}", "fk", self._early_fk_fn(fk, fk_task), frozenset(deps),
                            lane=f"fk:{fk.table}", priority=_EARLY + rows_hint.get(fk.table, 0.0)))
        outcome = self._run(pool, jobs)
        for task in copy_tasks.values():
            task.done()
        ix_task.done()
        an_task.done()
        self.phases["copy"] = outcome.span("copy")
        self.phases["indexes"] = outcome.span("index")
        early_fk_jobs = outcome.ran("fk")
        early_analyze = outcome.ran("analyze")
        self.phases["analyze"] = span_of(early_analyze)  # the tables analyzed right after their copy
        self._raise_fatal(outcome)
        failures += self._rebuild_failures(outcome)

        # Stage 2: attach constraints to their indexes, add foreign keys NOT VALID (one quick transaction).
        t = time.perf_counter()
        now = present(ctl)
        keyless: dict[str, list[SavedForeignKey]] = {}  # a missing key's label -> the foreign keys needing it
        with ctl.transaction():
            for ix in indexes:
                if ix.constraint is not None and not now.attached(ix) and \
                        (ix.constraint_type == "x" or ix.name in now.indexes):
                    failures += self._try(ctl, ix.label, ix.attach_sql() or "")
            if self.tuning.fk_mode == "validate":
                for fk in fks:
                    if not now.has_fk(fk):
                        missing = _missing_key(fk, indexes, now.indexes)
                        if missing is not None:
                            # PostgreSQL's own words ("no unique constraint matching given keys"), once per
                            # key, would read as more problems; it is the same one.
                            keyless.setdefault(missing.label, []).append(fk)
                            continue
                        failures += self._try(ctl, fk.label, fk.add_sql(not_valid=True))
        failures += [f"not rebuilt: {len(fks_)} foreign key(s) that need the {label}, which could not be rebuilt "
                     f"(above): {', '.join(f'{fk.name} on {fk.table}' for fk in fks_)}"
                     for label, fks_ in keyless.items()]
        self.phases["constraints"] = time.perf_counter() - t

        # Stage 3: validate foreign keys (different tables at once; one table's take turns anyway).
        now = present(ctl)
        if self.tuning.fk_mode == "validate":
            todo_fk = [fk for fk in fks if now.has_fk(fk) and not now.fk_done(fk)]
        else:
            todo_fk = [fk for fk in fks if not now.has_fk(fk)]
        priority = work.fk_priorities(todo_fk, *work.fk_order_facts(ctl)) if todo_fk else {}
        fk_jobs = [Job(f"fk:{fk.table}.{fk.name}", "fk", self._fk_fn(fk, fk_task, work.merge_checkable(fk, indexes)),
                       lane=f"fk:{fk.table}" if self.tuning.fk_mode == "validate" else "fk",
                       priority=priority[fk.name]) for fk in todo_fk]
        outcome = self._run(pool, fk_jobs)
        fk_task.done()
        self.phases["foreign keys"] = span_of(early_fk_jobs + outcome.ran("fk"))
        self._raise_fatal(outcome)
        failures += self._rebuild_failures(outcome)

        # Stage 4: triggers back as they were (also after failures: no more rows are coming).
        t = time.perf_counter()
        with ctl.transaction():
            for stmt in restore_statements(run.objects, present(ctl)):
                ctl.execute(stmt)
        self.phases["triggers"] = time.perf_counter() - t

        # Stage 5: fresh planner statistics for what changed.
        if dataset is not None and not failures:
            tables = [t for t in TABLES if dataset.files_of(t) and self._worth_analyzing(run, t)
                      and t not in self.analyzed]
            an_task = self.progress.task("analyze", len(tables), "tables")
            outcome = self._run(pool, [Job(f"analyze:{t}", "analyze", self._analyze_fn(t, an_task),
                                    priority=rows_hint.get(t, 0.0)) for t in tables])
            an_task.done()
            self.phases["analyze"] = span_of(early_analyze + outcome.ran("analyze"))
            self._raise_fatal(outcome)
            failures += self._rebuild_failures(outcome)
        return failures

    def _worth_analyzing(self, run: state.Run, table: str) -> bool:
        """After an append, only tables it grew by a tenth or more (autovacuum's analyze covers the rest,
        and ANALYZE of a big table costs seconds that a small append does not)."""
        if run.mode != "append" or not self.table_rows:
            return True
        return self.batch_rows.get(table, 0) >= 0.1 * self.table_rows.get(table, 0)

    def _run(self, pool: Pool, jobs: list[Job]) -> Outcome:
        outcome = pool.run(jobs)
        self.job_times += [(j.key, j.started - self.t0, j.ended - j.started) for j in jobs if j.ended]
        return outcome

    def _try(self, ctl: Conn, label: str, statement: str) -> list[str]:
        try:
            with ctl.transaction():
                ctl.execute(statement)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as e:
            return [f"cannot rebuild {label}: {' '.join(str(e).split())}"]
        return []

    def _raise_fatal(self, outcome: Outcome) -> None:
        err = outcome.fatal
        if err is None:
            for e in outcome.failures.values():
                if not isinstance(e, RebuildError | Blocked | Cancelled):
                    err = e
                    break
        if err is None:
            return
        if isinstance(err, CopyDataError):
            raise err
        if not isinstance(err, Exception):
            raise err  # KeyboardInterrupt, SystemExit
        if isinstance(err, UserError):
            raise err
        text = scrub(str(err), self.url) if isinstance(err, psycopg.Error) else f"{type(err).__name__}: {err}"
        text = " ".join(text.split()).rstrip(".")
        if isinstance(err, psycopg.Error) and err.sqlstate == DISK_FULL:
            # Run again as it is, it would only fill the disk again: say where space is needed.
            raise LoadFailed(f"the load stopped: the database server's disk is full ({text}){self._where_full()}; "
                             "free space there, then run the same command again to resume it (or "
                             "ZERO_SEED_RESET=true to undo it)") from err
        raise LoadFailed(f"the load was interrupted: {text}. Run the same command again to resume it "
                         "(or ZERO_SEED_RESET=true to undo it)") from err

    def _local_cluster(self) -> server.Cluster | None:
        """The cluster of the server db-up runs here, when this load goes to it (its disk is ours to see)."""
        return server.load(self.cfg.data_dir) if names_local_server(self.cfg) else None

    def _where_full(self) -> str:
        """Where the local server keeps its data, and how much of its disk is free; "" for another server."""
        cluster = self._local_cluster()
        if cluster is None:
            return ""
        free = free_bytes(cluster.pgdata)
        return f": {cluster.pgdata}" + (f" has {human_bytes(free)} free" if free is not None else "")

    @staticmethod
    def _rebuild_failures(outcome: Outcome) -> list[str]:
        return [str(e) for e in outcome.failures.values() if isinstance(e, RebuildError)]

    # -- job functions --------------------------------------------------------------------------------

    def _freeze(self, run: state.Run, table: str, files: list[DataFile]) -> bool:
        """COPY FREEZE needs the table emptied in the same transaction: only where it holds nothing of value."""
        limit = self.tuning.freeze_max_bytes
        # At wal_level=minimal only the truncating transaction skips WAL: every table in one, whatever its size.
        fits = self.minimal or (limit > 0 and sum(f.bytes for f in files) <= limit)
        return (fits and run.mode in ("seed", "force") and table != "project"  # project: the Zero row
                and not any(s.table == table for s in run.shards.values()))

    def _as_written(self) -> bool:
        """Whether the tables a copy empties are stored as written, uncompressed (jobs.store_as_written):
        only at wal_level=minimal, where no replication slot can exist (nobody decodes the DDL) and the
        server is the tool's own."""
        return self.minimal and not self.tuning.toast_compress

    def _copy_fn(self, run: state.Run, files: list[DataFile], seq: Sequence | None, task: Task,
                 freeze: bool, checks: list[SavedForeignKey] | None = None) -> Callable[[Conn], None]:
        def done(file: DataFile, rows: int) -> None:
            run.shards[file.name] = state.ShardRecord(file.name, file.table, rows, 0)
            self.progress.log(f"loaded {file.name}: {rows:,} rows")

        def fn(conn: Conn) -> None:
            work.copy_files(conn, run.id, files, seq, task, done, freeze=freeze, as_written=self._as_written(),
                            checks=checks)
            if isinstance(task, _LazyTask) and task.finish_units(len(files)):
                task.done()  # the table's last file: its bar stops here, not when every table is in

        return fn

    def _generated_job(self, run: state.Run, todo: list[DataFile], seq: Sequence | None,
                       copy_keys: dict[str, list[str]], dataset: Dataset | None) -> Job | None:
        """One job generates every table and streams the `todo` ones into COPY (see stream.py)."""
        if not todo or dataset is None:
            return None
        key = "copy:generated"
        for f in todo:
            copy_keys[f.table] = [key]

        def done(file: DataFile, rows: int) -> None:
            run.shards[file.name] = state.ShardRecord(file.name, file.table, rows, 0)
            self.progress.log(f"loaded {file.table}: {rows:,} rows")

        def fn(conn: Conn) -> None:
            self.source.load(conn, lambda: self.sessions.open(session.APP_WORKER), run.id, todo, seq,
                             lambda t: self._freeze(run, t, []), self.progress, done, dataset,
                             as_written=self._as_written(), stop=self.stop)

        return Job(key, "copy", fn, priority=1e15, fatal=True)

    @contextlib.contextmanager
    def _sort_memory(self, conn: Conn, mem: str) -> Iterator[None]:
        """maintenance_work_mem `mem` for an index build or foreign key check (Sessions.index_mem,
        fk_mem), put back after it for whatever else the connection runs."""
        if mem != self.sessions.maintenance_work_mem:
            conn.execute("SELECT set_config('maintenance_work_mem', %s, false)", (mem,))
        try:
            yield
        finally:
            if mem != self.sessions.maintenance_work_mem and not conn.broken:
                conn.execute("SELECT set_config('maintenance_work_mem', %s, false)",
                             (self.sessions.maintenance_work_mem,))

    def _index_fn(self, ix: SavedIndex, task: Task) -> Callable[[Conn], None]:
        def fn(conn: Conn) -> None:
            if self.sessions.replica_role:
                # DDL under session_replication_role = replica fires no event trigger: zero-cache would
                # never hear of the index. Builds run as an ordinary session.
                conn.execute("SET session_replication_role = origin")
            try:
                with self._sort_memory(conn, self.sessions.index_mem):
                    work.build_index(conn, ix)
            finally:
                if self.sessions.replica_role and not conn.broken:
                    conn.execute("SET session_replication_role = replica")
            task.advance(1)
        return fn

    @staticmethod
    def _early_fks(fks: list[SavedForeignKey], now: Present, rows: dict[str, float],
                   indexes: list[SavedIndex]) -> list[SavedForeignKey]:
        """The foreign keys stage 1 checks (see there): not there at all yet, from a table at least a
        hundred times bigger than the one it references, which has (or gets in this stage) a unique
        index on the referenced columns, and checked by reading the heap (no index of the table
        leads with the key's columns: one that does is read instead, fresh from its build, and the
        check is cheap at the end). Adding a key locks the referenced table against index builds:
        only a small table's, done early, is safe to wait for."""
        def unique_index(fk: SavedForeignKey) -> bool:
            return any(ix.table == fk.ref_table and ix.unique and set(ix.columns) == set(fk.ref_columns)
                       for ix in indexes)

        def covered(fk: SavedForeignKey) -> bool:
            return any(ix.table == fk.table and work.covers(ix.columns, fk.columns) for ix in indexes)
        return [fk for fk in fks if not now.has_fk(fk) and fk.table != fk.ref_table and unique_index(fk)
                and not covered(fk) and 100 * rows.get(fk.ref_table, 0.0) <= rows.get(fk.table, 0.0)]

    def _early_fk_fn(self, fk: SavedForeignKey, task: Any) -> Callable[[Conn], None]:
        """Add and validate one key during stage 1. A key this cannot make (an orphan row; a failed
        index) is left to stages 2 and 3, which add it again and say what is wrong."""
        def fn(conn: Conn) -> None:
            with self._sort_memory(conn, self.sessions.fk_mem):
                try:
                    conn.execute(fk.add_sql(not_valid=True))
                    work.validate_fk(conn, fk)  # drops the key again if the rows do not allow it
                except psycopg.OperationalError:
                    raise
                except (work.RebuildError, psycopg.Error):
                    return
            task.advance(1)
        return fn

    def _fk_fn(self, fk: SavedForeignKey, task: Any, merge: bool = False) -> Callable[[Conn], None]:
        """`merge` (jobs.merge_checkable): the check may merge two indexes, which it does when both
        tables are all-visible (an index-only scan of rows not yet marked would read the heap row
        by row: an append's rows until VACUUM)."""
        def fn(conn: Conn) -> None:
            # A check's anti-join sorts or hashes with maintenance_work_mem (PostgreSQL runs it with
            # work_mem raised to that): measured at 10 M issues, the seven checks took 31.3 s at 64MB,
            # 37.8 s at 1GB (the (issueID, projectID) one 13.7 vs 17.0: an 870 MB hash of issue
            # misses the caches on every probe).
            plan = work.merge_anti_join(conn) if merge and work.all_visible(conn, fk.table, fk.ref_table) \
                else contextlib.nullcontext()
            with self._sort_memory(conn, self.sessions.fk_mem), plan:
                if self.tuning.fk_mode == "validate":
                    work.validate_fk(conn, fk)
                else:
                    work.add_fk(conn, fk)
            if task:
                task.advance(1)
        return fn

    def _analyze_fn(self, table: str, task: Any, *, early: bool = False) -> Callable[[Conn], None]:
        def fn(conn: Conn) -> None:
            try:
                work.analyze(conn, table)
            except psycopg.Error as e:
                if not early:
                    raise
                # Not worth failing the load for: the last stage analyzes what is not in self.analyzed.
                self.progress.log(f"note: ANALYZE {table} failed, retried at the end: {' '.join(str(e).split())}")
                return
            if early:
                self.analyzed.add(table)
            task.advance(1)
        return fn

    # -- undoing ----------------------------------------------------------------------------------------

    def _dataset_for_undo(self, run: state.Run) -> Dataset:
        """The interrupted append's own files: ZERO_SEED_DATA_DIR if it names them, else where they were
        (a local directory, or the s3:// / https:// location they streamed from)."""
        tried: list[str] = []
        candidates: list[Path | str] = [self.cfg.seed_dir, *([run.directory] if run.directory else []), run.source]
        for where in dict.fromkeys(str(c) for c in candidates):
            location: Path | str = where if is_remote(where) else Path(where)
            if isinstance(location, Path) and not location.is_dir():
                continue
            tried.append(where)
            try:
                ds = inspect_dataset(location, checksums=False, endpoint_url=self.cfg.endpoint_url)
            except UserError:
                continue
            if ds.dataset_id == run.dataset_id and all(n in {f.name for f in ds.files} for n in run.shards):
                if self.cfg.checksums:
                    check_checksums(ds, self.progress)
                return ds
        where = f" ({', '.join(tried)} hold other data)" if tried else ""
        raise UserError(f"undoing the interrupted append of {run.source} needs its files: the rows to remove "
                        f"are the ones they hold; set ZERO_SEED_DATA_DIR to that dataset's directory{where}")

    def _undo(self, ctl: Conn, pool: Pool, run: state.Run, dataset: Dataset | None = None) -> None:
        """Remove the rows `run` added, rebuild every saved object, forget the run."""
        state.end_run_lock(ctl, run.id)  # parts in flight commit first (and are undone); later ones load nothing
        state.reload(ctl, run)  # the shard records with their transaction ids
        with ctl.transaction():
            # Back to the bulk-load state first (a failed rebuild may have left some objects built):
            # no foreign key then stands in the way of emptying a table.
            for stmt in drop_statements(run.objects, present(ctl)):
                ctl.execute(stmt)
            if run.mode in ("seed", "force"):
                # The tables held nothing but the Zero project before a seed (force emptied them).
                ctl.execute("TRUNCATE " + ", ".join(qt(t) for t in schema.COLUMNS if t != "project"))
                undo.delete_rows(ctl, "project", "id <> %s", (schema.ZERO_PROJECT_ID,))
                session.insert_zero_project(ctl)
            else:
                # Append: its rows are those with the primary keys its loaded shards hold (read again
                # from the files, or made again by the generator), whatever happened to them since.
                if generated_source(run.source):
                    manifest = next((d.manifest for d in bookkeeping.loaded_datasets(ctl) if d.id == run.dataset_row),
                                    None)
                    undo_generated.delete_generated_rows(ctl, run, manifest)
                else:
                    files = {f.name: f for f in (dataset or self._dataset_for_undo(run)).files}
                    for table in reversed(TABLES):
                        for name in sorted(n for n, sh in run.shards.items() if sh.table == table):
                            append.delete_shard_rows(ctl, files[name], work.file_chunks(files[name]))
            if self.seq and run.shortid_base is not None:
                ctl.execute("SELECT setval(%s::regclass, %s, false)", (self.seq, run.shortid_base))
            state.clear_shards(ctl, run)
        failures = self._rebuild(ctl, pool, run, [], None)
        if failures:
            for f in failures[1:]:
                self.say(f"error: {f}")
            raise LoadFailed(f"could not undo the load of {run.source}: {failures[0]}; fix the data and run "
                             "again with ZERO_SEED_RESET=true")
        with ctl.transaction():
            state.forget_run(ctl, run)


def _open_in_database(url: str) -> bool:
    """Whether the bookkeeping holds an unfinished load: a stop that came between the commit that
    dropped the schema's objects and the loader taking note of it (the flag alone would miss it)."""
    if not url:
        return False
    with contextlib.suppress(psycopg.Error, OSError, UserError), \
            connect(url, autocommit=True, connect_timeout=5) as conn:
        return state.unfinished_run(conn) is not None
    return False


def seed(cfg: SeedConfig, tuning: Tuning | None = None, progress: Progress | None = None,
         say: Say | None = None, source: Any = None) -> SeedResult:
    """Load `cfg.seed_dir`, or `source` (a stream.GeneratedSource) when given (or reset, per `cfg`);
    see the module docstring."""
    loader = Loader(cfg, tuning or Tuning(), progress or NullProgress(), say or (lambda _m: None),
                    source=source)
    try:
        return loader.seed()
    except KeyboardInterrupt as e:
        # The flag, or, for a stop that came between the commit that opened the load and the flag,
        # the bookkeeping; never for a stop before this run got there (e.g. while waiting for another
        # loader's lock: that load is not this command's to resume or undo).
        if loader.load_open or (loader.starting and _open_in_database(loader.url)):
            raise LoadInterrupted(OPEN_LOAD_HINT, e) from None
        if loader.finished:  # e.g. during the restart back to logical, which ends first
            raise LoadInterrupted(FINISHED_HINT, e) from None
        raise
    except psycopg.Error as e:
        # The server went away, or refused something we did not foresee: one line, password masked;
        # whatever was committed is recorded, so the same command picks up from there.
        raise LoadFailed(f"the load stopped on a database error: {scrub(str(e), loader.url)}. Run the same "
                         "command again to resume it (or ZERO_SEED_RESET=true to undo it)") from None
    except UserError as e:
        if isinstance(e, LoadFailed) or not loader.load_open:
            raise
        # Said by a step inside an open load (a connection it could not open: its server went away):
        # not a refusal before loading (exit 2) but a load stopped open, as the database error above.
        raise LoadFailed(f"{e}; the load stopped and is open: run the same command again to resume it (or "
                         "ZERO_SEED_RESET=true to undo it)") from None
