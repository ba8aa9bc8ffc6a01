"""db-seed-synthetic: seed, already seeded, force, append (batch workflow), original datasets, refusals.

Every test loads into a real, freshly migrated database (`fresh_db`) and reads the result back.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import loader_helpers
import psycopg
import pytest
from loader_helpers import (
    BATCH1,
    ZERO,
    Cap,
    Mp,
    copy_without_manifest,
    counts,
    differences,
    digest,
    expected_rows,
    issue_ids_in_file_order,
    loads,
    open_runs,
    query,
    seed_cli,
    timeline_jobs,
)

from original_format import OriginalDataset
from zbugs_synth.config import build
from zbugs_synth.config.generate import DEFAULT_OUTPUT_DIR
from zbugs_synth.config.seed import DEFAULT_DATA_DIR, SeedConfig, maintenance_per_session, memory_kb
from zbugs_synth.db.load.bookkeeping import dir_dataset_id
from zbugs_synth.db.load.session import APP_CONTROL, APP_WORKER, cpu_count
from zbugs_synth.manifest import INCOMPLETE_MARKER, MANIFEST_NAME, MANIFEST_TXT, read_manifest
from zbugs_synth.tables import GUIDE_TABLES


def test_seed_loads_every_row_and_puts_the_schema_back(fresh_db: str, batch1: Path, capsys: Cap,
                                                        monkeypatch: Mp) -> None:
    ran = seed_cli(fresh_db, batch1, capsys, monkeypatch)
    assert ran.code == 0, ran.err
    assert counts(fresh_db) == expected_rows(batch1)
    assert differences(fresh_db) == []  # every index, FK, trigger (enabled) and the publication
    manifest = read_manifest(batch1)
    assert manifest is not None
    [(ds_id, source, mode, rows, finished)] = loads(fresh_db)
    assert (ds_id, source, mode, finished) == (manifest.dataset_id, str(batch1), "seed", True)
    assert rows == manifest.rows_by_table()
    stored = query(fresh_db, "SELECT manifest FROM zbugs_synth.loaded_datasets")[0][0]
    assert stored == json.loads((batch1 / MANIFEST_NAME).read_text())
    assert open_runs(fresh_db) == 0
    # Summary with phase timings on stdout; progress per table on stderr.
    assert "phases:" in ran.out and "indexes" in ran.out and "copy issue" in ran.err


def all_visible_share(url: str, table: str) -> float:
    """Share of the table's pages the visibility map marks all-visible (ANALYZE counts them)."""
    [(pages, visible)] = query(url, "SELECT relpages, relallvisible FROM pg_class WHERE oid = %s::regclass",
                               (f'public."{table}"',))
    return visible / pages if pages else 0.0


def test_seeded_heaps_are_all_visible(fresh_db: str, batch1: Path, capsys: Cap, monkeypatch: Mp) -> None:
    # COPY FREEZE marks pages all-visible only when it can buffer rows, i.e. on tables without BEFORE
    # INSERT row triggers (dropped for the load): else verify and every index-only scan read the heap.
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    # (Not every page: one that a COPY batch left part-filled is not marked when the next batch fills it.
    # 0.60 / 0.74 at this size, ~1.0 at 300K issues; before the triggers were dropped: 0.)
    for table in ("issue", "comment", "issueLabel", "label"):
        assert all_visible_share(fresh_db, table) > 0.5, table
    assert differences(fresh_db) == []


