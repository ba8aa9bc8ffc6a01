"""db-seed-synthetic killed with SIGKILL at exact points, then run again: it finishes the same load.

ZBUGS_TEST_CRASH_AT=<point>[:args] runs the command through crash_runner.py (test-only), which wraps
the loader's functions from outside and SIGKILLs the process at that point.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import loader_helpers
import pytest
from loader_helpers import (
    counts,
    differences,
    expected_rows,
    issue_ids_in_file_order,
    loads,
    open_runs,
    query,
    seed_process,
)

from zbugs_synth.tables import GUIDE_TABLES

PER_SHARD = {"ZBUGS_SEED_FREEZE_MAX_BYTES": "0"}  # every shard in its own transaction
KILLED = -signal.SIGKILL


def _shards_recorded(url: str) -> int:
    return int(query(url, "SELECT count(*) FROM zbugs_synth.seed_shards")[0][0])


def _rows_recorded(url: str) -> int:
    return int(query(url, "SELECT coalesce(sum(rows), 0) FROM zbugs_synth.seed_shards")[0][0])


def _loaded_exactly(url: str, *dirs: Path, modes: list[str]) -> None:
    assert counts(url) == expected_rows(*dirs)
    assert differences(url) == []  # indexes, foreign keys, triggers enabled, publication
    assert open_runs(url) == 0
    assert [(m, f) for _d, _s, m, _r, f in loads(url)] == [(m, True) for m in modes]
    ids = [i for d in dirs for i in issue_ids_in_file_order(d)]
    got = dict(query(url, 'SELECT id, "shortID" FROM issue'))
    assert [got[i] for i in ids] == list(range(3000, 3000 + len(ids)))  # no gap, no reuse, file order


@pytest.mark.parametrize(("point", "env"), [
    ("after-drop", {}),
    ("copy:issue:2", PER_SHARD),  # halfway through the 2nd issue shard, the 1st committed
    ("copy:comment:4", PER_SHARD),
    ("copy:comment", {}),  # the whole table in one COPY FREEZE transaction
    ("index:3", {}),  # the 3rd index build was sent: its server process goes on alone
    ("fk:2", {}),
    ("after-constraints", {}),
    ("after-triggers", {}),
])
def test_killed_seed_resumes_and_finishes(fresh_db: str, batch1: Path, tmp_path: Path, point: str,
                                          env: dict[str, str]) -> None:
    killed = seed_process(fresh_db, batch1, tmp_path, ZBUGS_TEST_CRASH_AT=point, ZERO_SEED_JOBS="2", **env)
    assert killed.code == KILLED, killed.text
    assert open_runs(fresh_db) == 1
    if point.startswith("copy:") and env:
        assert _shards_recorded(fresh_db) > 0  # some shards committed before the kill: not loaded twice
    # Where it died shows in the catalog: objects still dropped, or keys added but not validated yet.
    diffs = differences(fresh_db)
    if point in ("fk:2", "after-constraints"):
        # Every object is back; only the triggers are off (BEFORE INSERT ones dropped, the others disabled)
        # and some keys not validated yet.
        off = [d for d in diffs if d.startswith("trigger ")]
        assert any(d.endswith("is disabled") for d in off) and any(d.endswith("is missing") for d in off), diffs
        assert all(d.endswith(("is disabled", "is missing")) for d in off), diffs
        assert all(d in off or "is NOT VALID" in d for d in diffs), diffs
    else:
        assert (diffs == []) == (point == "after-triggers"), diffs
    unvalidated = query(fresh_db, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated")
    assert (unvalidated[0][0] > 0) == (point in ("fk:2", "after-constraints"))
    recorded = _rows_recorded(fresh_db)  # committed before the kill
    again = seed_process(fresh_db, batch1, tmp_path, ZERO_SEED_JOBS="2", **env)
    assert again.code == 0, again.text
    assert "resuming the interrupted seed load" in again.text
    _loaded_exactly(fresh_db, batch1, modes=["seed"])
    # The summary's rate counts what this run copied: exactly the rows not committed before the kill.
    m = re.search(r"total\s+([\d,]+)\s+in [\d.]+s \([\d,]+ rows/s, ([\d,]+) of them copied by this run\)",
                  again.text)
    assert m, again.text
    total, copied = int(m[1].replace(",", "")), int(m[2].replace(",", ""))
    assert copied == total - recorded, (recorded, again.text)
    if point == "after-drop":
        assert copied == total  # killed before the first row
    elif point.startswith("copy:"):
        assert 0 < copied <= total
    elif point != "index:3":  # the first builds start while the last tables may still be copying
        assert copied == 0, again.text


def test_killed_append_resumes(fresh_db: str, batch1: Path, batch2: Path, tmp_path: Path) -> None:
    assert seed_process(fresh_db, batch1, tmp_path).code == 0
    killed = seed_process(fresh_db, batch2, tmp_path, ZERO_SEED_APPEND="true", ZBUGS_TEST_CRASH_AT="copy:issue:2")
    assert killed.code == KILLED
    assert _shards_recorded(fresh_db) > 0
    again = seed_process(fresh_db, batch2, tmp_path, ZERO_SEED_APPEND="true")
    assert again.code == 0, again.text
    _loaded_exactly(fresh_db, batch1, batch2, modes=["seed", "append"])


def test_killed_force_resumes_without_emptying_again(fresh_db: str, batch1: Path, batch2: Path,
                                                     tmp_path: Path) -> None:
    assert seed_process(fresh_db, batch1, tmp_path).code == 0
    assert seed_process(fresh_db, batch2, tmp_path, ZERO_SEED_APPEND="true").code == 0
    killed = seed_process(fresh_db, batch1, tmp_path, ZERO_SEED_FORCE="true", ZBUGS_TEST_CRASH_AT="copy:comment:3",
                          **PER_SHARD)
    assert killed.code == KILLED
    # Resuming needs the same mode: a plain seed is told what to do.
    wrong = seed_process(fresh_db, batch1, tmp_path, **PER_SHARD)
    assert wrong.code == 2 and "ZERO_SEED_FORCE=true" in wrong.err and "ZERO_SEED_RESET=true" in wrong.err
    again = seed_process(fresh_db, batch1, tmp_path, ZERO_SEED_FORCE="true", **PER_SHARD)
    assert again.code == 0, again.text
    _loaded_exactly(fresh_db, batch1, modes=["force"])


@pytest.mark.parametrize("point", ["copy:comment:3", "index:5"])
def test_reset_after_a_kill_restores_the_empty_schema(fresh_db: str, batch1: Path, tmp_path: Path,
                                                      point: str) -> None:
    assert seed_process(fresh_db, batch1, tmp_path, ZBUGS_TEST_CRASH_AT=point, **PER_SHARD).code == KILLED
    assert differences(fresh_db)  # the load's drops are visible...
    reset = seed_process(fresh_db, None, tmp_path, ZERO_SEED_RESET="true")
    assert reset.code == 0, reset.text
    assert counts(fresh_db) == {**dict.fromkeys(GUIDE_TABLES, 0), "project": 1}
    assert differences(fresh_db) == [] and open_runs(fresh_db) == 0 and loads(fresh_db) == []
    # ...and afterwards a plain seed starts from scratch.
    assert seed_process(fresh_db, batch1, tmp_path).code == 0
    _loaded_exactly(fresh_db, batch1, modes=["seed"])


# ---- Ctrl-C (SIGINT, as ZBUGS_TEST_CRASH_SIGNAL=INT sends it at the point) -------------------------------

OPEN_HINT = "the load is open: run the same command again to resume it, or set ZERO_SEED_RESET=true to undo it"


@pytest.mark.parametrize(("point", "env"), [("start-committed", {}), ("after-drop", {}), ("copy:issue:2", PER_SHARD)])
def test_interrupted_load_says_it_is_open_and_resumes(fresh_db: str, batch1: Path, tmp_path: Path, point: str,
                                                      env: dict[str, str]) -> None:
    stopped = seed_process(fresh_db, batch1, tmp_path, ZBUGS_TEST_CRASH_AT=point, ZBUGS_TEST_CRASH_SIGNAL="INT",
                           ZERO_SEED_JOBS="2", **env)
    assert stopped.code == 130, stopped.text
    assert stopped.err.strip().splitlines()[-2:] == [
        "zbugs-synth db-seed-synthetic: interrupted", f"zbugs-synth db-seed-synthetic: {OPEN_HINT}"], stopped.err
    assert "Traceback" not in stopped.err
    assert open_runs(fresh_db) == 1 and differences(fresh_db)  # what the message says: open, mid-load
    # db-migrate has nothing to apply, and says that the load (not a migration) left things undone.
    migrated = subprocess.run([sys.executable, "-m", "zbugs_synth", "db-migrate"], cwd=tmp_path, text=True,
                              env={**os.environ, "ZERO_UPSTREAM_DB": fresh_db}, capture_output=True, timeout=120)
    assert migrated.returncode == 0 and "nothing to apply" in migrated.stdout, migrated.stdout + migrated.stderr
    assert "a db-seed-synthetic load was interrupted here" in migrated.stdout
    assert "ZERO_SEED_RESET=true" in migrated.stdout
    # So does db-status (it said nothing of it).
    status = subprocess.run([sys.executable, "-m", "zbugs_synth", "db-status"], cwd=tmp_path, text=True,
                            env={**os.environ, "ZERO_UPSTREAM_DB": fresh_db}, capture_output=True, timeout=120)
    assert status.returncode == 0 and "a db-seed-synthetic load was interrupted here" in status.stdout, \
        status.stdout + status.stderr
    # verify fails (the load is open) and says to finish or undo the load, not to add keys by hand.
    from zbugs_synth.db.verify.checks import verify

    report = verify(fresh_db)
    identity = next(c for c in report.checks if c.name == "replica identity of published tables")
    assert not report.ok and identity.status == "FAIL" and "load is unfinished" in identity.summary, identity
    assert not any("ADD CONSTRAINT" in line or "repair:" in line for line in identity.details)
    again = seed_process(fresh_db, batch1, tmp_path, ZERO_SEED_JOBS="2", **env)
    assert again.code == 0 and "resuming the interrupted seed load" in again.text, again.text
    _loaded_exactly(fresh_db, batch1, modes=["seed"])


def test_interrupted_after_the_load_finished_says_so(fresh_db: str, batch1: Path, tmp_path: Path) -> None:
    """A Ctrl-C that lands once every object is back (e.g. during the restart back to logical, which
    ends first) is not a load to resume or undo (from a review)."""
    stopped = seed_process(fresh_db, batch1, tmp_path, ZBUGS_TEST_CRASH_AT="after-load", ZBUGS_TEST_CRASH_SIGNAL="INT")
    assert stopped.code == 130, stopped.text
    assert stopped.err.strip().splitlines()[-1].startswith(
        "zbugs-synth db-seed-synthetic: the load had finished (every row, index, key and trigger in place"), stopped.err
    assert "ZERO_SEED_RESET" not in stopped.err
    _loaded_exactly(fresh_db, batch1, modes=["seed"])


def test_interrupted_before_the_load_started_only_says_interrupted(fresh_db: str, batch1: Path,
                                                                    tmp_path: Path) -> None:
    stopped = seed_process(fresh_db, batch1, tmp_path, ZBUGS_TEST_CRASH_AT="before-drop",
                           ZBUGS_TEST_CRASH_SIGNAL="INT")
    assert stopped.code == 130, stopped.text
    assert stopped.err.strip().splitlines()[-1] == "zbugs-synth db-seed-synthetic: interrupted", stopped.err
    assert "the load is open" not in stopped.text and "Traceback" not in stopped.err
    assert open_runs(fresh_db) == 0 and differences(fresh_db) == []
    assert counts(fresh_db) == {**dict.fromkeys(GUIDE_TABLES, 0), "project": 1}


# ---- undoing an append: its rows are found by the keys its shards hold ---------------------------------

def test_reset_of_a_killed_append_removes_its_rows_even_when_touched_since(
        fresh_db: str, batch1: Path, batch2: Path, tmp_path: Path) -> None:
    assert seed_process(fresh_db, batch1, tmp_path).code == 0
    before = loader_helpers.digest(fresh_db)
    moved = tmp_path / "moved"
    shutil.copytree(batch2, tmp_path / "b2")
    killed = seed_process(fresh_db, tmp_path / "b2", tmp_path, ZERO_SEED_APPEND="true",
                          ZBUGS_TEST_CRASH_AT="copy:comment:2", **PER_SHARD)
    assert killed.code == KILLED and _shards_recorded(fresh_db) >= 3  # both issue shards, a comment shard
    # The application writes to the appended rows after the crash (new xmin, same keys).
    new_issue = issue_ids_in_file_order(batch2)[5]
    query(fresh_db, "UPDATE issue SET title = 'edited after the crash' WHERE id = %s", (new_issue,))
    query(fresh_db, 'UPDATE comment SET body = body || \'!\' WHERE "issueID" = %s', (new_issue,))
    # Without its files the reset says what it needs...
    (tmp_path / "b2").rename(moved)
    lost = seed_process(fresh_db, None, tmp_path, ZERO_SEED_RESET="true")
    assert lost.code == 2 and "needs its files" in lost.err and "ZERO_SEED_DATA_DIR" in lost.err, lost.text
    assert open_runs(fresh_db) == 1
    # ...and with them it takes out exactly the append's rows, edited ones included.
    reset = seed_process(fresh_db, moved, tmp_path, ZERO_SEED_RESET="true")
    assert reset.code == 0, reset.text
    assert loader_helpers.digest(fresh_db) == before
    assert differences(fresh_db) == [] and open_runs(fresh_db) == 0


def test_reset_of_a_killed_full_append(fresh_db: str, batch1: Path, batch2: Path, tmp_path: Path) -> None:
    """A full rebuild drops the keys: the undo still finds the rows (no replica identity meanwhile)."""
    assert seed_process(fresh_db, batch1, tmp_path).code == 0
    before = loader_helpers.digest(fresh_db)
    killed = seed_process(fresh_db, batch2, tmp_path, ZERO_SEED_APPEND="true", ZERO_SEED_INDEXES="full",
                          ZBUGS_TEST_CRASH_AT="copy:comment:2", **PER_SHARD)
    assert killed.code == KILLED and differences(fresh_db)
    reset = seed_process(fresh_db, None, tmp_path, ZERO_SEED_RESET="true")
    assert reset.code == 0, reset.text
    assert loader_helpers.digest(fresh_db) == before
    assert differences(fresh_db) == [] and open_runs(fresh_db) == 0
