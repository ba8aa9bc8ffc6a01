"""Partitioned generation in one process: `--parts N [--part K]` and `combine-parts`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from zbugs_synth.cli import main
from zbugs_synth.manifest import INCOMPLETE_MARKER, MANIFEST_NAME, MANIFEST_TXT, read_manifest
from zbugs_synth.tables import GUIDE_TABLES as TABLES
from zbugs_synth.tables import TABLES as ALL_TABLES
from zbugs_synth.tables import parse_shard_name

SMALL = {"NUM_ISSUES": "20000", "SHARD_SIZE": "3000", "NUM_PROJECTS": "30", "NUM_USERS": "40", "WORKERS": "2"}


def gen(monkeypatch: pytest.MonkeyPatch, out: Path, *args: str, **env: str) -> int:
    for k, v in {**SMALL, **env}.items():
        monkeypatch.setenv(k, v)
    return main(["generate-synthetic", "--progress", "none", "--output-dir", str(out), *args])


def data_rows(directory: Path, table: str) -> bytes:
    """A table's rows, shard after shard in name order, headers dropped."""
    out = bytearray()
    for f in sorted(p for p in directory.iterdir() if (s := parse_shard_name(p.name)) and s.table == table):
        out += f.read_bytes().split(b"\n", 1)[1]
    return bytes(out)


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("whole") / "d"
    with pytest.MonkeyPatch.context() as mp:
        assert gen(mp, out) == 0
    return out


@pytest.mark.parametrize("parts", [1, 3, 7])
def test_union_of_parts_is_the_whole_run_row_for_row(monkeypatch, tmp_path, whole, parts) -> None:
    out = tmp_path / "p"
    for k in reversed(range(1, parts + 1)):  # any order: the last one to finish combines
        assert gen(monkeypatch, out, "--parts", str(parts), "--part", str(k)) == 0
    for table in TABLES:
        assert data_rows(out, table) == data_rows(whole, table), table
    m, w = read_manifest(out), read_manifest(whole)
    assert m is not None and w is not None
    assert m.dataset_id == w.dataset_id and m.config == w.config
    assert m.rows_by_table() == w.rows_by_table()
    assert json.loads((out / MANIFEST_NAME).read_text())["parts"] == parts
    assert (out / MANIFEST_TXT).read_text().split() == [f.name for f in m.files]
    assert not (out / INCOMPLETE_MARKER).exists()
    # Every file is listed, with its size; names sort in dataset order and all have one width.
    on_disk = {p.name: p.stat().st_size for p in out.iterdir() if parse_shard_name(p.name)}
    assert on_disk == {f.name: f.bytes for f in m.files}
    for table in TABLES:
        names = [f.name for f in m.files_of(table)]
        assert names == sorted(names) and len({len(n) for n in names}) == 1


def test_small_tables_only_in_part_one_and_part_files_never_clash(monkeypatch, tmp_path) -> None:
    out = tmp_path / "p"
    assert gen(monkeypatch, out, "--parts", "4", "--part", "3") == 0
    part3 = {p.name for p in out.iterdir() if parse_shard_name(p.name)}
    assert {parse_shard_name(n).table for n in part3} == {"issue", "comment", "issueLabel"}  # type: ignore[union-attr]
    assert all(n.split("_")[1].startswith("2") and len(n.split("_")[1]) == 9 for n in part3)  # 1 + 4 digits + .csv
    assert not (out / MANIFEST_NAME).exists() and (out / INCOMPLETE_MARKER).exists()
    assert gen(monkeypatch, out, "--parts", "4", "--part", "1") == 0
    tables1 = {parse_shard_name(p.name).table for p in out.iterdir()  # type: ignore[union-attr]
               if parse_shard_name(p.name) and p.name not in part3}
    assert tables1 == set(TABLES)
    assert not (out / MANIFEST_NAME).exists()


def test_rerun_skips_complete_parts_and_redoes_a_damaged_one(monkeypatch, tmp_path, capsys, whole) -> None:
    out = tmp_path / "p"
    assert gen(monkeypatch, out, "--parts", "3") == 0
    capsys.readouterr()
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()}
    victim = next(p for p in sorted(out.iterdir()) if p.name.startswith("comment_1"))
    victim.unlink()
    (out / MANIFEST_NAME).unlink()
    assert gen(monkeypatch, out, "--parts", "3") == 0
    text = capsys.readouterr().out
    assert "1 part(s) written" in text and "2 already complete" in text
    for name, mtime in mtimes.items():
        if parse_shard_name(name) and not name.startswith(("issue_1", "comment_1", "issueLabel_1")):
            assert (out / name).stat().st_mtime_ns == mtime, name  # parts 1 and 3 untouched
    assert victim.exists()
    for table in TABLES:
        assert data_rows(out, table) == data_rows(whole, table)


