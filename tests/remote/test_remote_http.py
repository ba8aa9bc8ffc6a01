"""get-data over HTTP(S) against real servers on 127.0.0.1 (with Range support, misbehaving on cue)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from remote_helpers import Dataset, Served, tree

from zbugs_synth.cli import main
from zbugs_synth.manifest import INCOMPLETE_MARKER, dataset_files, manifest_txt
from zbugs_synth.remote.get import get_data
from zbugs_synth.remote.safety import partial_path
from zbugs_synth.remote.sources import HttpSource

Server = Callable[..., Served]


def published(ds: Dataset, root: Path, prefix: str = "data") -> Path:
    """Lay the dataset out under `root/prefix/` as a web server would serve it."""
    target = root / prefix
    shutil.copytree(ds.directory, target)
    return target


def get_cli(capsys: pytest.CaptureFixture[str], url: str, out: Path, *extra: str) -> tuple[int, str, str]:
    rc = main(["get-data", "--from", url, "--out", str(out), "--progress", "none", *extra])
    stdout, stderr = capsys.readouterr()
    return rc, stdout, stderr


def assert_same_files(out: Path, ds: Dataset) -> None:
    for name, data in ds.files.items():
        assert (out / name).read_bytes() == data, name



def serve(http_server: Server, ds: Dataset, tmp_path: Path) -> tuple[Served, Path]:
    """Publish `ds` under tmp_path/www, serve it over HTTP; return the server and the (not yet created) --out."""
    published(ds, tmp_path / "www")
    return http_server(tmp_path / "www"), tmp_path / "out"


def test_download_over_http_with_manifest_json(
    http_server: Server, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = dataset()
    srv, out = serve(http_server, ds, tmp_path)
    rc, _, err = get_cli(capsys, srv.url("data/"), out)
    assert rc == 0, err
    assert_same_files(out, ds)
    assert (out / "manifest.json").read_bytes() == (ds.directory / "manifest.json").read_bytes()
    assert not (out / INCOMPLETE_MARKER).exists()
    # One GET per non-empty shard plus the manifest, none of them ranged (an empty shard needs none).
    gets = [r for r in srv.state.requests if r.method == "GET"]
    assert len(gets) == sum(1 for b in ds.files.values() if b) + 1 and all(r.range is None for r in gets)


def test_manifest_txt_only_dataset_like_the_originals(
    http_server: Server, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = dataset(manifest_txt_only=True)
    assert not (ds.directory / "manifest.json").exists()
    srv, out = serve(http_server, ds, tmp_path)
    rc, stdout, err = get_cli(capsys, srv.url("data"), out)  # no trailing slash: still a directory
    assert rc == 0, err
    assert_same_files(out, ds)
    assert (out / "manifest.txt").read_text() == "".join(f"{n}\n" for n in ds.files)
    assert not (out / "manifest.json").exists()
    assert "size only" in stdout
    # A second run skips everything (sizes match) and transfers nothing but the manifest.
    srv.state.requests.clear()
    rc, stdout, err = get_cli(capsys, srv.url("data/"), out)
    assert rc == 0, err
    gets = [r.path for r in srv.state.requests if r.method == "GET"]
    assert gets == ["/data/manifest.json", "/data/manifest.txt"]
    assert f"0 downloaded, {len(ds.files)} already present" in stdout


def test_manifest_json_forbidden_falls_back_to_manifest_txt(
    http_server: Server, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """S3 answers 403 for a missing key when the reader may not list the bucket (the original's case)."""
    ds = dataset(manifest_txt_only=True)
    srv, _ = serve(http_server, ds, tmp_path)
    srv.state.status_for["/data/manifest.json"] = 403
    rc, _, err = get_cli(capsys, srv.url("data/"), tmp_path / "out")
    assert rc == 0, err
    assert_same_files(tmp_path / "out", ds)

    srv.state.status_for["/data/manifest.txt"] = 404
    rc, _, err = get_cli(capsys, srv.url("data/"), tmp_path / "out2")
    assert rc == 2 and "HTTP 403" in err and "generate-synthetic" in err


def test_an_unreachable_server_prints_how_to_generate_locally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc, _, err = get_cli(capsys, f"http://127.0.0.1:{port}/data/", tmp_path / "out")
    assert rc == 2 and "cannot connect" in err and "generate-synthetic" in err
    assert "Traceback" not in err
    # The error comes first, then the hint (read top-down: what went wrong, then what to do).
    lines = err.strip().splitlines()
    assert lines[0].startswith("zbugs-synth get-data: error:") and "cannot connect" in lines[0]
    assert "error" not in "\n".join(lines[1:])


def test_manifest_txt_with_a_server_without_head(
    http_server: Server, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = dataset(manifest_txt_only=True)
    srv, _ = serve(http_server, ds, tmp_path)
    srv.state.no_head = True
    rc, _, err = get_cli(capsys, srv.url("data/"), tmp_path / "out")
    assert rc == 0, err
    assert_same_files(tmp_path / "out", ds)


def test_a_dropped_connection_is_resumed_with_a_range_request(
    http_server: Server, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = dataset()
    srv, _ = serve(http_server, ds, tmp_path)
    cut = 400_000
    srv.state.cut_once["issue_000.csv"] = cut
    rc, _, err = get_cli(capsys, srv.url("data/"), tmp_path / "out")
    assert rc == 0, err
    assert_same_files(tmp_path / "out", ds)
    gets = srv.state.gets("issue_000.csv")
    assert [g.range for g in gets] == [None, f"bytes={cut}-"]
    assert [g.status for g in gets] == [200, 206]
    # The bytes sent for that file add up to its size exactly: nothing was fetched twice.
    assert sum(g.body_bytes for g in gets) == len(ds.files["issue_000.csv"])


def test_a_partial_file_from_an_earlier_run_is_continued(
    http_server: Server, dataset: Callable[..., Dataset], tmp_path: Path
) -> None:
    ds = dataset()
    srv, out = serve(http_server, ds, tmp_path)
    out.mkdir()
    have = 1_234_567
    partial_path(out, "issue_000.csv").write_bytes(ds.files["issue_000.csv"][:have])
    result = get_data(HttpSource(srv.url("data/")), out, jobs=2)
    assert result.resumed == ["issue_000.csv"]
    assert result.bytes_fetched == sum(map(len, ds.files.values())) - have
    [g] = srv.state.gets("issue_000.csv")
    assert g.range == f"bytes={have}-" and g.body_bytes == len(ds.files["issue_000.csv"]) - have
    assert_same_files(out, ds)


def test_a_server_that_ignores_range_still_gives_a_correct_file(
    http_server: Server, dataset: Callable[..., Dataset], tmp_path: Path
) -> None:
    ds = dataset()
    srv, _ = serve(http_server, ds, tmp_path)
    srv.state.ignore_range = True
    out = tmp_path / "out"
    out.mkdir()
    partial_path(out, "issue_000.csv").write_bytes(ds.files["issue_000.csv"][:1000])
    get_data(HttpSource(srv.url("data/")), out, jobs=2)
    assert_same_files(out, ds)
    [g] = srv.state.gets("issue_000.csv")
    assert g.status == 200 and g.body_bytes == len(ds.files["issue_000.csv"])


def test_a_truncated_partial_longer_than_the_file_is_discarded(
    http_server: Server, dataset: Callable[..., Dataset], tmp_path: Path
) -> None:
    ds = dataset()
    srv, out = serve(http_server, ds, tmp_path)
    out.mkdir()
    partial_path(out, "user_000.csv").write_bytes(b"x" * (len(ds.files["user_000.csv"]) + 10))
    get_data(HttpSource(srv.url("data/")), out, jobs=2)
    assert_same_files(out, ds)


def test_a_planted_symlink_is_not_written_through(
    http_server: Server, dataset: Callable[..., Dataset], tmp_path: Path
) -> None:
    ds = dataset()
    srv, out = serve(http_server, ds, tmp_path)
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    partial_path(out, "user_000.csv").symlink_to(victim)
    (out / "issue_001.csv").symlink_to(victim)
    get_data(HttpSource(srv.url("data/")), out, jobs=2)
    assert victim.read_text() == "keep me"
    assert_same_files(out, ds)
    assert not (out / "issue_001.csv").is_symlink()


# ---- --out holds another dataset -----------------------------------------------------------------

@pytest.mark.parametrize("txt_only", [True, False], ids=["manifest.txt source", "manifest.json source"])
def test_out_with_unlisted_shards_is_refused_then_cleaned_with_force(
    http_server: Server, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    txt_only: bool,
) -> None:
    """get-data leaves --out holding exactly the remote dataset, so the loader can never mix two."""
    remote = dataset(manifest_txt_only=txt_only)
    published(remote, tmp_path / "www")
    srv = http_server(tmp_path / "www")
    # --out already holds a bigger, different dataset (its own manifest.json), plus things that are
    # not dataset files and must survive even --force.
    local = {**{n: b"id\nold\n" for n in remote.files}, "issue_002.csv": b"id\n", "comment_007.csv": b"id\n"}
    out = dataset(local, seed=7).directory
    (out / "notes.txt").write_text("mine")
    (out / "issue_02.csv").write_text("not the shard pattern")  # 2 digits: not a dataset file name
    victim = tmp_path / "victim.csv"
    victim.write_text("keep me")
    (out / "issue_009.csv").symlink_to(victim)  # a stale name that is a link: only the link may go
    before = {p.name: (p.read_bytes() if not p.is_symlink() else b"link") for p in out.iterdir()}

    rc, _, err = get_cli(capsys, srv.url("data/"), out)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "--force" in err and "issue_002.csv" in err and "does not list" in err
    # Refused before anything was downloaded or changed.
    fetched = {r.path for r in srv.state.requests if r.method == "GET"}
    assert fetched <= {"/data/manifest.json", "/data/manifest.txt"}
    after = {p.name: (p.read_bytes() if not p.is_symlink() else b"link") for p in out.iterdir()}
    assert after == before

    rc, stdout, err = get_cli(capsys, srv.url("data/"), out, "--force")
    assert rc == 0, err
    assert "removed 3 dataset file(s)" in stdout
    assert dataset_files(out) == list(remote.files)  # exactly the remote dataset, in load order
    assert_same_files(out, remote)
    assert (out / "notes.txt").read_text() == "mine" and (out / "issue_02.csv").exists()
    assert victim.read_text() == "keep me"
    # The local manifests describe the downloaded dataset: manifest.txt always (the loader reads it
    # when there is no manifest.json), manifest.json only when the source has one.
    assert (out / "manifest.txt").read_text() == manifest_txt(remote.files)
    if txt_only:
        assert not (out / "manifest.json").exists()
    else:
        assert (out / "manifest.json").read_bytes() == (remote.directory / "manifest.json").read_bytes()
    assert not (out / INCOMPLETE_MARKER).exists()


def test_out_with_only_listed_shards_needs_no_force(
    http_server: Server, dataset: Callable[..., Dataset], tmp_path: Path
) -> None:
    """A directory holding a subset of the dataset (an interrupted download) is simply completed."""
    remote = dataset()
    published(remote, tmp_path / "www")
    srv = http_server(tmp_path / "www")
    out = tmp_path / "out"
    out.mkdir()
    (out / "user_000.csv").write_bytes(remote.files["user_000.csv"])
    (out / "issue_001.csv").write_bytes(b"wrong bytes")
    result = get_data(HttpSource(srv.url("data/")), out, jobs=2)
    assert result.skipped == ["user_000.csv"] and result.removed == []
    assert_same_files(out, remote)


# ---- redirects -----------------------------------------------------------------------------------

def test_same_scheme_redirects_are_followed(
    http_server: Server, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = dataset()
    srv, _ = serve(http_server, ds, tmp_path)
    srv.state.redirects["/moved/manifest.json"] = srv.url("data/manifest.json")
    for name in ds.files:
        srv.state.redirects[f"/moved/{name}"] = f"/data/{name}"  # relative Location
    rc, _, err = get_cli(capsys, srv.url("moved/"), tmp_path / "out")
    assert rc == 0, err
    assert_same_files(tmp_path / "out", ds)


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/data/issue_000.csv", "file:///etc/passwd", "https"])
def test_redirects_to_another_scheme_are_refused(
    http_server: Server, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    target: str,
) -> None:
    ds = dataset()
    srv, _ = serve(http_server, ds, tmp_path)
    other = http_server(tmp_path / "www", tls=True) if target == "https" else None
    location = other.url("data/issue_000.csv") if other else target
    srv.state.redirects["/data/issue_000.csv"] = location
    out = tmp_path / "out"
    rc, _, err = get_cli(capsys, srv.url("data/"), out)
    assert rc == 2
    assert "refusing redirect" in err and "scheme changes" in err, err
    assert not (out / "issue_000.csv").exists() and not (out / "manifest.json").exists()
    if other:
        assert other.state.requests == []


def test_https_works_and_a_downgrade_to_http_is_refused(
    http_server: Server, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = dataset()
    published(ds, tmp_path / "www")
    secure = http_server(tmp_path / "www", tls=True)
    plain = http_server(tmp_path / "www")
    rc, _, err = get_cli(capsys, secure.url("data/"), tmp_path / "ok")
    assert rc == 0, err
    assert_same_files(tmp_path / "ok", ds)

    secure.state.redirects["/data/comment_000.csv"] = plain.url("data/comment_000.csv")
    rc, _, err = get_cli(capsys, secure.url("data/"), tmp_path / "downgraded")
    assert rc == 2
    assert "refusing redirect" in err and "(https -> http)" in err
    assert plain.state.requests == []
    assert not (tmp_path / "downgraded" / "comment_000.csv").exists()


# ---- credentials and hostile manifests -----------------------------------------------------------

def test_credentials_in_the_url_are_used_but_never_printed(
    http_server: Server, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = dataset()
    srv, _ = serve(http_server, ds, tmp_path)
    password, token = "hunter2-pass", "sig=TOPSECRET-token-42"
    srv.state.basic_auth = f"alice:{password}"
    srv.state.query = token
    port = srv.base.rsplit(":", 1)[1]
    url = f"http://alice:{password}@127.0.0.1:{port}/data/?{token}"

    rc, stdout, err = main_plain(capsys, url, tmp_path / "out")
    assert rc == 0, err
    assert_same_files(tmp_path / "out", ds)
    for secret in (password, "TOPSECRET", "alice"):
        assert secret not in stdout + err

    # Failures print URLs too: still redacted (wrong prefix -> no manifest -> guidance + error line).
    rc, stdout, err = main_plain(capsys, url.replace("/data/", "/nothing/"), tmp_path / "out2")
    assert rc == 2 and "generate-synthetic" in err
    for secret in (password, "TOPSECRET", "alice"):
        assert secret not in stdout + err

    # A bad value in ZBUGS_DATA_URL is reported without echoing it.
    capsys.readouterr()
    rc = main(["get-data", "--from", f"gopher://bob:{password}@x/", "--progress", "none"])
    assert rc == 2 and password not in capsys.readouterr().err


def test_credentials_follow_same_host_redirects_only(
    http_server: Server, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = dataset()
    published(ds, tmp_path / "www")
    home, elsewhere = http_server(tmp_path / "www"), http_server(tmp_path / "www")
    home.state.basic_auth = "alice:pw-123456"
    for name in [*ds.files, "manifest.json"]:
        home.state.redirects[f"/old/{name}"] = f"/data/{name}"  # same host: keeps the credentials
    home.state.redirects["/data/issue_001.csv"] = elsewhere.url("data/issue_001.csv")  # other host: drops them
    port = home.base.rsplit(":", 1)[1]
    rc, _, err = get_cli(capsys, f"http://alice:pw-123456@127.0.0.1:{port}/data/", tmp_path / "out")
    assert rc == 0, err
    assert_same_files(tmp_path / "out", ds)
    [moved] = elsewhere.state.requests
    assert moved.path == "/data/issue_001.csv" and moved.authorization is None
    rc, _, err = get_cli(capsys, f"http://alice:pw-123456@127.0.0.1:{port}/old/", tmp_path / "out2")
    assert rc == 0, err


def main_plain(capsys: pytest.CaptureFixture[str], url: str, out: Path) -> tuple[int, str, str]:
    rc = main(["get-data", "--from", url, "--out", str(out), "--progress", "plain"])
    stdout, stderr = capsys.readouterr()
    return rc, stdout, stderr


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("issue_000.csv\n../issue_001.csv\n", "not a plain file name"),
        ("/etc/issue_000.csv\n", "not a plain file name"),
        ("issue_000.csv\nissue_000.csv\n", "listed twice"),
        ("issue_000.csv\nrun.sh\n", "does not look like a dataset file"),
        ("issue_000.csv\x0b\n", "control characters"),
    ],
)
def test_hostile_manifest_txt_over_http_is_rejected(
    http_server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: str, message: str
) -> None:
    www = tmp_path / "www" / "data"
    www.mkdir(parents=True)
    (www / "manifest.txt").write_text(lines)
    (www / "issue_000.csv").write_text("id\n")
    srv = http_server(tmp_path / "www")
    before = tree(tmp_path)
    rc, _, err = get_cli(capsys, srv.url("data/"), tmp_path / "out")
    assert rc == 2 and message in err, err
    assert tree(tmp_path) == before


def test_a_server_reporting_an_absurd_size_is_refused(
    http_server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    www = tmp_path / "www" / "data"
    www.mkdir(parents=True)
    (www / "manifest.txt").write_text("issue_000.csv\n")
    (www / "issue_000.csv").write_text("id\n")
    srv = http_server(tmp_path / "www")
    # HEAD answers with the real size; make the file *look* absurd by lying in Content-Length.
    srv.state.fake_length = {"issue_000.csv": 1 << 41}
    rc, _, err = get_cli(capsys, srv.url("data/"), tmp_path / "out")
    assert rc == 2 and "the limit is" in err, err
    assert not (tmp_path / "out" / "issue_000.csv").exists()


def test_an_unusable_out_directory_is_a_one_line_error(
    http_server: Server, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = dataset({"user_000.csv": b"id\n1\n"})
    srv, _ = serve(http_server, ds, tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for out in (blocker, blocker / "sub"):
        rc, _, err = get_cli(capsys, srv.url("data/"), out)
        assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert str(blocker) in err


def test_out_holding_another_complete_dataset_is_refused_then_replaced_with_force(
    http_server: Server, dataset: Callable[..., Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Same shard names, other contents: without --force nothing is touched (as generate-synthetic does)."""
    first = dataset(seed=1)
    second = dataset(seed=2)
    published(second, tmp_path / "www")
    srv = http_server(tmp_path / "www")
    out = tmp_path / "out"
    shutil.copytree(first.directory, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    rc = main(["get-data", "--from", srv.url("data/"), "--out", str(out), "--progress", "none"])
    err = capsys.readouterr().err
    assert rc == 2 and "holds another dataset (test-1); rerun with --force" in err, err
    assert len(err.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # The same dataset again is no refusal: it is verified (and completed) in place.
    assert main(["get-data", "--from", srv.url("data/"), "--out", str(out), "--progress", "none",
                 "--force"]) == 0
    assert_same_files(out, second)
    assert main(["get-data", "--from", srv.url("data/"), "--out", str(out), "--progress", "none"]) == 0
