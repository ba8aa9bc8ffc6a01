"""`generate-synthetic --scheduler` on a real Dask LocalCluster (2 worker processes) writing to a real
S3 API server (moto, loopback): the dataset equals a local single-process run byte for byte, survives
a worker killed mid-part, and `get-data` reads it back."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from remote_helpers import ACCESS_KEY, SECRET_KEY, S3Env

from dask_helpers import kill_mid_part
from zbugs_synth.cli import main
from zbugs_synth.manifest import read_manifest
from zbugs_synth.tables import TABLES, parse_shard_name

distributed = pytest.importorskip("distributed")

GEN = {"NUM_ISSUES": "30000", "SHARD_SIZE": "5000", "NUM_PROJECTS": "30", "NUM_USERS": "40", "WORKERS": "1"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[distributed.LocalCluster]:
    # Workers get their credentials from their own environment, as on a real cluster: none travel in tasks.
    home = tmp_path_factory.mktemp("worker-home")
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": str(home / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"), "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  host="127.0.0.1", env=env) as c:
        yield c


def generate(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, out: str, *args: str,
             **env: str) -> tuple[int, str, str]:
    for k, v in {**GEN, **env}.items():
        monkeypatch.setenv(k, v)
    rc = main(["generate-synthetic", "--progress", "plain", "--output-dir", out, *args])
    o, e = capsys.readouterr()
    return rc, o, e


def download(s3env: S3Env, prefix: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for key in S3Env.keys(s3env):
        if key.startswith(prefix):
            out[key[len(prefix):]] = s3env.client.get_object(Bucket=s3env.bucket, Key=key)["Body"].read()
    return out


def local_files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def rows_of(files: dict[str, bytes], table: str) -> bytes:
    names = sorted(n for n in files if (s := parse_shard_name(n)) and s.table == table)
    return b"".join(files[n].split(b"\n", 1)[1] for n in names)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    """Local single-process runs of the same configuration: whole, and in 3 parts."""
    base = tmp_path_factory.mktemp("ref")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in GEN.items():
            mp.setenv(k, v)
        assert main(["generate-synthetic", "--progress", "none", "--output-dir", str(base / "whole")]) == 0
        assert main(["generate-synthetic", "--progress", "none", "--output-dir", str(base / "parts"),
                     "--parts", "3"]) == 0
    return {"whole": local_files(base / "whole"), "parts": local_files(base / "parts")}


def test_cluster_to_s3_equals_a_local_run_and_get_data_and_seeding_read_it(
    cluster, s3env: S3Env, reference, capsys, monkeypatch, tmp_path, fresh_db
) -> None:
    rc, out, err = generate(capsys, monkeypatch, s3env.url("ds/"), "--parts", "3",
                            "--scheduler", cluster.scheduler_address, "--endpoint-url", s3env.endpoint)
    assert rc == 0, err
    got = download(s3env, "ds/")
    # File for file (shards, part manifests, manifest.json/txt) what one local process writes ...
    assert sorted(got) == sorted(reference["parts"])
    for name, data in reference["parts"].items():
        assert got[name] == data, name
    # ... and row for row what a whole run writes.
    for table in TABLES:
        assert rows_of(got, table) == rows_of(reference["whole"], table), table
    assert "The dataset is complete: manifest.json written (datasetId " in out and "3 part(s))" in out
    assert {line.split(" on ")[1] for line in err.splitlines() if line.startswith("part ")} <= set(
        cluster.scheduler_info["workers"])
    assert "issue: 30,000 rows" in err  # progress aggregated from the workers' events
    for secret in (ACCESS_KEY, SECRET_KEY):
        assert secret not in out + err

    # A rerun finds the dataset complete and writes nothing.
    before = {o["Key"]: o["LastModified"] for o in s3env.client.list_objects_v2(Bucket=s3env.bucket)["Contents"]}
    rc, out, err = generate(capsys, monkeypatch, s3env.url("ds/"), "--parts", "3",
                            "--scheduler", cluster.scheduler_address, "--endpoint-url", s3env.endpoint)
    assert rc == 0 and "already complete there: nothing to do" in err
    after = {o["Key"]: o["LastModified"] for o in s3env.client.list_objects_v2(Bucket=s3env.bucket)["Contents"]}
    assert after == before

    # get-data of it.
    dest = tmp_path / "downloaded"
    rc = main(["get-data", "--from", s3env.url("ds/"), "--out", str(dest), "--endpoint-url", s3env.endpoint,
               "--progress", "none"])
    assert rc == 0, capsys.readouterr().err
    for name, data in reference["parts"].items():
        if "/" not in name:
            assert (dest / name).read_bytes() == data, name

    # db-seed-synthetic straight from the bucket.
    monkeypatch.setenv("ZERO_UPSTREAM_DB", fresh_db)
    monkeypatch.setenv("ZERO_SEED_DATA_DIR", s3env.url("ds/"))
    capsys.readouterr()
    assert main(["db-seed-synthetic", "--progress", "none", "--endpoint-url", s3env.endpoint]) == 0, \
        capsys.readouterr().err
    manifest = read_manifest(dest)
    assert manifest is not None
    want = manifest.rows_by_table()
    want["project"] += 1  # zbugs' Zero project
    with psycopg.connect(fresh_db) as c:
        got_rows = {t: c.execute(f'SELECT count(*) FROM public."{t}"').fetchone()[0] for t in TABLES}  # type: ignore[index]
    assert got_rows == want


def test_rerun_on_the_cluster_writes_only_the_missing_part(cluster, s3env, reference, capsys, monkeypatch) -> None:
    rc, _, err = generate(capsys, monkeypatch, s3env.url("ds/"), "--parts", "3", "--part", "1",
                          "--endpoint-url", s3env.endpoint)  # part 1 from this machine
    assert rc == 0, err
    rc, out, err = generate(capsys, monkeypatch, s3env.url("ds/"), "--parts", "3",
                            "--scheduler", cluster.scheduler_address, "--endpoint-url", s3env.endpoint)
    assert rc == 0, err
    assert "1 of 3 parts already complete: skipped" in err and "2 part(s) written" in out
    assert not any(line.startswith("part 1 of 3:") for line in err.splitlines())
    got = download(s3env, "ds/")
    for name, data in reference["parts"].items():
        assert got[name] == data, name


def test_a_worker_killed_mid_part_still_gives_the_exact_dataset(
    cluster, s3env: S3Env, reference, capsys, monkeypatch
) -> None:
    # Slow the parts down enough to kill one mid-way: many small shards, one thread each.
    pids = distributed.Client(cluster.scheduler_address, set_as_default=False)
    try:
        t, killed = kill_mid_part(pids, "zbugs-synth-part-", lambda: _has_shards(s3env))
        rc, _, err = generate(capsys, monkeypatch, s3env.url("ds/"), "--parts", "3",
                              "--scheduler", cluster.scheduler_address, "--endpoint-url", s3env.endpoint)
        t.join()
    finally:
        pids.close()
    assert rc == 0, err
    assert killed, "no part was running when the test looked"
    assert "started again on" in err  # Dask reran the lost part
    got = download(s3env, "ds/")
    assert sorted(n for n in got if not n.startswith(".")) == sorted(reference["parts"])
    for name, data in reference["parts"].items():
        assert got[name] == data, name
    # The killed attempt's unfinished multipart uploads were aborted by the rerun.
    uploads = s3env.client.list_multipart_uploads(Bucket=s3env.bucket).get("Uploads", [])
    assert uploads == []


def _has_shards(s3env: S3Env) -> bool:
    listing = s3env.client.list_objects_v2(Bucket=s3env.bucket, Prefix="ds/issue_")
    return bool(listing.get("Contents"))


def test_a_missing_bucket_is_one_clear_line(s3env: S3Env, capsys, monkeypatch) -> None:
    rc, _, err = generate(capsys, monkeypatch, f"s3://{s3env.bucket}-missing/ds/", "--parts", "2",
                          "--endpoint-url", s3env.endpoint)
    assert rc == 2
    assert "NoSuchBucket" in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if "error:" in line]) == 1


def test_without_credentials_s3_output_is_refused_up_front(moto_endpoint, capsys, monkeypatch) -> None:
    rc, _, err = generate(capsys, monkeypatch, "s3://any-bucket/ds/", "--parts", "2", "--endpoint-url", moto_endpoint)
    assert rc == 2 and "no AWS credentials found" in err


def test_a_part_whose_worker_dies_too_often_is_one_line_and_a_rerun_finishes(reference, capsys, monkeypatch,
                                                                             tmp_path) -> None:
    """A cluster that gives up on a task at its first lost worker (allowed-failures 0): the run stops with
    one line that says to rerun (no traceback), and the rerun completes the exact dataset."""
    import dask

    out = tmp_path / "ds"  # a directory this client and the local workers share
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                     host="127.0.0.1") as strict:
        pids = distributed.Client(strict.scheduler_address, set_as_default=False)
        try:
            t, killed = kill_mid_part(pids, "zbugs-synth-part-", lambda: any(out.glob("issue_*")))
            rc, _, err = generate(capsys, monkeypatch, str(out), "--parts", "3", "--scheduler",
                                  strict.scheduler_address)
            t.join()
        finally:
            pids.close()
        assert killed, "no part was running when the test looked"
        assert rc == 2, err
        errors = [line for line in err.splitlines() if "error:" in line]
        assert len(errors) == 1 and "a part's worker died too often" in errors[0], err
        assert errors[0].endswith("rerun to finish the missing parts") and "Traceback" not in err
        rc, _, err = generate(capsys, monkeypatch, str(out), "--parts", "3", "--scheduler", strict.scheduler_address)
    assert rc == 0, err
    got = local_files(out)
    for name, data in reference["parts"].items():
        assert got[name] == data, name


@pytest.mark.parametrize("address", ["foo", "http://127.0.0.1:8786", "tcp://user:TopSecret@127.0.0.1:8786",
                                     "tcp://127.0.0.1:0", "tcp://127.0.0.1", "tcp://::1:8786"])
def test_a_malformed_scheduler_address_is_one_line_and_writes_nothing(capsys, monkeypatch, tmp_path,
                                                                      address: str) -> None:
    rc, _, err = generate(capsys, monkeypatch, str(tmp_path / "out"), "--parts", "2", "--scheduler", address)
    assert rc == 2 and "--scheduler: expected a Dask scheduler address" in err, err
    assert len(err.strip().splitlines()) == 1 and "TopSecret" not in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("address,kept", [
    ("127.0.0.1:8786", "127.0.0.1:8786"), ("tcp://[::1]:8786", "tcp://[::1]:8786"),
    ("tls://dask.example:8786", "tls://dask.example:8786"), ("ucxx://10.0.0.5:13337", "ucxx://10.0.0.5:13337"),
    ("tcp://10.0.0.5:8786/", "tcp://10.0.0.5:8786"),  # a copied URL's slash, which Dask itself refuses
])
def test_dask_address_forms_are_accepted_as_dask_parses_them(address: str, kept: str) -> None:
    from distributed.comm.addressing import parse_address

    from zbugs_synth.config.generate import scheduler_address

    assert scheduler_address(f" {address} ") == kept
    parse_address(kept)  # and Dask's own parser takes what we keep


def test_a_relative_output_dir_is_this_machines(cluster, reference, capsys, monkeypatch, tmp_path) -> None:
    """The workers started elsewhere (their working directory is not this one): a relative OUTPUT_DIR
    still means the directory here, as it does without a cluster."""
    monkeypatch.chdir(tmp_path)
    rc, _, err = generate(capsys, monkeypatch, "rel", "--parts", "3", "--scheduler", cluster.scheduler_address)
    assert rc == 0, err
    got = local_files(tmp_path / "rel")
    for name, data in reference["parts"].items():
        assert got[name] == data, name


def test_workers_without_credentials_are_named_and_not_retried(s3env: S3Env, capsys, monkeypatch,
                                                                 tmp_path_factory) -> None:
    home = tmp_path_factory.mktemp("bare-worker-home")
    bare = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": str(home / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "none")}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  host="127.0.0.1", env=bare) as c:
        rc, _, err = generate(capsys, monkeypatch, s3env.url("bare/"), "--parts", "2", "--scheduler",
                              c.scheduler_address, "--endpoint-url", s3env.endpoint)
    assert rc == 2, err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "on the worker at tcp://127.0.0.1:" in errors[0], err
    assert "no AWS credentials" in errors[0] and "not retried" in errors[0]
    assert "started again" not in err and SECRET_KEY not in err


def test_tls_without_dask_tls_settings_is_one_line_at_once(capsys, monkeypatch, tmp_path) -> None:
    rc, _, err = generate(capsys, monkeypatch, str(tmp_path / "out"), "--parts", "2", "--scheduler",
                          "tls://127.0.0.1:9")
    assert rc == 2 and "tls:// needs Dask's TLS settings" in err, err
    assert "Traceback" not in err and "Exception ignored" not in err and not (tmp_path / "out").exists()


class _Recorder:
    """A progress backend that keeps every call, and what the bucket holds when a bar is closed."""

    def __init__(self, s3env: S3Env) -> None:
        self.s3env, self.events = s3env, []

    def task(self, name: str, total: float | None, unit: str = "rows") -> Any:
        self.events.append(("task", name, total, unit))
        recorder = self

        class T:
            def advance(self, n: float = 1) -> None:
                recorder.events.append(("advance", name, n))

            def set_total(self, total: float | None) -> None:
                pass

            def note(self, text: str) -> None:
                pass

            def done(self, outcome: str = "done") -> None:
                recorder.events.append(("done", name, sorted(recorder.s3env.keys())))

        return T()

    def log(self, message: str) -> None:
        pass

    def close(self) -> None:
        pass


def test_s3_output_shows_the_last_uploads_and_says_done_only_when_they_are_stored(
        s3env: S3Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from zbugs_synth.config import build
    from zbugs_synth.config.generate import GenerateConfig
    from zbugs_synth.generate import sink
    from zbugs_synth.generate.partitioned import run_parts
    from zbugs_synth.generate.parts import PartSpec, read_part
    from zbugs_synth.generate.sink import open_sink

    # Parts of S3's minimum size, so that the shards of this small run are multipart uploads of several
    # parts (some still in flight when the rows are done) as well as single PUTs.
    monkeypatch.setattr(sink, "PART_BYTES", 5 << 20)
    env = {**GEN, "NUM_ISSUES": "60000", "SHARD_SIZE": "50000", "OUTPUT_DIR": s3env.url("up/")}
    cfg = dataclasses.replace(build(GenerateConfig, None, env), parts=2, part=1, endpoint_url=s3env.endpoint)
    rec = _Recorder(s3env)
    run_parts(cfg, rec)
    kinds = [(e[0], e[1]) for e in rec.events]
    upload = kinds.index(("task", "upload"))
    # Every row bar is closed before the upload bar opens; the upload bar is closed last.
    row_tasks = {e[1] for e in rec.events if e[0] == "task" and e[3] == "rows"}
    assert row_tasks >= {"issue", "comment", "issueLabel"}
    assert all(kinds.index(("done", t)) < upload for t in row_tasks)
    total = rec.events[upload][2]
    assert rec.events[upload][3] == "bytes" and total > 0
    assert sum(e[2] for e in rec.events if e[:2] == ("advance", "upload")) == total
    done = next(e for e in rec.events if e[:2] == ("done", "upload"))
    # When it says done, each shard of the part is in the bucket, and the last of them hold `total` bytes.
    shards = [k for k in done[2] if parse_shard_name(k[len("up/"):])]
    assert {parse_shard_name(k[3:]).table for k in shards} >= {"issue", "comment", "issueLabel", "user"}
    part = read_part(open_sink(s3env.url("up/"), endpoint_url=s3env.endpoint), PartSpec(1, 2).manifest_name)
    assert sorted("up/" + f.name for f in part.manifest.files) == sorted(shards)
    etags = [s3env.client.head_object(Bucket=s3env.bucket, Key=k)["ETag"] for k in shards]
    assert any("-" in e for e in etags) and any("-" not in e for e in etags)  # multipart ones and single PUTs
    assert total > 2 * (5 << 20)  # more than the parts one upload keeps in flight: some waited for in commit