@pytest.mark.parametrize("generate", [False, True], ids=["csv", "generate"])
def test_a_seeded_table_is_analyzed_once_before_its_indexes(fresh_db: str, batch1: Path, capsys: Cap,
                                                            monkeypatch: Mp, generate: bool) -> None:
    """Loaded whole in one transaction, a big table gets its statistics as soon as it is in: before its
    index builds (they would lock each other out) and before the foreign key checks, whose plans need
    them; the last stage does not analyze it again. project has an expression index: analyzed after it."""
    args = ("--generate",) if generate else ()
    env = {k: v for k, v in BATCH1.items() if k != "SHARD_SIZE"} if generate else {}
    with monkeypatch.context() as m:
        for k, v in env.items():
            m.setenv(k, v)
        ran = seed_cli(fresh_db, batch1, capsys, monkeypatch, *args, ZBUGS_SEED_TIMELINE="true")
    assert ran.code == 0, ran.text
    jobs = timeline_jobs(ran.out)
    table_of = {f"index:{name}": table for name, table in
                query(fresh_db, "SELECT indexname, tablename FROM pg_indexes WHERE schemaname = 'public'")}
    for table in ("issue", "comment", "issueLabel"):
        assert jobs.count(f"analyze:{table}") == 1, (table, jobs)
        first_index = min(i for i, j in enumerate(jobs) if table_of.get(j) == table)
        first_fk = min(i for i, j in enumerate(jobs) if j.startswith(f"fk:{table}."))
        assert jobs.index(f"analyze:{table}") < first_index and jobs.index(f"analyze:{table}") < first_fk
    assert jobs.index("analyze:project") > jobs.index("index:project_lower_case_name_idx")
    stats = query(fresh_db, "SELECT count(DISTINCT tablename) FROM pg_stats WHERE schemaname = 'public' "
                            "AND tablename IN ('issue', 'comment', 'issueLabel', 'project')")
    assert stats == [(4,)]
    assert differences(fresh_db) == []


def test_seed_keeps_csv_values_and_numbers_issues_in_file_order(fresh_db: str, batch1: Path, capsys: Cap,
                                                                 monkeypatch: Mp) -> None:
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    ids = issue_ids_in_file_order(batch1)
    got = dict(query(fresh_db, 'SELECT id, "shortID" FROM issue'))
    assert [got[i] for i in ids] == list(range(3000, 3000 + len(ids)))
    assert query(fresh_db, "SELECT nextval('\"issue_shortID_seq\"')")[0][0] == 3000 + len(ids)
    # Triggers were off during COPY: the CSV's timestamps and lowerCaseName survive as written.
    with open(next(iter(sorted(batch1.glob("issue_*.csv")))), encoding="utf-8") as f:
        header = f.readline().strip().split(",")
        first = dict(zip(header, f.readline().strip().split(","), strict=False))
    row = query(fresh_db, "SELECT created, modified FROM issue WHERE id = %s", (first["id"],))[0]
    assert row == (float(first["created"]), float(first["modified"]))


def test_seeding_the_loaded_dataset_again_is_a_no_op(fresh_db: str, batch1: Path, batch2: Path, capsys: Cap,
                                                    monkeypatch: Mp) -> None:
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    assert seed_cli(fresh_db, batch2, capsys, monkeypatch, ZERO_SEED_APPEND="true").code == 0
    before, before_loads = digest(fresh_db), loads(fresh_db)
    ran = seed_cli(fresh_db, batch1, capsys, monkeypatch)  # the quickstart-then-script rerun: idempotent
    assert ran.code == 0, ran.text
    assert "already seeded" in ran.out and str(batch1) in ran.out and "nothing loaded" in ran.out
    assert digest(fresh_db) == before and loads(fresh_db) == before_loads


def test_seeding_another_dataset_over_loaded_data_is_refused(fresh_db: str, batch1: Path, tmp_path: Path,
                                                             capsys: Cap, monkeypatch: Mp,
                                                             original_dataset: OriginalDataset) -> None:
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    before, before_loads = digest(fresh_db), loads(fresh_db)
    for other in (original_dataset.directory, copy_without_manifest(batch1, tmp_path / "other")):  # other dataset ids
        ran = seed_cli(fresh_db, other, capsys, monkeypatch)
        assert ran.code == 2, ran.text
        [line] = ran.err.strip().splitlines()
        assert "already holds other data" in line and f"datasets loaded: {batch1}" in line, line
        assert "ZERO_SEED_FORCE=true" in line and "ZERO_SEED_APPEND=true" in line and str(other) in line, line
        assert digest(fresh_db) == before and loads(fresh_db) == before_loads
    # Rows nobody recorded: said as such.
    query(fresh_db, "TRUNCATE zbugs_synth.loaded_datasets CASCADE")
    ran = seed_cli(fresh_db, batch1, capsys, monkeypatch)
    assert ran.code == 2 and "data not loaded by zbugs-synth" in ran.err, ran.text
    assert digest(fresh_db) == before


