"""Loading straight from object storage: `ZERO_SEED_DATA_DIR=s3://bucket/prefix/` or `https://host/prefix/`.

No local copy: each shard is streamed from the source into its COPY. The manifest is fetched and
validated exactly as `get-data` does (untrusted input), every header is read up front with a short
request so a bad file is refused before the database is touched, and each shard is verified as it
passes: its byte count and xxh3-128 checksum must match manifest.json when the stream ends, before
the COPY's transaction commits (a mismatch fails the COPY, so no unverified row is ever kept). A
connection that breaks mid-shard is resumed with a ranged request from the byte where it stopped;
the COPY never notices.

A source with only manifest.txt (the original tool's datasets) is loadable too: sizes come from the
server, and there is no checksum to verify.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from zbugs_synth.checksum import new_hasher
from zbugs_synth.db.load.csv_check import HeaderError, check_header, parse_header
from zbugs_synth.errors import UserError
from zbugs_synth.manifest import MANIFEST_NAME
from zbugs_synth.remote.get import RETRY_DELAYS, fetch_manifest
from zbugs_synth.remote.parallel import run_parallel
from zbugs_synth.remote.sources import Interrupted, RangeNotSatisfiable, Source, SourceError, open_source
from zbugs_synth.tables import TABLES, parse_shard_name

REMOTE_SCHEMES = ("s3", "http", "https")
HEADER_BYTES = 64 * 1024


def is_remote(location: object) -> bool:
    return isinstance(location, str) and urlsplit(location).scheme.lower() in REMOTE_SCHEMES


class RemoteMismatch(Exception):
    """A streamed shard that does not match its manifest entry (size or checksum)."""


class RemoteReadError(UserError):
    """A shard that could not be read from the source, even after retries (the load stays resumable)."""


@dataclass(frozen=True, eq=False)
class RemoteFile:
    source: Source
    name: str
    checksum: str | None  # None: a manifest.txt source, nothing to verify against

    @property
    def display(self) -> str:
        return f"{self.source.display}{self.name}"


@dataclass
class RemoteListing:
    source: Source
    display: str
    manifest: Any  # parsed Manifest or None
    manifest_json: dict[str, Any] | None
    files: list[tuple[str, int, int | None, str | None, tuple[str, ...]]]  # name, bytes, rows, checksum, columns


def open_remote(url: str, *, endpoint_url: str | None, jobs: int = 8) -> Source:
    try:
        return open_source(url, endpoint_url=endpoint_url, jobs=jobs)
    except UserError as e:
        raise UserError(f"ZERO_SEED_DATA_DIR: {e}") from None


def inspect_remote(url: str, *, endpoint_url: str | None, jobs: int = 8) -> RemoteListing:
    """The dataset at `url`: manifest checked, every file's header read and checked (in parallel)."""
    import json

    source = open_remote(url, endpoint_url=endpoint_url, jobs=jobs)
    remote = fetch_manifest(source)
    manifest = remote.manifest
    manifest_json = json.loads(remote.raw) if manifest is not None else None
    rows = {f.name: f.rows for f in manifest.files} if manifest is not None else {}
    order = {t: i for i, t in enumerate(TABLES)}
    wanted = sorted(remote.files, key=lambda w: (order[parse_shard_name(w.name).table],  # type: ignore[union-attr]
                                                 parse_shard_name(w.name).shard))  # type: ignore[union-attr]

    def describe(w: Any, stop: Any) -> tuple[str, int, int | None, str | None, tuple[str, ...]]:
        table = parse_shard_name(w.name).table  # type: ignore[union-attr]
        where = f"{source.display}{w.name}"
        try:
            # Asked of the server even when the manifest says: a shard replaced or cut short since it was
            # published is refused here, before a force load empties anything (as a local one is).
            actual = source.size(w.name)
            if w.size is not None and actual is not None and actual != w.size:
                raise UserError(f"{where} has {actual:,} bytes but {MANIFEST_NAME} says {w.size:,} (changed "
                                "since it was published?): nothing was loaded")
            size = w.size if w.size is not None else actual
            head = _read_head(source, w.name)
            columns = check_header(where, table, parse_header(head, where))
        except HeaderError as e:
            raise UserError(str(e)) from None
        except SourceError as e:
            raise UserError(f"cannot read {where}: {e}") from None
        if size is None:
            raise UserError(f"{where}: the server does not say how large it is")
        return w.name, size, rows.get(w.name), w.checksum, columns

    files = run_parallel(wanted, describe, jobs)
    return RemoteListing(source, source.display, manifest, manifest_json, files)


def _read_head(source: Source, name: str) -> bytes:
    stream = source.open(name, 0)
    data = bytearray()
    try:
        for chunk in stream.chunks:
            data += chunk
            if b"\n" in data or len(data) > HEADER_BYTES:
                break
    finally:
        stream.close()
    return bytes(data[: HEADER_BYTES + 1])


def stream(f: RemoteFile, size: int) -> Iterator[bytes]:
    """The bytes of `f`, resumed with ranged requests when the connection breaks, verified at the end.

    Raises RemoteMismatch (size or checksum differs from the manifest) after the last byte and
    RemoteReadError when the source fails for good.
    """
    hasher = new_hasher()
    offset = 0
    attempt = 0
    while offset < size or attempt == 0:
        try:
            s = f.source.open(f.name, offset)
        except RangeNotSatisfiable:
            break  # the file ends before `offset`: shorter than the manifest says
        except SourceError as e:
            if isinstance(e, Interrupted) and attempt < len(RETRY_DELAYS):
                time.sleep(RETRY_DELAYS[attempt])
                attempt += 1
                continue
            raise RemoteReadError(f"cannot read {f.display}: {e}; run the same command again to resume "
                                  "the load") from None
        attempt = max(attempt, 1)
        if s.total is not None and s.total != size:
            s.close()
            raise RemoteMismatch(f"{f.display}: {s.total:,} bytes, {MANIFEST_NAME} says {size:,} "
                                 "(the file changed after it was published)")
        try:
            skip = offset - s.start  # a server that ignored our Range starts at 0 again
            for chunk in s.chunks:
                if skip:
                    cut = min(skip, len(chunk))
                    chunk, skip = chunk[cut:], skip - cut
                    if not chunk:
                        continue
                if offset + len(chunk) > size:
                    raise RemoteMismatch(f"{f.display}: longer than the {size:,} bytes {MANIFEST_NAME} says "
                                         "(the file changed after it was published)")
                hasher.update(chunk)
                offset += len(chunk)
                yield chunk
        except Interrupted as e:
            if attempt > len(RETRY_DELAYS):
                raise RemoteReadError(f"cannot read {f.display}: {e}; run the same command again to resume "
                                      "the load") from None
        finally:
            s.close()
        if offset < size:
            # The body ended early (a dropped connection can look like a normal end): resume from here.
            if attempt > len(RETRY_DELAYS):
                raise RemoteReadError(f"cannot read {f.display}: the transfer kept breaking off; run the same "
                                      "command again to resume the load")
            time.sleep(RETRY_DELAYS[attempt - 1])
            attempt += 1
    if offset != size:
        raise RemoteMismatch(f"{f.display}: {offset:,} bytes, {MANIFEST_NAME} says {size:,} "
                             "(the file changed after it was published)")
    if f.checksum is not None and hasher.hexdigest() != f.checksum:
        raise RemoteMismatch(f"{f.display} does not match {MANIFEST_NAME} (xxh3_128 checksum differs: the "
                             "file changed after it was published)")