def test_combine_waits_for_every_part_and_refuses_mixed_configurations(monkeypatch, tmp_path, capsys) -> None:
    out = tmp_path / "p"
    assert gen(monkeypatch, out, "--parts", "2", "--part", "1") == 0
    capsys.readouterr()
    assert main(["combine-parts", str(out)]) == 2
    err = capsys.readouterr().err
    assert "1 of 2 parts not finished yet (part 2)" in err and len(err.strip().splitlines()) == 1
    # Part 2 of another seed: generating it here is refused before it writes; brought in by hand (copied
    # from where it was made), combining refuses the mix.
    assert gen(monkeypatch, out, "--parts", "2", "--part", "2", SEED="43") == 2
    err = capsys.readouterr().err
    assert "holds parts of another configuration's dataset" in err and "Traceback" not in err
    other = tmp_path / "other"
    assert gen(monkeypatch, other, "--parts", "2", "--part", "2", SEED="43") == 0
    for f in other.rglob("*"):
        if f.is_file() and f.name != INCOMPLETE_MARKER:
            (out / f.relative_to(other)).write_bytes(f.read_bytes())
    capsys.readouterr()
    assert main(["combine-parts", str(out)]) == 2
    err = capsys.readouterr().err
    assert "different configurations (seed 42 against 43)" in err and len(err.strip().splitlines()) == 1, err
    assert not (out / MANIFEST_NAME).exists()


def test_combine_command_and_a_lost_shard(monkeypatch, tmp_path, capsys) -> None:
    out = tmp_path / "p"
    assert gen(monkeypatch, out, "--parts", "2") == 0
    (out / MANIFEST_NAME).unlink()
    lost = next(p for p in sorted(out.iterdir()) if p.name.startswith("issue_1"))
    lost.write_bytes(lost.read_bytes()[:-5])
    assert main(["combine-parts", str(out)]) == 2
    assert f"part 2 lists {lost.name}, which is missing or has another size" in capsys.readouterr().err
    assert gen(monkeypatch, out, "--parts", "2", "--part", "2") == 0
    assert (out / MANIFEST_NAME).exists()
    (out / MANIFEST_NAME).unlink()
    assert main(["combine-parts", str(out)]) == 0
    assert "2 parts combined into manifest.json" in capsys.readouterr().out


def test_a_damaged_parts_dataset_is_repaired_by_rerunning_the_part(monkeypatch, tmp_path, capsys, whole) -> None:
    """A shard of a combined parts dataset cut short: the rerun of its part (alone, or of every part)
    sees it, drops manifest.json (it no longer looks complete) and writes that part again."""
    out = tmp_path / "p"
    assert gen(monkeypatch, out, "--parts", "3") == 0
    m = read_manifest(out)
    assert m is not None
    victim = next(f for f in m.files_of("comment") if f.name.startswith("comment_1"))  # part 2's
    with open(out / victim.name, "r+b") as f:
        f.truncate(1000)
    capsys.readouterr()
    assert gen(monkeypatch, out, "--parts", "3", "--part", "1") == 2  # another part: the set is not whole now
    err = capsys.readouterr().err
    assert f"part 2 lists {victim.name}, which is missing or has another size; rerun that part" in err
    assert not (out / MANIFEST_NAME).exists()
    assert gen(monkeypatch, out, "--parts", "3", "--part", "2") == 0
    for table in TABLES:
        assert data_rows(out, table) == data_rows(whole, table), table
    assert read_manifest(out) == m


