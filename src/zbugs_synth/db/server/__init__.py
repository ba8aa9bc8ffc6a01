"""The local PostgreSQL server behind `db-up` / `db-down` / `db-status`.

State directory layout (default `.zbugs/postgres`, one server per state directory):

    server.json   how to find and run the cluster (written last at init: its presence means "ready")
    password      the role's password, mode 0600 (the only copy of the secret)
    .lock         serialises concurrent db-up/db-down on the same state directory
    cluster/      owned by the OS user that runs PostgreSQL: pgdata/ and postgres.log

When we are root, PostgreSQL runs as the `zbugs-pg` OS user; if that user cannot reach the state
directory (a private parent such as /root), the cluster lives in /var/lib/zbugs-synth/clusters/<hash>
instead, and server.json says so.

Whether a server is running is read from PostgreSQL's own `postmaster.pid` and the process table
(psutil: Linux and macOS alike), never from our own bookkeeping, so a CLI killed with SIGKILL leaves
nothing we can't recover from: a live postmaster is adopted, a dead one's leftovers are cleaned up
and the server restarted. A pid is only taken for our postmaster when the process is PostgreSQL,
runs as the cluster's OS user, works in its data directory and is older than its pid file: a pid
reused by anything else is never signalled.

Without --data-dir / ZBUGS_PG_DATA the state directory is `.zbugs/postgres` of the working
directory or of the nearest parent that has a `.zbugs/` (as git finds `.git/`), so every DB command
finds the project's server from anywhere inside the project.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from zbugs_synth.db.server import runtime as pg_runtime
from zbugs_synth.db.server.runtime import RunAs
from zbugs_synth.errors import UserError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: refused with one line by _locked
    fcntl = None  # type: ignore[assignment]

PROJECT_MARKER = ".zbugs"
DEFAULT_STATE_DIR = Path(PROJECT_MARKER) / "postgres"
DEFAULT_PORT = 6434
ROLE = "zbugs"
DATABASE = "zbugs"
HOST = "127.0.0.1"

# Like zbugs' docker compose: logical WAL so zero-cache can replicate.
SERVER_SETTINGS = {
    "listen_addresses": f"'{HOST}'",
    "unix_socket_directories": "''",  # TCP on loopback only: no socket files to collide in /tmp
    "wal_level": "logical",
    "max_wal_senders": "10",
    "max_replication_slots": "5",
    "password_encryption": "'scram-sha-256'",
    # Reads in the server process itself, not handed to I/O worker processes (PostgreSQL 18's
    # default): on a server whose data mostly sits in the page cache, the hand-off is pure CPU.
    # Measured (interleaved A/B): a 1 M --generate --force load 20.3 s against 22.2 s (median of
    # 4 each), a 1 M verify 2.0 s against 2.3-2.5 s.
    "io_method": "sync",
}
# Durability off: only for throwaway servers (the test session), never the user's db-up.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")

START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0


@dataclass(frozen=True)
class Cluster:
    """What server.json records about one state directory's cluster."""

    state_dir: Path
    home: Path  # owned by the runtime OS user
    os_user: str | None
    role: str
    database: str
    port: int  # the port it was last started on

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.home / "postgres.log"

    def password(self) -> str:
        path = self.state_dir / "password"
        try:
            return path.read_text().strip()
        except OSError as e:
            raise UserError(f"cannot read the server password in {path}: {e.strerror}") from None


@dataclass(frozen=True)
class Running:
    """A live, ready server of a state directory."""

    cluster: Cluster
    pid: int
    port: int

    def url(self, database: str | None = None) -> str:
        """Full connection URL (contains the password)."""
        return f"postgresql://{self.cluster.role}:{self.cluster.password()}@{HOST}:{self.port}/" \
               f"{database or self.cluster.database}"


@dataclass(frozen=True)
class UpResult:
    running: Running
    action: str  # "initialized" | "started" | "adopted" | "recovered"
    created_os_user: str | None = None  # the system user this call created to run PostgreSQL as


@dataclass(frozen=True)
class _PidFile:
    pid: int
    port: int | None
    status: str  # "ready", "starting", "stopping", or "" while being written


