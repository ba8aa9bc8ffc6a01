"""db-seed-synthetic on bad data: CSV errors name file and line and undo the load; an index or foreign
key the data does not allow is a hard error that leaves the load resumable (or undoable)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from loader_helpers import (
    Cap,
    Mp,
    copy_without_manifest,
    counts,
    differences,
    digest,
    expected_rows,
    last_line,
    loads,
    open_runs,
    query,
    seed_cli,
)

from zbugs_synth.db.load.csv_check import HeaderError, check_header, copy_error_location, record_lines
from zbugs_synth.tables import GUIDE_TABLES


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _lines_of(path: Path, marker: str, row: dict[str, str]) -> str:
    """"line N" or "lines N-M": the physical lines of the record holding `marker` (it starts the record's
    line: id and title come first), given the record's own embedded newlines."""
    text = path.read_text(encoding="utf-8")
    first = text[:text.index(marker)].count("\n") + 1
    last = first + sum(v.count("\n") for v in row.values())
    return f"line {first}" if first == last else f"lines {first}-{last}"


def _empty(url: str) -> None:
    """The state of a freshly migrated database: nothing loaded, every object in place."""
    assert counts(url) == {**dict.fromkeys(GUIDE_TABLES, 0), "project": 1}
    assert differences(url) == []
    assert open_runs(url) == 0 and loads(url) == []


def test_wrong_header_is_refused_before_anything_is_dropped(fresh_db: str, batch1: Path, tmp_path: Path,
                                                            capsys: Cap, monkeypatch: Mp) -> None:
    d = copy_without_manifest(batch1, tmp_path / "d")
    text = (d / "issue_001.csv").read_text()
    (d / "issue_001.csv").write_text(text.replace("id,title,", "id,titel,", 1))
    ran = seed_cli(fresh_db, d, capsys, monkeypatch)
    assert ran.code == 2
    line = last_line(ran.err)
    assert f"{d / 'issue_001.csv'}: line 1:" in line and "'titel'" in line and "Traceback" not in ran.err
    assert counts(fresh_db) == {**dict.fromkeys(GUIDE_TABLES, 0), "project": 1} and differences(fresh_db) == []
    assert open_runs(fresh_db) == 0 and loads(fresh_db) == []


def test_malformed_row_names_file_and_line_and_undoes_the_load(fresh_db: str, batch1: Path, tmp_path: Path,
                                                               capsys: Cap, monkeypatch: Mp) -> None:
    d = copy_without_manifest(batch1, tmp_path / "d")
    lines = (d / "comment_003.csv").read_text().splitlines(keepends=True)
    lines[4] = lines[4].rstrip("\n") + ",surplus\n"  # physical line 5
    (d / "comment_003.csv").write_text("".join(lines))
    ran = seed_cli(fresh_db, d, capsys, monkeypatch)
    assert ran.code == 2, ran.text
    line = last_line(ran.err)
    assert f"{d / 'comment_003.csv'}: line 5: extra data after last expected column" in line, line
    _empty(fresh_db)  # other shards were loaded in parallel: all undone, every index/FK/trigger back


def test_value_too_long_names_the_physical_line(fresh_db: str, batch1: Path, tmp_path: Path, capsys: Cap,
                                                monkeypatch: Mp) -> None:
    d = copy_without_manifest(batch1, tmp_path / "d")
    rows = _rows(d / "issue_002.csv")
    rows[2]["description"] = "first line\nsecond line\nthird line"  # record 4 spans physical lines 4-6
    rows[5]["title"] = "t" * 129  # record 7, physical line 9
    rows[7]["description"] = "a\nb"  # record 9: lines 11-12
    rows[7]["title"] = "u" * 200
    _write(d / "issue_002.csv", rows)
    # Generated descriptions hold newlines of their own (code blocks): where each record lies is read
    # off the file, the way the loader must count it.
    ran = seed_cli(fresh_db, d, capsys, monkeypatch)
    assert ran.code == 2, ran.text
    line = last_line(ran.err)
    assert f"{d / 'issue_002.csv'}: {_lines_of(d / 'issue_002.csv', 't' * 129, rows[5])}: value too long for type " \
        "character varying(128) (column title)" in line
    _empty(fresh_db)
    rows[5]["title"] = "fine"
    _write(d / "issue_002.csv", rows)
    ran = seed_cli(fresh_db, d, capsys, monkeypatch)
    where = _lines_of(d / "issue_002.csv", "u" * 200, rows[7])
    assert where.startswith("lines ")  # its "a\nb" description spans two physical lines at least
    assert f"{d / 'issue_002.csv'}: {where}: value too long" in last_line(ran.err)
    _empty(fresh_db)


