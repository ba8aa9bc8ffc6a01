"""A partial download is keyed to the version of the remote file it came from (ETag / Last-Modified /
size): a part of another version is started over, never continued. Matters most for the original
tool's manifest.txt datasets, which have no checksum to catch a file stitched from two versions."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from remote_helpers import Dataset, S3Env, Served, csv_bytes

from zbugs_synth.errors import UserError
from zbugs_synth.remote import s3
from zbugs_synth.remote.get import get_data
from zbugs_synth.remote.safety import partial_path
from zbugs_synth.remote.sources import HttpSource, Interrupted, S3Source, Stream

NAME = "issue_000.csv"
CUT = 400_000


def _serve(http_server: Callable[..., Served], ds: Dataset, tmp_path: Path) -> tuple[Served, Path, Path]:
    www = tmp_path / "www"
    shutil.copytree(ds.directory, www / "data")
    return http_server(www), www / "data", tmp_path / "out"


def _interrupted_run(srv: Served, out: Path) -> None:
    """A real get-data run that loses its connection mid-file and gives up: leaves the part behind."""
    srv.state.cut_once[NAME] = CUT
    with pytest.raises(UserError, match="run get-data again to resume"):
        get_data(HttpSource(srv.url("data/")), out, jobs=1, retries=0)
    assert partial_path(out, NAME).stat().st_size == CUT


def _new_version(path: Path) -> bytes:
    """The same file name and size with other content (a re-published dataset), and a newer mtime."""
    data = csv_bytes(NAME, path.stat().st_size, seed=99)
    assert data != path.read_bytes()
    path.write_bytes(data)
    later = time.time() + 10
    os.utime(path, (later, later))
    return data


def test_a_part_of_the_same_version_is_continued(
    http_server: Callable[..., Served], dataset: Callable[..., Dataset], tmp_path: Path
) -> None:
    ds = dataset(manifest_txt_only=True)
    srv, _, out = _serve(http_server, ds, tmp_path)
    _interrupted_run(srv, out)
    srv.state.requests.clear()
    result = get_data(HttpSource(srv.url("data/")), out, jobs=2)
    assert result.resumed == [NAME]
    assert [g.range for g in srv.state.gets(NAME)] == [f"bytes={CUT}-"]
    assert (out / NAME).read_bytes() == ds.files[NAME]


def test_a_part_of_an_older_version_is_started_over(
    http_server: Callable[..., Served], dataset: Callable[..., Dataset], tmp_path: Path
) -> None:
    ds = dataset(manifest_txt_only=True)
    srv, served, out = _serve(http_server, ds, tmp_path)
    _interrupted_run(srv, out)
    new = _new_version(served / NAME)
    srv.state.requests.clear()
    result = get_data(HttpSource(srv.url("data/")), out, jobs=2)
    assert NAME not in result.resumed
    assert (out / NAME).read_bytes() == new  # not the old version's first 400,000 bytes + the new tail
    assert [g.range for g in srv.state.gets(NAME)] == [f"bytes={CUT}-", None]
    assert not partial_path(out, NAME).exists()
    assert not list(out.glob(".*.version"))


@pytest.mark.parametrize("validators", [True, False])
def test_a_part_whose_version_is_unknown_is_started_over(
    http_server: Callable[..., Served], dataset: Callable[..., Dataset], tmp_path: Path, validators: bool
) -> None:
    """A part left by an older zbugs-synth (no version recorded), or a server that names no version."""
    ds = dataset(manifest_txt_only=True)
    srv, _, out = _serve(http_server, ds, tmp_path)
    srv.state.validators = validators
    out.mkdir()
    partial_path(out, NAME).write_bytes(b"#" * CUT)  # same length as a real part; wrong bytes
    result = get_data(HttpSource(srv.url("data/")), out, jobs=2)
    assert (out / NAME).read_bytes() == ds.files[NAME]
    assert NAME not in result.resumed


def test_a_complete_part_of_an_older_version_is_not_taken(
    http_server: Callable[..., Served], dataset: Callable[..., Dataset], tmp_path: Path
) -> None:
    """Killed after the last byte, before the rename: the part is whole, but of the old version."""
    ds = dataset(manifest_txt_only=True)
    srv, served, out = _serve(http_server, ds, tmp_path)
    _interrupted_run(srv, out)
    get_data(HttpSource(srv.url("data/")), out, jobs=2)  # finishes: move the file back as a whole part
    os.replace(out / NAME, partial_path(out, NAME))
    new = _new_version(served / NAME)
    get_data(HttpSource(srv.url("data/")), out, jobs=2)
    assert (out / NAME).read_bytes() == new


class _CutSource:
    """Fault injection on a real S3Source: the stream of one file breaks off after its first chunk."""

    def __init__(self, inner: S3Source) -> None:
        self.inner, self.display = inner, inner.display

    def read_small(self, name: str, limit: int) -> bytes:
        return self.inner.read_small(name, limit)

    def size(self, name: str) -> int | None:
        return self.inner.size(name)

    def open(self, name: str, offset: int) -> Stream:
        stream = self.inner.open(name, offset)
        if name != NAME:
            return stream

        def first_chunk_only() -> Iterator[bytes]:
            yield next(iter(stream.chunks))
            raise Interrupted(f"{NAME}: connection reset (injected)")

        return Stream(stream.start, stream.total, first_chunk_only(), stream.close, stream.version)


def test_s3_a_part_of_an_older_object_version_is_started_over(
    s3env: S3Env, dataset: Callable[..., Dataset], tmp_path: Path
) -> None:
    ds = dataset(manifest_txt_only=True)
    prefix = "versions/"
    for p in sorted(ds.directory.iterdir()):
        s3env.client.put_object(Bucket=s3env.bucket, Key=prefix + p.name, Body=p.read_bytes())
    client = s3.make_client(s3env.endpoint, jobs=2, require_credentials=False)
    source = S3Source(s3.parse_s3_url(s3env.url(prefix)), client)
    out = tmp_path / "out"
    with pytest.raises(UserError, match="run get-data again to resume"):
        get_data(_CutSource(source), out, jobs=1, retries=0)  # type: ignore[arg-type]
    assert partial_path(out, NAME).exists()
    new = csv_bytes(NAME, len(ds.files[NAME]), seed=99)
    s3env.client.put_object(Bucket=s3env.bucket, Key=prefix + NAME, Body=new)  # re-published, same size
    result = get_data(source, out, jobs=2)
    assert (out / NAME).read_bytes() == new and NAME not in result.resumed


# ---- HEAD fallback by status, and a single retry layer ---------------------------------------------

@pytest.mark.parametrize(("answer", "falls_back"), [
    ((501, "Not Implemented"), True),
    ((405, "Method Not Allowed"), True),
    ((403, "HTTP 405 Method Not Allowed"), False),  # the words of a 405, the status of a refusal
    ((400, "no HEAD here (HTTP 501)"), False),
])
def test_head_falls_back_to_get_by_status_not_by_message(
    http_server: Callable[..., Served], dataset: Callable[..., Dataset], tmp_path: Path,
    answer: tuple[int, str], falls_back: bool,
) -> None:
    ds = dataset(manifest_txt_only=True)
    srv, _, _out = _serve(http_server, ds, tmp_path)
    srv.state.head_answer = answer
    source = HttpSource(srv.url("data/"))
    if falls_back:
        assert source.size(NAME) == len(ds.files[NAME])
        assert srv.state.gets(NAME)  # the size came from a GET's headers
    else:
        with pytest.raises(Exception, match=f"HTTP {answer[0]}") as e:
            source.size(NAME)
        assert getattr(e.value, "status", None) == answer[0] and not srv.state.gets(NAME)


def test_s3_attempts_are_not_multiplied_by_two_retry_layers(
    s3env: S3Env, dataset: Callable[..., Dataset], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every GET of one shard answers 503: get-data makes 1 + len(RETRY_DELAYS) attempts, not 4 x 4."""
    from botocore.awsrequest import AWSResponse

    from zbugs_synth.remote import get as get_module
    from zbugs_synth.remote.sources import open_source

    monkeypatch.setattr(get_module, "RETRY_DELAYS", (0.0, 0.0, 0.0))
    ds = dataset()
    prefix = "flaky/"
    for p in sorted(ds.directory.iterdir()):
        s3env.client.put_object(Bucket=s3env.bucket, Key=prefix + p.name, Body=p.read_bytes())
    source = open_source(s3env.url(prefix), endpoint_url=s3env.endpoint, jobs=2)
    attempts = []

    class _Empty:
        def stream(self, **_: object) -> Iterator[bytes]:
            yield b""

    def unavailable(request: object, **_: object) -> AWSResponse | None:
        if request.url.split("?")[0].endswith("/" + prefix + NAME):  # type: ignore[attr-defined]
            attempts.append(1)
            return AWSResponse(request.url, 503, {}, _Empty())  # type: ignore[attr-defined]
        return None

    source.client.meta.events.register("before-send.s3.GetObject", unavailable)  # type: ignore[attr-defined]
    with pytest.raises(UserError, match=NAME):
        get_data(source, tmp_path / "out", jobs=2, retries=3)
    assert len(attempts) == 4
