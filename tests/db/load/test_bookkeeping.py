"""The loader's bookkeeping is part of the versioned migrations, writable only by its owner, and what it
saves is validated before it is replayed as DDL."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from loader_helpers import Cap, Mp, counts, differences, expected_rows, loads, open_runs, query, seed_cli, seed_process

from zbugs_synth.db import connect
from zbugs_synth.db.load.objects import SavedForeignKey, SavedIndex, SavedTrigger, UnsafeSavedObject, validated
from zbugs_synth.db.schema import migrate

# What loaders before migration 0004 created on their own (CREATE TABLE IF NOT EXISTS at each run).
OLD_LOADER_DDL = """
CREATE TABLE zbugs_synth.loaded_datasets (id bigserial PRIMARY KEY, dataset_id text NOT NULL, source text NOT NULL,
    manifest jsonb, rows jsonb NOT NULL, mode text NOT NULL, started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz);
CREATE TABLE zbugs_synth.seed_runs (id bigserial PRIMARY KEY,
    dataset_row bigint NOT NULL REFERENCES zbugs_synth.loaded_datasets (id) ON DELETE CASCADE,
    dataset_id text NOT NULL, source text NOT NULL, mode text NOT NULL, shortid_base bigint,
    started_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE zbugs_synth.seed_objects (run_id bigint NOT NULL REFERENCES zbugs_synth.seed_runs (id) ON DELETE CASCADE,
    seq integer NOT NULL, spec jsonb NOT NULL, PRIMARY KEY (run_id, seq));
CREATE TABLE zbugs_synth.seed_shards (run_id bigint NOT NULL REFERENCES zbugs_synth.seed_runs (id) ON DELETE CASCADE,
    name text NOT NULL, table_name text NOT NULL, rows bigint NOT NULL, xid bigint NOT NULL, shortid_start bigint,
    loaded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run_id, name));
