"""Loads while the real zero-cache replicates the database, and loads while it is stopped.

After each load: the replica catches up (counts equal), zero-cache is alive and did not resync (same
replicaVersion) when it was running, and UPDATE and DELETE work on every published table (they need a
usable replica identity) and reach the replica.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from zero_harness import (
    ZeroCache,
    ZeroDbs,
    generate_dataset,
    pg_counts,
    published_tables,
    replica_counts,
    replica_query,
    replication_slots,
    seed,
    wait_for_replica,
)

VERSION = 'SELECT "replicaVersion" AS v FROM "_zero.replicationConfig"'
# One row per published table, found by a key column; each is updated, then deleted.
KEYS = {"issue": "id", "comment": "id", "label": "id", "project": "id", "user": "id", "emoji": "id",
        "issueLabel": "issueID", "issueNotifications": "issueID", "userPref": "userID", "viewState": "issueID"}


@pytest.fixture(scope="module")
def batch2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A guide-style second batch: another seed, no users (the first batch's 100 users)."""
    return generate_dataset(tmp_path_factory.mktemp("zero-batch2") / "data", 500, seed=99, SKIP_USERS="true",
                            NUM_PROJECTS="10")


def version(zc: ZeroCache) -> str:
    return str(replica_query(zc.install, zc.replica_file, VERSION)[0]["v"])


def writes_replicate(url: str, zc: ZeroCache | None) -> None:
    """UPDATE then DELETE a row of every published table that has one (the other tables get a row
    first); with zero-cache running, the replica follows."""
    tables = published_tables(url)
    with psycopg.connect(url, autocommit=True) as c:
        uid = c.execute('SELECT min(id) FROM "user"').fetchone()[0]  # type: ignore[index]
        iid = c.execute("SELECT max(id) FROM issue").fetchone()[0]  # type: ignore[index]
        c.execute('INSERT INTO "viewState" ("userID", "issueID", viewed) VALUES (%s, %s, 1) ON CONFLICT DO NOTHING',
                  (uid, iid))
        c.execute('INSERT INTO "userPref" (key, value, "userID") VALUES (\'k\', \'v\', %s) ON CONFLICT DO NOTHING',
                  (uid,))
        c.execute('INSERT INTO "issueNotifications" ("userID", "issueID") VALUES (%s, %s) ON CONFLICT DO NOTHING',
                  (uid, iid))
        c.execute("INSERT INTO emoji (id, value, \"subjectID\", \"creatorID\") VALUES ('e-' || md5(random()::text), "
                  "'+1', %s, %s)", (iid, uid))
        for table in tables:
            key = KEYS[table]
            value = c.execute(f'SELECT max("{key}") FROM "{table}"').fetchone()[0]  # type: ignore[index]
            assert value is not None, table
            c.execute(f'UPDATE "{table}" SET "{key}" = "{key}" WHERE "{key}" = %s', (value,))
        for table in ("viewState", "userPref", "issueNotifications", "emoji", "issueLabel", "comment"):
            key = KEYS[table]
            c.execute(f'DELETE FROM "{table}" WHERE "{key}" = (SELECT max("{key}") FROM "{table}")')
        # Rows others point to are not deleted; PostgreSQL checks the replica identity before it looks
        # for rows, so a DELETE matching none still fails on a table without a usable one.
        for table in ("issue", "label", "project", "user"):
            c.execute(f'DELETE FROM "{table}" WHERE id = %s', ("no-such-row",))
    if zc is not None:
        wait_for_replica(zc, timeout=60)


def test_loads_with_zero_cache_running_and_stopped(zero_dbs: ZeroDbs, zero_dataset: Path, batch2: Path,
                                                   zero_cache: Callable[..., ZeroCache]) -> None:
    url = zero_dbs.upstream
    seed(url, zero_dataset)
    zc = zero_cache()
    tables = published_tables(url)
    assert replica_counts(zc.install, zc.replica_file, tables) == pg_counts(url, tables)  # initial sync
    first = version(zc)
    slot = replication_slots(zero_dbs.admin, zero_dbs.upstream_name)[0].name

    # A seed/force load while it runs is refused, naming the slot; nothing changes.
    refused = seed(url, zero_dataset, check=False, ZERO_SEED_FORCE="true")
    assert refused.returncode == 2 and slot in refused.stderr and "Stop zero-cache" in refused.stderr

    # An append while it runs: inserts only; the replica catches up, no resync, still running.
    done = seed(url, batch2, ZERO_SEED_APPEND="true")
    assert "will stream the appended rows" in done.stdout + done.stderr
    wait_for_replica(zc, timeout=90)
    assert zc.running() and version(zc) == first
    writes_replicate(url, zc)
    assert zc.running() and version(zc) == first

    # Stopped: a force load (DDL included) says what the inactive slot pins; on restart zero-cache
    # catches up (resync or not, its choice) and every table takes UPDATE and DELETE.
    assert zc.stop() == 0
    done = seed(url, zero_dataset, ZERO_SEED_FORCE="true")
    assert f"logical replication slot {slot} is inactive" in done.stdout + done.stderr
    zc.restart()
    wait_for_replica(zc, timeout=90)
    assert zc.running(), zc.log_tail()
    writes_replicate(url, zc)
    time.sleep(2)  # what zero-cache does with the writes' changes, it has done by now
    assert zc.running(), zc.log_tail(80)
    with psycopg.connect(url) as c:
        broken = c.execute("SELECT relname FROM pg_class c WHERE relreplident = 'i' AND NOT EXISTS "
                           "(SELECT 1 FROM pg_index x WHERE x.indrelid = c.oid AND x.indisreplident)").fetchall()
    assert broken == []