def test_bad_row_in_an_appended_batch_removes_only_that_batch(fresh_db: str, batch1: Path, batch2: Path,
                                                              tmp_path: Path, capsys: Cap, monkeypatch: Mp) -> None:
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    before = digest(fresh_db)
    d = copy_without_manifest(batch2, tmp_path / "d")
    last = sorted(d.glob("comment_*.csv"))[-1]
    with open(last, "a", encoding="utf-8") as f:
        f.write("broken,row\n")
    ran = seed_cli(fresh_db, d, capsys, monkeypatch, ZERO_SEED_APPEND="true")
    assert ran.code == 2 and last.name in last_line(ran.err) and "missing data for column" in ran.err
    assert digest(fresh_db) == before  # the shards of batch 2 that did load are gone again
    assert differences(fresh_db) == [] and open_runs(fresh_db) == 0
    assert [(m, f) for _d, _s, m, _r, f in loads(fresh_db)] == [("seed", True)]


def _duplicate_project(batch1: Path, batch2: Path, target: Path) -> tuple[Path, dict[str, str], str]:
    """A manifest-less batch 2 whose first project has the name of batch 1's first project."""
    d = copy_without_manifest(batch2, target)
    first = _rows(batch1 / "project_000.csv")[0]
    rows = _rows(d / "project_000.csv")
    rows[0]["name"], rows[0]["lowerCaseName"] = first["name"], first["lowerCaseName"]
    _write(d / "project_000.csv", rows)
    return d, first, rows[0]["id"]


def test_duplicate_in_an_append_stops_it_and_removes_the_batch(
        fresh_db: str, batch1: Path, batch2: Path, tmp_path: Path, capsys: Cap, monkeypatch: Mp) -> None:
    """An append keeps the unique indexes: a clash with rows already there stops it at once, names the
    value, and takes the batch's rows out again; fixed, the same command loads it."""
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    before = digest(fresh_db)
    d, first, _dup_id = _duplicate_project(batch1, batch2, tmp_path / "d")
    ran = seed_cli(fresh_db, d, capsys, monkeypatch, ZERO_SEED_APPEND="true")
    assert ran.code == 2, ran.text
    line = last_line(ran.err)
    assert "project_lower_case_name_idx" in line and first["lowerCaseName"] in line, line
    assert "nothing from this load was kept" in line
    assert digest(fresh_db) == before
    assert differences(fresh_db) == [] and open_runs(fresh_db) == 0
    assert [(m, f) for _d, _s, m, _r, f in loads(fresh_db)] == [("seed", True)]

    rows = _rows(d / "project_000.csv")
    rows[0]["name"] += " II"
    rows[0]["lowerCaseName"] += " ii"
    _write(d / "project_000.csv", rows)
    again = seed_cli(fresh_db, d, capsys, monkeypatch, ZERO_SEED_APPEND="true")
    assert again.code == 0, again.text
    assert differences(fresh_db) == [] and open_runs(fresh_db) == 0
    assert counts(fresh_db) == expected_rows(batch1, d)
    assert [(m, f) for _d, _s, m, _r, f in loads(fresh_db)] == [("seed", True), ("append", True)]


def test_appended_rows_pointing_nowhere_are_refused(fresh_db: str, batch1: Path, batch2: Path, tmp_path: Path,
                                                    capsys: Cap, monkeypatch: Mp) -> None:
    """No FK trigger fires in an append's sessions: the loader checks the batch's references itself."""
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    before = digest(fresh_db)
    d = copy_without_manifest(batch2, tmp_path / "d")
    rows = _rows(d / "comment_001.csv")
    rows[3]["issueID"] = "no-such-issue-0000000"
    _write(d / "comment_001.csv", rows)
    ran = seed_cli(fresh_db, d, capsys, monkeypatch, ZERO_SEED_APPEND="true")
    assert ran.code == 2, ran.text
    line = last_line(ran.err)
    assert "comment_001.csv: 1 row(s) point to no row of issue" in line and "no-such-issue-0000000" in line, line
    assert digest(fresh_db) == before and open_runs(fresh_db) == 0


# comment.issueID is checked after every index is built; comment.creatorID (a table 150 times the
# size of user) as soon as comment's own indexes are: a key that fails there is added and checked
# again at the end, and reported once, as the others are.
@pytest.mark.parametrize(("column", "value", "key"), [("issueID", "no-such-issue-0000000", "comment_issueID_fkey"),
                                                      ("creatorID", "no-such-user-00000000", "comment_creatorID_fkey")])
