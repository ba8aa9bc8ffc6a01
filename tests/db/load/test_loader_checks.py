"""db-seed-synthetic asks the database the cheap questions before reading every file, refuses a batch
whose users are not there, keeps its bookkeeping true to the data, and honours manifest.txt."""

from __future__ import annotations

import shutil
from pathlib import Path

import loader_helpers
import pytest
from loader_helpers import (
    ZERO,
    Cap,
    Mp,
    copy_without_manifest,
    counts,
    differences,
    digest,
    expected_rows,
    last_line,
    loads,
    make_dataset,
    open_runs,
    query,
    seed_cli,
)

from original_format import OriginalDataset, write_original_dataset
from zbugs_synth.db import schema
from zbugs_synth.db.verify.checks import PASS, verify
from zbugs_synth.manifest import MANIFEST_NAME, MANIFEST_TXT, read_manifest
from zbugs_synth.tables import GUIDE_TABLES


def _row_counts_check(url: str) -> str:
    return next(c.status for c in verify(url).checks if c.name == "row counts match the loaded datasets")


# ---- seed into tables emptied by hand ------------------------------------------------------------

def test_seed_into_tables_emptied_by_hand_forgets_the_earlier_loads(fresh_db: str, batch1: Path, batch2: Path,
                                                                    capsys: Cap, monkeypatch: Mp) -> None:
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    assert seed_cli(fresh_db, batch2, capsys, monkeypatch, ZERO_SEED_APPEND="true").code == 0
    # The user empties every zbugs table, the Zero project included.
    query(fresh_db, "TRUNCATE " + ", ".join(f'public."{t}"' for t in schema.COLUMNS) + " RESTART IDENTITY")
    ran = seed_cli(fresh_db, batch1, capsys, monkeypatch)
    assert ran.code == 0, ran.text
    assert "forgot 2 earlier load record(s)" in ran.text
    manifest = read_manifest(batch1)
    assert manifest is not None
    assert [(d, m, f) for d, _s, m, _r, f in loads(fresh_db)] == [(manifest.dataset_id, "seed", True)]
    assert counts(fresh_db) == expected_rows(batch1)  # the Zero project is back too
    assert query(fresh_db, "SELECT name FROM project WHERE id = %s", (ZERO,)) == [("Zero",)]
    assert _row_counts_check(fresh_db) == PASS  # verify expects exactly what is there
    assert query(fresh_db, "SELECT count(*) FROM zbugs_synth.seed_runs") == [(0,)]


# ---- cheap checks before checksums ---------------------------------------------------------------

def test_already_seeded_is_said_before_reading_every_file(fresh_db: str, batch1: Path, tmp_path: Path,
                                                          capsys: Cap, monkeypatch: Mp) -> None:
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    before = digest(fresh_db)
    # A copy whose content no longer matches its checksum (same size): only reading it shows that.
    d = tmp_path / "changed"
    shutil.copytree(batch1, d)
    data = bytearray((d / "comment_003.csv").read_bytes())
    data[-3] = ord("Q") if data[-3] != ord("Q") else ord("R")
    (d / "comment_003.csv").write_bytes(bytes(data))

    ran = seed_cli(fresh_db, d, capsys, monkeypatch)
    assert ran.code == 0 and "already seeded" in ran.out, ran.text
    assert "checksum" not in ran.text  # not read: no checksum task, no checksum error
    assert digest(fresh_db) == before

    # When it would load, every file is still checked first.
    forced = seed_cli(fresh_db, d, capsys, monkeypatch, ZERO_SEED_FORCE="true")
    assert forced.code == 2 and "comment_003.csv" in last_line(forced.err) and "checksum" in last_line(forced.err)
    assert digest(fresh_db) == before and open_runs(fresh_db) == 0


# ---- a SKIP_USERS batch needs its users ------------------------------------------------------------

def _recorded(url: str) -> list[object] | None:
    """The recorded loads; None when the bookkeeping does not exist (a database migrated before 0004)."""
    if query(url, "SELECT to_regclass('zbugs_synth.loaded_datasets')") == [(None,)]:
        return None
    return list(loads(url))


def _refused_untouched(url: str, ran: loader_helpers.Ran, before: dict[str, object], before_loads: list[object] | None,
                       *words: str) -> None:
    assert ran.code == 2, ran.text
    line = last_line(ran.err)
    assert "Traceback" not in ran.err and all(w in line for w in words), line
    assert digest(url) == before and _recorded(url) == before_loads
    assert differences(url) == []  # nothing was dropped


