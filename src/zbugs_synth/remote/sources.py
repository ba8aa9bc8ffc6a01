"""Where `get-data` reads a published dataset from: an S3 prefix or an HTTP(S) directory.

Both speak the same small interface: fetch a small file (the manifest), ask a file's size, and
stream a file from a byte offset (ranged requests, so interrupted downloads resume). Errors come
out as three kinds the downloader can act on: `NotFound`, `Interrupted` (worth retrying from where
we stopped) and `SourceError` (anything else; not worth retrying). Messages never carry
credentials: every URL in them goes through `redact_url`.
"""

from __future__ import annotations

import base64
import http.client
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

from zbugs_synth.errors import UserError
from zbugs_synth.remote import s3
from zbugs_synth.remote.safety import redact_url, scrub_urls

CHUNK = 1 << 20  # read size: large enough to keep per-chunk overhead invisible
HTTP_TIMEOUT = 60.0
# Answers meaning "this server does not do HEAD" (decided by status code, never by message text).
HEAD_UNSUPPORTED = (405, 501)


class SourceError(Exception):
    """A remote failure, message already safe to print; `status`: the HTTP status, when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotFound(SourceError):
    pass


class Forbidden(SourceError):
    """Access denied. S3 answers this for a *missing* key when the reader may not list the bucket."""


class Interrupted(SourceError):
    """A transfer broke off (connection reset, timeout, 5xx): retrying may succeed."""


class RangeNotSatisfiable(SourceError):
    """The offset we asked for is at or past the end of the remote file."""


@dataclass
class Stream:
    start: int  # offset the server actually honoured (0 when it ignored our Range)
    total: int | None  # full size of the remote file, when the server told us
    chunks: Iterator[bytes]
    close: Callable[[], None]
    version: str | None = None  # the object's ETag (else Last-Modified): which version of the file this is


class Source(Protocol):
    display: str  # redacted location, for messages

    def read_small(self, name: str, limit: int) -> bytes: ...
    def size(self, name: str) -> int | None: ...
    def open(self, name: str, offset: int) -> Stream: ...


def open_source(url: str, *, endpoint_url: str | None, jobs: int) -> Source:
    scheme = urlsplit(url).scheme.lower()
    if scheme == "s3":
        location = s3.parse_s3_url(url)
        # botocore's own retries off: get-data retries a broken transfer itself, resuming from where it
        # stopped; both layers together multiplied the attempts (4 x 4) and the waits.
        return S3Source(location, s3.make_client(endpoint_url, jobs=jobs, require_credentials=False, retries=False))
    if scheme in ("http", "https"):
        return HttpSource(url)
    raise UserError(f"--from {redact_url(url)!r}: expected s3://bucket/prefix/ or https://host/prefix/")


# ---- S3 ------------------------------------------------------------------------------------------

class S3Source:
    # botocore is imported inside the methods: every CLI command imports this module, few use S3.

    def __init__(self, location: s3.S3Location, client: Any) -> None:
        self.location = location
        self.client = client
        self.display = str(location)
        from botocore import UNSIGNED

        self.unsigned = client.meta.config.signature_version is UNSIGNED

    def _fail(self, e: Exception, name: str) -> SourceError:
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

        what = f"{self.display}{name}: {s3.describe_error(e)}"
        code, status = s3.error_code(e), s3.http_status(e)
        if status == 403 and self.unsigned:
            what += " (no AWS credentials were found, so the request was sent unsigned)"
        if code == "NoSuchBucket":  # a 404 too, but not "no such file": said as it is, never as "no manifest"
            return SourceError(what)
        if code in ("NoSuchKey", "404", "NotFound") or status == 404:
            return NotFound(what)
        if code == "InvalidRange" or status == 416:
            return RangeNotSatisfiable(what)
        if code == "AccessDenied" or status == 403:
            return Forbidden(what)
        transient = isinstance(e, ClientError) and status >= 500
        if transient or isinstance(e, (ConnectionError, HTTPClientError)):
            return Interrupted(what)
        return SourceError(what)

    def read_small(self, name: str, limit: int) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            obj = self.client.get_object(Bucket=self.location.bucket, Key=self.location.key(name))
            if int(obj.get("ContentLength", 0)) > limit:
                obj["Body"].close()
                raise SourceError(f"{self.display}{name} is larger than {limit:,} bytes")
            return obj["Body"].read()
        except (BotoCoreError, ClientError) as e:
            raise self._fail(e, name) from None

    def size(self, name: str) -> int | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head = self.client.head_object(Bucket=self.location.bucket, Key=self.location.key(name))
        except (BotoCoreError, ClientError) as e:
            raise self._fail(e, name) from None
        return int(head["ContentLength"])

    def open(self, name: str, offset: int) -> Stream:
        from botocore.exceptions import BotoCoreError, ClientError

        kwargs: dict[str, Any] = {"Bucket": self.location.bucket, "Key": self.location.key(name)}
        if offset:
            kwargs["Range"] = f"bytes={offset}-"
        try:
            obj = self.client.get_object(**kwargs)
        except (BotoCoreError, ClientError) as e:
            raise self._fail(e, name) from None
        start, total = 0, int(obj["ContentLength"])
        if content_range := obj.get("ContentRange"):
            start, total = _parse_content_range(content_range, f"{self.display}{name}")
        body = obj["Body"]
        version = obj.get("ETag") or (str(obj["LastModified"]) if obj.get("LastModified") else None)

        def chunks() -> Iterator[bytes]:
            import urllib3.exceptions

            try:
                yield from body.iter_chunks(CHUNK)
            except (BotoCoreError, OSError, urllib3.exceptions.HTTPError) as e:
                raise Interrupted(f"{self.display}{name}: {s3.describe_error(e)}") from None

        return Stream(start, total, chunks(), body.close, version)


# ---- HTTP(S) -------------------------------------------------------------------------------------

class RedirectRefused(SourceError):
    pass


class _SameSchemeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only within the original scheme: no https->http downgrade, no ftp/file.

    Also keeps the request method (3.11's handler turns HEAD into GET) and forwards credentials
    only to the same host and port.
    """

    def http_error_302(  # type: ignore[override]
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any
    ) -> Any:
        # Checked here, before urllib's own handling, which lets ftp:// through and reports a
        # refused file:// redirect with the full (possibly secret-bearing) URL.
        location = headers.get("location") or headers.get("uri")
        if location:
            self._check_scheme(req, fp, urljoin(req.full_url, location))
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302  # type: ignore[assignment]

    @staticmethod
    def _check_scheme(req: urllib.request.Request, fp: Any, newurl: str) -> None:
        old, new = urlsplit(req.full_url), urlsplit(newurl)
        if new.scheme.lower() != old.scheme.lower():
            fp.close()
            raise RedirectRefused(
                f"refusing redirect from {redact_url(req.full_url)} to {redact_url(newurl)}: "
                f"the scheme changes ({old.scheme} -> {new.scheme or 'none'})"
            )

    def redirect_request(  # type: ignore[override]
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        newurl = urljoin(req.full_url, newurl)
        old, new = urlsplit(req.full_url), urlsplit(newurl)
        self._check_scheme(req, fp, newurl)
        if code not in (301, 302, 303, 307, 308) or req.get_method() not in ("GET", "HEAD"):
            return None
        fresh = urllib.request.Request(
            newurl.replace(" ", "%20"),
            headers=dict(req.headers),
            method=req.get_method(),
            origin_req_host=req.origin_req_host,
            unverifiable=True,
        )
        if new.netloc.lower() == old.netloc.lower():
            for key, value in req.unredirected_hdrs.items():
                fresh.add_unredirected_header(key, value)
        return fresh


_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


def _parse_content_range(value: str, what: str) -> tuple[int, int | None]:
    m = _CONTENT_RANGE.match(value.strip())
    if not m:
        raise SourceError(f"{what}: unexpected Content-Range {value[:80]!r}")
    return int(m.group(1)), (None if m.group(3) == "*" else int(m.group(3)))


class HttpSource:
    def __init__(self, url: str, timeout: float = HTTP_TIMEOUT) -> None:
        parts = urlsplit(url)
        if not parts.hostname:
            raise UserError(f"--from {redact_url(url)!r}: no host name")
        self.display = redact_url(url)
        self.timeout = timeout
        self._auth: str | None = None
        if parts.username is not None:
            user_pass = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self._auth = "Basic " + base64.b64encode(user_pass.encode()).decode("ascii")
        netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        if parts.port is not None:
            netloc += f":{parts.port}"
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        self._base = urlunsplit((parts.scheme.lower(), netloc, path, "", ""))
        # A query string on the prefix (a SAS token, say) applies to every file under it.
        self._query = parts.query
        self._opener = urllib.request.build_opener(_SameSchemeRedirects())

    def _url(self, name: str) -> str:
        return self._base + quote(name) + (f"?{self._query}" if self._query else "")

    def _where(self, name: str) -> str:
        return redact_url(self._url(name))

    def _request(self, name: str, method: str, headers: dict[str, str]) -> Any:
        req = urllib.request.Request(self._url(name), method=method, headers=headers)
        req.add_header("Accept-Encoding", "identity")  # byte offsets must mean file offsets
        if self._auth:
            req.add_unredirected_header("Authorization", self._auth)
        where = self._where(name)
        try:
            return self._opener.open(req, timeout=self.timeout)
        except urllib.error.HTTPError as e:
            e.close()
            text = f"{where}: HTTP {e.code} {scrub_urls(str(e.reason))[:200]}"
            if e.code in (404, 410):
                raise NotFound(text, e.code) from None
            if e.code == 416:
                raise RangeNotSatisfiable(text, e.code) from None
            if e.code in (401, 403):
                raise Forbidden(text, e.code) from None
            if method == "HEAD" and e.code in HEAD_UNSUPPORTED:
                raise SourceError(text, e.code) from None  # size() falls back to a GET
            if e.code >= 500 or e.code in (408, 429):
                raise Interrupted(text, e.code) from None
            raise SourceError(text, e.code) from None
        except urllib.error.URLError as e:
            raise Interrupted(f"{where}: cannot connect ({_reason(e.reason)})") from None
        except (OSError, http.client.HTTPException) as e:
            raise Interrupted(f"{where}: {type(e).__name__}: {_reason(e)}") from None

    def read_small(self, name: str, limit: int) -> bytes:
        with self._request(name, "GET", {}) as resp:
            try:
                data = resp.read(limit + 1)
            except (OSError, http.client.HTTPException) as e:
                raise Interrupted(f"{self._where(name)}: {type(e).__name__}") from None
        if len(data) > limit:
            raise SourceError(f"{self._where(name)} is larger than {limit:,} bytes")
        return data

    def size(self, name: str) -> int | None:
        try:
            with self._request(name, "HEAD", {}) as resp:
                length = resp.headers.get("Content-Length")
                return int(length) if length and length.isdigit() else None
        except SourceError as e:
            if isinstance(e, Interrupted) or e.status not in HEAD_UNSUPPORTED:
                raise
        # No HEAD support: start a plain GET, read its Content-Length, and hang up.
        stream = self.open(name, 0)
        stream.close()
        return stream.total

    def open(self, name: str, offset: int) -> Stream:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        resp = self._request(name, "GET", headers)
        where = self._where(name)
        if resp.status == 206:
            try:
                start, total = _parse_content_range(resp.headers.get("Content-Range", ""), where)
            except SourceError:
                resp.close()
                raise
        else:
            length = resp.headers.get("Content-Length")
            start, total = 0, (int(length) if length and length.isdigit() else None)

        def chunks() -> Iterator[bytes]:
            try:
                while block := resp.read(CHUNK):
                    yield block
            except (OSError, http.client.HTTPException) as e:
                raise Interrupted(f"{where}: {type(e).__name__}") from None

        version = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
        return Stream(start, total, chunks(), resp.close, version)


def _reason(reason: object) -> str:
    # Socket errors carry no URL, but be safe: never echo anything that might hold one.
    return scrub_urls(str(reason))[:200]
