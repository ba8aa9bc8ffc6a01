"""verify on real databases: a clean load passes, each kind of damage is reported, and so are the
original tool's known defects."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from verify_helpers import load_dir

from original_format import OriginalDataset
from zbugs_synth.cli import main
from zbugs_synth.config import build
from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.db import schema
from zbugs_synth.db.load.bookkeeping import LOADED_DATASETS
from zbugs_synth.db.verify.checks import COMMENT_LIMITED_ISSUE, FAIL, PASS, WARN, Report, verify
from zbugs_synth.generate.driver import generate
from zbugs_synth.manifest import read_manifest
from zbugs_synth.tables import TABLES


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("verify-ds") / "ds"
    generate(build(GenerateConfig, None, {"NUM_ISSUES": "2000", "NUM_PROJECTS": "20", "OUTPUT_DIR": str(out)}))
    return out


def run_json(url: str, *extra: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["verify", "--db-url", url, "--progress", "none", "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in result["checks"]}


def sql_one(url: str, query: str, params: tuple[Any, ...] = ()) -> Any:
    with psycopg.connect(url) as c:
        row = c.execute(query, params).fetchone()
        assert row is not None
        return row[0] if len(row) == 1 else row


def sql_all(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as c:
        return [tuple(r) for r in c.execute(query).fetchall()]


# ---- clean ---------------------------------------------------------------------------------------

def test_clean_load_passes_and_counts_match_manifest(fresh_db: str, dataset: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    load_dir(fresh_db, dataset)
    code = main(["verify", "--db-url", fresh_db, "--progress", "plain"])
    out, err = capsys.readouterr()
    assert code == 0, out
    checks = [line.split()[0] for line in out.split("Checks\n")[1].split("\n\n")[0].splitlines()
              if line.startswith("  ") and line.split()[0] in (PASS, WARN, FAIL)]
    assert checks and set(checks) == {PASS}, out
    assert out.rstrip().splitlines()[-1].startswith("Verdict: PASS: 0 failed, 0 warning(s)")
    verdict = out.rstrip().splitlines()[-1]
    n = int(verdict.split("(")[-1].split()[0])
    assert len(checks) == n, verdict
    # Without a terminal stdout and stderr usually land in one log: each check is printed once there,
    # and progress (stderr) counts the checks the verdict counts.
    both = (out + err).splitlines()
    assert sum("no orphans: comment.issueID -> issue.id" in ln for ln in both) == 1, out + err
    assert f"verify: {n} checks" in err, err
    expected = read_manifest(dataset).rows_by_table()  # type: ignore[union-attr]
    # The one row more than the dataset is named: the built-in Zero project the migrations insert.
    count_line = next(ln for ln in out.splitlines() if "row counts match the loaded datasets" in ln)
    loaded = sum(expected.values())
    assert f"{loaded + 1:,} rows in {len(TABLES)} tables: {loaded:,} as 1 finished load(s) recorded + 1, " \
           "the built-in Zero project row the migrations insert" in count_line, count_line
    assert "expected project rows include the built-in Zero project" in out
    expected["project"] += 1  # the built-in Zero project
    for table in TABLES:
        line = next(ln for ln in out.splitlines() if ln.startswith(f"  {table} "))
        assert line.split()[1:4] == [f"{expected[table]:,}", f"{expected[table]:,}", "ok"], line


def test_clean_load_guide_queries_agree_with_the_guides_sql(fresh_db: str, dataset: Path) -> None:
    load_dir(fresh_db, dataset)
    report = verify(fresh_db)
    assert report.ok and not report.warned
    # The guide's own queries, verbatim in spirit: verify must give the same numbers.
    top = sql_all(fresh_db, 'SELECT "projectID", COUNT(*) AS n FROM issue GROUP BY 1 ORDER BY n DESC, 1 LIMIT 10')
    assert [(p.id, p.issues) for p in report.top_projects] == top
    guide = dict(sql_all(fresh_db, """
        SELECT CASE WHEN comment_count = 0 THEN '0' WHEN comment_count BETWEEN 1 AND 2 THEN '1-2'
                    WHEN comment_count BETWEEN 3 AND 5 THEN '3-5' WHEN comment_count BETWEEN 6 AND 10 THEN '6-10'
                    ELSE '10+' END AS bucket, COUNT(*)
          FROM (SELECT i.id, COUNT(c.id) AS comment_count FROM issue i LEFT JOIN comment c ON c."issueID" = i.id
                GROUP BY i.id) sub GROUP BY bucket"""))
    assert dict(report.comment_buckets) == {b: guide.get(b, 0) for b in ("0", "1-2", "3-5", "6-10", "10+")}
    labels = dict(sql_all(fresh_db, """SELECT n, count(*) FROM (SELECT i.id, count(il."labelID") n FROM issue i
                                       LEFT JOIN "issueLabel" il ON il."issueID" = i.id GROUP BY i.id) s GROUP BY n"""))
    assert report.labels_per_issue == labels
    assert len(report.projects) == 21 and sum(p.issues for p in report.projects) == 2000


def test_no_load_recorded_is_a_warning_not_a_failure(fresh_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, result = run_json(fresh_db, capsys=capsys)
    assert code == 0
    counts = by_name(result)["row counts match the loaded datasets"]
    assert counts["status"] == WARN and "no load recorded" in counts["summary"]
    assert result["counts"]["project"] == 1 and result["counts"]["issue"] == 0
    assert result["expected"] is None


# ---- broken --------------------------------------------------------------------------------------

def test_broken_database_reports_each_failure(fresh_db: str, dataset: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    load_dir(fresh_db, dataset)
    with psycopg.connect(fresh_db, autocommit=True) as c:
        victim, n_issues = c.execute('SELECT "projectID", count(*) FROM issue GROUP BY 1 ORDER BY 2 DESC, 1 '
                                     "LIMIT 1").fetchone()  # type: ignore[misc]
        n_labels = c.execute('SELECT count(*) FROM label WHERE "projectID" = %s', (victim,)).fetchone()[0]  # type: ignore[index]
        comment, issue = c.execute('SELECT id, "issueID" FROM comment ORDER BY id LIMIT 1').fetchone()  # type: ignore[misc]
        stale = c.execute("SELECT id FROM issue WHERE id <> %s ORDER BY id LIMIT 1", (issue,)).fetchone()[0]  # type: ignore[index]
        il = c.execute('SELECT "labelID", "issueID" FROM "issueLabel" WHERE "projectID" <> %s ORDER BY 1, 2 LIMIT 1',
                       (victim,)).fetchone()
        assert il is not None
        other = c.execute('SELECT id FROM project WHERE id NOT IN (%s, %s) AND id <> (SELECT "projectID" FROM issue '
                          'WHERE id = %s) ORDER BY id LIMIT 1', (victim, schema.ZERO_PROJECT_ID, il[1])).fetchone()[0]  # type: ignore[index]
        c.execute("SET session_replication_role = replica")  # no triggers, no FK checks: damage gets in
        c.execute("DELETE FROM project WHERE id = %s", (victim,))
        c.execute('UPDATE comment SET created = (SELECT created FROM issue WHERE id = %s) - 60000 WHERE id = %s',
                  (issue, comment))
        c.execute("UPDATE issue SET modified = created - 1 WHERE id = %s", (stale,))
        c.execute('UPDATE "issueLabel" SET "projectID" = %s WHERE "labelID" = %s AND "issueID" = %s', (other, *il))
        c.execute("RESET session_replication_role")
        c.execute("DROP INDEX issue_created_idx")
        trig = c.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'comment'::regclass AND NOT tgisinternal "
                         "ORDER BY tgname LIMIT 1").fetchone()[0]  # type: ignore[index]
        c.execute(f'ALTER TABLE comment DISABLE TRIGGER "{trig}"')

    # --full: the damage came in past the foreign keys (replica role), which the default trusts.
    code, result = run_json(fresh_db, "--full", capsys=capsys)
    assert code == 1 and result["ok"] is False
    checks = by_name(result)

    issue_fk = checks["no orphans: issue.projectID -> project.id"]
    assert issue_fk["status"] == FAIL and issue_fk["numbers"]["orphans"] == n_issues
    assert all(f"projectID={victim}" in s for s in issue_fk["samples"]) and len(issue_fk["samples"]) == 5
    label_fk = checks["no orphans: label.projectID -> project.id"]
    assert label_fk["status"] == FAIL and label_fk["numbers"]["orphans"] == n_labels

    counts = checks["row counts match the loaded datasets"]
    assert counts["status"] == FAIL and "project: expected 21, found 20 (-1)" in counts["details"]

    older = checks["no comment older than its issue"]
    assert older["status"] == FAIL and older["numbers"]["older"] == 1
    assert older["samples"][0].startswith(f"comment {comment} ")

    times = checks["issue modified >= created"]
    assert times["status"] == FAIL and times["numbers"]["modifiedBeforeCreated"] == 1
    assert times["samples"] == [s for s in times["samples"] if s.startswith(f"issue {stale} ")] != []

    for parent in ("issue", "label"):
        mismatch = checks[f"issueLabel.projectID is its {parent}'s project"]
        assert mismatch["status"] == FAIL and mismatch["numbers"]["mismatched"] >= 1
        assert any(f"labelID={il[0]} issueID={il[1]} projectID={other}" in s for s in mismatch["samples"])

    indexes = checks["schema: indexes"]
    assert indexes["status"] == FAIL and indexes["details"] == ["index 'issue_created_idx' is missing"]
    triggers = checks["schema: triggers present and enabled"]
    assert triggers["status"] == FAIL and len(triggers["details"]) == 1 and "disabled" in triggers["details"][0]
    assert "comment" in triggers["details"][0]

    # Damage elsewhere does not spill over into unrelated checks.
    for name in ("no orphans: comment.issueID -> issue.id", "schema: foreign keys", "schema: tables and columns",
                 "built-in Zero project row"):
        assert checks[name]["status"] == PASS, checks[name]
    assert result["verdict"].startswith("FAIL: ")


def test_every_foreign_key_path_is_checked(fresh_db: str) -> None:
    """One dangling row per child table: every FK path in schema.FOREIGN_KEYS must report it."""
    with psycopg.connect(fresh_db, autocommit=True) as c:
        c.execute("SET session_replication_role = replica")
        c.execute("""INSERT INTO label (id, name, "projectID") VALUES ('l1', 'x', 'ghost')""")
        c.execute("""INSERT INTO issue (id, title, open, "creatorID", "assigneeID", "projectID", created, modified)
                     VALUES ('i1', 't', true, 'ghost', 'ghost', 'ghost', 1, 2)""")
        c.execute("""INSERT INTO comment (id, "issueID", body, "creatorID", created) VALUES ('c1', 'ghost', 'b',
                     'ghost', 5)""")
        c.execute("""INSERT INTO "issueLabel" ("labelID", "issueID", "projectID") VALUES ('ghost', 'ghost', 'ghost')""")
        c.execute("""INSERT INTO emoji (id, value, "subjectID", "creatorID") VALUES ('e1', ':)', 'i1', 'ghost')""")
        c.execute("""INSERT INTO "issueNotifications" ("userID", "issueID") VALUES ('ghost', 'ghost')""")
        c.execute("""INSERT INTO "userPref" (key, value, "userID") VALUES ('k', 'v', 'ghost')""")
        c.execute("""INSERT INTO "viewState" ("userID", "issueID") VALUES ('ghost', 'ghost')""")
    report = verify(fresh_db, full=True)
    checks = {c.name: c for c in report.checks}
    orphan_checks = [c for c in report.checks if c.name.startswith("no orphans: ")]
    assert len(orphan_checks) == len(schema.FOREIGN_KEYS) == 14
    for c in orphan_checks:
        assert c.status == FAIL and c.numbers["orphans"] == 1, c
        assert "ghost" in c.samples[0]
    assert checks["no orphans: issueLabel(issueID, projectID) -> issue(id, projectID)"].samples == [
        "issueLabel labelID=ghost issueID=ghost projectID=ghost"]
    # A NULL key is not an orphan (MATCH SIMPLE): comment.issueID and issue.assigneeID may be NULL.
    with psycopg.connect(fresh_db, autocommit=True) as c:
        c.execute("SET session_replication_role = replica")
        c.execute("""UPDATE comment SET "issueID" = NULL""")
        c.execute("""UPDATE issue SET "assigneeID" = NULL""")
    checks = {c.name: c for c in verify(fresh_db, full=True).checks}
    assert checks["no orphans: comment.issueID -> issue.id"].status == PASS
    assert checks["no orphans: issue.assigneeID -> user.id"].status == PASS
    assert checks["no orphans: issue.creatorID -> user.id"].status == FAIL


def test_enforced_foreign_keys_stand_for_the_orphan_scan_and_only_they(fresh_db: str, dataset: Path) -> None:
    """A validated foreign key with its triggers on makes the orphan scan moot (verify at scale); one that
    is NOT VALID, dropped or has its triggers off does not, and the scan finds what got in."""
    load_dir(fresh_db, dataset)
    checks = {c.name: c for c in verify(fresh_db).checks}
    orphan_checks = [c for c in checks.values() if c.name.startswith("no orphans: ")]
    assert len(orphan_checks) == len(schema.FOREIGN_KEYS)
    for c in orphan_checks:
        assert c.status == PASS and "guaranteed by foreign key" in c.summary, c
    assert checks["no orphans: comment.issueID -> issue.id"].numbers["enforcedBy"] == "comment_issueID_fkey"
    for parent in ("issue", "label"):
        assert "guaranteed by foreign key" in checks[f"issueLabel.projectID is its {parent}'s project"].summary

    with psycopg.connect(fresh_db, autocommit=True) as c:
        ghost_issue = c.execute("SELECT id FROM issue ORDER BY id LIMIT 1").fetchone()[0]  # type: ignore[index]
        # Off: the enforcement triggers (an orphan comment gets in); dropped: the key on issue.creatorID;
        # NOT VALID: label's key on projectID (added back without checking the rows there).
        c.execute("ALTER TABLE comment DISABLE TRIGGER ALL")
        c.execute("""INSERT INTO comment (id, "issueID", body, "creatorID", created) VALUES ('c-ghost', 'ghost', 'b',
                     %s, 5)""", (sql_one(fresh_db, 'SELECT "creatorID" FROM comment LIMIT 1'),))
        c.execute("ALTER TABLE comment ENABLE TRIGGER ALL")
        c.execute("ALTER TABLE comment DISABLE TRIGGER ALL")  # and left off
        c.execute("ALTER TABLE issue DROP CONSTRAINT \"issue_creatorID_fkey\"")
        c.execute("""UPDATE issue SET "creatorID" = 'ghost' WHERE id = %s""", (ghost_issue,))
        c.execute("ALTER TABLE label DROP CONSTRAINT \"label_projectID_fkey\"")
        c.execute("""INSERT INTO label (id, name, "projectID") VALUES ('l-ghost', 'x', 'ghost')""")
        c.execute("""ALTER TABLE label ADD CONSTRAINT "label_projectID_fkey" FOREIGN KEY ("projectID")
                     REFERENCES project (id) NOT VALID""")
    checks = {c.name: c for c in verify(fresh_db).checks}
    assert checks["no orphans: comment.issueID -> issue.id"].numbers["orphans"] == 1
    assert checks["no orphans: issue.creatorID -> user.id"].numbers["orphans"] == 1
    assert checks["no orphans: label.projectID -> project.id"].numbers["orphans"] == 1
    assert "guaranteed" in checks["no orphans: issue.projectID -> project.id"].summary  # untouched keys: trusted


def test_interrupted_load_fails(fresh_db: str, dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    load_dir(fresh_db, dataset, finish=False)
    code, result = run_json(fresh_db, capsys=capsys)
    assert code == 1
    counts = by_name(result)["row counts match the loaded datasets"]
    assert counts["status"] == FAIL and "never finished" in counts["summary"]
    dataset_id = read_manifest(dataset).dataset_id  # type: ignore[union-attr]
    assert dataset_id in counts["summary"] and result["loads"][0]["finishedAt"] is None


def test_counts_sum_over_several_loads(fresh_db: str, dataset: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    batch2 = tmp_path / "b2"
    generate(build(GenerateConfig, None, {"NUM_ISSUES": "300", "NUM_PROJECTS": "5", "SEED": "99",
                                          "SKIP_USERS": "true", "OUTPUT_DIR": str(batch2)}))
    first = load_dir(fresh_db, dataset)
    second = load_dir(fresh_db, batch2, mode="append")
    code, result = run_json(fresh_db, capsys=capsys)
    assert code == 0, by_name(result)["row counts match the loaded datasets"]
    for t in TABLES:
        assert result["expected"][t] == first[t] + second[t] + (t == "project")
        assert result["counts"][t] == result["expected"][t]
    # A row deleted behind the loader's back shows up against the recorded sum.
    with psycopg.connect(fresh_db, autocommit=True) as c:
        c.execute('DELETE FROM "issueLabel" WHERE ctid = (SELECT min(ctid) FROM "issueLabel")')
    code, result = run_json(fresh_db, capsys=capsys)
    counts = by_name(result)["row counts match the loaded datasets"]
    assert code == 1 and counts["details"] == [
        f"issueLabel: expected {first['issueLabel'] + second['issueLabel']:,}, "
        f"found {first['issueLabel'] + second['issueLabel'] - 1:,} (-1)"]


# ---- the original tool's dataset -----------------------------------------------------------------

def test_original_fixture_defects_are_reported(fresh_db: str, capsys: pytest.CaptureFixture[str],
                                               original_dataset: OriginalDataset) -> None:
    original = original_dataset.directory
    rows = load_dir(fresh_db, original)
    assert {t: n for t, n in rows.items() if n} == {t: n for t, n in original_dataset.rows.items() if n}
    with psycopg.connect(fresh_db) as c:
        assert c.execute(f"SELECT dataset_id FROM {LOADED_DATASETS}").fetchone()[0].startswith("dir:")  # type: ignore[index]
    code, result = run_json(fresh_db, capsys=capsys)
    assert code == 1
    checks = by_name(result)

    older = checks["no comment older than its issue"]
    truth = sql_one(fresh_db, 'SELECT count(*) FROM comment c JOIN issue i ON i.id = c."issueID" '
                              "WHERE c.created < i.created")
    # The writer dates exactly `older_comments` comments (a quarter of them) before their issue.
    assert truth == original_dataset.shape.older_comments == round(0.25 * original_dataset.shape.num_comments)
    assert older["status"] == FAIL and older["numbers"]["older"] == truth
    assert older["numbers"]["compared"] == rows["comment"]
    assert len(older["samples"]) == 5
    for s in older["samples"]:  # each sample really is one of the comments written older than its issue
        cid = s.split()[1]
        assert cid in original_dataset.older_comment_ids
        assert sql_one(fresh_db, 'SELECT c.created < i.created FROM comment c JOIN issue i ON i.id = c."issueID" '
                                 "WHERE c.id = %s", (cid,)) is True

    with open(original / "project_000.csv", newline="") as f:
        first_project = next(iter(csv.DictReader(f)))["id"]
    with open(original / "issue_000.csv", newline="") as f:
        first_issue = next(iter(csv.DictReader(f)))["id"]
    assert first_project == first_issue == original_dataset.shared_id
    shared = checks["ids not reused across tables"]
    assert shared["status"] == WARN and "id reused across tables" in shared["summary"]
    assert shared["numbers"]["pairs"] == {"project/issue": 1}
    assert shared["samples"] == [f"{first_project} is the id of a project row and of a issue row"]

    # Loaded per the contract, its counts do match; the schema is intact.
    assert checks["row counts match the loaded datasets"]["status"] == PASS
    assert all(c["status"] == PASS for n, c in checks.items() if n.startswith(("schema:", "no orphans:")))


# ---- limits and safety ---------------------------------------------------------------------------

def test_statement_timeout_fails_the_check_and_goes_on(fresh_db: str, dataset: Path) -> None:
    load_dir(fresh_db, dataset)
    with psycopg.connect(fresh_db) as locker:
        locker.execute("LOCK TABLE comment IN ACCESS EXCLUSIVE MODE")  # held until the block ends
        report = verify(fresh_db, statement_timeout=0.3, full=True)  # full: the orphan scan reads comment too
    checks = {c.name: c for c in report.checks}
    timed_out = [c for c in report.checks if "timed out after 0.3s" in c.summary]
    assert {c.name for c in timed_out} >= {"row counts", "no orphans: comment.issueID -> issue.id",
                                           "no comment older than its issue", "comments per issue"}
    assert all(c.status == FAIL for c in timed_out)
    assert checks["no orphans: issue.projectID -> project.id"].status == PASS  # the others still ran
    assert checks["schema: indexes"].status == PASS
    assert not report.ok


def test_a_timeout_too_short_for_anything_fails_checks_not_verify(fresh_db: str, dataset: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """1 ms: even the catalog reads that plan the table passes would be cancelled (a traceback, from an
    audit); they run before the timeout starts to count, and the checks fail one by one."""
    load_dir(fresh_db, dataset)
    assert main(["verify", "--db-url", fresh_db, "--statement-timeout", "0.001", "--progress", "none"]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "timed out after 0.001s" in out and "FAIL" in out, out + err
    # The distributions it could not measure say so, rather than show tables of zeros (a walkthrough).
    assert "Issues per project: not measured" in out and "top 0 of 0" not in out


def test_password_is_never_shown(fresh_db: str, dataset: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    password = psycopg.conninfo.conninfo_to_dict(fresh_db)["password"]
    assert password and len(password) >= 8
    load_dir(fresh_db, dataset)
    html = tmp_path / "r.html"
    assert main(["verify", "--db-url", fresh_db, "--progress", "plain", "--report", str(html)]) == 0
    out, err = capsys.readouterr()
    assert main(["verify", "--db-url", fresh_db, "--progress", "none", "--json"]) == 0
    js, _ = capsys.readouterr()
    for text in (out, err, js, html.read_text()):
        assert password not in text
        assert ":****@" in text or text == err
    # An unreachable server: one line, exit 2, still masked.
    bad = fresh_db.replace(f"/{psycopg.conninfo.conninfo_to_dict(fresh_db)['dbname']}", "/no_such_db_here")
    assert main(["verify", "--db-url", bad, "--progress", "none"]) == 2
    out, err = capsys.readouterr()
    assert password not in out + err and len(err.strip().splitlines()) == 1 and "no_such_db_here" in err


def test_bad_report_path_is_refused_before_connecting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The URL points nowhere: the report path must be refused first.
    code = main(["verify", "--db-url", "postgresql://u:secretpw@127.0.0.1:1/x", "--report",
                 str(tmp_path / "missing" / "r.html")])
    err = capsys.readouterr().err
    assert code == 2 and "directory" in err and "does not exist" in err and len(err.strip().splitlines()) == 1
    assert main(["verify", "--db-url", "postgresql://u:secretpw@127.0.0.1:1/x", "--statement-timeout", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--statement-timeout" in err and "secretpw" not in err


def test_report_object_round_trips_to_json(fresh_db: str, dataset: Path) -> None:
    load_dir(fresh_db, dataset)
    report: Report = verify(fresh_db, samples=2)
    data = json.loads(json.dumps(report.to_dict(), default=str))
    assert data["ok"] is True and data["projects"] == 21
    assert sum(data["commentBuckets"].values()) == 2000
    assert data["loads"][0]["datasetId"] == read_manifest(dataset).dataset_id  # type: ignore[union-attr]


# ---- what the triggers the loader disables would have enforced ------------------------------------

def test_what_the_disabled_triggers_enforce_is_checked(fresh_db: str, dataset: Path) -> None:
    load_dir(fresh_db, dataset)
    names = ('project "lowerCaseName" is lower(name)', "comment body at most 65,536 characters",
             f"comments on the one issue zbugs limits to 1,024 characters ({COMMENT_LIMITED_ISSUE})")
    clean = {c.name: c for c in verify(fresh_db).checks}
    assert [clean[n].status for n in names] == [PASS] * 3
    assert "comment_check_body_length trigger allows at most 1,024 characters on this one issue, 65,536 " \
           "elsewhere" in clean[names[2]].summary

    with psycopg.connect(fresh_db, autocommit=True) as c:
        def pick(q: str) -> list[str]:
            return [r[0] for r in c.execute(q).fetchall()]
        project = pick("SELECT id FROM project WHERE id <> 'iCNlS2qEpzYWEes1RTf-D' ORDER BY id LIMIT 1")[0]
        long1, long2, fits, short1, short2, short_fits = pick("SELECT id FROM comment ORDER BY id LIMIT 6")
        issue = pick("SELECT id FROM issue ORDER BY id LIMIT 1")[0]
        for table in ("project", "comment", "issue"):
            c.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        c.execute('UPDATE project SET "lowerCaseName" = "lowerCaseName" || \'-X\' WHERE id = %s', (project,))
        # Characters, not bytes: 65,536 two-byte characters are within the limit, one more is not.
        c.execute("UPDATE comment SET body = repeat('é', 65537) WHERE id = %s", (long1,))
        c.execute("UPDATE comment SET body = repeat('a', 70000) WHERE id = %s", (long2,))
        c.execute("UPDATE comment SET body = repeat('é', 65536) WHERE id = %s", (fits,))
        # zbugs' own issue with the lower limit (an existing issue renamed, with no comments yet elsewhere).
        c.execute('UPDATE comment SET "issueID" = NULL WHERE "issueID" = %s', (issue,))
        c.execute('DELETE FROM "issueLabel" WHERE "issueID" = %s', (issue,))
        c.execute("UPDATE issue SET id = %s WHERE id = %s", (COMMENT_LIMITED_ISSUE, issue))
        c.execute("""UPDATE comment SET "issueID" = %s, body = repeat('ü', 1025) WHERE id = %s""",
                  (COMMENT_LIMITED_ISSUE, short1))
        c.execute("""UPDATE comment SET "issueID" = %s, body = repeat('x', 5000) WHERE id = %s""",
                  (COMMENT_LIMITED_ISSUE, short2))
        c.execute("""UPDATE comment SET "issueID" = %s, body = repeat('ü', 1024) WHERE id = %s""",
                  (COMMENT_LIMITED_ISSUE, short_fits))
        for table in ("project", "comment", "issue"):
            c.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        # Comments over 1,024 characters on other issues: not for the lower limit (counted exactly below).
        assert c.execute("SELECT count(*) FROM comment WHERE length(body) > 1024 AND \"issueID\" <> %s",
                         (COMMENT_LIMITED_ISSUE,)).fetchone()[0] >= 3  # type: ignore[index]

    checks = {c.name: c for c in verify(fresh_db).checks}
    lower = checks[names[0]]
    assert lower.status == FAIL and lower.numbers["mismatched"] == 1
    assert lower.samples[0].startswith(f"project {project} ") and lower.samples[0].endswith("-X")
    general = checks[names[1]]
    assert general.status == FAIL and general.numbers["tooLong"] == 2
    assert sorted(s.split()[1] for s in general.samples) == sorted([long1, long2])
    assert any("65,537 characters" in s for s in general.samples)
    limited = checks[names[2]]
    assert limited.status == FAIL and limited.numbers["tooLong"] == 2
    assert sorted(s.split()[1] for s in limited.samples) == sorted([short1, short2])
    assert all(f"on issue {COMMENT_LIMITED_ISSUE}" in s for s in limited.samples)
    # The triggers themselves, back on, refuse the same values (so the checks mean what the triggers mean).
    with psycopg.connect(fresh_db, autocommit=True) as c:
        with pytest.raises(psycopg.errors.CheckViolation):
            c.execute("UPDATE comment SET body = body WHERE id = %s", (short1,))
        c.execute("UPDATE comment SET body = body WHERE id = %s", (short_fits,))
        c.execute("UPDATE project SET name = name WHERE id = %s", (project,))  # the trigger repairs it
    assert {c.name: c for c in verify(fresh_db).checks}[names[0]].status == PASS
