"""`db-seed-synthetic` straight from object storage (ZERO_SEED_DATA_DIR=s3://... or https://...):
streamed into COPY with no local copy, every shard verified against manifest.json as it passes."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from remote_helpers import ACCESS_KEY, SECRET_KEY, S3Env, Served

from zbugs_synth.cli import main
from zbugs_synth.manifest import read_manifest
from zbugs_synth.tables import TABLES

GEN = {"NUM_ISSUES": "4000", "SHARD_SIZE": "1500", "NUM_PROJECTS": "20", "NUM_USERS": "30", "WORKERS": "1"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("remote-load") / "data"
    with pytest.MonkeyPatch.context() as mp:
        for k, v in GEN.items():
            mp.setenv(k, v)
        assert main(["generate-synthetic", "--progress", "none", "--output-dir", str(out), "--parts", "2"]) == 0
    return out


def seed(url: str, location: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
         *args: str) -> tuple[int, str]:
    capsys.readouterr()
    with monkeypatch.context() as m:
        for k in [k for k in os.environ if k.startswith(("ZERO_SEED_", "ZBUGS_SEED_"))]:
            m.delenv(k)
        m.setenv("ZERO_UPSTREAM_DB", url)
        m.setenv("ZERO_SEED_DATA_DIR", location)
        m.setenv("ZERO_SEED_JOBS", "2")
        code = main(["db-seed-synthetic", "--progress", "plain", *args])
    cap = capsys.readouterr()
    return code, cap.out + cap.err


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as c:
        return {t: int(c.execute(f'SELECT count(*) FROM public."{t}"').fetchone()[0]) for t in TABLES}  # type: ignore[index]


def expected(directory: Path) -> dict[str, int]:
    m = read_manifest(directory)
    assert m is not None
    rows = m.rows_by_table()
    rows["project"] += 1  # zbugs' own Zero project
    return rows


def upload(s3env: S3Env, directory: Path, prefix: str) -> None:
    for p in directory.rglob("*"):
        if p.is_file():
            s3env.client.put_object(Bucket=s3env.bucket, Key=prefix + str(p.relative_to(directory)),
                                    Body=p.read_bytes())


def test_seed_from_s3_without_a_local_copy(s3env, dataset, fresh_db, capsys, monkeypatch, tmp_path) -> None:
    upload(s3env, dataset, "ds/")
    monkeypatch.chdir(tmp_path)
    code, text = seed(fresh_db, s3env.url("ds/"), capsys, monkeypatch, "--endpoint-url", s3env.endpoint)
    assert code == 0, text
    assert counts(fresh_db) == expected(dataset)
    assert not list(tmp_path.rglob("*.csv"))  # nothing was downloaded to disk
    for secret in (ACCESS_KEY, SECRET_KEY):
        assert secret not in text
    # The same dataset again: recognised as already loaded, from its manifest's datasetId.
    code, text = seed(fresh_db, s3env.url("ds/"), capsys, monkeypatch, "--endpoint-url", s3env.endpoint)
    assert code == 0 and "already" in text


def test_seed_from_https_resumes_a_broken_stream(
    http_server: Callable[..., Served], dataset, fresh_db, capsys, monkeypatch
) -> None:
    served = http_server(dataset)
    victim = sorted(p.name for p in dataset.glob("comment_*.csv"))[1]
    served.state.cut_once[victim] = 100_000  # the connection drops mid-file ...
    served.state.cut_after[victim] = 1  # ... on the stream into COPY (the first GET reads the header)
    code, text = seed(fresh_db, served.url("/"), capsys, monkeypatch)
    assert code == 0, text
    assert counts(fresh_db) == expected(dataset)
    ranges = [r.range for r in served.state.gets(victim)]
    assert "bytes=100000-" in ranges  # resumed where it broke, not from the start


def test_a_shard_changed_after_publishing_fails_its_copy_and_nothing_is_kept(
    http_server: Callable[..., Served], dataset, fresh_db, capsys, monkeypatch, tmp_path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    victim = sorted(copy.glob("issue_*.csv"))[-1]
    data = bytearray(victim.read_bytes())
    i = data.rindex(b"true") if b"true" in data else len(data) - 10
    data[i:i + 4] = b"TRUE"  # same size, still valid CSV, other bytes: only the checksum can tell
    victim.write_bytes(bytes(data))
    before = counts(fresh_db)
    code, text = seed(fresh_db, http_server(copy).url("/"), capsys, monkeypatch)
    assert code == 2, text
    assert f"{victim.name} does not match manifest.json (xxh3_128 checksum differs" in text
    assert "nothing from this load was kept" in text
    assert counts(fresh_db) == before


def test_a_shard_of_another_size_is_refused_before_a_force_load_empties_anything(
    s3env, dataset, fresh_db, capsys, monkeypatch, tmp_path
) -> None:
    code, text = seed(fresh_db, str(dataset), capsys, monkeypatch)
    assert code == 0, text
    before = counts(fresh_db)
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    victim = sorted(copy.glob("comment_*.csv"))[-1]
    full = victim.stat().st_size
    victim.write_bytes(victim.read_bytes()[: full // 2])  # cut short after publishing; manifest unchanged
    upload(s3env, copy, "cut/")
    code, text = seed(fresh_db, s3env.url("cut/"), capsys, monkeypatch, "--endpoint-url", s3env.endpoint,
                      "--force")
    assert code == 2, text
    assert f"{victim.name} has {full // 2:,} bytes but manifest.json says {full:,}" in text
    assert "nothing was loaded" in text
    assert counts(fresh_db) == before  # the previous data is still there


def test_a_source_without_a_manifest_is_one_clear_line(s3env, fresh_db, capsys, monkeypatch) -> None:
    code, text = seed(fresh_db, s3env.url("nothing-here/"), capsys, monkeypatch, "--endpoint-url", s3env.endpoint)
    assert code == 2
    assert "no manifest.json or manifest.txt at" in text and "Traceback" not in text
