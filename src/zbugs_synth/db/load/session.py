"""The loader's connections and what it asks the server before loading.

Every loader connection (the control one and each worker) gets the same session settings; the
control connection holds an advisory lock so only one loader works on a database at a time, and
ends the server processes a killed run left behind (an index build goes on after its client died).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from zbugs_synth.config.seed import SeedConfig, Tuning, maintenance_per_session, memory_kb
from zbugs_synth.cpus import usable_cpus
from zbugs_synth.db import schema
from zbugs_synth.db.connect import connect, mask_url, scrub
from zbugs_synth.db.names import qt
from zbugs_synth.db.schema import catalog
from zbugs_synth.errors import UserError

Conn = psycopg.Connection[Any]

APP_CONTROL = "zbugs-synth seed control"
APP_WORKER = "zbugs-synth seed worker"
LOCK_KEY = 0x7A627567_5F736564  # "zbug_sed": one advisory lock per database for all loader runs
LOCK_WAIT = 30.0
FLUSH_AFTER = "2MB"  # its maximum: a writeback request per 256 pages written
ZERO_ROW = (schema.ZERO_PROJECT_ID, "Zero", "zero")  # as the migrations insert it


def loader_at_work(conn: Conn) -> bool:
    """Some db-seed-synthetic holds the loader's lock on this database (its load is running, not
    interrupted)."""
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                       "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database() "
                       "AND ((l.classid::bigint << 32) | l.objid::bigint) = %s)", (LOCK_KEY,)).fetchone()
    return bool(row and row[0])


class Sessions:
    """Opens connections with the loader's session settings (memory, encoding, no timeouts)."""

    def __init__(self, url: str, cfg: SeedConfig, tuning: Tuning) -> None:
        self.url, self.cfg, self.tuning = url, cfg, tuning
        self.parallel_workers: int | None = tuning.parallel_workers if tuning.parallel_workers >= 0 else None
        self.maintenance_work_mem = maintenance_per_session(cfg.maintenance_work_mem, cfg.jobs or 1)
        self.index_mem = self._sort_mem(tuning.index_sort_mem)
        self.fk_mem = self._sort_mem(tuning.fk_sort_mem)
        # An append's workers fire no triggers (db.load.append); set once the role is known to allow it.
        self.replica_role = False
        self.flush_after: str | None = None  # backend_flush_after, where the server's platform has it

    def probe_writeback(self, conn: Conn) -> None:
        """Have the workers' writes start their writeback as they go (backend_flush_after), when the
        server can (PostgreSQL refuses the setting on platforms without sync_file_range).

        Why: the kernel starts writing dirty pages only past dirty_background_ratio (10 % of memory,
        GBs), so a COPY's whole table was still in the page cache when its commit had to sync it
        (wal_level=minimal): 0.3-1 s of a connection waiting on the disk per big table at 1 M
        issues. With writeback under way the commits take tens of milliseconds."""
        try:
            conn.execute("SELECT set_config('backend_flush_after', %s, false)", (FLUSH_AFTER,))
            self.flush_after = FLUSH_AFTER
        except psycopg.Error:
            self.flush_after = None

    def plan(self, jobs: int, cores: int) -> None:
        """Split the memory budget over `jobs` connections. Index builds run one per connection
        already: parallel workers only for cores left over (measured: with a connection per core,
        parallel workers only add overhead)."""
        self.maintenance_work_mem = maintenance_per_session(self.cfg.maintenance_work_mem, jobs)
        self.index_mem = self._sort_mem(self.tuning.index_sort_mem)
        self.fk_mem = self._sort_mem(self.tuning.fk_sort_mem)
        if self.parallel_workers is None:
            self.parallel_workers = max(0, cores // max(jobs, 1) - 1)

    def _sort_mem(self, value: str) -> str:
        """maintenance_work_mem of an index build or foreign key check: the user's value if set, else
        the (smaller) `value` (Tuning.index_sort_mem, fk_sort_mem), never above the connection's share."""
        if self.cfg.maintenance_work_mem is not None:
            return self.maintenance_work_mem
        if memory_kb(value) >= memory_kb(self.maintenance_work_mem):
            return self.maintenance_work_mem
        return value

    def apply_plan(self, conn: Conn) -> None:
        """Bring a connection opened before `plan` in line with it (the control connection)."""
        settings = {"maintenance_work_mem": self.maintenance_work_mem}
        if self.parallel_workers is not None:
            settings["max_parallel_maintenance_workers"] = str(self.parallel_workers)
        self._apply(conn, settings)

    def open(self, app: str) -> Conn:
        conn = connect(self.url, autocommit=True)
        try:
            self._apply(conn, self.settings(app))
        except BaseException:
            conn.close()
            raise
        return conn

    def settings(self, app: str) -> dict[str, str]:
        """A loader connection's session settings (also what a Dask worker's connections apply)."""
        settings = {
            "application_name": app,
            "maintenance_work_mem": self.maintenance_work_mem,
            "work_mem": self.cfg.work_mem,
            "client_encoding": "UTF8",
            "search_path": "public",
            "statement_timeout": "0",
            "lock_timeout": "0",
            "idle_in_transaction_session_timeout": "0",
        }
        if self.parallel_workers is not None:
            settings["max_parallel_maintenance_workers"] = str(self.parallel_workers)
        if self.replica_role and app == APP_WORKER:
            settings["session_replication_role"] = "replica"
        if self.flush_after is not None:
            settings["backend_flush_after"] = self.flush_after
        return settings

    def _apply(self, conn: Conn, settings: dict[str, str]) -> None:
        name = ""
        try:
            for name, value in settings.items():
                conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        except psycopg.Error as e:
            raise UserError(f"cannot apply session setting {name} on {mask_url(self.url)}: "
                            f"{scrub(str(e), self.url)}") from None


def lock(conn: Conn, url: str, deadline: float | None = None, on_wait: Callable[[], None] | None = None) -> None:
    """One loader per database; a killed run's lock goes when its server process notices. Waits
    until `deadline` (default: LOCK_WAIT from now), calling `on_wait` once if it has to wait."""
    deadline = time.monotonic() + LOCK_WAIT if deadline is None else deadline
    while True:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
        if row and row[0]:
            return
        if time.monotonic() > deadline:
            holder = conn.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND ((classid::bigint << 32) | objid::bigint) = %s", (LOCK_KEY,)).fetchone()
            pid = f" (server process {holder[0]})" if holder else ""
            raise UserError(f"another db-seed-synthetic is loading into {mask_url(url)}{pid}; wait for it to "
                            "finish (if it was killed, its server process ends with its current statement)")
        if on_wait is not None:
            on_wait()
            on_wait = None
        time.sleep(0.25)


def lock_waiting(open_conn: Callable[[], Conn], url: str, say: Callable[[str], None]) -> Conn:
    """A connection holding the loader's lock, waiting up to LOCK_WAIT for another loader to finish.

    The other loader may end by restarting the embedded server (back from wal_level=minimal), which
    cuts this connection off mid-wait: that is the end being waited for, not a failure of this
    run, so reconnect (the server is back within seconds) and take the lock then."""
    deadline = time.monotonic() + LOCK_WAIT
    waited = False

    def on_wait() -> None:
        nonlocal waited
        if not waited:
            say(f"another db-seed-synthetic is loading into {mask_url(url)}: waiting up to {LOCK_WAIT:.0f}s "
                "for it to finish")
        waited = True

    while True:
        try:
            conn = open_conn()
        except UserError:
            if not waited or time.monotonic() > deadline:
                raise
            time.sleep(0.5)  # the server is restarting
            continue
        try:
            lock(conn, url, deadline, on_wait)
            return conn
        except psycopg.OperationalError:
            conn.close()
            if not waited or time.monotonic() > deadline:
                raise
        except BaseException:
            conn.close()
            raise


def end_orphans(conn: Conn) -> None:
    """End the server processes of a killed run's workers (an index build goes on after its client dies)."""
    rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND application_name = %s AND pid <> pg_backend_pid()", (APP_WORKER,)).fetchall()
    if not rows:
        return
    for (pid,) in rows:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        left = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)",
                            ([r[0] for r in rows],)).fetchone()
        if not left or not left[0]:
            return
        time.sleep(0.1)


