"""The loaded_datasets contract shared by the loader and verify, and verify on a database without the schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from original_format import OriginalDataset
from zbugs_synth.cli import main
from zbugs_synth.db.load.bookkeeping import (
    LOADED_DATASETS,
    LoadedDataset,
    dir_dataset_id,
    expected_rows,
    loaded_datasets,
    record_load_finished,
    record_load_started,
)
from zbugs_synth.db.verify.checks import FAIL, verify


def test_table_made_by_the_migrations_is_exactly_the_contract(fresh_db: str, empty_db: str) -> None:
    with psycopg.connect(empty_db) as c:
        assert loaded_datasets(c) == []  # reading never creates it
        assert c.execute("SELECT to_regclass(%s)", (LOADED_DATASETS,)).fetchone() == (None,)
    with psycopg.connect(fresh_db) as c:
        assert loaded_datasets(c) == []
        cols = c.execute(
            """SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns
                WHERE table_schema = 'zbugs_synth' AND table_name = 'loaded_datasets'
                ORDER BY ordinal_position""").fetchall()
        pk = c.execute(f"SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                       f"AND a.attnum = ANY(i.indkey) WHERE i.indrelid = '{LOADED_DATASETS}'::regclass "
                       f"AND i.indisprimary").fetchall()
        published = c.execute("SELECT count(*) FROM pg_publication_tables WHERE schemaname = 'zbugs_synth'").fetchone()
    assert [(n, t, nullable) for n, t, nullable, _ in cols] == [
        ("id", "bigint", "NO"), ("dataset_id", "text", "NO"), ("source", "text", "NO"), ("manifest", "jsonb", "YES"),
        ("rows", "jsonb", "NO"), ("mode", "text", "NO"), ("started_at", "timestamp with time zone", "NO"),
        ("finished_at", "timestamp with time zone", "YES")]
    assert "nextval" in cols[0][3] and cols[6][3] == "now()"
    assert pk == [("id",)] and published == (0,)


def test_record_and_read_back(fresh_db: str) -> None:
    with psycopg.connect(fresh_db) as c:
        a = record_load_started(c, dataset_id="abc", source="/d", manifest={"datasetId": "abc"}, mode="seed")
        record_load_finished(c, a, {"issue": 10, "project": 2})
        record_load_started(c, dataset_id="dir:1", source="/o", manifest=None, mode="append")
        c.commit()
        rows = loaded_datasets(c)
        with pytest.raises(ValueError):
            record_load_started(c, dataset_id="x", source="/x", manifest=None, mode="upsert")
    assert [(d.dataset_id, d.mode, d.finished, d.rows) for d in rows] == [
        ("abc", "seed", True, {"issue": 10, "project": 2}), ("dir:1", "append", False, {})]
    assert rows[0].manifest == {"datasetId": "abc"} and rows[1].manifest is None


def test_expected_rows_sums_finished_loads_plus_zero_project() -> None:
    now = datetime.now(UTC)
    loads = [LoadedDataset(1, "a", "/a", None, {"user": 100, "project": 20, "issue": 5}, "seed", now, now),
             LoadedDataset(2, "b", "/b", None, {"project": 3, "issue": 7}, "append", now, now),
             LoadedDataset(3, "c", "/c", None, {"issue": 1000}, "append", now, None)]  # unfinished: not counted
    assert expected_rows(loads, ("user", "project", "issue", "comment")) == {
        "user": 100, "project": 24, "issue": 12, "comment": 0}


def test_dir_dataset_id_depends_on_names_and_sizes(tmp_path: Path, original_dataset: OriginalDataset) -> None:
    original = dir_dataset_id(original_dataset.directory)
    assert original.startswith("dir:") and len(original) == 4 + 16
    assert dir_dataset_id(original_dataset.directory) == original
    for name in ("issue_000.csv", "user_000.csv"):
        (tmp_path / name).write_text("x")
    (tmp_path / "notes.txt").write_text("ignored")
    first = dir_dataset_id(tmp_path)
    (tmp_path / "notes.txt").write_text("still ignored, other size")
    assert dir_dataset_id(tmp_path) == first
    (tmp_path / "issue_000.csv").write_text("xy")
    assert dir_dataset_id(tmp_path) != first


def test_verify_without_the_schema_fails_cleanly(empty_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", "--db-url", empty_db, "--progress", "none", "--json"])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    result = json.loads(out)
    checks = {c["name"]: c for c in result["checks"]}
    # One check says what is wrong and what to do: no 30 more failing on missing relations (from a walkthrough).
    assert list(checks) == ["schema: tables and columns"]
    assert checks["schema: tables and columns"]["status"] == FAIL
    assert "run `zbugs-synth db-migrate` first" in checks["schema: tables and columns"]["summary"]
    assert "table 'user' is missing" in checks["schema: tables and columns"]["details"]
    report = verify(empty_db)
    assert all(v is None for v in report.counts.values()) and not report.ok
    assert main(["verify", "--db-url", empty_db, "--progress", "none"]) == 1
    out = capsys.readouterr().out
    assert "Issues per project: not measured" in out and "Comments per issue: not measured" in out
    assert "top 0 of 0" not in out
