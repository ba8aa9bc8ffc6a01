"""WAL-free initial loads: seed/force into the embedded server run at `wal_level=minimal`.

Eligible: a seed or force load, into the server `db-up` runs (no ZERO_UPSTREAM_DB / --db-url: an
external server is never reconfigured), with no replication slot on it (a slot means zero-cache or
a replica follows it), unless ZBUGS_SEED_WAL_MINIMAL=false. The server is restarted at minimal
before the load's first transaction and back at its usual `logical` after the last, whatever
happens in between (error, Ctrl-C); a kill -9 of the loader is repaired by the next command (see
zbugs_synth.db.server.walmode). The loader then loads each table in the transaction that truncated
it (COPY FREEZE), which is what lets PostgreSQL skip WAL for the rows; index builds skip it anyway.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import psycopg

from zbugs_synth import interrupts
from zbugs_synth.config.seed import SeedConfig, Tuning
from zbugs_synth.db.connect import connect, names_local_server
from zbugs_synth.db.load import session
from zbugs_synth.db.server import walmode


def _slots(url: str) -> tuple[int, int]:
    """(replication slots, active ones)."""
    with connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*), count(*) FILTER (WHERE active) FROM pg_replication_slots").fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _other_loader(url: str) -> bool:
    """Another db-seed-synthetic holds the loader's lock on this database (a restart would cut it off)."""
    with connect(url, autocommit=True) as conn:
        return session.loader_at_work(conn)


def _other_sessions(url: str) -> int:
    """Client sessions on the server besides this one (the restart cuts them off). A session this
    process closed a moment ago may still be ending: asked again before it counts."""
    for attempt in range(3):
        with connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity "
                               "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()").fetchone()
        others = int(row[0]) if row else 0
        if not others:
            return 0
        if attempt < 2:
            time.sleep(0.2)
    return others


def _wal_level(url: str) -> str:
    with connect(url, autocommit=True) as conn:
        row = conn.execute("SHOW wal_level").fetchone()
    return str(row[0]) if row else ""


def eligible(cfg: SeedConfig, tuning: Tuning, url: str, say: Callable[[str], None]) -> bool:
    if cfg.mode not in ("seed", "force") or not tuning.wal_minimal:
        return False
    if not names_local_server(cfg):
        return False  # an external server is never reconfigured
    if walmode.owned_by_another(cfg.data_dir):
        return False  # another load runs the server at minimal: leave it to that one
    try:
        slots, active = _slots(url)
        if _other_loader(url):
            return False  # it holds the lock: this run will wait for it, then say so
    except psycopg.Error:
        return False
    if active and not cfg.ignore_active_slot:
        return False  # the load is refused under the lock (a zero-cache is replicating): no note first
    if slots:
        say(f"note: {slots} replication slot(s) on the server (zero-cache?): loading at wal_level=logical, "
            "every row written twice (heap and WAL)")
        return False
    return _wal_level(url) != "minimal"


@contextlib.contextmanager
def minimal_wal(cfg: SeedConfig, tuning: Tuning, url: str, say: Callable[[str], None]) -> Iterator[bool]:
    """Run the body with the embedded server at wal_level=minimal when eligible; yields whether it is."""
    if not eligible(cfg, tuning, url, say):
        yield False
        return
    try:
        others = _other_sessions(url)
    except psycopg.Error:
        others = 0
    # Said, not refused: a seed or force replaces what those sessions see anyway, and psql or a GUI
    # reconnects; falling back to a load at logical for an idle psql would double the load's time.
    cut = (f"; this cuts off the {others} other session(s) connected to it (psql, an app, another command: "
           "they reconnect)" if others else "")
    say("restarting the local server at wal_level=minimal for this initial load (rows and indexes are "
        f"written once, without WAL); it goes back to logical when the load ends{cut}")
    entered = False
    try:
        # A Ctrl-C or stop signal during either restart waits for it to end (cut halfway, the server
        # would be left stopped, or at minimal until the next command), then stops the load.
        with interrupts.deferred():
            walmode.enter_minimal(cfg.data_dir)
            entered = True
        yield True
    finally:
        if entered:
            with interrupts.deferred():
                back = walmode.leave_minimal(cfg.data_dir)
            say("local server back at wal_level=logical" if back is not None else
                "local server is not running (it stopped during the load): start it with `zbugs-synth db-up`")