# ---- public API ----------------------------------------------------------------------------------

def find_state_dir(cwd: Path | None = None) -> Path:
    """`.zbugs/postgres` of the nearest directory, from `cwd` up, that holds `.zbugs/` (else of `cwd`)."""
    start = (cwd or Path.cwd()).absolute()
    for d in (start, *start.parents):
        if (d / PROJECT_MARKER).is_dir():
            return d / DEFAULT_STATE_DIR
    return start / DEFAULT_STATE_DIR


def where_looked(state_dir: Path, cwd: Path | None = None) -> str:
    """For "no server" messages: where the default state directory was searched for."""
    start = (cwd or Path.cwd()).absolute()
    if Path(state_dir).absolute() == start / DEFAULT_STATE_DIR and not (start / PROJECT_MARKER).is_dir():
        return f"{start / DEFAULT_STATE_DIR} (no {PROJECT_MARKER}/ in {start} or any parent directory)"
    return str(state_dir)


def load(state_dir: Path) -> Cluster | None:
    """The cluster recorded in `state_dir`, or None if db-up never initialised it."""
    path = Path(state_dir).absolute() / "server.json"
    try:
        data = json.loads(path.read_text())
        return Cluster(state_dir=Path(state_dir).absolute(), home=Path(data["home"]), os_user=data["os_user"],
                       role=data["role"], database=data["database"], port=int(data["port"]))
    except FileNotFoundError:
        return None
    except NotADirectoryError:  # the settings refuse such a path; a caller passing one directly gets this line
        raise UserError(f"{state_dir}: not a directory (a state directory of db-up is expected)") from None
    except PermissionError:
        raise UserError(f"cannot read {path}: permission denied (it belongs to another user)") from None
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{path} is damaged; remove {state_dir} to start over "
                        "(this deletes the data)") from None


def status(state_dir: Path) -> Running | None:
    """The running server of `state_dir`, or None (not initialised, stopped, or crashed)."""
    cluster = load(state_dir)
    if cluster is None:
        return None
    pidf = _read_pid_file(cluster.pgdata)
    if pidf is None or pidf.status != "ready" or not _is_postmaster(pidf.pid, cluster):
        return None
    return Running(cluster, pidf.pid, pidf.port or cluster.port)


def up(state_dir: Path, port: int | None = DEFAULT_PORT, *, fast: bool = False,
       shared_root: Path = pg_runtime.SHARED_ROOT, data_checksums: bool = False) -> UpResult:
    """Start (initialising on first use) or adopt the server of `state_dir`. Idempotent.

    `port=None`: the port this server used last (so a restart does not silently move it and strand
    the URL given to zero-cache), or DEFAULT_PORT for a new one. `data_checksums`: initialise a new
    cluster with them (see _initdb; an existing cluster keeps what it has)."""
    state_dir = Path(state_dir).absolute()
    if port is not None and load(state_dir) is None:
        _check_port_free(port, state_dir)  # before making anything: a busy port must leave no trace
    _prepare_state_dir(state_dir)
    with _locked(state_dir):
        cluster = load(state_dir)
        if port is None:
            port = cluster.port if cluster is not None else DEFAULT_PORT
        user = pg_runtime.runtime_user()
        made = user.name if user is not None and user.created else None
        bin_dir = pg_runtime.bin_dir(user, shared_root=shared_root)
        action = "started"
        if cluster is None:
            _check_port_free(port, state_dir)  # before initdb: a busy port must not cost a new cluster
            cluster = _init(state_dir, port, user, bin_dir, fast=fast, shared_root=shared_root,
                            data_checksums=data_checksums)
            action = "initialized"
        else:
            pidf = _read_pid_file(cluster.pgdata)
            if pidf is not None and _is_postmaster(pidf.pid, cluster):
                return UpResult(_wait_ready(cluster), "adopted", made)
            if pidf is not None:
                _clear_after_crash(cluster)
                action = "recovered"
            _check_port_free(port, state_dir)
        _start(cluster, port, user, bin_dir, fast=fast)
        # Recorded only once it runs there: server.json never names a port the server never used.
        if action == "initialized" or port != cluster.port:
            cluster = Cluster(**{**asdict(cluster), "port": port})
            _save(cluster)
        return UpResult(_wait_ready(cluster), action, made)


