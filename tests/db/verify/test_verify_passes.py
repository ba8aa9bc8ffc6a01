"""verify's table passes (one read per big table, on connections of their own): the numbers every
check takes from them are still the exact ones, and damage is still found, in the default mode."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from verify_helpers import load_dir

from zbugs_synth.config import build
from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.db.verify import passes
from zbugs_synth.db.verify.checks import FAIL, PASS, verify
from zbugs_synth.generate.driver import generate


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("verify-passes-ds") / "ds"
    generate(build(GenerateConfig, None, {"NUM_ISSUES": "1500", "NUM_PROJECTS": "12", "OUTPUT_DIR": str(out)}))
    return out


def _all(url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as c:
        return [tuple(r) for r in c.execute(query, params).fetchall()]


def _one(url: str, query: str, params: tuple[Any, ...] = ()) -> Any:
    return _all(url, query, params)[0][0]


def _guide_histogram(url: str, child: str) -> dict[int, int]:
    """Issues per number of `child` rows, the guide's way (LEFT JOIN from issue: orphans and NULLs count for none)."""
    return {int(n): int(k) for n, k in _all(url, f"""
        SELECT n, count(*) FROM (SELECT i.id, count(x."issueID") n FROM issue i
                                 LEFT JOIN "{child}" x ON x."issueID" = i.id GROUP BY i.id) s GROUP BY n""")}


def test_damage_past_the_triggers_is_found_by_the_passes(fresh_db: str, dataset: Path) -> None:
    """Default mode (foreign keys trusted): rows changed with session_replication_role=replica are found
    by the issue and comment passes, and the counts they give are exact."""
    rows = load_dir(fresh_db, dataset)
    clean = verify(fresh_db)
    assert clean.ok, [c for c in clean.failed]
    assert clean.counts["comment"] == rows["comment"] and clean.counts["issue"] == rows["issue"]
    older_check = {c.name: c for c in clean.checks}["no comment older than its issue"]
    assert older_check.numbers == {"older": 0, "unknown": 0, "compared": rows["comment"]}

    with psycopg.connect(fresh_db, autocommit=True) as c:
        comment, issue = c.execute('SELECT id, "issueID" FROM comment ORDER BY id LIMIT 1').fetchone()  # type: ignore[misc]
        gone = c.execute("SELECT id FROM comment WHERE id <> %s ORDER BY id DESC LIMIT 1", (comment,)).fetchone()[0]  # type: ignore[index]
        stale = c.execute("SELECT id FROM issue ORDER BY id DESC LIMIT 1").fetchone()[0]  # type: ignore[index]
        c.execute("SET session_replication_role = replica")
        c.execute('UPDATE comment SET created = (SELECT created FROM issue WHERE id = %s) - 1 WHERE id = %s',
                  (issue, comment))
        c.execute("DELETE FROM comment WHERE id = %s", (gone,))
        c.execute("UPDATE issue SET modified = created - 1 WHERE id = %s", (stale,))
        c.execute('DELETE FROM "issueLabel" WHERE ctid = (SELECT min(ctid) FROM "issueLabel")')
        c.execute("""INSERT INTO issue (id, title, open, "creatorID", "projectID", created, modified)
                     SELECT 'extra-issue', 't', true, "creatorID", "projectID", 1, 2 FROM issue LIMIT 1""")
    report = verify(fresh_db)
    checks = {c.name: c for c in report.checks}
    older = checks["no comment older than its issue"]
    assert older.status == FAIL and older.numbers == {"older": 1, "unknown": 0, "compared": rows["comment"] - 1}
    assert older.samples[0].startswith(f"comment {comment} ")
    times = checks["issue modified >= created"]
    assert times.status == FAIL and times.numbers["modifiedBeforeCreated"] == 1
    assert times.samples[0].startswith(f"issue {stale} ")
    counts = checks["row counts match the loaded datasets"]
    assert counts.status == FAIL
    assert counts.details == [f"issue: expected {rows['issue']:,}, found {rows['issue'] + 1:,} (+1)",
                              f"comment: expected {rows['comment']:,}, found {rows['comment'] - 1:,} (-1)",
                              f"issueLabel: expected {rows['issueLabel']:,}, found {rows['issueLabel'] - 1:,} (-1)"]
    # The histograms and per-project counts still agree with the guide's queries over the damaged rows.
    assert report.comments_per_issue == _guide_histogram(fresh_db, "comment")
    assert report.labels_per_issue == _guide_histogram(fresh_db, "issueLabel")
    assert sorted((p.id, p.issues) for p in report.projects if p.issues) == sorted(
        _all(fresh_db, 'SELECT "projectID", count(*) FROM issue GROUP BY 1'))
    assert sum(report.comments_per_issue.values()) == rows["issue"] + 1