def check_schema(conn: Conn, url: str) -> None:
    missing = catalog.missing_tables(conn, list(schema.COLUMNS))
    if missing:
        raise UserError(f"{mask_url(url)} has no zbugs table(s) {', '.join(missing)}: "
                        "run `zbugs-synth db-migrate` first")


def cpu_count() -> int:
    return usable_cpus()


def server_cores(conn: Conn, url: str) -> int:
    """The database server's CPU count: ours when it is on this machine, else read from the server."""
    params = conninfo_to_dict(url)
    host = str(params.get("hostaddr") or params.get("host") or "")
    local = host in ("", "localhost") or host.startswith("/")
    if not local:
        try:
            local = ipaddress.ip_address(host).is_loopback
        except ValueError:
            local = False
    if local:
        return cpu_count()
    try:
        row = conn.execute(r"SELECT count(*) FROM regexp_matches(pg_read_file('/proc/cpuinfo'), "
                           r"'^processor\s', 'gn')").fetchone()
        if row and row[0]:
            return int(row[0])
    except psycopg.Error:
        pass
    return 4  # not allowed to ask (needs pg_read_server_files): a modest guess; --jobs sets it


# ---- the sequence behind issue.shortID -----------------------------------------------------------

def sequence_name(conn: Conn) -> str | None:
    row = conn.execute("SELECT pg_get_serial_sequence('public.issue', 'shortID')").fetchone()
    return str(row[0]) if row and row[0] else None