def down(state_dir: Path, timeout: float = STOP_TIMEOUT) -> Running | None:
    """Stop the server of `state_dir` (fast shutdown); returns what was stopped, None if nothing ran."""
    state_dir = Path(state_dir).absolute()
    if load(state_dir) is None:
        return None
    with _locked(state_dir):
        running = status(state_dir)
        if running is None:
            return None
        # SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
        try:
            os.kill(running.pid, signal.SIGINT)
        except ProcessLookupError:  # it stopped on its own in the meantime
            return running
        except PermissionError:
            raise UserError(f"cannot stop PostgreSQL (pid {running.pid}) of {state_dir}: it runs as another "
                            "OS user; run db-down as that user or as root") from None
        if not _wait_until(lambda: not _alive(running.pid), timeout):
            raise UserError(f"PostgreSQL (pid {running.pid}) did not stop within {timeout:.0f}s; "
                            f"see {running.cluster.log_file}")
        return running


# ---- init ----------------------------------------------------------------------------------------

def _prepare_state_dir(state_dir: Path) -> None:
    if (state_dir / "PG_VERSION").exists():
        raise UserError(f"{state_dir} is a PostgreSQL data directory itself; give db-up a new or empty "
                        "directory of its own (--data-dir / ZBUGS_PG_DATA)")
    try:
        if not state_dir.is_dir():
            state_dir.mkdir(parents=True)
            # As root, others (the PostgreSQL OS user) may pass through to cluster/ but not list or read.
            os.chmod(state_dir, 0o711 if os.geteuid() == 0 else 0o700)
    except OSError as e:
        raise UserError(f"cannot create state directory {state_dir}: {e.strerror}") from None


def _init(state_dir: Path, port: int, user: RunAs | None, bin_dir: Path, *, fast: bool,
          shared_root: Path, data_checksums: bool) -> Cluster:
    home = state_dir / "cluster"
    if user is not None and not pg_runtime.can_enter(state_dir, user):
        # A private parent directory: keep the cluster where the OS user can reach it.
        digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:16]
        home = shared_root / "clusters" / digest
        home.parent.mkdir(parents=True, exist_ok=True)
        for d in (shared_root, home.parent):
            os.chmod(d, 0o755)
    cluster = Cluster(state_dir=state_dir, home=home, os_user=user.name if user else None,
                      role=ROLE, database=DATABASE, port=port)
    if (cluster.pgdata / "PG_VERSION").exists() and not (state_dir / "password").exists():
        # Its state directory was deleted: the password that opens it went with it.
        raise UserError(f"{cluster.pgdata} holds a cluster whose state directory was removed; delete "
                        f"{home} to start afresh, or use another --data-dir")
    _make_home(home, user)
    password = _ensure_password(state_dir)
    if not (cluster.pgdata / "PG_VERSION").exists():
        _initdb(cluster, password, user, bin_dir, fast=fast, data_checksums=data_checksums)
    return cluster  # saved (server.json) by up() once the server has started


def _make_home(home: Path, user: RunAs | None) -> None:
    home.mkdir(parents=True, exist_ok=True)
    if user is not None:
        os.chown(home, user.uid, user.gid)
    os.chmod(home, 0o700)


def _ensure_password(state_dir: Path) -> str:
    path = state_dir / "password"
    if not path.exists():
        secret = secrets.token_urlsafe(24)  # URL-safe: goes into postgresql:// URLs unescaped
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
    return path.read_text().strip()


