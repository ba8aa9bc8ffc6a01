"""The real zero-cache replicates what we load: initial sync of a small seeded dataset."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from zero_harness import (
    APP_ID,
    PUBLICATION,
    ZeroCache,
    ZeroDbs,
    pg_counts,
    published_tables,
    replica_counts,
    replica_query,
    replication_slots,
    seed,
    wait_for_replica,
)

# Every table the schema publishes (a table missing from the publication would go unnoticed otherwise).
PUBLISHED = {"comment", "emoji", "issue", "issueLabel", "issueNotifications", "label", "project", "user",
             "userPref", "viewState"}


def test_initial_sync_replicates_every_published_table(zero_dbs: ZeroDbs, zero_dataset: Path,
                                                        zero_cache: Callable[..., ZeroCache]) -> None:
    seed(zero_dbs.upstream, zero_dataset)
    tables = published_tables(zero_dbs.upstream)
    assert set(tables) == PUBLISHED
    expected = pg_counts(zero_dbs.upstream, tables)
    assert expected["issue"] == 2000 and expected["comment"] > 2000

    zc = zero_cache()  # returns once "zero-cache ready" is logged: the initial sync is done

    assert replica_counts(zc.install, zc.replica_file, tables) == expected
    # The replica is zero-cache's: its config names our app's publication, and it holds real rows.
    config = replica_query(zc.install, zc.replica_file, 'SELECT "publications" FROM "_zero.replicationConfig"')
    assert PUBLICATION in json.loads(config[0]["publications"])
    sample = replica_query(zc.install, zc.replica_file, 'SELECT "id", "title" FROM "issue" ORDER BY "id" LIMIT 1')
    assert len(sample[0]["id"]) == 21 and sample[0]["title"]
    # It streams from an active logical slot of its app on the upstream database.
    slots = replication_slots(zero_dbs.admin, zero_dbs.upstream_name)
    assert [s.active for s in slots] == [True] and slots[0].name.startswith(f"{APP_ID}_0_")
    assert zc.running()


def test_killed_server_leaves_no_process_and_restarts_without_resync(
        zero_dbs: ZeroDbs, zero_dataset: Path, zero_cache: Callable[..., ZeroCache]) -> None:
    """What the scenario tests build on: kill() is a crash that leaves nothing running (zero-cache's
    workers live in sessions of their own), the slot stays behind inactive, and a restart resumes from
    it with the same replica (no new initial sync)."""
    seed(zero_dbs.upstream, zero_dataset)
    zc = zero_cache()
    version_sql = 'SELECT "replicaVersion" AS v FROM "_zero.replicationConfig"'
    version = replica_query(zc.install, zc.replica_file, version_sql)[0]["v"]
    assert len(zc.pids()) >= 4  # runner, dispatcher, change-streamer, replicator, syncer, ...

    zc.kill()
    assert zc.pids() == [] and not zc.running()
    # The server releases the slot when its walsender notices the client is gone: a moment later.
    deadline = time.monotonic() + 30
    while (active := [s.active for s in replication_slots(zero_dbs.admin, zero_dbs.upstream_name)]) != [False] \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert active == [False]

    zc.restart()
    assert replica_query(zc.install, zc.replica_file, version_sql)[0]["v"] == version
    assert "Synced" not in zc.log_text()  # this start copied nothing
    wait_for_replica(zc, timeout=30)
    assert zc.stop() == 0 and zc.pids() == []