@pytest.mark.parametrize("args,env,needle", [
    (["--parts", "2", "--part", "2"], {"SEED": "43"}, "holds parts of another configuration's dataset"),
    (["--parts", "2", "--part", "2"], {"NUM_ISSUES": "30000"}, "holds parts of another configuration's dataset"),
    (["--parts", "3", "--part", "2"], {}, "holds parts of a dataset in another number of parts (part-1-of-2.json)"),
    # The same rows cut into other files: the parts would not make the dataset one run writes.
    (["--parts", "2", "--part", "2"], {"SHARD_SIZE": "1000"},
     "holds parts of this dataset made with other settings (parts/part-1-of-2.json: shardSize 3000 against 1000 "
     "here)"),
])
def test_a_part_of_another_configuration_is_refused_before_it_writes(monkeypatch, tmp_path, capsys, args, env,
                                                                      needle) -> None:
    out = tmp_path / "p"
    assert gen(monkeypatch, out, "--parts", "2", "--part", "1") == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert gen(monkeypatch, out, *args, **env) == 2
    err = capsys.readouterr().err
    assert needle in err and "--force" in err and len(err.strip().splitlines()) == 1, err
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert gen(monkeypatch, out, *args[:2], "--force", **env) == 0  # --force replaces them (every part)
    assert {p.name for p in (out / "parts").iterdir()} == {f"part-{k}-of-{args[1]}.json"
                                                          for k in range(1, int(args[1]) + 1)}


def test_a_rerun_with_nothing_to_do_says_so(monkeypatch, tmp_path, capsys) -> None:
    out = tmp_path / "p"
    assert gen(monkeypatch, out, "--parts", "2") == 0
    assert "2 part(s) written to" in capsys.readouterr().out
    assert gen(monkeypatch, out, "--parts", "2") == 0
    printed = capsys.readouterr().out
    assert "nothing written to" in printed and "manifest.json in place" in printed
    assert "rows/s" not in printed and "part(s) written" not in printed
    (out / MANIFEST_NAME).unlink()  # every part there, not combined: this run combines them
    assert gen(monkeypatch, out, "--parts", "2") == 0
    printed = capsys.readouterr().out
    assert "every part was already in" in printed and "manifest.json written" in printed


@pytest.mark.parametrize("args", [[], ["--parts", "2"], ["--parts", "2", "--part", "1"]])
def test_a_manifest_that_does_not_parse_is_named_as_such(monkeypatch, tmp_path, capsys, args) -> None:
    out = tmp_path / "d"
    out.mkdir()
    (out / MANIFEST_NAME).write_text("{not json")
    assert gen(monkeypatch, out, *args, NUM_ISSUES="300") == 2
    err = capsys.readouterr().err
    assert "holds a manifest.json that does not parse; use --force" in err and len(err.strip().splitlines()) == 1
    assert (out / MANIFEST_NAME).read_text() == "{not json"
    assert gen(monkeypatch, out, *args, "--force", NUM_ISSUES="300") == 0
    assert not (out / MANIFEST_NAME).exists() or read_manifest(out) is not None


def test_a_whole_run_directory_is_not_mixed_with_parts(monkeypatch, tmp_path, capsys, whole) -> None:
    out = tmp_path / "d"
    assert gen(monkeypatch, out, NUM_ISSUES="5000") == 0  # another configuration, whole-run layout
    capsys.readouterr()
    assert gen(monkeypatch, out, "--parts", "2") == 2
    assert "another configuration's dataset" in capsys.readouterr().err
    assert gen(monkeypatch, out, "--parts", "2", "--force") == 0
    names = {p.name for p in out.iterdir() if parse_shard_name(p.name)}
    m = read_manifest(out)
    assert m is not None and names == {f.name for f in m.files}  # the old layout's shards are gone
    for table in TABLES:
        assert data_rows(out, table) == data_rows(whole, table)


@pytest.mark.parametrize("args,needle", [
    (["--part", "2"], "--part 2: needs --parts N"),
    (["--parts", "3", "--part", "4"], "--part 4: expected a whole number from 1 to 3 (--parts)"),
    (["--parts", "3", "--part", "0"], "--part '0': expected a part number, from 1 to the --parts count"),
    (["--parts", "0"], "--parts '0': expected a whole number from 1"),
    (["--output-dir", "ftp://x/y"], "expected a directory or s3://bucket/prefix/"),
    (["--output-dir", "s3:/bkt/x"], "expected a directory or s3://bucket/prefix/"),
    (["--output-dir", "S3:bkt"], "expected a directory or s3://bucket/prefix/"),
])
def test_bad_part_arguments(monkeypatch, tmp_path, capsys, args, needle) -> None:
    # With the progress lines on: a bad part is refused before the run is announced, and nothing is written.
    assert gen(monkeypatch, tmp_path / "p", "--progress", "plain", *args) == 2
    out, err = capsys.readouterr()
    assert needle in err and len(err.strip().splitlines()) == 1 and "generating" not in out + err
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("flag,env,needle", [
    (["--endpoint-url", "ftp://k:secret@x"], {}, "--endpoint-url: expected http(s)://host[:port]"),
    ([], {"AWS_ENDPOINT_URL": "http://[::1"}, "AWS_ENDPOINT_URL: expected http(s)://host[:port]"),
])
def test_combine_parts_names_a_bad_endpoint_not_the_destination(monkeypatch, tmp_path, capsys, flag, env,
                                                                needle) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main(["combine-parts", str(tmp_path), *flag]) == 2
    err = capsys.readouterr().err
    assert needle in err and str(tmp_path) not in err and "secret" not in err
    assert len(err.strip().splitlines()) == 1


