"""Checks for untrusted remote input: file names, manifest.txt, sizes, and URLs we may print.

A manifest fetched from a bucket or web server decides which files we create, so every name in it
must be a plain dataset file name (`{table}_{shard}.csv`) that lands directly inside `--out`.
URLs are printed only through `redact_url`, because users put credentials in them (`user:pass@`,
presigned or SAS query strings).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from zbugs_synth.manifest import MAX_FILE_BYTES, ManifestError
from zbugs_synth.tables import parse_shard_name

# Far more shards than any sane dataset (1e9 issues at 500k rows/shard is ~8k files), small enough
# that a hostile manifest cannot make us plan millions of downloads.
MAX_FILES = 100_000
# manifest.json for MAX_FILES entries is ~20 MB; anything much bigger is not a manifest.
MAX_MANIFEST_BYTES = 64 << 20
# Manifest-like companions (manifest.json, manifest.txt, manifest.sha256, ...) may be listed in a
# manifest.txt; they are not data, so we skip them rather than download them.
_MANIFEST_LIKE = re.compile(r"^manifest\.[A-Za-z0-9]{1,16}$")


def _problem_with_name(name: str) -> str | None:
    """Why `name` is not a safe plain file name, or None if it is one."""
    if not name:
        return "empty file name"
    if any(ord(c) < 32 or ord(c) == 0x7F for c in name):
        return f"{name!r} contains control characters"
    if "/" in name or "\\" in name or os.path.isabs(name) or (len(name) > 1 and name[1] == ":"):
        return f"{name!r} is not a plain file name (path separators or absolute path)"
    if ".." in name or name in (".", ".."):
        return f"{name!r} is not a plain file name ('..')"
    return None


def check_data_name(name: str, where: str) -> str:
    """Accept `name` only if it is a plain `{table}_{shard}.csv` file name."""
    problem = _problem_with_name(name)
    if problem is None and parse_shard_name(name) is None:
        problem = f"{name!r} does not look like a dataset file ({{table}}_{{shard}}.csv)"
    if problem:
        raise ManifestError(f"{where}: {problem}")
    return name


def is_manifest_like(name: str) -> bool:
    return _problem_with_name(name) is None and bool(_MANIFEST_LIKE.match(name))


def parse_manifest_txt(data: bytes) -> list[str]:
    """The data file names listed in a manifest.txt (one per line), validated.

    Blank lines and manifest companions (manifest.json, ...) are skipped; anything else that is
    not a plain dataset file name, or a name listed twice, rejects the whole manifest.
    """
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"manifest.txt is larger than {MAX_MANIFEST_BYTES:,} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ManifestError("manifest.txt is not UTF-8 text") from None
    names: list[str] = []
    seen: set[str] = set()
    # split("\n") rather than splitlines(): splitlines would silently cut a name at \x0b, \x1c, ...
    # which must be rejected as control characters instead.
    for lineno, line in enumerate(text.split("\n"), start=1):
        name = line.removesuffix("\r").strip(" \t")
        if not name:
            continue
        where = f"manifest.txt line {lineno}"
        if is_manifest_like(name):
            continue
        check_data_name(name, where)
        if name in seen:
            raise ManifestError(f"{where}: {name!r} is listed twice")
        seen.add(name)
        names.append(name)
        if len(names) > MAX_FILES:
            raise ManifestError(f"manifest.txt lists more than {MAX_FILES:,} files")
    return names


def check_size(size: int | None, name: str) -> int:
    """A size reported by the server for a file listed only in manifest.txt."""
    if size is None:
        raise ManifestError(f"the server did not report the size of {name!r}")
    if size < 0 or size > MAX_FILE_BYTES:
        raise ManifestError(f"{name!r} is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}")
    return size


def target_path(out: Path, name: str) -> Path:
    """`out/name`, refusing anything that would not be a direct child of `out`."""
    if _problem_with_name(name) is not None:
        raise ManifestError(f"refusing to write {name!r}: not a plain file name")
    base = out.resolve()
    path = base / name
    if path.parent != base:
        raise ManifestError(f"refusing to write {name!r} outside {out}")
    return path


def partial_path(out: Path, name: str) -> Path:
    """Where a download of `name` accumulates until verified (hidden, so no loader picks it up)."""
    return target_path(out, f".{name}.part")


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")


def scrub_urls(text: str) -> str:
    """`text` with every URL in it redacted (for library error messages we pass on)."""
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)


def redact_url(url: str) -> str:
    """`url` safe to print: user info and query string (tokens, signatures) are masked."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unprintable URL>"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = ("***@" if "@" in parts.netloc else "") + host + (f":{port}" if port is not None else "")
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))

