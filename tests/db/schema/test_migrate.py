"""db-migrate: the migrated database matches the zbugs contract, read back from the catalog."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest

from zbugs_synth.cli import main
from zbugs_synth.db import schema
from zbugs_synth.db.connect import connect, create_database, database_name, drop_database, with_database
from zbugs_synth.db.schema import migrate
from zbugs_synth.errors import UserError

ZERO = "iCNlS2qEpzYWEes1RTf-D"


def _conn(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True)


def _now_ms() -> float:
    return time.time() * 1000


# ---- structure -----------------------------------------------------------------------------------

def test_columns_match_contract_via_information_schema(fresh_db: str) -> None:
    with _conn(fresh_db) as c:
        rows = c.execute(
            """SELECT table_name, column_name, data_type, character_maximum_length, is_nullable,
                      column_default, is_identity
                 FROM information_schema.columns WHERE table_schema = 'public'
                ORDER BY table_name, ordinal_position""").fetchall()
    found: dict[str, list[schema.Column]] = {}
    for table, col, dtype, maxlen, nullable, default, is_identity in rows:
        type_ = f"{dtype}({maxlen})" if maxlen else dtype
        norm = schema._normalise_default(default)
        assert not (is_identity == "YES" and norm), "identity columns have no ordinary default"
        found.setdefault(table, []).append(schema.Column(col, type_, nullable == "NO", norm))
    assert found == {t: list(cols) for t, cols in schema.COLUMNS.items()}


def test_now_ms_defaults_fill_in_current_time(fresh_db: str) -> None:
    with _conn(fresh_db) as c:
        c.execute("SET session_replication_role = replica")  # triggers off: see the bare defaults
        c.execute("""INSERT INTO "user" (id, login, "githubID") VALUES ('u1', 'ann', 1)""")
        before = _now_ms()
        c.execute("""INSERT INTO issue (id, title, open, "creatorID") VALUES ('i1', 't', true, 'u1')""")
        c.execute("""INSERT INTO "issueNotifications" ("userID", "issueID") VALUES ('u1', 'i1')""")
        after = _now_ms()
        row = c.execute("""SELECT i.modified, i.created, n.created, n.subscribed, i.description, i.visibility,
                                  i."projectID", u.role
                             FROM issue i, "issueNotifications" n, "user" u""").fetchone()
    assert row is not None
    for stamp in row[:3]:
        assert before - 5 <= stamp <= after + 5
    assert row[3:] == (True, "", "public", ZERO, "user")


def test_short_id_identity(fresh_db: str) -> None:
    with _conn(fresh_db) as c:
        ident = c.execute(
            """SELECT is_identity, identity_generation, identity_start, identity_maximum, identity_increment
                 FROM information_schema.columns
                WHERE table_name = 'issue' AND column_name = 'shortID'""").fetchone()
        seq = c.execute("""SELECT pg_get_serial_sequence('public.issue', 'shortID')""").fetchone()
        c.execute("""INSERT INTO "user" (id, login, "githubID") VALUES ('u1', 'ann', 1)""")
        c.execute("""INSERT INTO issue (id, title, open, "creatorID") VALUES ('a', 't', true, 'u1'),
                                                                             ('b', 't', true, 'u1')""")
        short = c.execute("""SELECT "shortID" FROM issue ORDER BY id""").fetchall()
    assert ident == ("YES", "BY DEFAULT", "3000", "2147483647", "1")
    assert seq == ('public."issue_shortID_seq"',)
    assert [r[0] for r in short] == [3000, 3001]


def test_indexes_names_columns_uniqueness(fresh_db: str) -> None:
    with _conn(fresh_db) as c:
        found = schema.indexes(c)
        defs = dict(c.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'").fetchall())
    assert found == schema.INDEXES
    # Cross-check a few against pg_indexes' own rendering.
    assert defs["user_login_idx"] == 'CREATE UNIQUE INDEX user_login_idx ON public."user" USING btree (login)'
    assert defs["issue_projectID_open_assigneeID_modified_idx"].endswith(
        'USING btree ("projectID", open, "assigneeID", modified, id)')
    assert defs["issueLabel_pkey"].startswith('CREATE UNIQUE INDEX "issueLabel_pkey"')
    assert "UNIQUE" not in defs["issue_created_idx"]
    assert len(defs) == len(schema.INDEXES)


def test_foreign_keys_via_information_schema(fresh_db: str) -> None:
    with _conn(fresh_db) as c:
        rules = dict(c.execute(
            """SELECT constraint_name, delete_rule FROM information_schema.referential_constraints
                WHERE constraint_schema = 'public'""").fetchall())
        found = schema.foreign_keys(c)
    assert found == schema.FOREIGN_KEYS
    assert rules == {name: fk.on_delete for name, fk in schema.FOREIGN_KEYS.items()}
    cascades = {n for n, r in rules.items() if r == "CASCADE"}
    assert "comment_issueID_fkey" in cascades and "issueLabel_issueID_projectID_fkey" in cascades
    assert "issue_creatorID_fkey" not in cascades and "issueLabel_labelID_projectID_fkey" not in cascades


def test_publication_tables_and_user_columns(fresh_db: str) -> None:
    with _conn(fresh_db) as c:
        rows = dict(c.execute(
            "SELECT tablename, attnames FROM pg_publication_tables WHERE pubname = 'zero_zbugs'").fetchall())
        pub = c.execute("SELECT pubinsert, pubupdate, pubdelete, pubtruncate, puballtables "
                        "FROM pg_publication WHERE pubname = 'zero_zbugs'").fetchone()
    assert set(rows) == {"issue", "viewState", "comment", "label", "issueLabel", "emoji", "userPref",
                         "issueNotifications", "project", "user"}
    assert rows["user"] == ["id", "login", "name", "avatar", "role", "githubID"]
    assert "email" not in rows["user"]
    assert rows["issue"][:2] == ["id", "shortID"] and len(rows["issue"]) == 11
    assert pub == (True, True, True, True, False)


def test_zero_project_row(fresh_db: str) -> None:
    with _conn(fresh_db) as c:
        rows = c.execute("""SELECT id, name, "lowerCaseName", "supportsSearch" FROM project""").fetchall()
    assert rows == [(ZERO, "Zero", "zero", True)]


def test_bookkeeping_outside_public_and_publication(fresh_db: str) -> None:
    with _conn(fresh_db) as c:
        rows = c.execute("SELECT version, name FROM zbugs_synth.migrations ORDER BY version").fetchall()
        published = c.execute(
            "SELECT count(*) FROM pg_publication_tables WHERE schemaname <> 'public'").fetchone()
    assert [r[1] for r in rows] == [m.name for m in migrate.available()]
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    assert published == (0,)


def test_contract_check_passes_and_catches_drift(fresh_db: str) -> None:
    with _conn(fresh_db) as c:
        assert schema.differences(c) == []
        c.execute('DROP INDEX "issue_created_idx"')
        c.execute('ALTER TABLE "user" ALTER COLUMN role SET DEFAULT \'crew\'')
        c.execute("ALTER TABLE comment DISABLE TRIGGER comment_bump_issue_modified")
        c.execute('ALTER PUBLICATION zero_zbugs SET TABLE issue, "user"')
        diffs = schema.differences(c)
    assert any("'issue_created_idx' is missing" in d for d in diffs)
    assert any("table 'user' columns differ" in d for d in diffs)
    assert "trigger comment AFTER INSERT is disabled" in diffs
    assert any("publication zero_zbugs table 'comment' is missing" in d for d in diffs)
    assert any("publication zero_zbugs table 'user'" in d and "found None" in d for d in diffs)


# ---- trigger behaviour ---------------------------------------------------------------------------

@pytest.fixture
def db(fresh_db: str) -> Any:
    with _conn(fresh_db) as c:
        c.execute("""INSERT INTO "user" (id, login, "githubID") VALUES ('u1', 'ann', 1)""")
        yield c


def _issue(c: psycopg.Connection[Any], iid: str = "i1") -> None:
    c.execute("""INSERT INTO issue (id, title, open, "creatorID", created, modified)
                 VALUES (%s, 't', true, 'u1', 1, 2)""", (iid,))


def _set_modified(c: psycopg.Connection[Any], iid: str, value: float) -> None:
    c.execute("SET session_replication_role = replica")  # write past the issue trigger
    c.execute("UPDATE issue SET modified = %s WHERE id = %s", (value, iid))
    c.execute("SET session_replication_role = DEFAULT")


def _modified(c: psycopg.Connection[Any], iid: str = "i1") -> float:
    row = c.execute("SELECT modified FROM issue WHERE id = %s", (iid,)).fetchone()
    assert row is not None
    return float(row[0])


def test_issue_insert_sets_created_and_modified(db: psycopg.Connection[Any]) -> None:
    before = _now_ms()
    _issue(db)
    after = _now_ms()
    row = db.execute("SELECT created, modified FROM issue").fetchone()
    assert row is not None
    assert before - 5 <= row[0] <= after + 5 and before - 5 <= row[1] <= after + 5


def test_issue_update_bumps_modified_only(db: psycopg.Connection[Any]) -> None:
    _issue(db)
    db.execute("SET session_replication_role = replica")
    db.execute("UPDATE issue SET created = 10, modified = 20")
    db.execute("SET session_replication_role = DEFAULT")
    db.execute("UPDATE issue SET title = 'changed'")
    row = db.execute("SELECT created, modified FROM issue").fetchone()
    assert row is not None
    assert row[0] == 10 and row[1] > _now_ms() - 60_000


def test_comment_insert_sets_created_and_bumps_issue(db: psycopg.Connection[Any]) -> None:
    _issue(db)
    _set_modified(db, "i1", 123.0)
    before = _now_ms()
    db.execute("""INSERT INTO comment (id, "issueID", body, "creatorID", created)
                  VALUES ('c1', 'i1', 'x', 'u1', 5)""")
    row = db.execute("SELECT created FROM comment").fetchone()
    assert row is not None and row[0] >= before - 5
    assert _modified(db) >= before - 5


@pytest.mark.parametrize(("issue_id", "limit"), [("i1", 65536), ("duuW9Nyj5cTNLlimp9Qje", 1024)])
def test_comment_body_limit(db: psycopg.Connection[Any], issue_id: str, limit: int) -> None:
    _issue(db, issue_id)
    sql = """INSERT INTO comment (id, "issueID", body) VALUES (%s, %s, %s)"""
    db.execute(sql, ("ok", issue_id, "é" * limit))  # characters, not bytes
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(sql, ("long", issue_id, "a" * (limit + 1)))
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("UPDATE comment SET body = body || 'a' WHERE id = 'ok'")


def test_project_lower_case_name(db: psycopg.Connection[Any]) -> None:
    db.execute("""INSERT INTO project (id, name, "lowerCaseName")
                  VALUES ('p1', 'Rocicorp ÉCOLE', 'ignored')""")
    db.execute("UPDATE project SET name = 'Second NAME' WHERE id = 'p1'")
    db.execute("""INSERT INTO project (id, name) VALUES ('p2', 'MiXeD École')""")
    rows = db.execute("""SELECT id, "lowerCaseName" FROM project WHERE id <> %s ORDER BY id""",
                      (ZERO,)).fetchall()
    assert rows == [("p1", "second name"), ("p2", "mixed école")]


def test_emoji_subject_check_bump_and_cleanup(db: psycopg.Connection[Any]) -> None:
    _issue(db)
    db.execute("""INSERT INTO comment (id, "issueID", body) VALUES ('c1', 'i1', 'x')""")
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        db.execute("""INSERT INTO emoji (id, value, "subjectID") VALUES ('e0', '+1', 'nope')""")
    _set_modified(db, "i1", 1.0)
    before = _now_ms()
    db.execute("""INSERT INTO emoji (id, value, "subjectID", "creatorID", created)
                  VALUES ('e1', '+1', 'c1', 'u1', 7), ('e2', '+1', 'i1', 'u1', 7)""")
    assert _modified(db) >= before - 5  # a reaction to a comment bumps its issue
    created = db.execute("SELECT min(created) FROM emoji").fetchone()
    assert created is not None and created[0] >= before - 5
    db.execute("DELETE FROM comment WHERE id = 'c1'")
    assert db.execute("SELECT id FROM emoji").fetchall() == [("e2",)]
    db.execute("DELETE FROM issue WHERE id = 'i1'")
    assert db.execute("SELECT count(*) FROM emoji").fetchone() == (0,)


def test_issue_delete_cascades(db: psycopg.Connection[Any]) -> None:
    _issue(db)
    db.execute("""INSERT INTO label (id, name) VALUES ('l1', 'bug')""")
    db.execute("""INSERT INTO "issueLabel" ("labelID", "issueID") VALUES ('l1', 'i1')""")
    db.execute("""INSERT INTO comment (id, "issueID", body) VALUES ('c1', 'i1', 'x')""")
    db.execute("""INSERT INTO "viewState" ("userID", "issueID", viewed) VALUES ('u1', 'i1', 1)""")
    db.execute("DELETE FROM issue")
    counts = db.execute("""SELECT (SELECT count(*) FROM comment), (SELECT count(*) FROM "issueLabel"),
                                  (SELECT count(*) FROM "viewState"), (SELECT count(*) FROM label)
                        """).fetchone()
    assert counts == (0, 0, 0, 1)


# ---- running migrations --------------------------------------------------------------------------

def test_migrate_empty_db_then_idempotent(empty_db: str) -> None:
    first = migrate.migrate(empty_db)
    second = migrate.migrate(empty_db)
    assert first.applied == ["0001_schema", "0002_triggers", "0003_publication", "0004_loader_bookkeeping"]
    assert first.already == 0
    assert second.applied == [] and second.already == 4
    with _conn(empty_db) as c:
        assert schema.differences(c) == []


def test_cli_migrate_with_db_url_reports(empty_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    password = empty_db.split(":")[2].split("@")[0]
    assert main(["db-migrate", "--db-url", empty_db]) == 0
    out = capsys.readouterr().out
    assert "applied 4 migration(s)" in out and "0004_loader_bookkeeping" in out
    assert main(["db-migrate", "--db-url", empty_db]) == 0
    out2 = capsys.readouterr().out
    assert "nothing to apply" in out2 and "(4 migrations)" in out2
    assert password not in out + out2 and "****" in out


def test_cli_migrate_local_server_creates_database(pg_server: Any, pg_admin_url: str,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ZERO_UPSTREAM_DB", raising=False)
    monkeypatch.chdir(pg_server.cluster.state_dir.parent)  # no .env here
    drop_database(pg_admin_url, "zbugs")
    assert main(["db-migrate", "--data-dir", str(pg_server.cluster.state_dir)]) == 0
    out = capsys.readouterr().out
    assert "created database 'zbugs'" in out and "applied 4 migration(s)" in out
    with connect(pg_server.url()) as c:
        assert database_name(pg_server.url()) == "zbugs"
        assert schema.differences(c) == []


def test_changed_migration_is_reported(fresh_db: str) -> None:
    with _conn(fresh_db) as c:
        c.execute("UPDATE zbugs_synth.migrations SET checksum = 'edited' WHERE version = 2")
    with pytest.raises(UserError, match="migration 0002_triggers was changed after it was applied"):
        migrate.migrate(fresh_db)


def test_failed_migration_rolls_back_and_is_one_line(empty_db: str) -> None:
    with _conn(empty_db) as c:
        c.execute('CREATE TABLE "user" (id int)')  # in the way of 0001
    with pytest.raises(UserError) as err:
        migrate.migrate(empty_db)
    msg = str(err.value)
    assert "migration 0001_schema failed" in msg and "already exists" in msg and "\n" not in msg
    with _conn(empty_db) as c:
        assert c.execute("SELECT count(*) FROM zbugs_synth.migrations").fetchone() == (0,)
        assert c.execute("SELECT to_regclass('public.project')").fetchone() == (None,)


def test_template_clone_is_independent(fresh_db: str, pg_admin_url: str, zbugs_template: str) -> None:
    with _conn(fresh_db) as c:
        c.execute("""INSERT INTO "user" (id, login, "githubID") VALUES ('only-here', 'x', 9)""")
    create_database(pg_admin_url, "test_second_clone", template=zbugs_template, if_missing=False)
    try:
        with _conn(with_database(pg_admin_url, "test_second_clone")) as other:
            assert other.execute('SELECT count(*) FROM "user"').fetchone() == (0,)
    finally:
        drop_database(pg_admin_url, "test_second_clone")


def test_differences_on_an_empty_database_lists_what_is_missing(empty_db: str) -> None:
    # A database with no zbugs schema at all must be described, not crash the comparison.
    from zbugs_synth.db.schema import differences

    with psycopg.connect(empty_db) as conn:
        problems = differences(conn)
    assert any("issue" in p for p in problems) and len(problems) > 5


def test_differences_catch_keys_and_indexes_that_do_not_do_their_job(fresh_db: str) -> None:
    from zbugs_synth.db.schema import differences

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute('ALTER TABLE comment DROP CONSTRAINT "comment_issueID_fkey"')
        conn.execute('ALTER TABLE comment ADD CONSTRAINT "comment_issueID_fkey" FOREIGN KEY ("issueID") '
                     'REFERENCES issue(id) ON DELETE CASCADE NOT VALID')
        conn.execute("""INSERT INTO "user" (id, login, "githubID") VALUES ('a', 'a', 1), ('b', 'b', 2)""")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute('CREATE UNIQUE INDEX CONCURRENTLY user_role_idx ON "user" (role)')
        problems = differences(conn)
    assert "foreign key 'comment_issueID_fkey' is NOT VALID (existing rows were never checked)" in problems
    assert any("'user_role_idx' is not valid" in p for p in problems)