def test_more_parts_than_issues_refused(monkeypatch, tmp_path, capsys) -> None:
    assert gen(monkeypatch, tmp_path / "p", "--parts", "11", NUM_ISSUES="10") == 2
    assert "expected at most NUM_ISSUES (10) parts" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "p" / MANIFEST_NAME)


def test_force_replaces_an_unfinished_dataset_of_another_configuration(monkeypatch, tmp_path, capsys) -> None:
    out = tmp_path / "p"
    assert gen(monkeypatch, out, "--parts", "3", "--part", "1") == 0  # SEED 42, never finished
    capsys.readouterr()
    assert gen(monkeypatch, out, "--parts", "2", SEED="43") == 2  # refused before writing anything
    assert "holds parts of a dataset in another number of parts (part-1-of-3.json)" in capsys.readouterr().err
    assert gen(monkeypatch, out, "--parts", "2", "--force", SEED="43") == 0
    assert sorted(p.name for p in (out / "parts").iterdir()) == ["part-1-of-2.json", "part-2-of-2.json"]
    ref = tmp_path / "ref"
    assert gen(monkeypatch, ref, SEED="43") == 0
    m = read_manifest(out)
    assert m is not None and {p.name for p in out.iterdir() if parse_shard_name(p.name)} == {f.name for f in m.files}
    for table in TABLES:
        assert data_rows(out, table) == data_rows(ref, table)


def test_the_loader_refuses_an_unfinished_parts_directory(monkeypatch, tmp_path) -> None:
    from zbugs_synth.db.load.dataset import inspect_dataset
    from zbugs_synth.errors import UserError

    out = tmp_path / "p"
    assert gen(monkeypatch, out, "--parts", "2", "--part", "2") == 0
    with pytest.raises(UserError, match="generated in parts that is not complete yet"):
        inspect_dataset(out)
    assert gen(monkeypatch, out, "--parts", "2", "--part", "1") == 0
    assert len(inspect_dataset(out).files) == len(read_manifest(out).files)  # type: ignore[union-attr]


# ---- ALL_TABLES: the four extra tables split the same way --------------------------------------

ALL = {"ALL_TABLES": "true"}


@pytest.fixture(scope="module")
def whole_all(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("whole-all") / "d"
    with pytest.MonkeyPatch.context() as mp:
        assert gen(mp, out, **ALL) == 0
    return out


def shard_bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if parse_shard_name(p.name)}


@pytest.mark.parametrize("parts", [1, 3])
def test_all_tables_parts_union_is_the_whole_run(monkeypatch, tmp_path, whole_all, parts) -> None:
    out = tmp_path / "p"
    for k in reversed(range(1, parts + 1)):
        assert gen(monkeypatch, out, "--all-tables", "--parts", str(parts), "--part", str(k)) == 0
    m, w = read_manifest(out), read_manifest(whole_all)
    assert m is not None and w is not None
    assert set(w.rows_by_table()) == set(ALL_TABLES)  # all ten tables, each with rows
    assert all(n > 0 for n in w.rows_by_table().values())
    for table in ALL_TABLES:
        assert data_rows(out, table) == data_rows(whole_all, table), table
    assert m.dataset_id == w.dataset_id and m.config == w.config
    assert m.rows_by_table() == w.rows_by_table()
    on_disk = {p.name: p.stat().st_size for p in out.iterdir() if parse_shard_name(p.name)}
    assert on_disk == {f.name: f.bytes for f in m.files}
    # The small tables, userPref with them, only in part 1; the per-issue tables in every part.
    first_digit = {(f.name.split("_")[0], f.name.split("_")[1][0]) for f in m.files}
    for table in ("user", "project", "label", "userPref"):
        assert {d for t, d in first_digit if t == table} == {"0"}, table
    for table in ("issue", "comment", "issueLabel", "emoji", "issueNotifications", "viewState"):
        assert {d for t, d in first_digit if t == table} == {str(k) for k in range(parts)}, table


