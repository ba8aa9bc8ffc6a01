"""WAL-free initial loads on the embedded server: wal_level=minimal for the load, logical before and after.

The server here is the tests' own (the loader restarts it); the command runs as a process with no
ZERO_UPSTREAM_DB, as a user's would. Kills are sent from outside at moments observed in the server.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import embedded_helpers
import psycopg
import pytest
from embedded_helpers import Embedded, kill_when, run
from loader_helpers import differences, digest, make_dataset, open_runs, seed_cli

from zbugs_synth.db import server
from zbugs_synth.db.server import walmode

MEDIUM = {"NUM_ISSUES": "20000", "SHARD_SIZE": "5000", "NUM_PROJECTS": "40", "NUM_USERS": "60", "SEED": "7"}
SEED = ["db-seed-synthetic", "--progress", "none"]
SYNC_ALL = "-c wal_skip_threshold=0"


@pytest.fixture(scope="module")
def embedded(reachable_tmpdir: Callable[[str], Path], free_tcp_port: Callable[[], int]) -> Iterator[Embedded]:
    yield from embedded_helpers.embedded_server(reachable_tmpdir, free_tcp_port)


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("medium") / "data", MEDIUM)


@pytest.fixture(scope="module")
def reference(medium: Path, pg_admin_url: str, zbugs_template: str,
              tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The contents a plain load of `medium` gives (on the shared server, through ZERO_UPSTREAM_DB)."""
    from zbugs_synth.db import connect

    name = "test_minimal_reference"
    connect.create_database(pg_admin_url, name, template=zbugs_template, if_missing=False)
    url = connect.with_database(pg_admin_url, name)
    try:
        ran = run(tmp_path_factory.mktemp("ref"), Path("/nonexistent"), *SEED, ZERO_UPSTREAM_DB=url,
                  ZERO_SEED_DATA_DIR=str(medium))
        assert ran.code == 0, ran.text
        return digest(url)
    finally:
        connect.drop_database(pg_admin_url, name)


def _wal_lsn(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as c:
        return str(c.execute("SELECT pg_current_wal_lsn()").fetchone()[0])  # type: ignore[index]


def _wal_since(url: str, lsn: str) -> int:
    with psycopg.connect(url, autocommit=True) as c:
        return int(c.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (lsn,)).fetchone()[0])  # type: ignore[index]


def _storage(url: str) -> tuple[int, int, dict[str, list[str]]]:
    """Long texts (a row over the ~2 kB where PostgreSQL compresses by default), how many of those are
    stored compressed, and the reloptions of the zbugs tables that have any."""
    with psycopg.connect(url, autocommit=True) as c:
        long, packed = c.execute(
            "SELECT count(*), count(pg_column_compression(v)) FROM (SELECT description AS v FROM issue "
            "UNION ALL SELECT body FROM comment) t WHERE octet_length(v) > 2100").fetchone()  # type: ignore[misc]
        options = dict(c.execute("SELECT relname::text, reloptions::text[] FROM pg_class WHERE relnamespace = "
                                 "'public'::regnamespace AND relkind = 'r' AND reloptions IS NOT NULL").fetchall())
    return long, packed, options


