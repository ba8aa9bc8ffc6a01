"""db-seed-synthetic --generate: rows streamed from the generator into COPY are exactly the CSV path's rows.

Each comparison loads the same configuration twice into two fresh databases, once from the CSVs
generate-synthetic wrote and once with --generate, and compares per-table content hashes (every
row as text, in key order, plus the shortID sequence).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import loader_helpers
import psycopg
import pytest
from embedded_helpers import kill_when, run
from loader_helpers import (
    BATCH1,
    BATCH2,
    Cap,
    Mp,
    counts,
    differences,
    digest,
    expected_rows,
    loads,
    open_runs,
    seed_cli,
)

from zbugs_synth.cli import main
from zbugs_synth.db import connect

GENERATOR_VARS = ("NUM_ISSUES", "NUM_PROJECTS", "NUM_USERS", "SEED", "SKIP_USERS", "SHARD_SIZE", "TEMPLATES_DIR",
                  "COMMENTS_PER_ISSUE", "LABELS_PER_ISSUE", "OUTPUT_DIR", "WORKERS")



def generate_cli(url: str, config: dict[str, str], capsys: Cap, monkeypatch: Mp, *args: str,
                 **env: str) -> loader_helpers.Ran:
    """`db-seed-synthetic --generate` in this process with the generator settings `config` (its environment)."""
    with monkeypatch.context() as m:
        for k in GENERATOR_VARS:
            m.delenv(k, raising=False)
        for k, v in config.items():
            if k != "SHARD_SIZE":  # how the CSVs are split: not a setting of the direct path (and no effect)
                m.setenv(k, v)
        return seed_cli(url, Path("/nonexistent-dataset"), capsys, monkeypatch, "--generate", *args, **env)


@pytest.mark.parametrize("copy_format", ["binary", "csv"])
def test_generated_rows_equal_the_csv_rows_and_the_csvs_count_as_loaded(
        fresh_db: str, other_db: str, batch1: Path, capsys: Cap, monkeypatch: Mp, copy_format: str) -> None:
    via_csv = seed_cli(fresh_db, batch1, capsys, monkeypatch)
    assert via_csv.code == 0, via_csv.text
    direct = generate_cli(other_db, BATCH1, capsys, monkeypatch, ZBUGS_SEED_COPY_FORMAT=copy_format)
    assert direct.code == 0, direct.text
    assert "generated (NUM_ISSUES=3000, SEED=42, NUM_PROJECTS=40, NUM_USERS=60)" in direct.out
    assert digest(other_db) == digest(fresh_db)
    assert counts(other_db) == expected_rows(batch1)
    assert differences(other_db) == []
    assert open_runs(other_db) == 0
    (csv_id, _s, _m, csv_rows, _f), = loads(fresh_db)
    (gen_id, _s, mode, gen_rows, finished), = loads(other_db)
    assert (gen_id, mode, finished) == (csv_id, "seed", True)
    assert gen_rows == csv_rows  # what verify expects

    # The CSVs of the same configuration are recognised as loaded; --generate again too.
    again = seed_cli(other_db, batch1, capsys, monkeypatch)
    assert again.code == 0, again.text
    assert "already seeded" in again.text
    again = generate_cli(other_db, BATCH1, capsys, monkeypatch)
    assert again.code == 0 and "already seeded" in again.text, again.text
    verify = _verify(other_db, capsys, monkeypatch)
    assert verify == 0


def test_a_table_with_no_rows_streams_as_an_empty_binary_copy(fresh_db: str, other_db: str,
                                                               capsys: Cap, monkeypatch: Mp) -> None:
    """COMMENTS_PER_ISSUE=0: comment's COPY gets the binary signature and trailer and nothing between."""
    config = {**BATCH1, "NUM_ISSUES": "500", "COMMENTS_PER_ISSUE": "0"}
    direct = generate_cli(fresh_db, config, capsys, monkeypatch, ZBUGS_SEED_COPY_FORMAT="binary")
    assert direct.code == 0, direct.text
    as_csv = generate_cli(other_db, config, capsys, monkeypatch, ZBUGS_SEED_COPY_FORMAT="csv")
    assert as_csv.code == 0, as_csv.text
    assert counts(fresh_db)["comment"] == 0 and counts(fresh_db)["issue"] == 500
    assert digest(fresh_db) == digest(other_db)
    assert differences(fresh_db) == [] and open_runs(fresh_db) == 0