def test_force_equals_a_seed_into_a_freshly_migrated_database(fresh_db: str, other_db: str, batch1: Path,
                                                              batch2: Path, capsys: Cap, monkeypatch: Mp) -> None:
    assert seed_cli(other_db, batch1, capsys, monkeypatch).code == 0
    fresh = digest(other_db)

    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    assert seed_cli(fresh_db, batch2, capsys, monkeypatch, ZERO_SEED_APPEND="true").code == 0
    query(fresh_db, "UPDATE project SET \"issueCountEstimate\" = 7 WHERE id = %s", (ZERO,))
    ran = seed_cli(fresh_db, batch1, capsys, monkeypatch, ZERO_SEED_FORCE="true")
    assert ran.code == 0, ran.err
    assert digest(fresh_db) == fresh  # every row (the Zero project as migrated), shortIDs, the sequence
    assert differences(fresh_db) == []
    assert [(m, f) for _d, _s, m, _r, f in loads(fresh_db)] == [("force", True)]


def test_append_batch_workflow(fresh_db: str, batch1: Path, batch2: Path, capsys: Cap, monkeypatch: Mp) -> None:
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    ran = seed_cli(fresh_db, batch2, capsys, monkeypatch, ZERO_SEED_APPEND="true")
    assert ran.code == 0, ran.err
    assert counts(fresh_db) == expected_rows(batch1, batch2)
    assert differences(fresh_db) == []
    assert [(m, f) for _d, _s, m, _r, f in loads(fresh_db)] == [("seed", True), ("append", True)]
    # Batch 2's issues are numbered after batch 1's, in its file order.
    n1 = len(issue_ids_in_file_order(batch1))
    ids2 = issue_ids_in_file_order(batch2)
    got = dict(query(fresh_db, 'SELECT id, "shortID" FROM issue'))
    assert [got[i] for i in ids2] == list(range(3000 + n1, 3000 + n1 + len(ids2)))


def test_append_refuses_what_would_duplicate_rows(fresh_db: str, batch1: Path, batch2: Path, tmp_path: Path,
                                                  capsys: Cap, monkeypatch: Mp) -> None:
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    before = digest(fresh_db)
    assert seed_cli(fresh_db, batch2, capsys, monkeypatch, ZERO_SEED_APPEND="true").code == 0
    after = digest(fresh_db)
    again = seed_cli(fresh_db, batch2, capsys, monkeypatch, ZERO_SEED_APPEND="true")
    assert again.code == 2 and "already loaded" in again.err
    with_users = seed_cli(fresh_db, batch1, capsys, monkeypatch, "--append", "--seed-data-dir",
                          str(copy_without_manifest(batch1, tmp_path / "b1copy")))
    assert with_users.code == 2 and "SKIP_USERS=true" in with_users.err
    assert digest(fresh_db) == after != before


def test_append_refuses_a_batch_with_a_loaded_seed_before_dropping_anything(
        fresh_db: str, batch1: Path, tmp_path: Path, capsys: Cap, monkeypatch: Mp) -> None:
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    before, before_loads = digest(fresh_db), loads(fresh_db)
    # Another dataset (other NUM_ISSUES, other directory), but batch 1's SEED: every id would collide.
    same_seed = loader_helpers.make_dataset(tmp_path / "same-seed", {**loader_helpers.BATCH2, "NUM_ISSUES": "500",
                                                                     "SEED": loader_helpers.BATCH1["SEED"]})
    ran = seed_cli(fresh_db, same_seed, capsys, monkeypatch, ZERO_SEED_APPEND="true")
    assert ran.code == 2, ran.text
    assert (f"SEED {loader_helpers.BATCH1['SEED']} is already loaded (from {batch1}): batches need different seeds "
            "(ids derive from the seed)") in ran.err
    assert "copy " not in ran.err and "checksum" not in ran.err  # refused before reading or loading anything
    assert digest(fresh_db) == before and loads(fresh_db) == before_loads
    assert differences(fresh_db) == [] and open_runs(fresh_db) == 0


