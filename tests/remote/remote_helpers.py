"""Helpers for the remote tests: small datasets written like the generator's, and an HTTP handler
that speaks Range requests (http.server's SimpleHTTPRequestHandler does not) and can misbehave on cue.
"""

from __future__ import annotations

import base64
import random
import threading
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import xxhash

from zbugs_synth.manifest import FileEntry, Manifest, write_manifest
from zbugs_synth.tables import HEADERS, parse_shard_name

ACCESS_KEY = "AKIATESTLOOPBACK0001"
SECRET_KEY = "loopback-test-secret-never-print"


@dataclass
class S3Env:
    endpoint: str
    client: Any
    bucket: str

    def url(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"

    def keys(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.bucket)
        return sorted(o["Key"] for o in listing.get("Contents", []))



# ---- datasets ------------------------------------------------------------------------------------

def csv_bytes(name: str, size: int, seed: int) -> bytes:
    """A CSV-looking file of exactly `size` bytes (header, then pseudo-random rows)."""
    table = parse_shard_name(name)
    assert table is not None
    rng = random.Random(f"{name}:{seed}")
    head = (",".join(HEADERS[table.table]) + "\n").encode()
    # Rows of 31 random hex digits: every file (and every offset in it) differs from the others.
    digits = rng.randbytes(size // 2 + 16).hex().encode()
    rows = b"\n".join(digits[i:i + 31] for i in range(0, len(digits), 31))
    return (head + rows)[:size]


DEFAULT_SIZES = {
    "user_000.csv": 20_000,
    "project_000.csv": 3_000,
    "label_000.csv": 0,  # an empty shard is legal and must survive the round trip
    "issue_000.csv": 1_500_000,  # more than one 1 MiB read chunk: room for interrupted/resumed transfers
    "issue_001.csv": 300_000,
    "comment_000.csv": 400_000,
    "issueLabel_000.csv": 50_000,
}


@dataclass
class Dataset:
    directory: Path
    files: dict[str, bytes]
    manifest: Manifest | None
    entries: list[FileEntry] = field(default_factory=list)


def make_dataset(
    directory: Path,
    files: dict[str, bytes] | None = None,
    *,
    manifest: bool = True,
    manifest_txt_only: bool = False,
    seed: int = 1,
) -> Dataset:
    """Write shards plus manifest.json/manifest.txt the way the generator does (via zbugs_synth.manifest)."""
    directory.mkdir(parents=True, exist_ok=True)
    if files is None:
        files = {n: csv_bytes(n, s, seed) for n, s in DEFAULT_SIZES.items()}
    entries = []
    for name, data in files.items():
        (directory / name).write_bytes(data)
        parsed = parse_shard_name(name)
        assert parsed is not None
        rows = max(data.count(b"\n") - 1, 0)
        digest = xxhash.xxh3_128(data).hexdigest()
        entries.append(FileEntry(name, parsed.table, parsed.shard, rows, len(data), digest))
    m = None
    if manifest or manifest_txt_only:
        m = Manifest(dataset_id=f"test-{seed}", config={"seed": seed, "numIssues": 1234}, files=entries,
                     tool_version="0.1.0")
        write_manifest(directory, m)
        if manifest_txt_only:
            (directory / "manifest.json").unlink()
            m = None
    return Dataset(directory, files, m, entries)


def tree(root: Path) -> set[str]:
    """Every path under `root` (relative), to prove nothing was written where it must not be."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# ---- HTTP(S) server with Range support -----------------------------------------------------------

@dataclass
class Logged:
    method: str
    path: str
    range: str | None
    status: int
    body_bytes: int
    authorization: str | None = None


@dataclass
class HttpState:
    root: Path
    requests: list[Logged] = field(default_factory=list)
    redirects: dict[str, str] = field(default_factory=dict)  # request path -> Location
    cut_once: dict[str, int] = field(default_factory=dict)  # file name -> bytes sent before dropping
    cut_after: dict[str, int] = field(default_factory=dict)  # file name -> GETs served whole before the cut
    ignore_range: bool = False
    no_head: bool = False
    head_answer: tuple[int, str] | None = None  # (status, reason phrase) for every HEAD
    status_for: dict[str, int] = field(default_factory=dict)  # request path -> forced error status
    fake_length: dict[str, int] = field(default_factory=dict)  # file name -> Content-Length for HEAD
    validators: bool = True  # send ETag and Last-Modified, as real servers do
    basic_auth: str | None = None  # expected "user:pass"
    query: str | None = None  # expected query string (a token)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def log(self, entry: Logged) -> None:
        with self.lock:
            self.requests.append(entry)

    def gets(self, name: str) -> list[Logged]:
        return [r for r in self.requests if r.method == "GET" and r.path.endswith("/" + name)]


def handler_for(state: HttpState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, headers: dict[str, str], body: bytes = b"", send: bool = True) -> None:
            # Logged before answering: the client sends its next request only after this answer, so
            # the log's order is the order of the requests (logging afterwards raced the next one).
            state.log(Logged(self.command, urlsplit(self.path).path, self.headers.get("Range"), status,
                             len(body) if send else 0, self.headers.get("Authorization")))
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send and body:
                self.wfile.write(body)

        def do_HEAD(self) -> None:
            if state.head_answer is not None:
                status, reason = state.head_answer
                state.log(Logged("HEAD", urlsplit(self.path).path, None, status, 0))
                self.send_response(status, reason)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if state.no_head:
                self._reply(405, {}, b"")
                return
            self._serve(head=True)

        def do_GET(self) -> None:
            self._serve(head=False)

        def _serve(self, head: bool) -> None:
            parts = urlsplit(self.path)
            if parts.path in state.status_for:
                self._reply(state.status_for[parts.path], {}, b"denied")
                return
            if parts.path in state.redirects:
                self._reply(302, {"Location": state.redirects[parts.path]})
                return
            if state.basic_auth is not None:
                want = "Basic " + base64.b64encode(state.basic_auth.encode()).decode()
                if self.headers.get("Authorization") != want:
                    self._reply(401, {"WWW-Authenticate": 'Basic realm="t"'})
                    return
            if state.query is not None and parts.query != state.query:
                self._reply(403, {})
                return
            rel = unquote(parts.path).lstrip("/")
            path = (state.root / rel).resolve()
            if state.root.resolve() not in path.parents or not path.is_file():
                self._reply(404, {}, b"not found")
                return
            data = path.read_bytes()
            size = len(data)
            rng = self.headers.get("Range")
            start, end = 0, size - 1
            status = 200
            if rng and not state.ignore_range:
                spec = rng.removeprefix("bytes=")
                a, _, b = spec.partition("-")
                start = int(a)
                end = min(int(b), size - 1) if b else size - 1
                if start >= size:
                    self._reply(416, {"Content-Range": f"bytes */{size}"})
                    return
                status = 206
            body = data[start:end + 1]
            headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
            if state.validators:
                headers["ETag"] = f'"{xxhash.xxh3_64(data).hexdigest()}"'
                headers["Last-Modified"] = formatdate(path.stat().st_mtime, usegmt=True)
            if status == 206:
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            name = path.name
            headers["Content-Length"] = str(state.fake_length.get(name, len(body)) if head else len(body))
            if not head and name in state.cut_once and state.cut_after.get(name, 0) > 0:
                state.cut_after[name] -= 1
            elif not head and name in state.cut_once:
                cut = state.cut_once.pop(name)
                state.log(Logged("GET", parts.path, rng, status, cut))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self._reply(status, headers, body, send=not head)

    return Handler


@dataclass
class Served:
    base: str  # scheme://127.0.0.1:port
    state: HttpState

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"