def test_seed_and_force_skip_wal_and_leave_the_server_logical(embedded: Embedded, medium: Path, tmp_path: Path,
                                                             reference: dict[str, Any]) -> None:
    embedded.reset_database()
    lsn = _wal_lsn(embedded.url)
    # PostgreSQL WAL-logs a relation skipped under minimal at commit instead of syncing it when it is under
    # wal_skip_threshold (2MB): most of this small dataset's indexes. Threshold 0: every one is synced.
    ran = run(tmp_path, embedded.state, *SEED, ZERO_SEED_DATA_DIR=str(medium), PGOPTIONS=SYNC_ALL)
    assert ran.code == 0, ran.text
    assert "wal_level=minimal" in ran.text and "back at wal_level=logical" in ran.text
    assert "other session(s)" not in ran.text  # its own sessions are not counted
    minimal_wal = _wal_since(embedded.url, lsn)
    assert embedded.wal_level() == "logical" and not embedded.at_minimal()
    assert not (embedded.state / walmode.MARKER).exists()
    assert digest(embedded.url) == reference
    assert differences(embedded.url) == []
    # Rows went in as written: long texts uncompressed, and the setting that did it is gone.
    long, packed, options = _storage(embedded.url)
    assert long > 100 and packed == 0 and options == {}, (long, packed, options)

    # The same load with WAL (the switch off): what minimal saves is most of it.
    lsn = _wal_lsn(embedded.url)
    ran = run(tmp_path, embedded.state, *SEED, ZERO_SEED_DATA_DIR=str(medium), ZERO_SEED_FORCE="true",
              ZBUGS_SEED_WAL_MINIMAL="false", PGOPTIONS=SYNC_ALL)
    assert ran.code == 0, ran.text
    assert "wal_level=minimal" not in ran.text
    logged_wal = _wal_since(embedded.url, lsn)
    assert digest(embedded.url) == reference
    assert minimal_wal < 0.1 * logged_wal, (minimal_wal, logged_wal)
    long, packed, options = _storage(embedded.url)  # PostgreSQL's default: long texts compressed
    assert packed > long // 2 and options == {}, (long, packed, options)


    # Force, WAL-free again, with another session connected: the restart cuts it off, and says so.
    with psycopg.connect(embedded.url, autocommit=True) as other:
        ran = run(tmp_path, embedded.state, *SEED, ZERO_SEED_DATA_DIR=str(medium), ZERO_SEED_FORCE="true")
        assert ran.code == 0, ran.text
        assert "wal_level=minimal" in ran.text
        assert "this cuts off the 1 other session(s) connected to it" in ran.text
        with pytest.raises(psycopg.OperationalError):
            other.execute("SELECT 1")
    assert embedded.wal_level() == "logical"
    assert digest(embedded.url) == reference


def test_a_replication_slot_keeps_the_server_logical(embedded: Embedded, medium: Path, tmp_path: Path) -> None:
    embedded.reset_database()
    with psycopg.connect(embedded.url, autocommit=True) as c:
        c.execute("SELECT pg_create_logical_replication_slot('zbugs_test_slot', 'pgoutput')")
    try:
        pid = embedded.running.pid
        ran = run(tmp_path, embedded.state, *SEED, ZERO_SEED_DATA_DIR=str(medium))
        assert ran.code == 0, ran.text
        assert "replication slot" in ran.text and "restarting" not in ran.text
        assert embedded.running.pid == pid  # never restarted
        long, packed, _ = _storage(embedded.url)  # stored as PostgreSQL does by default, not as written
        assert packed > long // 2, (long, packed)
    finally:
        with psycopg.connect(embedded.url, autocommit=True) as c:
            c.execute("SELECT pg_drop_replication_slot('zbugs_test_slot')")


def test_a_tables_own_toast_target_and_the_compress_switch_are_respected(embedded: Embedded, medium: Path,
                                                                         tmp_path: Path) -> None:
    """Stored as written is the WAL-free load's default, not an override: a table whose schema sets
    toast_tuple_target keeps it and is stored by it, and ZBUGS_SEED_TOAST_COMPRESS=true compresses."""
    embedded.reset_database()

    def packed(table: str, column: str) -> int:
        return int(_query(embedded, f"SELECT count(pg_column_compression({column})) FROM {table}"))

    with psycopg.connect(embedded.url, autocommit=True) as c:
        c.execute("ALTER TABLE comment SET (toast_tuple_target = 128)")
    ran = run(tmp_path, embedded.state, *SEED, ZERO_SEED_DATA_DIR=str(medium))
    assert ran.code == 0 and "wal_level=minimal" in ran.text, ran.text
    assert packed("issue", "description") == 0 and packed("comment", "body") > 1000
    assert _storage(embedded.url)[2] == {"comment": ["toast_tuple_target=128"]}

    ran = run(tmp_path, embedded.state, *SEED, ZERO_SEED_DATA_DIR=str(medium), ZERO_SEED_FORCE="true",
              ZBUGS_SEED_TOAST_COMPRESS="true")
    assert ran.code == 0 and "wal_level=minimal" in ran.text, ran.text
    long, compressed, _ = _storage(embedded.url)
    assert packed("issue", "description") > 0 and compressed > long // 2, (long, compressed)
    with psycopg.connect(embedded.url, autocommit=True) as c:
        c.execute("ALTER TABLE comment RESET (toast_tuple_target)")