def test_original_tool_dataset_loads(fresh_db: str, capsys: Cap, monkeypatch: Mp,
                                     original_dataset: OriginalDataset) -> None:
    original = original_dataset.directory
    ran = seed_cli(fresh_db, original, capsys, monkeypatch)
    assert ran.code == 0, ran.err
    # Every row the writer wrote, plus the Zero project.
    written = {t: n for t, n in original_dataset.rows.items() if t in GUIDE_TABLES or n}
    assert counts(fresh_db) == {t: n + (t == "project") for t, n in written.items()}
    assert differences(fresh_db) == []
    [(ds_id, source, mode, rows, finished)] = loads(fresh_db)
    assert (ds_id, source, mode, finished) == (dir_dataset_id(original), str(original), "seed", True)
    assert {t: n for t, n in rows.items() if t in GUIDE_TABLES or n} == written
    assert query(fresh_db, "SELECT manifest FROM zbugs_synth.loaded_datasets") == [(None,)]


def _untouched(url: str) -> None:
    assert counts(url) == {**dict.fromkeys(GUIDE_TABLES, 0), "project": 1}
    assert differences(url) == []
    # Not even a record of the attempt.
    assert loads(url) == [] and open_runs(url) == 0


def test_bad_dataset_directories_are_refused_before_touching_the_database(
        fresh_db: str, batch1: Path, batch2: Path, tmp_path: Path, capsys: Cap, monkeypatch: Mp) -> None:
    def refused(data_dir: Path, *words: str, **env: str) -> None:
        ran = seed_cli(fresh_db, data_dir, capsys, monkeypatch, **env)
        assert ran.code == 2, ran.text
        line = ran.err.strip().splitlines()[-1]
        assert "Traceback" not in ran.err and all(w in line for w in words), line
        _untouched(fresh_db)

    def copy(name: str) -> Path:
        d = tmp_path / name
        d.mkdir()
        for p in batch1.iterdir():
            (d / p.name).write_bytes(p.read_bytes())
        return d

    refused(tmp_path / "nope", "does not exist")
    d = copy("incomplete")
    (d / INCOMPLETE_MARKER).write_text("")  # generate-synthetic and get-data both leave it behind
    refused(d, "incomplete", INCOMPLETE_MARKER, "generate-synthetic or get-data", "rerun the command that wrote it")
    d = copy("missing")
    for p in d.glob("comment_*.csv"):
        p.unlink()
    refused(d, "comment_000.csv", "missing")
    d = copy("no-table")
    (d / MANIFEST_NAME).unlink()
    (d / MANIFEST_TXT).unlink()  # an original-tool directory: every CSV present is the dataset
    for p in d.glob("label_*.csv"):
        p.unlink()
    refused(d, "no CSV file for table(s) label")
    d = copy("size")
    with open(d / "issue_001.csv", "ab") as f:
        f.write(b"x")
    refused(d, "issue_001.csv", "bytes", MANIFEST_NAME)
    d = copy("checksum")
    data = bytearray((d / "comment_002.csv").read_bytes())
    data[-5] = ord("Q") if data[-5] != ord("Q") else ord("R")
    (d / "comment_002.csv").write_bytes(bytes(data))
    refused(d, "comment_002.csv", "checksum")
    d = copy("extra")
    (d / "issue_009.csv").write_text("id\n")
    refused(d, "issue_009.csv", "not listed")
    refused(batch2, "SKIP_USERS", "ZERO_SEED_APPEND=true")
    refused(batch1, "ZERO_SEED_FORCE (--force) and ZERO_SEED_APPEND (--append) are both set: choose one",
            ZERO_SEED_FORCE="true", ZERO_SEED_APPEND="true")


@pytest.mark.parametrize("args,env,needle", [
    (["--force", "--reset"], {}, "--reset and --force: choose one"),
    (["--append", "--reset"], {}, "--reset and --append: choose one"),
    (["--num-issues", "100"], {}, "--num-issues: a generator setting, used only with --generate"),
    (["--parts", "3"], {}, "--parts: a generator setting, used only with --generate"),
    (["--generate", "--seed-data-dir", "DIR"], {}, "--seed-data-dir: not with --generate"),
])
def test_a_setting_this_run_would_drop_is_refused(fresh_db: str, batch1: Path, capsys: Cap, monkeypatch: Mp,
                                                 args: list[str], env: dict[str, str], needle: str) -> None:
    args = [str(batch1) if a == "DIR" else a for a in args]
    ran = seed_cli(fresh_db, batch1, capsys, monkeypatch, *args, **env)
    assert ran.code == 2 and needle in ran.err and "Traceback" not in ran.err, ran.text
    assert len(ran.err.strip().splitlines()) == 1 and ran.out.strip() == ""  # refused before any work
    assert counts(fresh_db) == {**dict.fromkeys(GUIDE_TABLES, 0), "project": 1} and loads(fresh_db) == []


