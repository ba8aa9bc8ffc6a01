"""Where generated files go: a local (possibly shared) directory or an S3 prefix (file storage; the
row-level destinations of a table, CSV shards or a COPY stream, are `generate.sinks`).

Used by partitioned generation, where every shard's final name is known when it is opened, so a
shard is written straight under its final name on S3 (a multipart upload is invisible until it is
completed) or under a hidden name renamed on close in a directory: in both cases a crash never
leaves a complete-looking file.

S3 goes through the project's boto3 code (`remote.s3`) rather than fsspec/s3fs: boto3 is already a
dependency, s3fs would add aiobotocore (which pins botocore to narrow ranges, fighting boto3's own
pin) plus aiohttp and fsspec, and a writer needs only four calls (create, upload part, complete,
abort). `bench/bench_cluster.py` measures the upload path.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from zbugs_synth.errors import PermanentError, UserError
from zbugs_synth.remote.safety import redact_url

PART_BYTES = 16 << 20  # multipart part size: S3's minimum is 5 MiB; 10,000 parts -> 160 GB per file
UPLOADS_IN_FLIGHT = 3  # per open file: bounds memory (3 x 16 MiB) while overlapping upload and generation


class SinkFile(Protocol):
    def write(self, data: memoryview | bytes) -> None: ...
    def unsent(self) -> int: ...  # bytes written but not yet stored (what commit still has to send)
    def commit(self, sent: Callable[[int], None] | None = None) -> None: ...  # `sent(n)` as bytes get stored
    def abort(self) -> None: ...


class Sink(Protocol):
    display: str

    def hold(self, name: str, what: str, *, shared: bool = False) -> contextlib.AbstractContextManager[None]: ...
    def open(self, name: str) -> SinkFile: ...
    def put(self, name: str, data: bytes) -> None: ...
    def read(self, name: str) -> bytes | None: ...
    def list(self, prefix: str = "") -> dict[str, int]: ...
    def delete(self, name: str) -> None: ...
    def abort_stale(self, prefix: str) -> None: ...


def is_remote(destination: str | Path) -> bool:
    return isinstance(destination, str) and urlsplit(destination).scheme.lower() == "s3"


def open_sink(destination: str | Path, *, endpoint_url: str | None = None, jobs: int = 4) -> Sink:
    if is_remote(destination):
        from zbugs_synth.remote import s3

        location = s3.parse_s3_url(str(destination))
        client = s3.make_client(endpoint_url, jobs=jobs, require_credentials=True)
        return S3Sink(location, client)
    return LocalSink(Path(destination))


# ---- a directory ---------------------------------------------------------------------------------

class _LocalFile:
    def __init__(self, final: Path) -> None:
        self.final = final
        self.temp = final.with_name(f".{final.name}.partial")
        self.file = open(self.temp, "wb", buffering=0)  # noqa: SIM115 - closed in commit/abort

    def write(self, data: memoryview | bytes) -> None:
        self.file.write(data)

    def unsent(self) -> int:
        return 0  # written through to the file; commit only syncs and renames

    def commit(self, sent: Callable[[int], None] | None = None) -> None:
        from zbugs_synth.manifest import fsync_dir

        # Durable before the part manifest vouches for it (as a whole run's shards are).
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.temp, self.final)
        fsync_dir(self.final.parent)

    def abort(self) -> None:
        self.file.close()
        self.temp.unlink(missing_ok=True)


class LocalSink:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.display = f"{directory}/"

    def ensure(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"OUTPUT_DIR={str(self.directory)!r}: cannot create directory ({e.strerror})") from None
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise UserError(f"OUTPUT_DIR={str(self.directory)!r}: directory is not writable")

    def _path(self, name: str) -> Path:
        path = self.directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def hold(self, name: str, what: str, *, shared: bool = False) -> contextlib.AbstractContextManager[None]:
        """Lock `name` (a lock file), or the directory itself for "" (generate.lock)."""
        from zbugs_synth.generate.lock import hold

        return hold(self._path(name) if name else self.directory, f"OUTPUT_DIR={str(self.directory)!r}{what}",
                    shared=shared)

    def open(self, name: str) -> SinkFile:
        return _LocalFile(self._path(name))

    def put(self, name: str, data: bytes) -> None:
        from zbugs_synth.manifest import write_atomic

        write_atomic(self._path(name), data)

    def read(self, name: str) -> bytes | None:
        try:
            return (self.directory / name).read_bytes()
        except FileNotFoundError:
            return None

    def list(self, prefix: str = "") -> dict[str, int]:
        """Files whose name (relative, '/'-separated) starts with `prefix`, one directory level deep."""
        sub, _, start = prefix.rpartition("/")
        base = self.directory / sub if sub else self.directory
        try:
            entries = list(os.scandir(base))
        except FileNotFoundError:
            return {}
        rel = f"{sub}/" if sub else ""
        return {f"{rel}{e.name}": e.stat().st_size for e in entries
                if e.is_file() and e.name.startswith(start)}

    def delete(self, name: str) -> None:
        (self.directory / name).unlink(missing_ok=True)

    def abort_stale(self, prefix: str) -> None:
        for name in self.list(prefix="."):
            if name.startswith(f".{prefix}") and name.endswith(".partial"):
                self.delete(name)


# ---- S3 ------------------------------------------------------------------------------------------

class _S3File:
    """One object written as a multipart upload; parts are uploaded on a small pool while the next
    part fills, at most UPLOADS_IN_FLIGHT at a time. Nothing is visible under the key until commit."""

    def __init__(self, sink: S3Sink, name: str) -> None:
        self.sink, self.name, self.key = sink, name, sink.location.key(name)
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.pending: deque[tuple[Future[dict[str, Any]], int]] = deque()  # (upload, its size)

    def write(self, data: memoryview | bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= PART_BYTES:
            chunk = bytes(self.buffer[:PART_BYTES])
            del self.buffer[:PART_BYTES]
            self._send(chunk)

    def _send(self, chunk: bytes, sent: Callable[[int], None] | None = None) -> None:
        s = self.sink
        if self.upload_id is None:
            with _s3_errors(s.display, self.name):
                r = s.client.create_multipart_upload(Bucket=s.location.bucket, Key=self.key, ContentType="text/csv")
            self.upload_id = r["UploadId"]
        number = len(self.parts) + len(self.pending) + 1
        upload_id = self.upload_id

        def upload() -> dict[str, Any]:
            r = s.client.upload_part(Bucket=s.location.bucket, Key=self.key, UploadId=upload_id,
                                     PartNumber=number, Body=chunk)
            return {"PartNumber": number, "ETag": r["ETag"]}

        self.pending.append((s.pool().submit(upload), len(chunk)))
        while len(self.pending) >= UPLOADS_IN_FLIGHT:
            self._wait_one(sent)

    def _wait_one(self, sent: Callable[[int], None] | None) -> None:
        future, size = self.pending.popleft()
        with _s3_errors(self.sink.display, self.name):
            self.parts.append(future.result())
        if sent:
            sent(size)

    def unsent(self) -> int:
        return len(self.buffer) + sum(size for _, size in self.pending)

    def commit(self, sent: Callable[[int], None] | None = None) -> None:
        s = self.sink
        with _s3_errors(s.display, self.name):
            if self.upload_id is None:  # small file: one PUT
                s.client.put_object(Bucket=s.location.bucket, Key=self.key, Body=bytes(self.buffer),
                                    ContentType="text/csv")
                if sent:
                    sent(len(self.buffer))
                return
            if self.buffer:
                self._send(bytes(self.buffer), sent)
                self.buffer = bytearray()
            while self.pending:
                self._wait_one(sent)
            s.client.complete_multipart_upload(Bucket=s.location.bucket, Key=self.key, UploadId=self.upload_id,
                                               MultipartUpload={"Parts": self.parts})

    def abort(self) -> None:
        for f, _ in self.pending:
            f.cancel()
        if self.upload_id is not None:
            # Best effort: the part's rerun aborts stale uploads too.
            with contextlib.suppress(Exception):
                self.sink.client.abort_multipart_upload(Bucket=self.sink.location.bucket, Key=self.key,
                                                        UploadId=self.upload_id)


PERMANENT_S3_ERRORS = frozenset({"AccessDenied", "NoSuchBucket", "InvalidBucketName", "InvalidAccessKeyId",
                                 "SignatureDoesNotMatch", "AllAccessDisabled", "AccountProblem"})


@contextlib.contextmanager
def _s3_errors(display: str, name: str) -> Iterator[None]:
    """botocore failures as one printable line (also across Dask: a UserError pickles, a botocore
    error with its response and the client's innards is not something to show a user)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from zbugs_synth.remote.s3 import describe_error, error_code

    try:
        yield
    except (BotoCoreError, ClientError) as e:
        # A timeout or a 5xx may pass (Dask retries the part); these will not.
        permanent = isinstance(e, ClientError) and error_code(e) in PERMANENT_S3_ERRORS
        raise (PermanentError if permanent else UserError)(f"{display}{name}: {describe_error(e)}") from None


class S3Sink:
    def __init__(self, location: Any, client: Any) -> None:
        self.location, self.client = location, client
        self.display = redact_url(str(location))
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=4 * UPLOADS_IN_FLIGHT, thread_name_prefix="zbugs-s3")
            return self._pool

    def hold(self, name: str, what: str, *, shared: bool = False) -> contextlib.AbstractContextManager[None]:
        # S3 has no locks. Two writers of one part write the same bytes (a part is a pure function of
        # the configuration) and each object appears whole, so at worst the work is done twice.
        return contextlib.nullcontext()

    def open(self, name: str) -> SinkFile:
        return _S3File(self, name)

    def put(self, name: str, data: bytes) -> None:
        content_type = "application/json" if name.endswith(".json") else "text/plain; charset=utf-8"
        with _s3_errors(self.display, name):
            self.client.put_object(Bucket=self.location.bucket, Key=self.location.key(name), Body=data,
                                   ContentType=content_type)

    def read(self, name: str) -> bytes | None:
        from botocore.exceptions import ClientError

        with _s3_errors(self.display, name):
            try:
                obj = self.client.get_object(Bucket=self.location.bucket, Key=self.location.key(name))
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                    return None
                raise
            return obj["Body"].read()

    def list(self, prefix: str = "") -> dict[str, int]:
        out: dict[str, int] = {}
        base = len(self.location.prefix)
        with _s3_errors(self.display, prefix):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.location.bucket, Prefix=self.location.key(prefix)):
                for obj in page.get("Contents", []):
                    out[obj["Key"][base:]] = int(obj["Size"])
        return out

    def delete(self, name: str) -> None:
        with _s3_errors(self.display, name):
            self.client.delete_object(Bucket=self.location.bucket, Key=self.location.key(name))

    def abort_stale(self, prefix: str) -> None:
        """Abort multipart uploads a killed earlier attempt left under `prefix` (they cost storage)."""
        with _s3_errors(self.display, prefix):
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.location.bucket, Prefix=self.location.key(prefix)):
                for u in page.get("Uploads", []):
                    self.client.abort_multipart_upload(Bucket=self.location.bucket, Key=u["Key"],
                                                       UploadId=u["UploadId"])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