def test_orphan_rows_fail_the_foreign_key_with_a_sample(fresh_db: str, batch1: Path, tmp_path: Path,
                                                        capsys: Cap, monkeypatch: Mp, column: str, value: str,
                                                        key: str) -> None:
    d = copy_without_manifest(batch1, tmp_path / "d")
    rows = _rows(d / "comment_001.csv")
    rows[3][column] = value
    _write(d / "comment_001.csv", rows)
    ran = seed_cli(fresh_db, d, capsys, monkeypatch)
    assert ran.code == 3
    line = last_line(ran.err)
    assert key in line and value in line and rows[3]["id"] in line
    assert sum(key in x for x in ran.err.splitlines()) == 1, ran.err
    assert differences(fresh_db) == [f"foreign key '{key}' is missing"]
    query(fresh_db, "DELETE FROM comment WHERE id = %s", (rows[3]["id"],))
    again = seed_cli(fresh_db, d, capsys, monkeypatch)
    assert again.code == 0 and differences(fresh_db) == []
    # What the load records is what is there (one comment fewer, as the user deleted it), so verify's
    # row counts hold and the summary shows the table as it is.
    from zbugs_synth.db.verify.checks import verify

    assert counts(fresh_db)["comment"] == expected_rows(batch1)["comment"] - 1
    shown = re.search(r"^comment\s+([\d,]+)$", again.out, re.M)
    assert shown and int(shown[1].replace(",", "")) == counts(fresh_db)["comment"], again.out
    assert ", 0 of them copied by this run)" in again.out, again.out  # every row was in before it
    report = verify(fresh_db)
    assert report.ok, [c for c in report.checks if c.status != "pass"]


def test_editing_the_files_of_a_stopped_load_is_named_and_a_reset_then_loads_them(
        fresh_db: str, batch1: Path, tmp_path: Path, capsys: Cap, monkeypatch: Mp) -> None:
    """The user fixes the files, not the rows, after an exit-3 stop: the rerun says the files changed (it
    cannot resume from other files) and what to do; ZERO_SEED_RESET, then the same command, loads them."""
    d = copy_without_manifest(batch1, tmp_path / "d")
    rows = _rows(d / "comment_001.csv")
    rows[3]["issueID"] = "no-such-issue"
    _write(d / "comment_001.csv", rows)
    ran = seed_cli(fresh_db, d, capsys, monkeypatch)
    assert ran.code == 3 and "fix the rows in the database" in last_line(ran.err)
    del rows[3]
    _write(d / "comment_001.csv", rows)  # "fixed" in the file
    again = seed_cli(fresh_db, d, capsys, monkeypatch)
    assert again.code == 2, again.text
    line = last_line(again.err)
    assert f"the files of {d} changed since its interrupted seed load began" in line
    assert "ZERO_SEED_RESET=true" in line and "put the files back" in line
    assert open_runs(fresh_db) == 1  # refused: nothing touched
    assert seed_cli(fresh_db, d, capsys, monkeypatch, ZERO_SEED_RESET="true").code == 0
    _empty(fresh_db)
    done = seed_cli(fresh_db, d, capsys, monkeypatch)
    assert done.code == 0, done.text
    assert counts(fresh_db)["comment"] == expected_rows(batch1)["comment"] - 1 and differences(fresh_db) == []


def test_another_dataset_while_a_load_is_at_work_waits_for_it_instead_of_calling_it_interrupted(
        fresh_db: str, batch1: Path, batch2: Path, tmp_path: Path, capsys: Cap, monkeypatch: Mp) -> None:
    """An open run whose loader still holds the lock is a load in progress, not an interrupted one: a
    command for another dataset waits for the lock (and says another loader is at work), never
    advising to reset a load that is running."""
    import psycopg

    from zbugs_synth.db.load import session

    d = copy_without_manifest(batch1, tmp_path / "d")
    rows = _rows(d / "comment_001.csv")
    rows[3]["issueID"] = "no-such-issue"
    _write(d / "comment_001.csv", rows)
    assert seed_cli(fresh_db, d, capsys, monkeypatch).code == 3  # an open run
    monkeypatch.setattr(session, "LOCK_WAIT", 1.0)
    with psycopg.connect(fresh_db, autocommit=True) as holder:  # as a live loader holds it
        holder.execute("SELECT pg_advisory_lock(%s)", (session.LOCK_KEY,))
        ran = seed_cli(fresh_db, batch2, capsys, monkeypatch, ZERO_SEED_APPEND="true")
    assert ran.code == 2 and "another db-seed-synthetic is loading" in ran.err, ran.text
    assert "ZERO_SEED_RESET" not in ran.err and open_runs(fresh_db) == 1