def test_a_reset_as_the_hints_say_is_not_refused(fresh_db: str, batch1: Path, capsys: Cap, monkeypatch: Mp) -> None:
    ran = seed_cli(fresh_db, batch1, capsys, monkeypatch, "--generate", "--num-issues", "100", ZERO_SEED_RESET="true")
    assert ran.code == 0 and "nothing to reset" in ran.out and "unset ZERO_SEED_RESET to load" in ran.out, ran.text


@pytest.mark.parametrize("args,env,mode", [
    (["--force"], {"ZERO_SEED_RESET": "true"}, "ZERO_SEED_FORCE"),  # the stopped command, the hint's variable kept
    (["--reset"], {"ZERO_SEED_APPEND": "true"}, "ZERO_SEED_APPEND"),  # an APPEND kept in .env
    ([], {"ZERO_SEED_RESET": "true", "ZERO_SEED_FORCE": "true"}, "ZERO_SEED_FORCE"),  # both left in .env
])
def test_a_reset_with_nothing_to_undo_does_not_swallow_a_force_or_append(
        fresh_db: str, batch1: Path, capsys: Cap, monkeypatch: Mp, args: list[str], env: dict[str, str],
        mode: str) -> None:
    """A ZERO_SEED_RESET=true left in the shell or .env turned every later force or append load into a
    no-op that exited 0 (a walkthrough). With an interrupted load there, it still undoes it."""
    ran = seed_cli(fresh_db, batch1, capsys, monkeypatch, *args, **env)
    assert ran.code == 2 and len(ran.err.strip().splitlines()) == 1, ran.text
    assert f"ZERO_SEED_RESET is set with {mode}, but there is no interrupted load to undo" in ran.err
    assert counts(fresh_db) == {**dict.fromkeys(GUIDE_TABLES, 0), "project": 1} and loads(fresh_db) == []


def test_generator_variables_in_the_environment_do_not_stop_a_csv_load(fresh_db: str, batch1: Path, capsys: Cap,
                                                                      monkeypatch: Mp) -> None:
    # One shell (or .env) serves both kinds of load: only flags typed for this run are refused.
    ran = seed_cli(fresh_db, batch1, capsys, monkeypatch, NUM_ISSUES="100", ZERO_SEED_FORCE="true")
    assert ran.code == 0, ran.text


def test_reset_without_an_interrupted_load_says_so(fresh_db: str, capsys: Cap, monkeypatch: Mp) -> None:
    ran = seed_cli(fresh_db, None, capsys, monkeypatch, ZERO_SEED_RESET="true")
    assert ran.code == 0 and "nothing to reset" in ran.out
    assert counts(fresh_db) == {**dict.fromkeys(GUIDE_TABLES, 0), "project": 1}
    assert differences(fresh_db) == [] and loads(fresh_db) == []


def test_password_is_never_printed(fresh_db: str, batch1: Path, tmp_path: Path, capsys: Cap,
                                   monkeypatch: Mp) -> None:
    password = psycopg.conninfo.conninfo_to_dict(fresh_db)["password"]
    assert password and str(password) in fresh_db
    outputs = [seed_cli(fresh_db, batch1, capsys, monkeypatch),  # loads
               seed_cli(fresh_db, batch1, capsys, monkeypatch),  # already seeded (names the database)
               seed_cli(fresh_db.replace(f":{password}@", ":wrong-secret@"), batch1, capsys, monkeypatch)]
    assert outputs[2].code == 2 and "****" in outputs[2].err
    for ran in outputs:
        assert str(password) not in ran.text and "wrong-secret" not in ran.text