def next_value(conn: Conn, seq: str) -> int:
    row = conn.execute(f"SELECT CASE WHEN is_called THEN last_value + (SELECT seqincrement FROM pg_sequence "
                       f"WHERE seqrelid = %s::regclass) ELSE last_value END FROM {seq}", (seq,)).fetchone()
    if row is None:
        raise RuntimeError(f"sequence {seq} returned no row")
    return int(row[0])


# ---- what is in the database ---------------------------------------------------------------------

def tables_with_rows(conn: Conn) -> list[str]:
    out = []
    for t in schema.COLUMNS:
        extra = f" WHERE id <> '{schema.ZERO_PROJECT_ID}'" if t == "project" else ""
        row = conn.execute(f"SELECT EXISTS (SELECT 1 FROM {qt(t)}{extra})").fetchone()
        if row and row[0]:
            out.append(t)
    return out


def user_id(i: int) -> str:
    """The generator's id of user `i` (zbugs_synth.generate.small_tables.user_id, not imported: numpy)."""
    return f"usr_{i:04d}"


# Exactly the ids user_id() writes: four digits, or more without a leading zero.
_USER_ID_RE = "^usr_([0-9]{4}|[1-9][0-9]{4,17})$"


def generated_users(conn: Conn, n: int) -> int:
    """How many of the generator's users user_id(0) .. user_id(n - 1) the database has (one scan of user)."""
    row = conn.execute(
        "SELECT count(*) FROM (SELECT CASE WHEN id ~ %s THEN substr(id, 5)::bigint END AS k FROM public.\"user\") u "
        "WHERE k < %s", (_USER_ID_RE, n)).fetchone()
    return int(row[0]) if row else 0


def insert_zero_project(conn: Conn) -> None:
    conn.execute('INSERT INTO public.project (id, name, "lowerCaseName") SELECT %s, %s, %s '
                 "WHERE NOT EXISTS (SELECT 1 FROM public.project WHERE id = %s)", (*ZERO_ROW, ZERO_ROW[0]))