def test_append_refuses_a_batch_whose_users_are_not_in_the_database(
        fresh_db: str, batch1: Path, batch2: Path, tmp_path: Path, capsys: Cap, monkeypatch: Mp) -> None:
    # Generated with more users than batch 1 loaded: its issues name usr_0060..usr_0119 too.
    more_users = make_dataset(tmp_path / "more-users", {"NUM_ISSUES": "300", "NUM_PROJECTS": "4", "NUM_USERS": "120",
                                                        "SKIP_USERS": "true", "SEED": "7"})
    no_manifest = copy_without_manifest(batch2, tmp_path / "b2-plain")

    # Into a database without any user: refused, with or without a manifest.
    before, before_loads = digest(fresh_db), _recorded(fresh_db)
    ran = seed_cli(fresh_db, batch2, capsys, monkeypatch, ZERO_SEED_APPEND="true")
    _refused_untouched(fresh_db, ran, before, before_loads, "NUM_USERS=60", "has none of its users", "usr_0059")
    ran = seed_cli(fresh_db, no_manifest, capsys, monkeypatch, ZERO_SEED_APPEND="true")
    _refused_untouched(fresh_db, ran, before, before_loads, "no user CSV", "has no users")

    # After batch 1 (60 users): 120 are needed.
    assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    before, before_loads = digest(fresh_db), _recorded(fresh_db)
    ran = seed_cli(fresh_db, more_users, capsys, monkeypatch, ZERO_SEED_APPEND="true")
    _refused_untouched(fresh_db, ran, before, before_loads, "NUM_USERS=120", "only 60 of its users", "usr_0119")
    assert open_runs(fresh_db) == 0

    # The batch that matches loads (the check counts the users it needs, not more).
    assert seed_cli(fresh_db, no_manifest, capsys, monkeypatch, ZERO_SEED_APPEND="true").code == 0
    assert counts(fresh_db) == expected_rows(batch1, batch2)


# ---- manifest.txt --------------------------------------------------------------------------------

def _txt_dataset(dst: Path) -> OriginalDataset:
    """What the original getData.sh flow leaves: the original's CSVs and manifest.txt, no manifest.json."""
    return write_original_dataset(dst, manifest_txt=True)


def test_manifest_txt_names_the_files_to_load(fresh_db: str, tmp_path: Path, capsys: Cap,
                                              monkeypatch: Mp) -> None:
    def refused(d: Path, *words: str) -> None:
        ran = seed_cli(fresh_db, d, capsys, monkeypatch)
        assert ran.code == 2, ran.text
        line = last_line(ran.err)
        assert "Traceback" not in ran.err and all(w in line for w in words), line
        assert counts(fresh_db) == {**dict.fromkeys(GUIDE_TABLES, 0), "project": 1} and not _recorded(fresh_db)

    # A CSV manifest.txt does not list: a directory mixing datasets is refused, the stray file named.
    d = _txt_dataset(tmp_path / "extra").directory
    shutil.copyfile(d / "issue_000.csv", d / "issue_001.csv")
    refused(d, "issue_001.csv", MANIFEST_TXT, "does not list")
    # A listed file that is not there.
    d = _txt_dataset(tmp_path / "missing").directory
    (d / "comment_000.csv").unlink()
    refused(d, "comment_000.csv", "missing", MANIFEST_TXT)
    # Not a dataset file name.
    written = _txt_dataset(tmp_path / "bad-name")
    d = written.directory
    with open(d / MANIFEST_TXT, "a") as f:
        f.write("../etc/passwd\n")
    refused(d, MANIFEST_TXT, f"line {len(written.files) + 1}")  # the line after the listed files

    # A complete one loads what it lists.
    ok = _txt_dataset(tmp_path / "ok")
    d = ok.directory
    ran = seed_cli(fresh_db, d, capsys, monkeypatch)
    assert ran.code == 0, ran.text
    assert counts(fresh_db) == {t: n + (t == "project") for t, n in ok.rows.items() if t in GUIDE_TABLES or n}
    assert not (d / MANIFEST_NAME).exists() and differences(fresh_db) == []


@pytest.mark.parametrize("mode", ["seed", "append"])
def test_a_batch_the_shortid_sequence_cannot_number_is_refused_up_front(
        fresh_db: str, batch1: Path, batch2: Path, capsys: Cap, monkeypatch: Mp, mode: str) -> None:
    """issue.shortID is int4: counting what the database already numbered, a batch past 2^31 - 1 is
    refused before anything is read or changed."""
    if mode == "append":
        assert seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    before = digest(fresh_db)
    # As if 2,147,482,000 issues had been numbered already: room for 1,648 more, the batch has more.
    query(fresh_db, 'SELECT setval(\'public."issue_shortID_seq"\', 2147482000)')
    data = batch2 if mode == "append" else batch1
    ran = seed_cli(fresh_db, data, capsys, monkeypatch, **({"ZERO_SEED_APPEND": "true"} if mode == "append" else {}))
    assert ran.code == 2, ran.text
    line = last_line(ran.err)
    assert "issue.shortID (a 4-byte integer, at most 2,147,483,647) has room for 1,647 more" in line, line
    assert len(ran.err.strip().splitlines()) == 1 and "Traceback" not in ran.err
    assert {k: v for k, v in digest(fresh_db).items() if k != "sequence"} == \
        {k: v for k, v in before.items() if k != "sequence"}