"""


def test_a_database_of_an_older_version_upgrades_and_keeps_its_records(
        empty_db: str, batch1: Path, batch2: Path, capsys: Cap, monkeypatch: Mp) -> None:
    with psycopg.connect(empty_db, autocommit=True) as c:
        c.execute("CREATE SCHEMA zbugs_synth")
        c.execute("CREATE TABLE zbugs_synth.migrations (version integer PRIMARY KEY, name text NOT NULL, "
                  "checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        for m in migrate.available()[:3]:
            with c.transaction():
                c.execute(m.sql)
                c.execute("INSERT INTO zbugs_synth.migrations (version, name, checksum) VALUES (%s, %s, %s)",
                          (m.version, m.name, m.checksum))
        c.execute(OLD_LOADER_DDL)
        c.execute("INSERT INTO zbugs_synth.loaded_datasets (dataset_id, source, rows, mode, finished_at) "
                  "VALUES ('old', '/old', '{}', 'seed', now())")
    # The new loader says what to do instead of creating tables itself.
    ran = seed_cli(empty_db, batch1, capsys, monkeypatch, ZERO_SEED_FORCE="true")
    assert ran.code == 2 and "run `zbugs-synth db-migrate` first" in ran.err, ran.text
    assert migrate.migrate(empty_db).applied == ["0004_loader_bookkeeping"]
    assert [(d, f) for d, _s, _m, _r, f in loads(empty_db)] == [("old", True)]  # kept
    assert seed_cli(empty_db, batch1, capsys, monkeypatch, ZERO_SEED_FORCE="true").code == 0
    assert seed_cli(empty_db, batch2, capsys, monkeypatch, ZERO_SEED_APPEND="true").code == 0
    assert counts(empty_db) == expected_rows(batch1, batch2) and differences(empty_db) == []


def test_other_roles_cannot_write_the_bookkeeping(fresh_db: str, pg_admin_url: str) -> None:
    role = f"writer_{uuid.uuid4().hex[:8]}"
    db = connect.database_name(fresh_db)
    with psycopg.connect(pg_admin_url, autocommit=True) as c:
        c.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
        c.execute(f'GRANT ALL ON SCHEMA public TO {role}')
        c.execute(f'GRANT CONNECT ON DATABASE "{db}" TO {role}')
    try:
        url = fresh_db.replace(fresh_db.split("//")[1].split("@")[0], f"{role}:pw")
        with psycopg.connect(url, autocommit=True) as c:
            for stmt in ("INSERT INTO zbugs_synth.seed_objects VALUES (1, 1, '{}')",
                         "SELECT * FROM zbugs_synth.seed_runs",
                         "CREATE TABLE zbugs_synth.mine (x int)"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    c.execute(stmt)
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as c:
            c.execute(f'REVOKE ALL ON SCHEMA public FROM {role}')
            c.execute(f'REVOKE ALL ON DATABASE "{db}" FROM {role}')
            c.execute(f"DROP ROLE {role}")


GOOD_INDEX = SavedIndex("issue", "issue_created_idx", 'CREATE INDEX issue_created_idx ON public.issue USING btree '
                        "(created)", ("created",), False)
GOOD_TRIGGER = SavedTrigger("issue", "issue_set_created", "O", definition="CREATE TRIGGER issue_set_created BEFORE "
                            "INSERT ON public.issue FOR EACH ROW EXECUTE FUNCTION set_created_now()")
GOOD_FK = SavedForeignKey("comment", "comment_issueID_fkey", "issue",
                          'FOREIGN KEY ("issueID") REFERENCES issue(id) ON DELETE CASCADE', ("issueID",), ("id",), True)


@pytest.mark.parametrize("bad", [
    GOOD_INDEX.__class__(**{**GOOD_INDEX.__dict__, "definition": GOOD_INDEX.definition + "; DROP TABLE issue"}),
    GOOD_INDEX.__class__(**{**GOOD_INDEX.__dict__,
                            "definition": "CREATE INDEX issue_created_idx ON public.issue USING btree "
                                          "((pg_terminate_backend(1)))"}),
    GOOD_INDEX.__class__(**{**GOOD_INDEX.__dict__, "definition": "CREATE INDEX issue_created_idx ON public.issue "
                                                                 "USING btree (created) WHERE (open)"}),
    GOOD_INDEX.__class__(**{**GOOD_INDEX.__dict__, "table": "pg_authid"}),
    GOOD_INDEX.__class__(**{**GOOD_INDEX.__dict__, "definition": "CREATE INDEX issue_created_idx ON public.issue "
                                                                 "USING btree (modified)"}),  # not its columns
    GOOD_INDEX.__class__(**{**GOOD_INDEX.__dict__, "definition": "CREATE INDEX issue_created_idx ON public.issue "
                                                                 "USING btree (modified)", "columns": ("modified",)}),
    GOOD_FK.__class__(**{**GOOD_FK.__dict__, "definition": GOOD_FK.definition + "; DROP TABLE issue"}),
    GOOD_FK.__class__(**{**GOOD_FK.__dict__, "ref_table": "comment",
                         "definition": 'FOREIGN KEY ("issueID") REFERENCES comment(id)'}),  # not the contract's
    replace(GOOD_TRIGGER, definition=GOOD_TRIGGER.definition + "; DROP TABLE issue"),
    replace(GOOD_TRIGGER, definition=(GOOD_TRIGGER.definition or "").replace("FOR EACH ROW", "FOR EACH ROW WHEN "
                                                                            "(pg_terminate_backend(1))")),
    replace(GOOD_TRIGGER, definition=(GOOD_TRIGGER.definition or "").replace("now()", "now('x')")),
    replace(GOOD_TRIGGER, definition=(GOOD_TRIGGER.definition or "").replace("BEFORE", "AFTER")),
    replace(GOOD_TRIGGER, name="another"),  # not the trigger its definition creates
    replace(GOOD_TRIGGER, table="pg_authid"),
])
def test_definitions_the_loader_would_not_write_are_refused(bad: SavedIndex | SavedForeignKey | SavedTrigger) -> None:
    assert validated(GOOD_INDEX) is GOOD_INDEX and validated(GOOD_FK) is GOOD_FK
    assert validated(GOOD_TRIGGER) is GOOD_TRIGGER
    with pytest.raises(UnsafeSavedObject, match="refusing to replay"):
        validated(bad)


def test_a_tampered_saved_definition_is_never_run(fresh_db: str, batch1: Path, tmp_path: Path) -> None:
    killed = seed_process(fresh_db, batch1, tmp_path, ZBUGS_TEST_CRASH_AT="after-drop")
    assert killed.code != 0 and open_runs(fresh_db) == 1
    query(fresh_db, "UPDATE zbugs_synth.seed_objects SET spec = jsonb_set(spec, '{definition}', "
                    "to_jsonb((spec->>'definition') || '; CREATE TABLE public.pwned (x int)')) "
                    "WHERE spec->>'kind' = 'index' AND spec->>'name' = 'issue_created_idx'")
    again = seed_process(fresh_db, batch1, tmp_path)
    assert again.code != 0 and "refusing to replay index 'issue_created_idx'" in again.err, again.text
    assert query(fresh_db, "SELECT to_regclass('public.pwned')") == [(None,)]


def test_a_tampered_saved_trigger_is_never_created(fresh_db: str, batch1: Path, tmp_path: Path) -> None:
    killed = seed_process(fresh_db, batch1, tmp_path, ZBUGS_TEST_CRASH_AT="after-drop")
    assert killed.code != 0 and open_runs(fresh_db) == 1
    # Mid-load, BEFORE INSERT row triggers are dropped (COPY buffers rows only without them), the others
    # disabled.
    left = dict(query(fresh_db, "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'public.issue'::regclass "
                                "AND NOT tgisinternal"))
    assert left == {"issue_delete_emoji": "D"}, left
    query(fresh_db, "UPDATE zbugs_synth.seed_objects SET spec = jsonb_set(spec, '{definition}', "
                    "to_jsonb(replace(spec->>'definition', 'FOR EACH ROW', 'FOR EACH ROW WHEN (false)'))) "
                    "WHERE spec->>'kind' = 'trigger' AND spec->>'name' = 'issue_set_created'")
    again = seed_process(fresh_db, batch1, tmp_path)
    assert again.code != 0 and "refusing to replay trigger 'issue_set_created'" in again.err, again.text
