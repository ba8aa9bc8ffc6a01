"""Room on the local server's disk: the estimate of what a load adds, the refusal before anything
changes, the switch that loads anyway, and a load that fills its disk (a small tmpfs, where the
machine lets the suite mount one) saying where space is needed."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import embedded_helpers
import psycopg
import pytest
from embedded_helpers import Embedded, kill_when, run
from loader_helpers import digest, make_dataset, open_runs

from zbugs_synth.db import server
from zbugs_synth.db.load import space
from zbugs_synth.db.load.dataset import inspect_dataset
from zbugs_synth.db.server import walmode
from zbugs_synth.tables import MAX_ISSUES, TABLES

SEED = ["db-seed-synthetic", "--progress", "none"]
SIZE = {"NUM_ISSUES": "60000", "SHARD_SIZE": "30000", "SEED": "5"}


@pytest.fixture(scope="module")
def embedded(reachable_tmpdir: Callable[[str], Path], free_tcp_port: Callable[[], int]) -> Iterator[Embedded]:
    yield from embedded_helpers.embedded_server(reachable_tmpdir, free_tcp_port)


def _stored_bytes(url: str) -> int:
    with psycopg.connect(url) as c:
        return sum(int(c.execute("SELECT pg_total_relation_size(%s::regclass)", (f'public."{t}"',)).fetchone()[0])  # type: ignore[index]
                   for t in TABLES)


def _too_big_for_this_disk(where: Path) -> None:
    if (shutil.disk_usage(where).free) > 5 * 10**12:  # MAX_ISSUES issues need about 6 TB
        pytest.skip("even the largest load would fit on this disk")


def test_the_estimate_is_within_a_tenth_of_what_a_load_stores(embedded: Embedded, tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", SIZE)
    embedded.reset_database()
    before = _stored_bytes(embedded.url)
    ran = run(tmp_path, embedded.state, *SEED, ZERO_SEED_DATA_DIR=str(data))
    assert ran.code == 0, ran.text
    stored = _stored_bytes(embedded.url) - before
    estimated = space.database_bytes(space.dataset_sizes(inspect_dataset(data, checksums=False)))
    assert abs(estimated / stored - 1) < 0.10, (estimated, stored)


def test_a_load_too_big_for_the_disk_is_refused_before_anything_changes(embedded: Embedded, tmp_path: Path) -> None:
    _too_big_for_this_disk(embedded.running.cluster.pgdata)
    embedded.reset_database()
    pid = embedded.running.pid
    before = digest(embedded.url)
    for mode in ([], ["--force"], ["--append"]):
        if mode == ["--force"]:  # force and append with data there, a seed into the empty database
            ran = run(tmp_path, embedded.state, *SEED, NUM_ISSUES="2000", SEED="1", ZERO_SEED_GENERATE="true")
            assert ran.code == 0, ran.text
            before, pid = digest(embedded.url), embedded.running.pid
        # An append's batch: without users, and leaving the first batch's shortIDs room.
        issues, users = (2_000_000_000, "true") if mode == ["--append"] else (MAX_ISSUES, "false")
        ran = run(tmp_path, embedded.state, *SEED, "--generate", *mode, NUM_ISSUES=str(issues), SEED="2",
                  SKIP_USERS=users)
        assert ran.code == 2, ran.text
        assert len(ran.err.strip().splitlines()) == 1 and "Traceback" not in ran.err, ran.err
        assert f"not enough disk space: this load ({issues:,} issues, with its indexes) needs about " in ran.err
        assert f" TB in {embedded.running.cluster.pgdata}, " in ran.err and "--skip-space-check" in ran.err
        if mode == ["--force"]:
            assert "this run frees)" in ran.err  # the tables it would empty count as room
        assert embedded.running.pid == pid and embedded.wal_level() == "logical"  # never restarted
        assert digest(embedded.url) == before and open_runs(embedded.url) == 0


def test_the_switch_loads_anyway(embedded: Embedded, tmp_path: Path) -> None:
    _too_big_for_this_disk(embedded.running.cluster.pgdata)
    embedded.reset_database()
    before = digest(embedded.url)
    # Past the check, the load starts: stopped once it copies issues, then undone. The stop must
    # end the generation too (it runs on a pool thread): before it did, the command waited for all
    # of MAX_ISSUES to be generated (hours) and kill_when's wait timed out.
    started = time.monotonic()
    ran = kill_when(tmp_path, embedded.state, [*SEED, "--generate"], lambda: _copying_issues(embedded),
                    {"NUM_ISSUES": str(MAX_ISSUES), "ZBUGS_SKIP_SPACE_CHECK": "true"}, sig=signal.SIGINT,
                    group=True)
    assert ran.code == 130, ran.text
    assert time.monotonic() - started < 100
    assert "not enough disk space" not in ran.err and "the load is open" in ran.err
    undo = run(tmp_path, embedded.state, *SEED, "--reset")
    assert undo.code == 0, undo.text
    assert digest(embedded.url) == before and embedded.wal_level() == "logical"


def _copying_issues(embedded: Embedded) -> bool:
    with psycopg.connect(embedded.url, autocommit=True) as c:
        row = c.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s",
                        ('COPY "public"."issue" %',)).fetchone()
        return bool(row and row[0])


@pytest.fixture
def small_disk(reachable_tmpdir: Callable[[str], Path]) -> Iterator[Path]:
    """A 200 MB tmpfs (skipped where the suite may not mount one)."""
    where = reachable_tmpdir("zbugs-test-small-disk-")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200m,mode=0711", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(where, ignore_errors=True)
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)
        shutil.rmtree(where, ignore_errors=True)


def test_a_load_that_fills_its_disk_says_where_and_can_be_undone(small_disk: Path, free_tcp_port: Callable[[], int],
                                                                  tmp_path: Path) -> None:
    state = small_disk / "state"
    server.up(state, free_tcp_port(), fast=True)
    try:
        Embedded(state, small_disk).reset_database()
        pgdata = server.load(state).pgdata  # type: ignore[union-attr]
        big = {"NUM_ISSUES": "60000", "SEED": "4"}
        refused = run(tmp_path, state, *SEED, "--generate", **big)
        assert refused.code == 2 and "not enough disk space" in refused.err, refused.text
        ran = run(tmp_path, state, *SEED, "--generate", "--skip-space-check", **big)
        assert ran.code == 3, ran.text
        line = ran.err.strip().splitlines()[-1]
        assert "the load stopped: the database server's disk is full (" in line
        assert f"): {pgdata} has " in line and " free; free space there, then run the same command again" in line
        assert "space.." not in line
        assert walmode.at_minimal(server.load(state)) is False  # type: ignore[arg-type]
        undo = run(tmp_path, state, *SEED, "--reset")
        assert undo.code == 0, undo.text
        fits = run(tmp_path, state, *SEED, "--generate", NUM_ISSUES="5000", SEED="4")
        assert fits.code == 0, fits.text
        assert run(tmp_path, state, "verify").code == 0
    finally:
        walmode.leave_minimal(state)
        server.down(state)
