"""Replica identity survives a load, a reset repairs one left dangling, verify fails on a broken one.

zero-cache sets `REPLICA IDENTITY USING INDEX` on published tables; it is simulated here with the same
statement. Each test then checks what matters to zero-cache and to writers: UPDATE and DELETE work.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from loader_helpers import Cap, Mp, differences, query, seed_cli

from zbugs_synth.cli import main


def identity(url: str, table: str) -> tuple[str, str | None]:
    rows = query(url, """SELECT c.relreplident::text,
                                (SELECT i.relname::text FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                                  WHERE x.indrelid = c.oid AND x.indisreplident)
                           FROM pg_class c WHERE c.oid = %s::regclass""", (f'public."{table}"',))
    return rows[0][0], rows[0][1]


def writes_work(url: str) -> None:
    """UPDATE and DELETE on the published tables the tests touch (rolled back)."""
    with psycopg.connect(url) as c:
        c.execute('UPDATE "user" SET name = name WHERE id = (SELECT min(id) FROM "user")')
        c.execute('UPDATE issue SET title = title WHERE id = (SELECT min(id) FROM issue)')
        c.execute('DELETE FROM "issueLabel" WHERE "issueID" = (SELECT min("issueID") FROM "issueLabel")')
        c.rollback()


def verify_json(url: str, capsys: Cap) -> tuple[int, dict[str, dict[str, object]]]:
    capsys.readouterr()
    code = main(["verify", "--db-url", url, "--progress", "none", "--json"])
    out = json.loads(capsys.readouterr().out)
    return code, {c["name"]: c for c in out["checks"]}


def test_identity_using_index_is_kept_by_seed_and_append(fresh_db: str, batch1: Path, batch2: Path, capsys: Cap,
                                                         monkeypatch: Mp) -> None:
    query(fresh_db, 'ALTER TABLE "user" REPLICA IDENTITY USING INDEX user_githubid_idx')
    query(fresh_db, 'ALTER TABLE issue REPLICA IDENTITY USING INDEX issue_project_idx')
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    assert identity(fresh_db, "user") == ("i", "user_githubid_idx")
    assert identity(fresh_db, "issue") == ("i", "issue_project_idx")
    assert identity(fresh_db, "comment") == ("d", None)
    writes_work(fresh_db)
    assert seed_cli(fresh_db, batch2, capsys, monkeypatch, ZERO_SEED_APPEND="true").code == 0
    assert identity(fresh_db, "user") == ("i", "user_githubid_idx")
    assert identity(fresh_db, "issue") == ("i", "issue_project_idx")
    writes_work(fresh_db)
    assert differences(fresh_db) == []


def test_force_load_restores_identity(fresh_db: str, batch1: Path, capsys: Cap, monkeypatch: Mp) -> None:
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    query(fresh_db, 'ALTER TABLE "user" REPLICA IDENTITY USING INDEX user_login_idx')
    query(fresh_db, 'ALTER TABLE label REPLICA IDENTITY FULL')
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch, ZERO_SEED_FORCE="true").code == 0
    assert identity(fresh_db, "user") == ("i", "user_login_idx")
    assert identity(fresh_db, "label") == ("f", None)
    writes_work(fresh_db)


def test_dangling_identity_fails_verify_and_reset_repairs_it(fresh_db: str, batch1: Path, capsys: Cap,
                                                              monkeypatch: Mp) -> None:
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    # What an older loader did after zero-cache chose the index: the index is gone, the identity names it.
    query(fresh_db, 'ALTER TABLE "user" REPLICA IDENTITY USING INDEX user_githubid_idx')
    query(fresh_db, "DROP INDEX user_githubid_idx")
    query(fresh_db, "CREATE UNIQUE INDEX user_githubid_idx ON \"user\" (\"githubID\")")
    assert identity(fresh_db, "user") == ("i", None)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="replica identity"):
        query(fresh_db, 'UPDATE "user" SET name = name')
    code, checks = verify_json(fresh_db, capsys)
    check = checks["replica identity of published tables"]
    assert code == 1 and check["status"] == "FAIL"
    assert 'ALTER TABLE "public"."user" REPLICA IDENTITY DEFAULT' in str(check["summary"])

    ran = seed_cli(fresh_db, None, capsys, monkeypatch, ZERO_SEED_RESET="true")
    assert ran.code == 0, ran.text
    assert 'repaired: ALTER TABLE "public"."user" REPLICA IDENTITY DEFAULT' in ran.text
    assert identity(fresh_db, "user") == ("d", None)
    writes_work(fresh_db)
    code, checks = verify_json(fresh_db, capsys)
    assert checks["replica identity of published tables"]["status"] == "PASS"


@pytest.mark.parametrize(("setup", "words"), [
    ('ALTER TABLE comment REPLICA IDENTITY NOTHING', "NOTHING"),
    ('ALTER TABLE "userPref" DROP CONSTRAINT "userPref_pkey"', "no primary key"),
])
def test_verify_fails_on_unusable_identity(fresh_db: str, capsys: Cap, setup: str, words: str) -> None:
    query(fresh_db, setup)
    code, checks = verify_json(fresh_db, capsys)
    check = checks["replica identity of published tables"]
    assert code == 1 and check["status"] == "FAIL" and words in str(check["summary"]), check
    assert "repair: " in str(check["summary"])
