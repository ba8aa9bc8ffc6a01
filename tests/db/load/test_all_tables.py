"""ALL_TABLES datasets: the real loader seeds all ten tables and verify passes, including the rule
zbugs enforces with a trigger (an emoji's subject is an issue or a comment); damage is caught."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from loader_helpers import make_dataset, query, seed_cli

from zbugs_synth.cli import main
from zbugs_synth.db.verify.extra import EMOJI_SUBJECT, EMOJI_TIMES, VIEW_TIMES
from zbugs_synth.manifest import read_manifest
from zbugs_synth.tables import EXTRA_TABLES


@pytest.fixture(scope="module")
def all_tables_ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("all") / "ds",
                        {"NUM_ISSUES": "1500", "NUM_PROJECTS": "12", "ALL_TABLES": "true"})


def verify_json(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, dict]]:
    capsys.readouterr()
    code = main(["verify", "--db-url", url, "--progress", "none", "--json"])
    result = json.loads(capsys.readouterr().out)
    return code, {c["name"]: c for c in result["checks"]}


def test_all_tables_load_and_verify(fresh_db: str, all_tables_ds: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    ran = seed_cli(fresh_db, all_tables_ds, capsys, monkeypatch)
    assert ran.code == 0, ran.out + ran.err
    manifest = read_manifest(all_tables_ds)
    assert manifest is not None
    rows = manifest.rows_by_table()
    for table in EXTRA_TABLES:
        assert rows[table] > 0, table
        assert query(fresh_db, f'SELECT count(*) FROM "{table}"')[0][0] == rows[table]
    code, checks = verify_json(fresh_db, capsys)
    assert code == 0, [c for c in checks.values() if c["status"] != "PASS"]
    assert checks[EMOJI_SUBJECT]["status"] == "PASS" and checks[EMOJI_TIMES]["status"] == "PASS"
    assert checks[VIEW_TIMES]["numbers"]["unread"] > 0  # "unread" issues exist
    # Emoji on both kinds of subject; skin tones stored as numbers in text.
    on_issue, on_comment = query(fresh_db, """SELECT count(*) FILTER (WHERE EXISTS (SELECT 1 FROM issue i
                                                                   WHERE i.id = e."subjectID")),
                                                    count(*) FILTER (WHERE EXISTS (SELECT 1 FROM comment c
                                                                   WHERE c.id = e."subjectID"))
                                               FROM emoji e""")[0]
    assert on_issue > 0 and on_comment > 0
    prefs = query(fresh_db, 'SELECT DISTINCT key, value FROM "userPref"')
    assert {k for k, _ in prefs} == {"emojiSkinTone"} and all(v.isdigit() and 0 <= int(v) <= 5 for _, v in prefs)

    # Damage: an emoji whose subject is neither an issue nor a comment (triggers off, as in a bulk load).
    with psycopg.connect(fresh_db) as c:
        c.execute('ALTER TABLE emoji DISABLE TRIGGER USER')
        c.execute("""INSERT INTO emoji (id, value, annotation, "subjectID", "creatorID", created)
                     VALUES ('bogusEmoji00000000000', '👍', 'thumbs up', 'noSuchSubject00000000', 'usr_0001', 1)""")
        c.execute('ALTER TABLE emoji ENABLE TRIGGER USER')
    code, checks = verify_json(fresh_db, capsys)
    assert code == 1
    assert checks[EMOJI_SUBJECT]["status"] == "FAIL" and checks[EMOJI_SUBJECT]["numbers"]["orphans"] == 1
    # ...and the time order, read in the same pass: a reaction older than the issue it is on.
    with psycopg.connect(fresh_db) as c:
        c.execute('ALTER TABLE emoji DISABLE TRIGGER USER')
        c.execute("""UPDATE emoji e SET created = i.created - 1 FROM issue i
                      WHERE e.id = (SELECT e2.id FROM emoji e2 JOIN issue i2 ON i2.id = e2."subjectID" LIMIT 1)
                        AND i.id = e."subjectID\"""")
        c.execute('ALTER TABLE emoji ENABLE TRIGGER USER')
    code, checks = verify_json(fresh_db, capsys)
    assert code == 1
    assert checks[EMOJI_TIMES]["status"] == "FAIL" and checks[EMOJI_TIMES]["numbers"]["beforeSubject"] == 1
    assert checks[EMOJI_SUBJECT]["numbers"]["orphans"] == 1  # still counted apart: not in the time check
    assert checks[EMOJI_TIMES]["numbers"]["emoji"] == query(fresh_db, "SELECT count(*) FROM emoji")[0][0] - 1