def test_all_tables_parts_are_byte_identical_however_they_are_run(monkeypatch, tmp_path, capsys) -> None:
    # One by one into separate directories (as on separate machines), then gathered; and all in
    # one process: the same shards, part manifests and manifest.json, byte for byte.
    gathered = tmp_path / "gathered"
    for k in (2, 3, 1):
        alone = tmp_path / f"machine-{k}"
        assert gen(monkeypatch, alone, "--all-tables", "--parts", "3", "--part", str(k)) == 0
        assert not (alone / MANIFEST_NAME).exists()
        for p in alone.rglob("*"):
            if p.is_file() and not p.name.startswith(".") and p.name != INCOMPLETE_MARKER:
                (gathered / p.relative_to(alone)).parent.mkdir(parents=True, exist_ok=True)
                (gathered / p.relative_to(alone)).write_bytes(p.read_bytes())
    capsys.readouterr()
    assert main(["combine-parts", str(gathered)]) == 0
    assert "3 parts combined into manifest.json" in capsys.readouterr().out
    at_once = tmp_path / "at-once"
    assert gen(monkeypatch, at_once, "--all-tables", "--parts", "3") == 0
    assert shard_bytes(gathered) == shard_bytes(at_once)
    for name in (MANIFEST_NAME, MANIFEST_TXT):
        assert (gathered / name).read_bytes() == (at_once / name).read_bytes(), name
    for p in (at_once / "parts").iterdir():
        assert (gathered / "parts" / p.name).read_bytes() == p.read_bytes(), p.name
    # Combining again by hand writes the very same manifest.
    before = (at_once / MANIFEST_NAME).read_bytes()
    (at_once / MANIFEST_NAME).unlink()
    assert main(["combine-parts", str(at_once)]) == 0
    assert (at_once / MANIFEST_NAME).read_bytes() == before


def test_forcing_one_part_to_other_settings_leaves_the_others_to_make_again(monkeypatch, tmp_path, capsys) -> None:
    """--force on one part: its parts made with other settings go (their files are replaced when each
    is made again), and the dataset is combined once every part has the new settings."""
    out = tmp_path / "p"
    assert gen(monkeypatch, out, "--parts", "2", "--part", "1") == 0
    assert gen(monkeypatch, out, "--parts", "2", "--part", "2", "--force", SHARD_SIZE="1000") == 0
    assert {p.name for p in (out / "parts").glob("*.json")} == {"part-2-of-2.json"}
    assert not (out / MANIFEST_NAME).exists()
    capsys.readouterr()
    assert gen(monkeypatch, out, "--parts", "2", "--part", "1", SHARD_SIZE="1000") == 0
    m = read_manifest(out)
    assert m is not None and m.config["shardSize"] == 1000
    assert {p.name: p.stat().st_size for p in out.iterdir() if parse_shard_name(p.name)} == \
        {f.name: f.bytes for f in m.files}
    assert max(f.rows for f in m.files) <= 1000


def test_parts_made_from_copies_of_one_template_pack_combine(monkeypatch, tmp_path, whole) -> None:
    """Parts made on other machines read the same pack from other paths: the same dataset (the pack's
    digest is in its id), combined; the manifest names part 1's path."""
    import shutil

    import zbugs_synth.templates

    pack = Path(zbugs_synth.templates.__file__).parent / "pack"
    a, b = tmp_path / "machine-a" / "templates", tmp_path / "machine-b" / "templates"
    shutil.copytree(pack, a)
    shutil.copytree(pack, b)
    out = tmp_path / "p"
    assert gen(monkeypatch, out, "--parts", "2", "--part", "2", TEMPLATES_DIR=str(b)) == 0
    assert gen(monkeypatch, out, "--parts", "2", "--part", "1", TEMPLATES_DIR=str(a)) == 0
    m, w = read_manifest(out), read_manifest(whole)
    assert m is not None and w is not None
    assert m.dataset_id == w.dataset_id and m.config["templates"] == str(a)
    for table in TABLES:
        assert data_rows(out, table) == data_rows(whole, table), table