def _initdb(cluster: Cluster, password: str, user: RunAs | None, bin_dir: Path, *, fast: bool,
            data_checksums: bool) -> None:
    """Without data checksums unless asked (PostgreSQL 18 turns them on by default): this server
    holds synthetic data that can be made again byte for byte, and verifying every page read from
    the OS costs about a seventh of a scan's time (10 M issues, verify A/B on one cluster with
    pg_checksums between: 21.4 and 21.3 s with them, 18.3 and 18.4 s without); computing them costs
    2-3 % of a load's CPU."""
    scratch = cluster.home / "pgdata.init"  # renamed to pgdata only when complete
    shutil.rmtree(scratch, ignore_errors=True)
    pwfile = cluster.home / ".pwfile"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    if user is not None:
        os.chown(pwfile, user.uid, user.gid)
    cmd = [str(bin_dir / "initdb"), "-D", str(scratch), "-U", cluster.role, f"--pwfile={pwfile}",
           "--auth=scram-sha-256", "--encoding=UTF8", "--locale-provider=builtin",
           "--builtin-locale=C.UTF-8", "--locale=C",
           "--data-checksums" if data_checksums else "--no-data-checksums"]
    if fast:
        cmd.append("--no-sync")
    try:
        done = pg_runtime.run(cmd, user, cwd=cluster.home, timeout=300)
    finally:
        pwfile.unlink(missing_ok=True)
    if done.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        raise UserError(f"initdb failed for {scratch}: {_last_line(done.stderr or done.stdout)}")
    with open(scratch / "postgresql.conf", "a") as conf:
        conf.write("\n# zbugs-synth (like zbugs' docker compose: logical replication for zero-cache)\n")
        conf.writelines(f"{k} = {v}\n" for k, v in SERVER_SETTINGS.items())
    os.rename(scratch, cluster.pgdata)


