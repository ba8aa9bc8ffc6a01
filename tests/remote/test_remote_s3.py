"""publish / get-data against a real S3 API server (moto, server mode) on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from remote_helpers import ACCESS_KEY, SECRET_KEY, Dataset, S3Env, csv_bytes, tree

from zbugs_synth.cli import main
from zbugs_synth.errors import UserError
from zbugs_synth.manifest import INCOMPLETE_MARKER, MAX_FILE_BYTES, read_manifest
from zbugs_synth.remote import s3
from zbugs_synth.remote.get import get_data
from zbugs_synth.remote.publish import check_dataset, publish
from zbugs_synth.remote.safety import partial_path
from zbugs_synth.remote.sources import S3Source

PREFIX = "synthetic_v9/"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def publish_cli(capsys: pytest.CaptureFixture[str], s3env: S3Env, ds: Dataset, prefix: str = PREFIX) -> None:
    rc, _, err = cli(capsys, "publish", str(ds.directory), "--to", s3env.url(prefix),
                     "--endpoint-url", s3env.endpoint, "--progress", "none")
    assert rc == 0, err


def recording_client(s3env: S3Env, jobs: int = 4) -> tuple[Any, list[tuple[str, dict[str, Any]]]]:
    """Our own client (as the CLI builds it), with a hook that records each API call's parameters."""
    client = s3.make_client(s3env.endpoint, jobs=jobs, require_credentials=False)
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, dict(params)))

    client.meta.events.register("before-parameter-build.s3", record)
    return client, calls


def assert_same_files(out: Path, ds: Dataset) -> None:
    for name, data in ds.files.items():
        assert (out / name).read_bytes() == data, name


# ---- round trip ----------------------------------------------------------------------------------