# ---- csv_check units -----------------------------------------------------------------------------

def test_record_lines_finds_where_a_multi_line_record_starts(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text('a,b\n1,"two\nlines"\n3,"x"\n4,"three\n\nlines"\n5,y\n')
    assert [record_lines(p, n) for n in (1, 3, 4, 7, 8, 99)] == [(1, 1), (2, 3), (4, 4), (5, 7), (8, 8), (99, 99)]


def test_copy_error_location_reads_the_context() -> None:
    assert copy_error_location('COPY issue, line 7, column title: "ttt"') == (7, "title")
    assert copy_error_location("COPY comment, line 12: \"a,b\"") == (12, None)
    assert copy_error_location("SQL statement") is None and copy_error_location(None) is None


def test_check_header_accepts_any_order_and_rejects_bad_names(tmp_path: Path) -> None:
    p = tmp_path / "label_000.csv"
    assert check_header(p, "label", ["projectID", "name", "id"]) == ("projectID", "name", "id")
    assert check_header(p, "issue", ["id", "title", "open", "creatorID"])  # the rest have defaults
    for fields, word in ((["id", "name", "name"], "twice"), (["id", "projectID"], "name"),
                         (["id", " name", "projectID"], "did you mean")):
        with pytest.raises(HeaderError, match=word):
            check_header(p, "label", fields)


def test_a_copy_of_a_loaded_dataset_fails_at_once_and_keeps_nothing(
        fresh_db: str, batch1: Path, tmp_path: Path, capsys: Cap, monkeypatch: Mp) -> None:
    """The append keeps every key: the first clash stops it; the rows already there (the same keys!)
    are untouched, and nothing of the copy stays."""
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    before = digest(fresh_db)
    d = copy_without_manifest(batch1, tmp_path / "d")  # another dataset id: not caught as "already loaded"
    for p in d.glob("user_*.csv"):
        p.unlink()
    ran = seed_cli(fresh_db, d, capsys, monkeypatch, ZERO_SEED_APPEND="true")
    assert ran.code == 2, ran.text
    assert "duplicate key value violates unique constraint" in last_line(ran.err)
    assert "nothing from this load was kept" in last_line(ran.err)
    assert digest(fresh_db) == before
    assert differences(fresh_db) == [] and open_runs(fresh_db) == 0


def test_a_duplicate_user_names_one_problem_and_advice_that_works_for_user(
        fresh_db: str, batch1: Path, tmp_path: Path, capsys: Cap, monkeypatch: Mp) -> None:
    """A duplicated user id (a walkthrough): the primary key's failure came with advice PostgreSQL then
    refused (the publication lists user's columns, so REPLICA IDENTITY FULL does not help), and with
    one "no unique constraint matching given keys" line per foreign key to user, the same problem."""
    d = copy_without_manifest(batch1, tmp_path / "d")
    users = _rows(d / "user_000.csv")
    _write(d / "user_000.csv", [*users, {**users[1], "login": "someone-else"}])
    ran = seed_cli(fresh_db, d, capsys, monkeypatch, ZERO_SEED_CHECKSUMS="false")
    assert ran.code == 3, ran.text
    assert "no unique constraint matching given keys" not in ran.text
    pkey = [x for x in ran.err.splitlines() if "cannot rebuild primary key" in x]
    assert len(pkey) == 1 and users[1]["id"] in pkey[0], ran.err
    assert "its publication lists its columns" in pkey[0] and "REPLICA IDENTITY FULL first" not in pkey[0]
    skipped = [x for x in ran.err.splitlines() if "not rebuilt: " in x]
    assert len(skipped) == 1, ran.err
    assert ("7 foreign key(s) that need the primary key user_pkey on user, which could not be rebuilt (above): "
            "comment_creatorID_fkey on comment, " in skipped[0]), skipped
    # The advice holds: the rows copied aside, the table truncated, the ones to keep put back.
    query(fresh_db, 'CREATE TEMP TABLE keep AS SELECT DISTINCT ON (id) * FROM "user"; '
                    'TRUNCATE "user"; INSERT INTO "user" SELECT * FROM keep')
    again = seed_cli(fresh_db, d, capsys, monkeypatch, ZERO_SEED_CHECKSUMS="false")
    assert again.code == 0, again.text
    assert differences(fresh_db) == []