def test_a_url_naming_the_local_server_is_still_the_local_server(embedded: Embedded, medium: Path,
                                                                  tmp_path: Path, reference: dict[str, Any]) -> None:
    """ZERO_UPSTREAM_DB as `db-up --print-env` writes it (for zero-cache's .env) names the server the tool
    runs: the load is WAL-free as without it. Another server's URL never is (the in-process test below)."""
    embedded.reset_database()
    pid = embedded.running.pid
    ran = run(tmp_path, embedded.state, *SEED, ZERO_SEED_DATA_DIR=str(medium), ZERO_UPSTREAM_DB=embedded.url)
    assert ran.code == 0, ran.text
    assert "wal_level=minimal" in ran.text and "not one zbugs-synth runs" not in ran.text
    assert embedded.running.pid != pid and embedded.wal_level() == "logical"
    assert digest(embedded.url) == reference
    # The switch still turns it off.
    pid = embedded.running.pid
    ran = run(tmp_path, embedded.state, *SEED, ZERO_SEED_DATA_DIR=str(medium), ZERO_UPSTREAM_DB=embedded.url,
              ZERO_SEED_FORCE="true", ZBUGS_SEED_WAL_MINIMAL="false")
    assert ran.code == 0 and "wal_level=minimal" not in ran.text and embedded.running.pid == pid, ran.text


def _query(e: Embedded, sql: str) -> Any:
    with psycopg.connect(e.url, autocommit=True, connect_timeout=2) as c:
        return c.execute(sql).fetchone()[0]  # type: ignore[index]