def test_null_and_orphan_comments_count_as_rows_but_for_no_issue(fresh_db: str, dataset: Path) -> None:
    """The comment count comes from the comment pass and the histogram from the (issueID) index: a
    comment with no issue (NULL, allowed) is a row of no issue; with the foreign key's triggers off an
    orphan may exist, and it too is a row of no issue (the histogram probes issue for each group)."""
    rows = load_dir(fresh_db, dataset)
    with psycopg.connect(fresh_db, autocommit=True) as c:
        c.execute('UPDATE comment SET "issueID" = NULL WHERE id = (SELECT min(id) FROM comment)')  # the FK allows it
    report = verify(fresh_db)
    assert report.ok and report.counts["comment"] == rows["comment"]
    assert report.comments_per_issue == _guide_histogram(fresh_db, "comment")
    assert sum(n * k for n, k in report.comments_per_issue.items()) == rows["comment"] - 1

    with psycopg.connect(fresh_db, autocommit=True) as c:
        c.execute("ALTER TABLE comment DISABLE TRIGGER ALL")  # the FK is no longer enforced: not trusted
        creator = c.execute('SELECT "creatorID" FROM comment WHERE "creatorID" IS NOT NULL LIMIT 1').fetchone()[0]  # type: ignore[index]
        for i in range(3):
            c.execute("""INSERT INTO comment (id, "issueID", body, "creatorID", created)
                         VALUES (%s, 'ghost', 'b', %s, 5)""", (f"orphan-{i}", creator))
    report = verify(fresh_db)
    checks = {c.name: c for c in report.checks}
    assert checks["no orphans: comment.issueID -> issue.id"].numbers["orphans"] == 3
    assert report.counts["comment"] == rows["comment"] + 3
    assert checks["row counts match the loaded datasets"].details == [
        f"comment: expected {rows['comment']:,}, found {rows['comment'] + 3:,} (+3)"]
    assert report.comments_per_issue == _guide_histogram(fresh_db, "comment")
    # Orphans are not compared for time order (their issue is missing): the compared count says so.
    assert checks["no comment older than its issue"].numbers["compared"] == rows["comment"] - 1
    assert checks["no comment older than its issue"].status == PASS


def test_a_failed_pass_fails_only_the_checks_that_read_it(fresh_db: str, dataset: Path) -> None:
    """Default mode: issueLabel locked, so its pass times out; the comment and issue passes still answer."""
    load_dir(fresh_db, dataset)
    with psycopg.connect(fresh_db) as locker:
        locker.execute('LOCK TABLE "issueLabel" IN ACCESS EXCLUSIVE MODE')
        report = verify(fresh_db, statement_timeout=0.5)
    checks = {c.name: c for c in report.checks}
    assert checks["row counts"].status == FAIL and "timed out" in checks["row counts"].summary
    assert checks["labels per issue"].status == FAIL and "timed out" in checks["labels per issue"].summary
    for name in ("no comment older than its issue", "issue modified >= created",
                 "comment body at most 65,536 characters"):
        assert checks[name].status == PASS, checks[name]
    assert report.comments_per_issue == _guide_histogram(fresh_db, "comment")
    assert any(k.startswith("pass: comment (") for k in report.step_seconds)