def test_rows_the_encoder_cannot_read_stop_the_load_like_rows_the_server_refuses(
        fresh_db: str, capsys: Cap, monkeypatch: Mp) -> None:
    """Fault injected: issue's title declared a float8 column. The encoder refuses row 1 (as COPY
    would refuse such CSV): one line naming the table, row and field, and nothing of the load stays."""
    from zbugs_synth.generate.sinks import pgbinary

    monkeypatch.setitem(pgbinary.KINDS, "issue", "tfbffttttt")
    ran = generate_cli(fresh_db, {**BATCH1, "NUM_ISSUES": "500"}, capsys, monkeypatch,
                       ZBUGS_SEED_COPY_FORMAT="binary")
    assert ran.code == 2, ran.text
    assert "generated issue: cannot encode for binary COPY: row 1, field 2: not a number" in ran.err, ran.err
    assert "Traceback" not in ran.err and "resume" not in ran.err
    assert counts(fresh_db) == {**dict.fromkeys(counts(fresh_db), 0), "project": 1}
    assert differences(fresh_db) == [] and open_runs(fresh_db) == 0


def _verify(url: str, capsys: Cap, monkeypatch: Mp) -> int:
    with monkeypatch.context() as m:
        m.setenv("ZERO_UPSTREAM_DB", url)
        code = main(["verify"])
    capsys.readouterr()
    return code


def test_generated_batches_append_and_force_like_the_csvs(fresh_db: str, other_db: str, batch1: Path, batch2: Path,
                                                           capsys: Cap, monkeypatch: Mp) -> None:
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    assert seed_cli(fresh_db, batch2, capsys, monkeypatch, ZERO_SEED_APPEND="true").code == 0
    assert generate_cli(other_db, BATCH1, capsys, monkeypatch).code == 0
    ran = generate_cli(other_db, BATCH2, capsys, monkeypatch, ZERO_SEED_APPEND="true")
    assert ran.code == 0, ran.text
    assert digest(other_db) == digest(fresh_db)
    assert [r[0] for r in loads(other_db)] == [r[0] for r in loads(fresh_db)]
    # The same batch again is refused, as the CSV batch would be.
    ran = seed_cli(other_db, batch2, capsys, monkeypatch, ZERO_SEED_APPEND="true")
    assert ran.code == 2 and "already loaded" in ran.err, ran.text
    # Another size with a loaded batch's SEED collides on every id: said with the words of --generate.
    ran = generate_cli(other_db, {**BATCH2, "SEED": BATCH1["SEED"], "NUM_ISSUES": "300"}, capsys, monkeypatch,
                       ZERO_SEED_APPEND="true")
    assert ran.code == 2 and "(ids derive from the seed); run it again with another SEED" in ran.err, ran.text

    # Force back to batch 1 alone.
    ran = generate_cli(other_db, BATCH1, capsys, monkeypatch, ZERO_SEED_FORCE="true")
    assert ran.code == 0, ran.text
    assert counts(other_db) == expected_rows(batch1)
    assert differences(other_db) == []


def test_bad_generator_setting_is_one_line(fresh_db: str, capsys: Cap, monkeypatch: Mp) -> None:
    ran = generate_cli(fresh_db, {**BATCH1, "NUM_ISSUES": "many"}, capsys, monkeypatch)
    assert ran.code == 2
    assert "NUM_ISSUES='many'" in ran.err and "Traceback" not in ran.err
    assert _query(fresh_db, "SELECT to_regclass('zbugs_synth.loaded_datasets') IS NULL "  # nothing recorded
                            "OR NOT EXISTS (SELECT 1 FROM zbugs_synth.loaded_datasets)")


def test_settings_that_only_place_files_are_not_read(fresh_db: str, capsys: Cap, monkeypatch: Mp) -> None:
    """The README: --generate does not use OUTPUT_DIR or SHARD_SIZE (they place and split files); a
    value left in the shell for generate-synthetic, even one it would refuse, does not stop the load."""
    ran = generate_cli(fresh_db, {**BATCH1, "NUM_ISSUES": "300"}, capsys, monkeypatch, SHARD_SIZE="0",
                       OUTPUT_DIR="ftp://not-a-destination")
    assert ran.code == 0, ran.text


def test_a_generated_batch_without_users_names_users_not_a_csv(fresh_db: str, capsys: Cap, monkeypatch: Mp) -> None:
    ran = generate_cli(fresh_db, BATCH2, capsys, monkeypatch)  # SKIP_USERS=true as a seed: refused
    assert ran.code == 2 and "has no users (a SKIP_USERS=true batch)" in ran.err and "CSV" not in ran.err, ran.text
    ran = generate_cli(fresh_db, BATCH2, capsys, monkeypatch, ZERO_SEED_APPEND="true")  # no users there yet
    assert ran.code == 2 and "has none of its users" in ran.err and "CSV" not in ran.err, ran.text


def _query(url: str, sql: str) -> Any:
    with psycopg.connect(url, autocommit=True, connect_timeout=2) as c:
        return c.execute(sql).fetchone()[0]  # type: ignore[index]