MOMENTS: dict[str, Callable[[Embedded], bool]] = {
    # The server was just restarted at minimal: the loader has not connected yet.
    "entered-minimal": lambda e: e.at_minimal(),
    # A table is in (committed with its record), others are being copied.
    "table-committed": lambda e: e.at_minimal() and _query(e, "SELECT count(*) FROM zbugs_synth.seed_shards") > 0,
    "index-build": lambda e: e.at_minimal() and _query(
        e, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query ILIKE 'CREATE%INDEX%'") > 0,
    "fk-validation": lambda e: e.at_minimal() and _query(
        e, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = 'public.comment'::regclass") > 0,
}


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_killed_at_minimal_is_restored_by_the_next_command_and_resumes(
        embedded: Embedded, medium: Path, tmp_path: Path, reference: dict[str, Any], moment: str) -> None:
    embedded.reset_database()
    kill_when(tmp_path, embedded.state, SEED, lambda: MOMENTS[moment](embedded),
              {"ZERO_SEED_DATA_DIR": str(medium), "ZERO_SEED_JOBS": "2"})
    assert embedded.at_minimal()  # what the kill left behind ...
    # ... with the room held for the restart back, beside pgdata (on its disk: see walmode.RESERVE)
    reserve = embedded.running.cluster.home / walmode.RESERVE
    assert reserve.stat().st_blocks * 512 >= walmode.RESERVE_BYTES
    # ... until the next command, whichever it is: db-status, or db-up (which said "already running"
    # and "holds data: verify" while the load's indexes, keys and triggers were off: a crash campaign)
    status = run(tmp_path, embedded.state, "db-up" if moment == "index-build" else "db-status")
    assert status.code == 0, status.text
    assert "restarted at wal_level=logical" in status.text
    assert "holds data" not in status.text, status.text
    if moment in ("table-committed", "index-build"):  # surely after the load opened (the others may come first)
        assert "load was interrupted here" in status.text, status.text
    assert embedded.wal_level() == "logical" and not embedded.at_minimal()
    assert not (embedded.state / walmode.MARKER).exists() and not reserve.exists()

    again = run(tmp_path, embedded.state, *SEED, ZERO_SEED_DATA_DIR=str(medium), ZERO_SEED_JOBS="2")
    assert again.code == 0, again.text
    assert embedded.wal_level() == "logical"
    assert open_runs(embedded.url) == 0
    assert differences(embedded.url) == []
    assert digest(embedded.url) == reference


def test_killed_then_seed_itself_restores(embedded: Embedded, medium: Path, tmp_path: Path,
                                          reference: dict[str, Any]) -> None:
    """The next command may be the rerun itself: it restores, then loads at minimal again."""
    embedded.reset_database()
    kill_when(tmp_path, embedded.state, SEED, lambda: MOMENTS["table-committed"](embedded),
              {"ZERO_SEED_DATA_DIR": str(medium)})
    again = run(tmp_path, embedded.state, *SEED, ZERO_SEED_DATA_DIR=str(medium))
    assert again.code == 0, again.text
    assert "resuming the interrupted seed load" in again.text
    assert embedded.wal_level() == "logical" and not embedded.at_minimal()
    assert digest(embedded.url) == reference


def test_in_process_load_with_an_external_url_is_unchanged(fresh_db: str, medium: Path, capsys: Any,
                                                           monkeypatch: Any, reference: dict[str, Any]) -> None:
    """The shared test server (external to the loader) loads the same rows as before this feature."""
    ran = seed_cli(fresh_db, medium, capsys, monkeypatch)
    assert ran.code == 0, ran.text
    assert digest(fresh_db) == reference


def test_a_postmaster_killed_under_the_load_is_started_again_and_the_load_resumes(
        embedded: Embedded, tmp_path: Path, reference: dict[str, Any]) -> None:
    """The server itself dies mid-load (kill -9 of the postmaster, the OOM killer): the loader said
    "back at wal_level=logical" and "run the same command again", but had only dropped its marker, and
    the rerun found no server (a crash campaign). It now starts the server again, as it ran before."""
    embedded.reset_database()
    generator = {k: v for k, v in MEDIUM.items() if k != "SHARD_SIZE"}
    env = {"ZERO_SEED_GENERATE": "true", **generator}
    ran = kill_when(tmp_path, embedded.state, SEED, lambda: embedded.at_minimal() and _query(
        embedded, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query ILIKE 'COPY%comment%'") > 0,
        env, victim=lambda: embedded.running.pid)
    # exit 3 whichever step met the dead server first (a statement under way, or a connection being
    # opened: that said "cannot connect" with exit 2, a refusal's, in one CI run)
    assert ran.code == 3 and "run the same command again to resume it" in ran.err.lower(), ran.text
    assert "local server back at wal_level=logical" in ran.err, ran.err
    assert embedded.wal_level() == "logical" and not embedded.at_minimal()
    assert not (embedded.state / walmode.MARKER).exists()
    again = run(tmp_path, embedded.state, *SEED, **env)
    assert again.code == 0, again.text
    assert "resuming the interrupted seed load" in again.text
    assert differences(embedded.url) == [] and digest(embedded.url) == reference


def test_direct_load_at_minimal_killed_while_streaming(embedded: Embedded, tmp_path: Path,
                                                      reference: dict[str, Any]) -> None:
    """--generate on the embedded server: WAL-free too; a kill mid-stream is repaired and resumed to the
    rows of the CSV path (`reference` loaded the CSVs of this very configuration)."""
    embedded.reset_database()
    generator = {k: v for k, v in MEDIUM.items() if k != "SHARD_SIZE"}
    env = {"ZERO_SEED_GENERATE": "true", **generator}
    kill_when(tmp_path, embedded.state, SEED, lambda: embedded.at_minimal() and _query(
        embedded, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query ILIKE 'COPY%comment%'") > 0,
        env)
    assert embedded.at_minimal()
    # Another dataset while that load is open: refused. The first such command still restores the server
    # from the killed run's minimal; a refusal at logical then restarts nothing (no client is cut off).
    other = {**env, "SEED": "8"}
    for attempt in range(2):
        started = _query(embedded, "SELECT pg_postmaster_start_time()")
        refused = run(tmp_path, embedded.state, *SEED, **other)
        assert refused.code == 2 and "SEED=7" in refused.err and "still open" in refused.err, refused.text
        assert embedded.wal_level() == "logical" and not embedded.at_minimal()
        if attempt:
            assert "restarting the local server" not in refused.text, refused.text
            assert _query(embedded, "SELECT pg_postmaster_start_time()") == started
    again = run(tmp_path, embedded.state, *SEED, **env)
    assert again.code == 0, again.text
    assert ("resuming the interrupted seed load of generated (NUM_ISSUES=20000, SEED=7, NUM_PROJECTS=40, "
            "NUM_USERS=60)") in again.text
    assert "wal_level=minimal" in again.text
    assert embedded.wal_level() == "logical" and not embedded.at_minimal()
    assert differences(embedded.url) == []
    assert digest(embedded.url) == reference
    long, packed, options = _storage(embedded.url)  # the streamed tables too went in as written
    assert long > 100 and packed == 0 and options == {}, (long, packed, options)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_ends_a_load_like_ctrl_c(embedded: Embedded, tmp_path: Path, reference: dict[str, Any],
                                              sig: int) -> None:
    """kill, timeout, a cancelled CI job, a closed terminal: the load says it stopped and that it is open,
    the server is back at logical at once (not only at the next command), and the same command resumes."""
    embedded.reset_database()
    generator = {k: v for k, v in MEDIUM.items() if k != "SHARD_SIZE"}
    env = {"ZERO_SEED_GENERATE": "true", **generator}
    stopped = kill_when(tmp_path, embedded.state, SEED, lambda: embedded.at_minimal() and _query(
        embedded, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query ILIKE 'COPY%comment%'") > 0,
        env, sig=sig)
    name = signal.Signals(sig).name
    assert stopped.code == 128 + sig, stopped.text
    assert stopped.err.splitlines()[-3:] == [
        "local server back at wal_level=logical", f"zbugs-synth db-seed-synthetic: stopped by {name}",
        "zbugs-synth db-seed-synthetic: the load is open: run the same command again to resume it, or set "
        "ZERO_SEED_RESET=true to undo it"], stopped.err
    assert "Traceback" not in stopped.err
    assert embedded.wal_level() == "logical" and not (embedded.state / walmode.MARKER).exists()
    again = run(tmp_path, embedded.state, *SEED, **env)
    assert again.code == 0 and "resuming the interrupted seed load" in again.text, again.text
    assert digest(embedded.url) == reference


def test_a_stop_during_the_restart_waits_for_it(embedded: Embedded, medium: Path, tmp_path: Path) -> None:
    """Ctrl-C while the server restarts at minimal: the restart ends first (cut halfway, the server would
    be left stopped or at minimal), then the load stops, and the server is put back at logical. Sent to
    the process group, as a terminal does: pg_ctl, if it got it too, would shut the starting server down."""
    embedded.reset_database()

    pgdata = str(embedded.running.cluster.pgdata)

    def restarting() -> bool:  # the marker is written first; then pg_ctl starts the server at minimal
        if not (embedded.state / walmode.MARKER).exists():
            return False
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                args = cmdline.read_bytes().split(b"\0")
            except OSError:
                continue
            if args and args[0].endswith(b"pg_ctl") and b"start" in args and pgdata.encode() in args:
                return True
        return False

    stopped = kill_when(tmp_path, embedded.state, SEED, restarting, {"ZERO_SEED_DATA_DIR": str(medium)},
                        sig=signal.SIGINT, group=True)
    assert stopped.code == 130, stopped.text
    assert "Traceback" not in stopped.err and "interrupted" in stopped.err, stopped.err
    assert embedded.wal_level() == "logical" and not (embedded.state / walmode.MARKER).exists()
    assert embedded.running is not None


@contextmanager
def _loader_waiting_for_the_lock(embedded: Embedded, medium: Path, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """A seed subprocess that waits on the loader's lock, held by this test's connection: (process, holder)."""

    from embedded_helpers import command_env

    from zbugs_synth.db.load.session import LOCK_KEY

    embedded.reset_database()
    with psycopg.connect(embedded.url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        proc = subprocess.Popen([sys.executable, "-m", "zbugs_synth", *SEED], cwd=tmp_path, text=True,
                                env=command_env(embedded.state, ZERO_SEED_DATA_DIR=str(medium)),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        # Only once it waits for the lock (past the point where it decides about the restart).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not holder.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_try_advisory_lock%%' "
                "AND pid <> pg_backend_pid()").fetchone()[0]:  # type: ignore[index]
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[0]
        yield proc, holder


def test_another_loader_at_work_is_not_cut_off_by_a_restart(embedded: Embedded, medium: Path, tmp_path: Path) -> None:
    """A second load while one holds the loader's lock must not restart the server under it."""
    from zbugs_synth.db.load.session import LOCK_KEY

    pid = embedded.running.pid
    with _loader_waiting_for_the_lock(embedded, medium, tmp_path) as (proc, holder):
        holder.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out  # it waited for the lock, then loaded
    assert "wal_level=minimal" not in out
    assert embedded.running.pid == pid


def test_a_loader_waiting_for_the_lock_survives_the_restart_that_ends_the_other_load(
        embedded: Embedded, medium: Path, tmp_path: Path, reference: dict[str, Any]) -> None:
    """The first loader's last act is restarting the server back at logical, which cuts off a second
    loader waiting for the lock: that one reconnects and loads, never calling itself interrupted."""
    with _loader_waiting_for_the_lock(embedded, medium, tmp_path) as (proc, _holder):
        # The first loader ends as one at minimal does: restarting the server (its lock goes with it).
        pid = embedded.running.pid
        walmode._restart(embedded.state, ())
    out, _ = proc.communicate(timeout=300)
    assert embedded.running.pid != pid  # the restart did happen under the waiting loader
    assert proc.returncode == 0, out
    assert "waiting up to" in out and "resume" not in out and "ZERO_SEED_RESET" not in out
    assert digest(embedded.url) == reference and differences(embedded.url) == []
    assert embedded.wal_level() == "logical"


def _abandoned_marker(embedded: Embedded) -> None:
    """What a load killed between stopping the server and having it back leaves: its marker, owner gone."""
    import json

    gone = subprocess.Popen(["true"])
    gone.wait()
    (embedded.state / walmode.MARKER).write_text(json.dumps({"pid": gone.pid, "start": "gone"}) + "\n")
    server.down(embedded.state)
    assert server.status(embedded.state) is None


def test_killed_while_restarting_the_server_is_brought_back_by_the_next_command(
        embedded: Embedded, medium: Path, tmp_path: Path, reference: dict[str, Any]) -> None:
    embedded.reset_database()
    _abandoned_marker(embedded)
    status = run(tmp_path, embedded.state, "db-status")
    assert status.code == 0 and "restarted at wal_level=logical" in status.text, status.text
    assert server.status(embedded.state) is not None and embedded.wal_level() == "logical"
    assert not (embedded.state / walmode.MARKER).exists()
    # Rerunning the load itself (the README's advice) brings it back too, and loads.
    _abandoned_marker(embedded)
    ran = run(tmp_path, embedded.state, *SEED, ZERO_SEED_DATA_DIR=str(medium))
    assert ran.code == 0, ran.text
    assert digest(embedded.url) == reference and embedded.wal_level() == "logical"
    # With the URL db-up --print-env gives (for zero-cache's .env) instead of none: the same.
    url = embedded.url
    _abandoned_marker(embedded)
    ran = run(tmp_path, embedded.state, *SEED, ZERO_SEED_DATA_DIR=str(medium), ZERO_SEED_FORCE="true",
              ZERO_UPSTREAM_DB=url)
    assert ran.code == 0 and "wal_level=minimal" in ran.text, ran.text
    assert digest(embedded.url) == reference and embedded.wal_level() == "logical"
    # db-down after such a kill means down: the next command does not start it behind the user's back.
    _abandoned_marker(embedded)
    assert run(tmp_path, embedded.state, "db-down").code == 0
    assert not (embedded.state / walmode.MARKER).exists()
    status = run(tmp_path, embedded.state, "db-status")
    assert "stopped" in status.text and server.status(embedded.state) is None, status.text
    server.up(embedded.state, None, fast=True)  # running again, as the fixture made it


def test_an_active_slot_refuses_a_seed_without_a_note_about_wal_first(embedded: Embedded, medium: Path,
                                                                       tmp_path: Path) -> None:
    from test_append import Slots

    embedded.reset_database()
    slots = Slots(embedded.url)
    try:
        slots.consume(slots.create())  # a zero-cache replicating
        ran = run(tmp_path, embedded.state, *SEED, ZERO_SEED_DATA_DIR=str(medium))
        assert ran.code == 2 and "Stop zero-cache first" in ran.err, ran.text
        assert "wal_level" not in ran.text  # refused: nothing about how it would have loaded
    finally:
        slots.drop_all()


def test_which_urls_name_the_local_server(embedded: Embedded) -> None:
    """Loopback, the cluster's port and database: the same server, running or not (a killed load may have
    left it down); any other database, port or host is another server, never reconfigured."""
    from zbugs_synth.config.database import DbConfig
    from zbugs_synth.db.connect import names_local_server, with_database

    def local(url: str | None) -> bool:
        return names_local_server(DbConfig(data_dir=embedded.state, db_url=url))

    port, url = embedded.running.port, embedded.url
    assert local(None) and local(url)
    assert local(url.replace("127.0.0.1", "localhost"))
    assert not local(with_database(url, "postgres"))
    assert not local(url.replace(f":{port}/", f":{port + 1}/"))
    assert not local(url.replace("127.0.0.1", "10.0.0.1"))
    assert not names_local_server(DbConfig(data_dir=embedded.state / "elsewhere", db_url=url))
    server.down(embedded.state)
    try:
        assert local(url)  # stopped: still the same server (its recorded port)
    finally:
        server.up(embedded.state, None, fast=True)
