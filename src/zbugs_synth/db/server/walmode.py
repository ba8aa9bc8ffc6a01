"""Running the embedded server at `wal_level=minimal` for an initial load, and never leaving it there.

At `wal_level=minimal` PostgreSQL writes no WAL for a COPY into a table truncated (or created) in
the same transaction, nor for CREATE INDEX: the rows and index pages are written once and synced
at commit, instead of twice (heap and WAL). zero-cache needs `wal_level=logical`, so the server
runs at minimal only for the length of a load, and only when no replication slot exists (a slot
means a replica follows this server; PostgreSQL also refuses to start at minimal with one).

The minimal settings are given on the server's command line (`-c`), never written to
postgresql.conf: a plain `db-up` start is always `logical`. While the server runs at minimal, a
marker file in the state directory names the process that restarted it. A command that finds the
server at minimal (PostgreSQL's own postmaster.opts says so) and the marker's process gone (killed
with SIGKILL, the machine's OOM killer, ...) restarts it with its usual settings first: see
`restore_abandoned`, called whenever a command resolves the local server.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
from pathlib import Path

from zbugs_synth.db import server as srv
from zbugs_synth.db.server import runtime as pg_runtime
from zbugs_synth.errors import UserError

MARKER = "wal-minimal.json"
# Room held for the restart back to logical. A load that fills the disk would otherwise leave the
# server unable to start again: startup writes WAL (a new 16 MB segment), and with no byte free it
# stops there, at minimal, until space is freed by hand (seen on a full disk). The file is made
# before the load and deleted just before the restart back, by whoever restarts it.
RESERVE = "wal-minimal.reserve"
RESERVE_BYTES = 64 << 20
MINIMAL_SETTINGS = ("wal_level=minimal", "max_wal_senders=0")
_OVERRIDDEN = {s.split("=", 1)[0] for s in MINIMAL_SETTINGS}


def running_settings(cluster: srv.Cluster) -> list[str]:
    """The `-c name=value` options the running postmaster was started with (from postmaster.opts)."""
    try:
        text = (cluster.pgdata / "postmaster.opts").read_text()
    except OSError:
        return []
    try:
        words = shlex.split(text)
    except ValueError:
        return []
    return [words[i + 1] for i, w in enumerate(words[:-1]) if w == "-c"]


def at_minimal(cluster: srv.Cluster) -> bool:
    return "wal_level=minimal" in running_settings(cluster)


def _start_time(pid: int) -> str | None:
    """A process's start time (field 22 of /proc/pid/stat): tells a live owner from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def _owner_alive(marker: Path) -> bool:
    try:
        data = json.loads(marker.read_text())
        pid, start = int(data["pid"]), str(data["start"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return srv._alive(pid) and _start_time(pid) == start


def owned_by_another(state_dir: Path) -> bool:
    """A live process other than this one has the server at minimal (its load is running)."""
    marker = Path(state_dir).absolute() / MARKER
    try:
        pid = int(json.loads(marker.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return pid != os.getpid() and _owner_alive(marker)


def _restart(state_dir: Path, extra: tuple[str, ...]) -> srv.Running:
    """Stop the running server (fast shutdown: a checkpoint) and start it again with its own `-c`
    options minus the WAL ones, plus `extra`. Same port, same password: URLs stay valid."""
    state_dir = Path(state_dir).absolute()
    with srv._locked(state_dir):
        running = srv.status(state_dir)
        if running is None:
            raise UserError(f"no local PostgreSQL is running in {state_dir} (start it with `zbugs-synth db-up`)")
        cluster = running.cluster
        keep = [s for s in running_settings(cluster) if s.split("=", 1)[0] not in _OVERRIDDEN]
        os.kill(running.pid, signal.SIGINT)
        if not srv._wait_until(lambda: not srv._alive(running.pid), srv.STOP_TIMEOUT):
            raise UserError(f"PostgreSQL (pid {running.pid}) did not stop within {srv.STOP_TIMEOUT:.0f}s; "
                            f"see {cluster.log_file}")
        user = pg_runtime.runtime_user()
        bin_dir = pg_runtime.bin_dir(user)
        srv._start(cluster, running.port, user, bin_dir, fast=False, settings=(*keep, *extra))
        return srv._wait_ready(cluster)


def _reserve_path(state_dir: Path) -> Path | None:
    """Beside pgdata, on its disk: not in the state directory, which may be elsewhere (run as root
    from a private directory, the cluster lives under /var/lib/zbugs-synth)."""
    try:
        cluster = srv.load(state_dir)
    except UserError:
        return None
    return cluster.home / RESERVE if cluster is not None else None


def _hold_reserve(state_dir: Path) -> None:
    """Set RESERVE_BYTES aside on the data's disk (allocated, not a sparse file); nothing if they are
    not free (the load's own space check has said so, or was skipped)."""
    path = _reserve_path(state_dir)
    if path is None:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    except OSError:
        return
    try:
        os.posix_fallocate(fd, 0, RESERVE_BYTES)
    except OSError:
        path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def release_reserve(state_dir: Path) -> None:
    path = _reserve_path(Path(state_dir).absolute())
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def enter_minimal(state_dir: Path) -> srv.Running:
    """Restart the server at wal_level=minimal, owned by this process (the marker comes first, so a
    kill at any point after it is noticed by the next command)."""
    state_dir = Path(state_dir).absolute()
    marker = state_dir / MARKER
    tmp = marker.with_name(f"{MARKER}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"pid": os.getpid(), "start": _start_time(os.getpid())}) + "\n")
    os.replace(tmp, marker)
    _hold_reserve(state_dir)
    return _restart(state_dir, MINIMAL_SETTINGS)


def leave_minimal(state_dir: Path) -> srv.Running | None:
    """Restart the server with its usual settings (if it runs at minimal) and drop the marker."""
    state_dir = Path(state_dir).absolute()
    release_reserve(state_dir)
    cluster = srv.load(state_dir)
    running = srv.status(state_dir)
    if cluster is not None and running is not None and at_minimal(cluster):
        running = _restart(state_dir, ())
    elif cluster is not None and running is None and srv._read_pid_file(cluster.pgdata) is not None:
        # The server died under the load (its postmaster killed, the OOM killer: a crash leaves its
        # postmaster.pid; `db-down` does not): it ran when the load began, so it runs again, with its
        # usual settings, and a rerun of the load can resume. Not started (the disk full, say): the
        # marker stays, and the next command tries again.
        with contextlib.suppress(UserError):
            _start_again(state_dir, cluster)
        running = srv.status(state_dir)
        if running is None:
            return None
    (state_dir / MARKER).unlink(missing_ok=True)
    return running


def _start_again(state_dir: Path, cluster: srv.Cluster) -> None:
    with srv._locked(state_dir):
        pidf = srv._read_pid_file(cluster.pgdata)
        if pidf is not None and srv._is_postmaster(pidf.pid, cluster):
            srv._wait_ready(cluster)  # it was starting (perhaps at minimal: the caller sees to that)
            return
        if pidf is not None:
            srv._clear_after_crash(cluster)
        keep = tuple(s for s in running_settings(cluster) if s.split("=", 1)[0] not in _OVERRIDDEN)
        user = pg_runtime.runtime_user()
        srv._start(cluster, cluster.port, user, pg_runtime.bin_dir(user), fast=False, settings=keep)
        srv._wait_ready(cluster)


def forget_abandoned(state_dir: Path) -> None:
    """Drop the marker of a load that is gone (db-down: the server stays down, as asked)."""
    marker = Path(state_dir).absolute() / MARKER
    if marker.exists() and not _owner_alive(marker):
        release_reserve(state_dir)
        marker.unlink(missing_ok=True)


def restore_abandoned(state_dir: Path) -> bool:
    """If the server was left at wal_level=minimal, or stopped mid-restart, by a load that is gone,
    (re)start it with its usual settings; True when that happened. A live owner is left alone."""
    state_dir = Path(state_dir).absolute()
    marker = state_dir / MARKER
    try:
        cluster = srv.load(state_dir)
    except UserError:
        return False
    if cluster is None:
        return False
    if marker.exists() and _owner_alive(marker):
        return False
    release_reserve(state_dir)  # the room it held is for this restart
    restored = False
    with contextlib.suppress(UserError):
        if marker.exists() and srv.status(state_dir) is None:
            # Killed between stopping the server and having it back (either way): it ran before the
            # load began, so it runs again, with its usual settings.
            _start_again(state_dir, cluster)
            restored = True
        if srv.status(state_dir) is not None and at_minimal(cluster):
            _restart(state_dir, ())
            restored = True
    if srv.status(state_dir) is None or not at_minimal(cluster):
        marker.unlink(missing_ok=True)
    return restored