def test_bulk_is_the_only_mode_and_says_so(fresh_db: str, batch1: Path, capsys: Cap, monkeypatch: Mp) -> None:
    ran = seed_cli(fresh_db, batch1, capsys, monkeypatch, ZERO_SEED_BULK="false")
    assert ran.code == 0 and "only mode" in ran.out
    assert counts(fresh_db) == expected_rows(batch1)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        from zbugs_synth.cli import main
        main(["db-seed-synthetic", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for word in ("ZERO_SEED_DATA_DIR", "ZERO_SEED_FORCE", "ZERO_SEED_APPEND", "ZERO_SEED_RESET", "ZERO_SEED_BULK",
                 "ZERO_SEED_JOBS", "ZERO_UPSTREAM_DB", "only mode", "exit status"):
        assert word in text, word


# Records, from inside the server, the settings of every session that runs DDL: the loader's control
# connection (drops, constraints, bookkeeping tables) and its workers (index builds, FK validation).
_PROBE = """
CREATE SCHEMA probe;
CREATE TABLE probe.seen (pid int, app text, mwm text, wm text, tag text, flush text);
CREATE FUNCTION probe.note() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO probe.seen VALUES (pg_backend_pid(), current_setting('application_name'),
        current_setting('maintenance_work_mem'), current_setting('work_mem'), tg_tag,
        current_setting('backend_flush_after'));
END $$;
CREATE EVENT TRIGGER probe_ddl ON ddl_command_end EXECUTE FUNCTION probe.note();
"""


def _seen(url: str) -> list[tuple[Any, ...]]:
    return query(url, "SELECT pid, app, mwm, wm, tag FROM probe.seen WHERE app LIKE 'zbugs-synth seed %%'")


def test_every_session_of_a_real_load_gets_the_memory_settings(fresh_db: str, batch1: Path, capsys: Cap,
                                                                 monkeypatch: Mp) -> None:
    query(fresh_db, _PROBE)
    ran = seed_cli(fresh_db, batch1, capsys, monkeypatch)  # jobs: this machine's cores (the server is local)
    assert ran.code == 0, ran.err
    jobs = cpu_count()
    share = maintenance_per_session(None, jobs)  # the guide's 2GB shared: 1GB each on 2 cores
    seen = _seen(fresh_db)
    by_app = {app: {pid for pid, a, *_ in seen if a == app} for app in (APP_CONTROL, APP_WORKER)}
    assert len(by_app[APP_CONTROL]) == 1 and 1 <= len(by_app[APP_WORKER]) <= jobs, seen
    assert any(a == APP_WORKER and tag == "CREATE INDEX" for _p, a, _m, _w, tag in seen)
    # Index builds (Tuning.index_sort_mem) and foreign key checks (the workers' ALTER TABLEs,
    # Tuning.fk_sort_mem) sort with less, set for each and put back after it; the control
    # connection's DDL (drops, constraints) runs with the share.
    index_mem = "16MB" if memory_kb(share) > memory_kb("16MB") else share
    fk_mem = "64MB" if memory_kb(share) > memory_kb("64MB") else share
    assert {(m, w) for _p, a, m, w, t in seen if a == APP_WORKER and t == "CREATE INDEX"} == {(index_mem, "256MB")}
    assert {(m, w) for _p, a, m, w, t in seen if a == APP_WORKER and t == "ALTER TABLE"} == {(fk_mem, "256MB")}
    assert {t for _p, a, _m, _w, t in seen if a == APP_WORKER} == {"CREATE INDEX", "ALTER TABLE"}
    assert {(m, w) for _p, a, m, w, t in seen if a == APP_CONTROL} == {(share, "256MB")}
    assert f"{jobs} connection(s), maintenance_work_mem {share} each" in ran.out
    # The workers (which also run the COPYs) have their writes' writeback start as they go (Linux has it).
    flush = query(fresh_db, "SELECT DISTINCT app, flush FROM probe.seen WHERE app LIKE 'zbugs-synth seed %%'")
    assert (APP_WORKER, "2MB") in flush and (APP_WORKER, "0") not in flush, flush
    if fk_mem != share:
        assert f"({index_mem} for index builds, {fk_mem} for foreign key checks)" in ran.out

    # A value the user sets is used as it is, by every connection.
    query(fresh_db, "TRUNCATE probe.seen")
    ran = seed_cli(fresh_db, batch1, capsys, monkeypatch, ZERO_SEED_JOBS="2", ZERO_SEED_FORCE="true",
                   ZERO_SEED_MAINTENANCE_WORK_MEM="300MB", ZERO_SEED_WORK_MEM="32MB")
    assert ran.code == 0, ran.err
    seen = _seen(fresh_db)
    assert {a for _p, a, *_ in seen} == {APP_CONTROL, APP_WORKER}
    assert {(m, w) for _p, _a, m, w, _t in seen} == {("300MB", "32MB")}
    assert "maintenance_work_mem 300MB each\n" in ran.out  # one memory for everything: nothing more said

    # The two sort memories as set, each where it belongs, and named in the summary.
    query(fresh_db, "TRUNCATE probe.seen")
    ran = seed_cli(fresh_db, batch1, capsys, monkeypatch, ZERO_SEED_JOBS="2", ZERO_SEED_FORCE="true",
                   ZBUGS_SEED_INDEX_SORT_MEM="8MB", ZBUGS_SEED_FK_SORT_MEM="32MB")
    assert ran.code == 0, ran.err
    seen = _seen(fresh_db)
    assert {m for _p, a, m, _w, t in seen if a == APP_WORKER and t == "CREATE INDEX"} == {"8MB"}
    assert {m for _p, a, m, _w, t in seen if a == APP_WORKER and t == "ALTER TABLE"} == {"32MB"}
    assert "maintenance_work_mem 1GB each (8MB for index builds, 32MB for foreign key checks)" in ran.out


def test_the_summary_names_the_sort_memories_that_differ_from_the_share() -> None:
    from zbugs_synth.commands.seed import _sort_mems
    from zbugs_synth.db.load.loader import SeedResult

    def said(index: str, fk: str) -> str:
        return _sort_mems(SeedResult("loaded", maintenance_work_mem="64MB", index_mem=index, fk_mem=fk))

    assert said("16MB", "64MB") == " (16MB for index builds)"
    assert said("64MB", "32MB") == " (32MB for foreign key checks)"
    assert said("16MB", "16MB") == " (16MB for index builds and foreign key checks)"
    assert said("64MB", "64MB") == ""


def test_maintenance_work_mem_is_a_budget_shared_by_the_connections(capsys: Cap) -> None:
    assert [maintenance_per_session(None, j) for j in (1, 2, 4, 16, 32, 64, 256)] == \
        ["2GB", "1GB", "512MB", "128MB", "64MB", "64MB", "64MB"]
    assert maintenance_per_session(None, 3) == "699050kB"  # 2GB / 3, in whole kB
    assert maintenance_per_session("3GB", 16) == "3GB"  # set by the user: as given
    assert build(SeedConfig, None, {}).maintenance_work_mem is None
    assert build(SeedConfig, None, {"ZERO_SEED_MAINTENANCE_WORK_MEM": " 1536MB "}).maintenance_work_mem == "1536MB"
    capsys.readouterr()
    with pytest.raises(SystemExit):
        from zbugs_synth.cli import main
        main(["db-seed-synthetic", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "2GB / jobs" in text and "at least 64MB" in text and "ZERO_SEED_MAINTENANCE_WORK_MEM" in text


def test_default_data_dir_is_the_generators_output_dir(tmp_path: Path, monkeypatch: Mp) -> None:
    assert DEFAULT_DATA_DIR == DEFAULT_OUTPUT_DIR
    monkeypatch.chdir(tmp_path)  # no .env here: with an empty environment the built-in default applies
    assert build(SeedConfig, None, {}).seed_dir == DEFAULT_OUTPUT_DIR
    assert build(SeedConfig, None, {"ZERO_SEED_DATA_DIR": "/elsewhere"}).seed_dir == Path("/elsewhere")


def test_more_jobs_than_the_server_takes_connections_are_lowered_and_said(
        fresh_db: str, batch1: Path, capsys: Cap, monkeypatch: Mp) -> None:
    """--jobs 256 on a server of max_connections 100 said 'with 256 connection(s)' (a walkthrough)."""
    with psycopg.connect(fresh_db) as c:
        limit = int(c.execute("SHOW max_connections").fetchone()[0])  # type: ignore[index]
    ran = seed_cli(fresh_db, batch1, capsys, monkeypatch, ZERO_SEED_JOBS=str(limit + 50))
    assert ran.code == 0, ran.text
    m = re.search(rf"note: ZERO_SEED_JOBS={limit + 50} lowered to (\d+): the server takes", ran.text)
    assert m and 1 <= int(m[1]) < limit, ran.text
    assert f"with {m[1]} connection(s)" in ran.out