def _save(cluster: Cluster) -> None:
    data = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cluster).items() if k != "state_dir"}
    path = cluster.state_dir / "server.json"
    tmp = path.with_name(f"server.json.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


# ---- start / crash recovery ----------------------------------------------------------------------

def _start(cluster: Cluster, port: int, user: RunAs | None, bin_dir: Path, *, fast: bool,
           settings: tuple[str, ...] = ()) -> None:
    """`settings`: more `-c name=value` options for this start only (see walmode: never in postgresql.conf)."""
    extra = (*(FAST_SETTINGS if fast else ()), *settings)
    opts = f"-p {port}" + "".join(f" -c {s}" for s in extra)
    cmd = [str(bin_dir / "pg_ctl"), "start", "-w", "-s", "-t", str(int(START_TIMEOUT)),
           "-D", str(cluster.pgdata), "-l", str(cluster.log_file), "-o", opts]
    done = pg_runtime.run(cmd, user, cwd=cluster.home, timeout=START_TIMEOUT + 30)
    if done.returncode != 0:
        raise UserError(f"PostgreSQL did not start on {HOST}:{port}: {_log_reason(cluster)} "
                        f"(log: {cluster.log_file})")


def _wait_ready(cluster: Cluster) -> Running:
    def ready() -> bool:
        pidf = _read_pid_file(cluster.pgdata)
        return pidf is not None and pidf.status == "ready"

    _wait_until(ready, START_TIMEOUT)
    running = status(cluster.state_dir)
    if running is None:
        raise UserError(f"PostgreSQL in {cluster.pgdata} is not accepting connections: "
                        f"{_log_reason(cluster)} (log: {cluster.log_file})")
    return running


def _clear_after_crash(cluster: Cluster) -> None:
    """The postmaster died without cleaning up (SIGKILL, OOM): remove what stops a restart.

    Its children notice the postmaster's death and exit on their own; they still hold the shared
    memory PostgreSQL checks at startup, so wait for them (and kill stragglers) before starting.
    """
    pgdata = cluster.pgdata.resolve()
    if not _wait_until(lambda: not _processes_in(pgdata), 15.0):
        for pid in _processes_in(pgdata):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _wait_until(lambda: not _processes_in(pgdata), 10.0)
    # PostgreSQL would itself refuse a pid file whose pid is a zombie or was reused by another process.
    (cluster.pgdata / "postmaster.pid").unlink(missing_ok=True)


def _check_port_free(port: int, state_dir: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as PostgreSQL binds
        try:
            s.bind((HOST, port))
        except OSError:
            raise UserError(f"port {port} on {HOST} is already in use by {_port_user(port)}, not the server "
                            f"of {state_dir}; choose another port with --port or ZBUGS_PG_PORT") from None


def _port_user(port: int) -> str:
    """Who listens on `port`, as precisely as the OS lets us see (another project's db-up is named)."""
    try:
        pids = {c.pid for c in psutil.net_connections(kind="tcp")
                if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid}
    except (psutil.Error, OSError):  # macOS without root: other processes' sockets are hidden
        pids = set()
    for pid in pids:
        with contextlib.suppress(psutil.Error, OSError):
            proc = psutil.Process(pid)
            if proc.name() != "postgres":
                return f"another program ({proc.name()}, pid {pid})"
            pgdata = Path(proc.cwd())
            state = pgdata.parent.parent
            if pgdata.name == "pgdata" and (state / "server.json").is_file():
                return f"the zbugs-synth PostgreSQL of {state} (pid {pid}: use --data-dir {state} to reach it)"
            return f"another PostgreSQL (pid {pid}, data {pgdata})"
    return "another program"


# ---- processes -----------------------------------------------------------------------------------

def _read_pid_file(pgdata: Path) -> _PidFile | None:
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None
    except PermissionError:
        raise UserError(f"cannot read {pgdata}/postmaster.pid: permission denied") from None
    try:
        pid = int(lines[0])
    except (IndexError, ValueError):
        return _PidFile(pid=-1, port=None, status="")  # being written, or garbage: treat as not live
    port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
    state = lines[7].strip() if len(lines) > 7 else ""
    return _PidFile(pid=pid, port=port, status=state)


def _alive(pid: int) -> bool:
    """A running process (a zombie counts as dead: nothing may have reaped it yet)."""
    if pid <= 0:
        return False
    try:
        return psutil.Process(pid).status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.Error:
        return False


def _is_postmaster(pid: int, cluster: Cluster) -> bool:
    """`pid` is the postmaster of `cluster`, not a reused pid: every test must pass, none is a fallback.

    PostgreSQL, running as the owner of the data directory, started no later than its pid file was last written
    (a process that took the pid over after a crash is younger), and, where the OS lets us see it,
    working in the cluster's data directory."""
    if pid <= 0:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD) or proc.name() != "postgres":
            return False
        if proc.uids().real != _owner_uid(cluster):
            return False
        written = (cluster.pgdata / "postmaster.pid").stat().st_mtime
        if proc.create_time() > written + 1.0:  # (create_time is rounded; the pid file is written after start)
            return False
    except (psutil.Error, OSError):
        return False
    try:
        return Path(proc.cwd()).resolve() == cluster.pgdata.resolve()
    except psutil.AccessDenied:  # not ours to inspect (macOS, another user): owner and age have to do
        return True
    except (psutil.Error, OSError):
        return False


def _owner_uid(cluster: Cluster) -> int:
    """The uid PostgreSQL of `cluster` runs as: PostgreSQL only starts as the owner of its data directory."""
    return cluster.pgdata.stat().st_uid


def _processes_in(pgdata: Path) -> list[int]:
    """Live processes whose working directory is `pgdata` (every PostgreSQL process chdirs there)."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if Path(proc.cwd()) == pgdata and _alive(proc.pid):
                found.append(proc.pid)
    return found


# ---- small helpers -------------------------------------------------------------------------------

@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover - Windows
        raise UserError("the local PostgreSQL (db-up) needs Linux or macOS; on this system set "
                        "ZERO_UPSTREAM_DB to a PostgreSQL server of your own")
    with open(state_dir / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _wait_until(done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if done():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _log_reason(cluster: Cluster) -> str:
    """The most telling line of the server log (the last FATAL/PANIC/ERROR), for one-line errors."""
    try:
        lines = cluster.log_file.read_text(errors="replace").splitlines()[-50:]
    except OSError:
        return "no server log"
    for line in reversed(lines):
        if any(tag in line for tag in ("FATAL:", "PANIC:", "ERROR:")):
            return line.strip()
    return _last_line("\n".join(lines)) or "no details in the server log"


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""