@pytest.mark.parametrize("max_leftovers", [200_000, 0])
def test_chunked_comment_pass_finds_what_the_whole_join_finds(
        fresh_db: str, dataset: Path, monkeypatch: pytest.MonkeyPatch, max_leftovers: int) -> None:
    """The comment pass in many chunks (each joined to its stretch of issue): a comment whose issue is
    far from it in the heap (not in its chunk's stretch) is still compared, by the lookup afterwards
    (max_leftovers 0: by the join over whole tables instead); the counts equal the unchunked ones."""
    rows = load_dir(fresh_db, dataset)
    with psycopg.connect(fresh_db, autocommit=True) as c:
        c.execute("ANALYZE")  # the chunks are cut from pg_class's page counts
        pages = c.execute("SELECT relpages FROM pg_class WHERE relname = 'comment'").fetchone()[0]  # type: ignore[index]
        # The first issue in issue's heap; the comment last in comment's heap moved onto it, a second
        # before it was created: the chunk holding that comment does not hash that issue.
        first_issue = c.execute("SELECT id FROM issue ORDER BY ctid LIMIT 1").fetchone()[0]  # type: ignore[index]
        last_comment = c.execute("SELECT id FROM comment ORDER BY ctid DESC LIMIT 1").fetchone()[0]  # type: ignore[index]
        c.execute('ALTER TABLE comment DISABLE TRIGGER USER')
        c.execute('UPDATE comment SET "issueID" = %s, created = (SELECT created FROM issue WHERE id = %s) - 1000 '
                  "WHERE id = %s", (first_issue, first_issue, last_comment))
        c.execute('ALTER TABLE comment ENABLE TRIGGER USER')
        c.execute("ANALYZE")
    assert pages >= 8
    monkeypatch.setattr(passes, "CHUNK_PAGES", 2)
    monkeypatch.setattr(passes, "MAX_LEFTOVERS", max_leftovers)
    with psycopg.connect(fresh_db, autocommit=True) as c:
        chunks = passes.comment_chunks(c)
        assert len(chunks) >= 4 and all(ch.issue is not None for ch in chunks)
        assert chunks[-1].issue is not None and chunks[-1].issue[0] > 0  # the first issue is not in the last stretch
    report = verify(fresh_db)
    checks = {c.name: c for c in report.checks}
    older = checks["no comment older than its issue"]
    assert older.status == FAIL
    assert older.numbers == {"older": 1, "unknown": 0, "compared": rows["comment"]}
    assert older.samples == [s for s in older.samples if s.startswith(f"comment {last_comment} ")] != []
    assert report.counts["comment"] == rows["comment"]
    assert checks["comment body at most 65,536 characters"].status == PASS
    assert any(k == f"pass: comment ({len(chunks)} chunk(s), summed)" for k in report.step_seconds)


def test_closing_the_passes_cancels_a_running_one(fresh_db: str) -> None:
    """verify interrupted (or done early): a pass still running on the server is cancelled, not waited for."""
    table_passes = passes.Passes(fresh_db, 0)
    table_passes.start("slow", lambda conn: conn.execute("SELECT pg_sleep(60)").fetchone())
    time.sleep(1.0)  # let it reach the server
    t0 = time.monotonic()
    table_passes.close()
    assert time.monotonic() - t0 < 15
    with pytest.raises(psycopg.errors.QueryCanceled):
        table_passes.get("slow")


def test_chunked_comment_pass_counts_unknown_times_and_long_bodies_exactly(
        fresh_db: str, dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many chunks, with a comment without a created time, an issue without one (all its comments
    become unknown), a comment without an issue (neither compared nor looked up again) and two bodies
    over the limit in different chunks: every number equals the one straight SQL gives."""
    rows = load_dir(fresh_db, dataset)
    with psycopg.connect(fresh_db, autocommit=True) as c:
        ids = [r[0] for r in c.execute("SELECT id FROM comment ORDER BY ctid").fetchall()]
        first, no_time, no_issue, last = ids[0], ids[len(ids) // 3], ids[len(ids) // 2], ids[-1]
        issue = c.execute("""SELECT "issueID" FROM comment WHERE "issueID" IS NOT NULL GROUP BY 1
                              HAVING count(*) >= 2 ORDER BY 1 LIMIT 1""").fetchone()[0]  # type: ignore[index]
        c.execute("SET session_replication_role = replica")
        c.execute("UPDATE comment SET created = NULL WHERE id = %s", (no_time,))
        c.execute("UPDATE issue SET created = NULL WHERE id = %s", (issue,))
        c.execute('UPDATE comment SET "issueID" = NULL WHERE id = %s', (no_issue,))
        c.execute("UPDATE comment SET body = repeat('b', 70000) WHERE id = ANY(%s)", ([first, last],))
        c.execute("ANALYZE")
    expected_unknown = _one(fresh_db, """SELECT count(*) FROM comment c JOIN issue i ON i.id = c."issueID"
                                          WHERE c.created IS NULL OR i.created IS NULL""")
    assert expected_unknown >= 3
    monkeypatch.setattr(passes, "CHUNK_PAGES", 2)
    with psycopg.connect(fresh_db, autocommit=True) as c:
        assert len(passes.comment_chunks(c)) >= 4
    checks = {c.name: c for c in verify(fresh_db).checks}
    older = checks["no comment older than its issue"]
    assert older.numbers == {"older": 0, "unknown": expected_unknown, "compared": rows["comment"] - 1}
    assert older.status != PASS
    long = checks["comment body at most 65,536 characters"]
    assert long.status == FAIL and long.numbers["tooLong"] == 2
    assert sorted(s.split()[1] for s in long.samples) == sorted([first, last])