def test_publish_then_get_data_round_trip_is_byte_identical(
    s3env: S3Env, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = dataset()
    publish_cli(capsys, s3env, ds)
    expected = [*ds.files, "manifest.json", "manifest.txt"]
    assert s3env.keys() == sorted(PREFIX + n for n in expected)

    out = tmp_path / "downloaded"
    rc, stdout, stderr = cli(capsys, "get-data", "--from", s3env.url(PREFIX), "--out", str(out),
                             "--endpoint-url", s3env.endpoint, "--progress", "plain")
    assert rc == 0, stderr
    assert_same_files(out, ds)
    # The manifest arrives exactly as published, plus manifest.txt; no temp files or markers remain.
    assert (out / "manifest.json").read_bytes() == (ds.directory / "manifest.json").read_bytes()
    assert (out / "manifest.txt").read_bytes() == (ds.directory / "manifest.txt").read_bytes()
    assert sorted(p.name for p in out.iterdir()) == sorted([*ds.files, "manifest.json", "manifest.txt"])
    loaded = read_manifest(out)
    assert loaded is not None and [f.name for f in loaded.files] == list(ds.files)
    assert f"{len(ds.files)} downloaded" in stdout
    for secret in (ACCESS_KEY, SECRET_KEY):
        assert secret not in stdout + stderr


def test_endpoint_url_from_environment(
    s3env: S3Env, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ds = dataset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3env.endpoint)
    monkeypatch.setenv("ZBUGS_DATA_URL", s3env.url("env/"))
    rc, _, err = cli(capsys, "publish", str(ds.directory), "--to", s3env.url("env/"), "--progress", "none")
    assert rc == 0, err
    rc, _, err = cli(capsys, "get-data", "--out", str(tmp_path / "o"), "--progress", "none")
    assert rc == 0, err
    assert_same_files(tmp_path / "o", ds)


def test_default_out_is_the_generators_output_dir(
    s3env: S3Env, dataset: Callable[..., Dataset], capsys: pytest.CaptureFixture[str]
) -> None:
    ds = dataset()
    publish_cli(capsys, s3env, ds)
    rc, _, err = cli(capsys, "get-data", "--from", s3env.url(PREFIX), "--endpoint-url", s3env.endpoint,
                     "--progress", "none")
    assert rc == 0, err
    assert_same_files(Path.cwd() / "db/seed-data/synthetic", ds)


def test_get_data_reads_a_public_bucket_without_credentials(
    s3env: S3Env, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ds = dataset({"user_000.csv": csv_bytes("user_000.csv", 5000, 3)})
    publish_cli(capsys, s3env, ds)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    argv = ("get-data", "--from", s3env.url(PREFIX), "--out", str(tmp_path / "o"),
            "--endpoint-url", s3env.endpoint, "--progress", "none")
    # A private bucket refuses unsigned reads, and the error says why.
    rc, _, err = cli(capsys, *argv)
    assert rc == 2 and "no AWS credentials were found" in err
    public = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{s3env.bucket}/*",
    }]}
    s3env.client.put_bucket_policy(Bucket=s3env.bucket, Policy=json.dumps(public))
    rc, _, err = cli(capsys, *argv)
    assert rc == 0, err
    assert_same_files(tmp_path / "o", ds)


def test_publish_without_credentials_is_a_clear_error(
    s3env: S3Env, dataset: Callable[..., Dataset], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ds = dataset()
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    rc, _, err = cli(capsys, "publish", str(ds.directory), "--to", s3env.url(PREFIX),
                     "--endpoint-url", s3env.endpoint, "--progress", "none")
    assert rc == 2
    assert "no AWS credentials" in err and "Traceback" not in err
    assert s3env.keys() == []


# ---- publish: ordering, multipart, refusals ------------------------------------------------------

def test_publish_uploads_shards_multipart_then_manifest_txt_then_manifest_json_last(
    s3env: S3Env, dataset: Callable[..., Dataset]
) -> None:
    big = csv_bytes("comment_000.csv", 11 * (1 << 20) + 12345, 5)  # 3 parts of 5 MiB
    ds = dataset({"user_000.csv": csv_bytes("user_000.csv", 4000, 5), "comment_000.csv": big,
                  "issue_000.csv": csv_bytes("issue_000.csv", 300_000, 5)})
    client, calls = recording_client(s3env)
    dest = s3.parse_s3_url(s3env.url(PREFIX))
    publish(check_dataset(ds.directory), dest, client, jobs=4, part_size=5 << 20)

    writes = [(op, p.get("Key")) for op, p in calls
              if op in ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
                        "DeleteObject", "HeadObject")]
    # Nothing is deleted; the manifests are written after every shard was uploaded and checked
    # (a HEAD of each after the last upload), manifest.json last.
    json_key, txt_key = PREFIX + "manifest.json", PREFIX + "manifest.txt"
    assert not [w for w in writes if w[0] == "DeleteObject"]
    assert writes[-2:] == [("PutObject", txt_key), ("PutObject", json_key)]
    last_upload = max(i for i, (op, _) in enumerate(writes) if op in ("PutObject", "CompleteMultipartUpload")
                      and writes[i][1] not in (json_key, txt_key))
    checked = {k for op, k in writes[last_upload:] if op == "HeadObject"}
    assert checked == {PREFIX + n for n in ds.files}
    middle = [w for w in writes[:-2] if w[0] != "HeadObject"]
    assert {k for _, k in middle} == {PREFIX + n for n in ds.files}
    assert [op for op, k in middle if k == PREFIX + "comment_000.csv"].count("UploadPart") == 3
    head = s3env.client.head_object(Bucket=s3env.bucket, Key=PREFIX + "comment_000.csv")
    assert head["ContentLength"] == len(big) and head["ETag"].strip('"').endswith("-3")
    body = s3env.client.get_object(Bucket=s3env.bucket, Key=PREFIX + "comment_000.csv")["Body"].read()
    assert body == big


def test_republishing_replaces_the_dataset(
    s3env: S3Env, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = dataset(seed=1), dataset(seed=2)
    publish_cli(capsys, s3env, first)
    publish_cli(capsys, s3env, second)
    rc, _, err = cli(capsys, "get-data", "--from", s3env.url(PREFIX), "--out", str(tmp_path / "o"),
                     "--endpoint-url", s3env.endpoint, "--progress", "none")
    assert rc == 0, err
    assert_same_files(tmp_path / "o", second)


def test_republishing_a_smaller_dataset_removes_only_its_stale_shards(
    s3env: S3Env, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = dataset(seed=1)
    smaller = {n: csv_bytes(n, 5_000, 2) for n in ("user_000.csv", "project_000.csv", "issue_000.csv")}
    second = dataset(files=smaller, seed=2)
    publish_cli(capsys, s3env, first)
    # The publisher's own files beside the dataset, and another dataset in a sub-prefix: never ours to delete.
    for key in (PREFIX + "README.md", PREFIX + "older/issue_001.csv", "elsewhere/issue_001.csv"):
        s3env.client.put_object(Bucket=s3env.bucket, Key=key, Body=b"keep me")

    rc, out, err = cli(capsys, "publish", str(second.directory), "--to", s3env.url(PREFIX),
                       "--endpoint-url", s3env.endpoint, "--progress", "none")
    assert rc == 0, err
    stale = sorted(set(first.files) - set(smaller))
    assert f"removed {len(stale)} shard(s) the new manifest does not list" in out
    assert f"published {len(smaller)} shard(s) (" in out and "and the 2 manifests to" in out
    rc, out, err = cli(capsys, "publish", str(second.directory), "--to", s3env.url(PREFIX),
                       "--endpoint-url", s3env.endpoint, "--progress", "none")
    assert rc == 0 and f": 0 uploaded, {len(smaller)} already there with the same content" in out, out + err
    assert "removed" not in out
    assert sorted(s3env.keys()) == sorted(
        [PREFIX + n for n in [*smaller, "manifest.json", "manifest.txt", "README.md", "older/issue_001.csv"]]
        + ["elsewhere/issue_001.csv"])
    rc, _, err = cli(capsys, "get-data", "--from", s3env.url(PREFIX), "--out", str(tmp_path / "o"),
                     "--endpoint-url", s3env.endpoint, "--progress", "none")
    assert rc == 0, err
    assert_same_files(tmp_path / "o", second)
    assert tree(tmp_path / "o") == {*smaller, "manifest.json", "manifest.txt"}


def test_a_store_refusing_some_deletes_in_its_reply_is_a_warning_naming_them(
    s3env: S3Env, dataset: Callable[..., Dataset],
) -> None:
    """DeleteObjects answers 200 with the refused keys in Errors: those are reported, the others counted
    as removed. (moto deletes them all; the reply is edited on its way back, as a store's policy would.)"""
    first = dataset(seed=1)
    second = dataset(files={n: csv_bytes(n, 5_000, 2) for n in ("user_000.csv", "issue_000.csv")}, seed=2)
    publish(check_dataset(first.directory), s3.parse_s3_url(s3env.url(PREFIX)), s3env.client, jobs=2)
    client, _ = recording_client(s3env)
    refused = PREFIX + "comment_000.csv"

    def refuse_one(parsed: dict[str, Any], **_: Any) -> None:
        parsed["Errors"] = [{"Key": refused, "Code": "AccessDenied", "Message": "Access Denied"}]

    client.meta.events.register("after-call.s3.DeleteObjects", refuse_one)
    result = publish(check_dataset(second.directory), s3.parse_s3_url(s3env.url(PREFIX)), client, jobs=2)
    assert result.not_removed is not None and result.not_removed.startswith(f"{refused}: AccessDenied")
    stale = sorted(set(first.files) - set(second.files))
    assert len(stale) > 1 and result.removed == [n for n in stale if PREFIX + n != refused]


def test_stale_shards_that_cannot_be_removed_are_a_warning_not_a_failed_publish(
    s3env: S3Env, dataset: Callable[..., Dataset], capsys: pytest.CaptureFixture[str]
) -> None:
    from botocore.exceptions import ClientError

    first = dataset(seed=1)
    second = dataset(files={n: csv_bytes(n, 5_000, 2) for n in ("user_000.csv", "issue_000.csv")}, seed=2)
    publish_cli(capsys, s3env, first)
    client, _ = recording_client(s3env)

    def no_delete(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "DeleteObjects":
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "DeleteObjects")

    client.meta.events.register("before-parameter-build.s3", no_delete)
    result = publish(check_dataset(second.directory), s3.parse_s3_url(s3env.url(PREFIX)), client, jobs=2)
    assert result.removed == [] and result.not_removed is not None and "AccessDenied" in result.not_removed
    live = s3env.client.get_object(Bucket=s3env.bucket, Key=PREFIX + "manifest.json")["Body"].read()
    assert live == (second.directory / "manifest.json").read_bytes()  # the new dataset is published all the same
    keys = s3env.keys()
    assert PREFIX + "comment_000.csv" in keys


def test_a_failed_republish_leaves_the_published_dataset_up(
    s3env: S3Env, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from botocore.exceptions import EndpointConnectionError

    first, second = dataset(seed=1), dataset(seed=2)
    publish_cli(capsys, s3env, first)
    live = s3env.client.get_object(Bucket=s3env.bucket, Key=PREFIX + "manifest.json")["Body"].read()

    client, _ = recording_client(s3env)

    def network_down(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in ("PutObject", "CreateMultipartUpload", "UploadPart"):
            raise EndpointConnectionError(endpoint_url=s3env.endpoint)

    client.meta.events.register("before-parameter-build.s3", network_down)
    with pytest.raises(UserError, match="left in place; run publish again"):
        publish(check_dataset(second.directory), s3.parse_s3_url(s3env.url(PREFIX)), client, jobs=2)
    assert s3env.client.get_object(Bucket=s3env.bucket, Key=PREFIX + "manifest.json")["Body"].read() == live
    rc, _, err = cli(capsys, "get-data", "--from", s3env.url(PREFIX), "--out", str(tmp_path / "o"),
                     "--endpoint-url", s3env.endpoint, "--progress", "none")
    assert rc == 0, err
    assert_same_files(tmp_path / "o", first)  # still served, whole

    # Published again, the same dataset: every shard is already there, only the manifests are written.
    client, calls = recording_client(s3env)
    again = publish(check_dataset(first.directory), s3.parse_s3_url(s3env.url(PREFIX)), client, jobs=2)
    assert again.unchanged == len(first.files)
    puts = sorted(p["Key"] for op, p in calls if op in ("PutObject", "CreateMultipartUpload"))
    assert puts == [PREFIX + "manifest.json", PREFIX + "manifest.txt"]


def _no_manifest(ds: Dataset) -> None:
    (ds.directory / "manifest.json").unlink()


def _grow(ds: Dataset) -> None:
    with open(ds.directory / "issue_001.csv", "ab") as f:
        f.write(b"x")


def _flip(ds: Dataset) -> None:
    p = ds.directory / "issue_001.csv"
    data = bytearray(p.read_bytes())
    data[1000] ^= 0x01
    p.write_bytes(bytes(data))


def _missing(ds: Dataset) -> None:
    (ds.directory / "comment_000.csv").unlink()


def _extra(ds: Dataset) -> None:
    (ds.directory / "issue_002.csv").write_bytes(b"id\n")


def _incomplete(ds: Dataset) -> None:
    (ds.directory / INCOMPLETE_MARKER).write_text("")


def _garbage_manifest(ds: Dataset) -> None:
    (ds.directory / "manifest.json").write_text("{not json")


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (_no_manifest, "no manifest.json"),
        (_grow, "300,001 bytes, manifest.json says 300,000"),
        (_flip, "checksum"),
        (_missing, "comment_000.csv is listed in manifest.json but missing"),
        (_extra, "issue_002.csv is not listed in manifest.json"),
        (_incomplete, "rerun the command that wrote it (generate-synthetic or get-data)"),
        (_garbage_manifest, "not valid JSON"),
    ],
)
def test_publish_refuses_a_broken_dataset_and_uploads_nothing(
    s3env: S3Env, dataset: Callable[..., Dataset], capsys: pytest.CaptureFixture[str],
    breakage: Callable[[Dataset], None], message: str,
) -> None:
    ds = dataset()
    breakage(ds)
    rc, _, err = cli(capsys, "publish", str(ds.directory), "--to", s3env.url(PREFIX),
                     "--endpoint-url", s3env.endpoint, "--progress", "none")
    assert rc == 2
    assert message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert s3env.keys() == []


def test_publish_to_a_missing_bucket_fails_without_a_manifest(
    s3env: S3Env, dataset: Callable[..., Dataset], capsys: pytest.CaptureFixture[str]
) -> None:
    ds = dataset({"user_000.csv": b"id\n"})
    rc, _, err = cli(capsys, "publish", str(ds.directory), "--to", "s3://no-such-bucket-here/x/",
                     "--endpoint-url", s3env.endpoint, "--progress", "none")
    assert rc == 2 and "NoSuchBucket" in err and "the new manifest was not uploaded" in err


# ---- get-data: skip, resume, mismatches ----------------------------------------------------------

def test_present_and_verified_files_are_skipped_and_a_modified_one_is_fetched_again(
    s3env: S3Env, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = dataset()
    publish_cli(capsys, s3env, ds)
    out = tmp_path / "o"
    source = S3Source(s3.parse_s3_url(s3env.url(PREFIX)), recording_client(s3env)[0])
    first = get_data(source, out, jobs=4)
    assert first.bytes_fetched == sum(len(b) for b in ds.files.values())

    client, calls = recording_client(s3env)
    second = get_data(S3Source(s3.parse_s3_url(s3env.url(PREFIX)), client), out, jobs=4)
    assert second.bytes_fetched == 0 and sorted(second.skipped) == sorted(ds.files)
    assert [op for op, _ in calls] == ["GetObject"]  # the manifest only

    _flip(Dataset(out, ds.files, None))  # same size, different bytes: only a checksum can tell
    third = get_data(S3Source(s3.parse_s3_url(s3env.url(PREFIX)), client), out, jobs=4)
    assert third.downloaded == ["issue_001.csv"]
    assert third.bytes_fetched == len(ds.files["issue_001.csv"])
    assert_same_files(out, ds)


def test_interrupted_download_resumes_with_a_ranged_request(
    s3env: S3Env, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = dataset()
    publish_cli(capsys, s3env, ds)
    out = tmp_path / "o"
    out.mkdir()
    have = 1_000_000
    partial_path(out, "issue_000.csv").write_bytes(ds.files["issue_000.csv"][:have])

    client, calls = recording_client(s3env)
    result = get_data(S3Source(s3.parse_s3_url(s3env.url(PREFIX)), client), out, jobs=3)

    total = sum(len(b) for b in ds.files.values())
    assert result.bytes_fetched == total - have
    assert result.resumed == ["issue_000.csv"]
    gets = {p["Key"]: p.get("Range") for op, p in calls if op == "GetObject"}
    assert gets[PREFIX + "issue_000.csv"] == f"bytes={have}-"
    assert all(r is None for k, r in gets.items() if k != PREFIX + "issue_000.csv")
    assert_same_files(out, ds)
    assert not partial_path(out, "issue_000.csv").exists()


def test_resuming_onto_a_wrong_partial_file_fails_the_checksum_and_deletes_it(
    s3env: S3Env, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the missing tail is fetched, so a bad prefix surfaces as a checksum mismatch (not silently)."""
    ds = dataset()
    publish_cli(capsys, s3env, ds)
    out = tmp_path / "o"
    out.mkdir()
    part = partial_path(out, "issue_000.csv")
    part.write_bytes(b"#" * 500_000)

    rc, _, err = cli(capsys, "get-data", "--from", s3env.url(PREFIX), "--out", str(out),
                     "--endpoint-url", s3env.endpoint, "--progress", "none")
    assert rc == 2
    assert "issue_000.csv: checksum mismatch" in err and "partial file was deleted" in err
    assert not part.exists() and not (out / "issue_000.csv").exists()
    assert not (out / "manifest.json").exists() and (out / INCOMPLETE_MARKER).exists()

    rc, _, err = cli(capsys, "get-data", "--from", s3env.url(PREFIX), "--out", str(out),
                     "--endpoint-url", s3env.endpoint, "--progress", "none")
    assert rc == 0, err
    assert_same_files(out, ds)
    assert not (out / INCOMPLETE_MARKER).exists()


@pytest.mark.parametrize("corrupt", ["same-size", "shorter"])
def test_a_corrupted_object_fails_loudly_and_leaves_no_file(
    s3env: S3Env, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    corrupt: str,
) -> None:
    ds = dataset()
    publish_cli(capsys, s3env, ds)
    good = ds.files["issue_001.csv"]
    bad = good[:-1] + bytes([good[-1] ^ 0xFF]) if corrupt == "same-size" else good[:-10]
    s3env.client.put_object(Bucket=s3env.bucket, Key=PREFIX + "issue_001.csv", Body=bad)

    out = tmp_path / "o"
    rc, _, err = cli(capsys, "get-data", "--from", s3env.url(PREFIX), "--out", str(out),
                     "--endpoint-url", s3env.endpoint, "--progress", "none")
    assert rc == 2
    expected = "checksum mismatch" if corrupt == "same-size" else "the server has 299,990 bytes"
    assert expected in err, err
    assert "a publish there is under way or was interrupted; run get-data again" in err  # what it most often is
    assert not (out / "issue_001.csv").exists()
    assert not partial_path(out, "issue_001.csv").exists()
    assert not (out / "manifest.json").exists()


def test_a_shard_missing_from_the_bucket_is_reported(
    s3env: S3Env, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = dataset()
    publish_cli(capsys, s3env, ds)
    s3env.client.delete_object(Bucket=s3env.bucket, Key=PREFIX + "comment_000.csv")
    rc, _, err = cli(capsys, "get-data", "--from", s3env.url(PREFIX), "--out", str(tmp_path / "o"),
                     "--endpoint-url", s3env.endpoint, "--progress", "none")
    assert rc == 2 and "comment_000.csv is listed in the manifest but missing" in err


def test_no_manifest_prints_how_to_generate_locally(
    s3env: S3Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o"
    rc, _, err = cli(capsys, "get-data", "--from", s3env.url("nothing-here/"), "--out", str(out),
                     "--endpoint-url", s3env.endpoint, "--progress", "none")
    assert rc != 0
    assert "generate-synthetic" in err and "db-seed-synthetic" in err
    first, *hint = err.strip().splitlines()
    assert first.startswith("zbugs-synth get-data: error:") and "no manifest.json or manifest.txt" in first
    assert hint and "generate-synthetic" in "\n".join(hint)
    assert hint[0].startswith("The pre-generated dataset is not available")
    assert not out.exists()


def test_parts_not_all_written_yet_are_said_to_be_so_not_unavailable(
    s3env: S3Env, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One part of two generated into s3://: get-data said the dataset was "not available" and to
    generate it locally (from a walkthrough); it is the user's own, not finished yet."""
    settings = {"NUM_ISSUES": "400", "NUM_PROJECTS": "5", "NUM_USERS": "10", "AWS_ENDPOINT_URL": s3env.endpoint}
    for k, v in settings.items():
        monkeypatch.setenv(k, v)
    rc, _, err = cli(capsys, "generate-synthetic", "--parts", "2", "--part", "1", "--output-dir", s3env.url("gz/"),
                     "--progress", "none")
    assert rc == 0, err
    rc, _, err = cli(capsys, "get-data", "--from", s3env.url("gz/"), "--out", str(tmp_path / "o"),
                     "--progress", "none")
    assert rc == 2 and err.strip().splitlines() == [
        f"zbugs-synth get-data: error: {s3env.url('gz/')} holds a dataset that is not complete yet (no manifest.json: "
        "generate-synthetic is writing it or was stopped, or its parts were never combined): finish it (the same "
        "generate-synthetic again, or the missing parts, --parts N --part K), or run `zbugs-synth combine-parts "
        f"{s3env.url('gz/')}`"], err


def test_a_missing_bucket_is_named_not_taken_for_a_missing_manifest(
    s3env: S3Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, err = cli(capsys, "get-data", "--from", f"s3://{s3env.bucket}-nope/ds/", "--out", str(tmp_path / "o"),
                     "--endpoint-url", s3env.endpoint, "--progress", "none")
    assert rc == 2
    first = err.strip().splitlines()[0]
    assert "NoSuchBucket" in first and "no manifest.json" not in first, err
    # Not "not available": the source was not read at all, which may be a typo to check first.
    assert "not available" not in err and "Check --from, --endpoint-url and the network" in err


# ---- malicious manifests -------------------------------------------------------------------------

def _entry(name: str, size: int = 3, checksum: str = "0" * 32) -> dict[str, Any]:
    return {"name": name, "table": "issue", "shard": 0, "rows": 1, "bytes": size, "checksum": checksum}


def _manifest_json(files: list[dict[str, Any]]) -> bytes:
    return json.dumps({
        "format": "zbugs-synth-dataset", "formatVersion": 1, "checksumAlgorithm": "xxh3_128",
        "tool": {"name": "zbugs-synth", "version": "0"}, "datasetId": "x", "config": {}, "files": files,
    }).encode()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([_entry("../issue_000.csv")], "not a plain file name"),
        ([_entry("../../escape/issue_000.csv")], "not a plain file name"),
        ([_entry("/tmp/issue_000.csv")], "not a plain file name"),
        ([_entry("sub/issue_000.csv")], "not a plain file name"),
        ([_entry("..\\issue_000.csv")], "not a plain file name"),
        ([_entry("evil.sh")], "does not look like a dataset file"),
        ([_entry(".bashrc")], "does not look like a dataset file"),
        ([_entry("issue_000.csv\n")], "control characters"),
        ([_entry("issue_000.csv"), _entry("issue_000.csv")], "twice"),
        ([_entry("issue_000.csv", size=MAX_FILE_BYTES + 1)], "bytes must be a whole number"),
        ([_entry("issue_000.csv", size=-5)], "bytes must be a whole number"),
        ([_entry("issue_000.csv", checksum="../../x")], "checksum must be a lowercase hex digest"),
    ],
)
def test_malicious_manifest_json_is_rejected_and_nothing_is_written(
    s3env: S3Env, tmp_path: Path, capsys: pytest.CaptureFixture[str], files: list[dict[str, Any]],
    message: str,
) -> None:
    prefix = "evil/"
    s3env.client.put_object(Bucket=s3env.bucket, Key=prefix + "manifest.json", Body=_manifest_json(files))
    # Objects that a naive client would happily write outside --out.
    s3env.client.put_object(Bucket=s3env.bucket, Key=prefix + "../issue_000.csv", Body=b"pwn")
    s3env.client.put_object(Bucket=s3env.bucket, Key=prefix + "issue_000.csv", Body=b"pwn")
    before = tree(tmp_path)
    rc, _, err = cli(capsys, "get-data", "--from", s3env.url(prefix), "--out", str(tmp_path / "a" / "out"),
                     "--endpoint-url", s3env.endpoint, "--progress", "none")
    assert rc == 2
    assert "refusing the manifest.json" in err and message in err, err
    assert tree(tmp_path) == before


def test_malicious_manifest_txt_is_rejected(
    s3env: S3Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = "evil-txt/"
    body = b"issue_000.csv\n../../../../tmp/issue_001.csv\n"
    s3env.client.put_object(Bucket=s3env.bucket, Key=prefix + "manifest.txt", Body=body)
    before = tree(tmp_path)
    rc, _, err = cli(capsys, "get-data", "--from", s3env.url(prefix), "--out", str(tmp_path / "out"),
                     "--endpoint-url", s3env.endpoint, "--progress", "none")
    assert rc == 2 and "manifest.txt line 2" in err and "not a plain file name" in err
    assert tree(tmp_path) == before


def test_a_manifest_larger_than_the_free_disk_is_refused_before_downloading(
    s3env: S3Env, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The disk reports 5 GB free whatever this machine has, so the check is exercised everywhere.
    free = 5 * 10**9
    real = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: type(real)(real.total, real.total - free, free))
    prefix = "huge/"
    s3env.client.put_object(Bucket=s3env.bucket, Key=prefix + "manifest.json",
                            Body=_manifest_json([_entry("issue_000.csv", size=MAX_FILE_BYTES)]))
    out = tmp_path / "out"
    rc, _, err = cli(capsys, "get-data", "--from", s3env.url(prefix), "--out", str(out),
                     "--endpoint-url", s3env.endpoint, "--progress", "none")
    assert rc == 2 and f"needs {MAX_FILE_BYTES:,} more bytes" in err and f"only {free:,} are free" in err
    assert not any(p.suffix in (".csv", ".part") for p in out.iterdir())


def test_library_errors_are_user_errors(s3env: S3Env, tmp_path: Path) -> None:
    source = S3Source(s3.parse_s3_url(s3env.url("none/")), recording_client(s3env)[0])
    with pytest.raises(UserError):
        get_data(source, tmp_path / "o")