MEDIUM = {"NUM_ISSUES": "20000", "NUM_PROJECTS": "40", "NUM_USERS": "60", "SEED": "5"}
MOMENTS: dict[str, Callable[[str], bool]] = {
    "small-tables-committed": lambda u: _query(u, "SELECT count(*) FROM zbugs_synth.seed_shards") >= 3,
    "streaming": lambda u: _query(u, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                     "AND query ILIKE 'COPY%issue%'") > 0,
    "index-build": lambda u: _query(u, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                       "AND query ILIKE 'CREATE%INDEX%'") > 0,
}


@pytest.fixture(scope="module")
def medium_reference(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, zbugs_template: str) -> dict:
    """The content hashes of the CSV path for MEDIUM."""
    data = loader_helpers.make_dataset(tmp_path_factory.mktemp("medium-direct") / "data", MEDIUM)
    name = f"test_{uuid.uuid4().hex[:12]}"
    connect.create_database(pg_admin_url, name, template=zbugs_template, if_missing=False)
    url = connect.with_database(pg_admin_url, name)
    try:
        ran = loader_helpers.seed_process(url, data, tmp_path_factory.mktemp("ref-cwd"))
        assert ran.code == 0, ran.text
        return digest(url)
    finally:
        connect.drop_database(pg_admin_url, name)


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_killed_direct_load_resumes_to_the_same_rows(fresh_db: str, tmp_path: Path, moment: str,
                                                     medium_reference: dict) -> None:
    env = {"ZERO_UPSTREAM_DB": fresh_db, "ZERO_SEED_GENERATE": "true", "ZERO_SEED_JOBS": "2", **MEDIUM}
    kill_when(tmp_path, Path("/nonexistent"), ["db-seed-synthetic", "--progress", "none"],
              lambda: MOMENTS[moment](fresh_db), env)
    assert open_runs(fresh_db) == 1
    again = run(tmp_path, Path("/nonexistent"), "db-seed-synthetic", "--progress", "none", **env)
    assert again.code == 0, again.text
    assert "resuming the interrupted seed load" in again.text
    assert differences(fresh_db) == []
    assert digest(fresh_db) == medium_reference



def test_a_row_the_server_refuses_mid_stream_stops_the_load_and_keeps_nothing(fresh_db: str,
                                                                             tmp_path: Path) -> None:
    """The error comes up on a table's sending thread while the generator goes on: it reaches the
    command as one line, the other tables' streams stop, no lent chunk buffer is left waiting (the
    command returns), and the database is as before the load."""
    with psycopg.connect(fresh_db, autocommit=True) as c:
        # shortIDs are handed out in row order: issue 18,001 of 20,000 is refused, in the second chunk.
        c.execute('ALTER TABLE issue ADD CONSTRAINT few_issues CHECK ("shortID" <= 18000)')
    env = {"ZERO_UPSTREAM_DB": fresh_db, "ZERO_SEED_GENERATE": "true", **MEDIUM}
    ran = run(tmp_path, Path("/nonexistent"), "db-seed-synthetic", "--progress", "none", timeout=120, **env)
    with psycopg.connect(fresh_db, autocommit=True) as c:
        c.execute("ALTER TABLE issue DROP CONSTRAINT few_issues")
    assert ran.code == 2, ran.text
    assert "Traceback" not in ran.err
    assert 'generated issue: new row for relation "issue" violates check constraint "few_issues"' in ran.err, \
        ran.err
    assert counts(fresh_db) == {**dict.fromkeys(counts(fresh_db), 0), "project": 1}
    assert differences(fresh_db) == [] and open_runs(fresh_db) == 0


@pytest.mark.parametrize("moment", ["small-tables-committed", "index-build"])
def test_a_killed_generated_append_is_undone_by_reset(fresh_db: str, tmp_path: Path, moment: str) -> None:
    """ZERO_SEED_RESET refused an interrupted --generate --append ("needs its files"), though every
    message after the kill recommends it (a crash campaign): its rows are made again and removed."""
    first = {"ZERO_UPSTREAM_DB": fresh_db, "ZERO_SEED_GENERATE": "true", **MEDIUM}
    assert run(tmp_path, Path("/nonexistent"), "db-seed-synthetic", "--progress", "none", **first).code == 0
    before = digest(fresh_db)
    batch = {**first, "SEED": "6", "SKIP_USERS": "true", "ZERO_SEED_APPEND": "true", "ZERO_SEED_INDEXES": "full"}
    kill_when(tmp_path, Path("/nonexistent"), ["db-seed-synthetic", "--progress", "none"],
              lambda: MOMENTS[moment](fresh_db), batch)
    assert open_runs(fresh_db) == 1
    reset = run(tmp_path, Path("/nonexistent"), "db-seed-synthetic", "--progress", "none",
                ZERO_UPSTREAM_DB=fresh_db, ZERO_SEED_RESET="true")
    assert reset.code == 0, reset.text
    assert "undid the interrupted append" in reset.out, reset.text
    assert open_runs(fresh_db) == 0 and differences(fresh_db) == []
    assert digest(fresh_db) == before
