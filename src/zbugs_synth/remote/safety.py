"""Checks for untrusted remote input: sizes, target paths, and URLs we may print.

A manifest fetched from a bucket or web server decides which files we create, so every name in it
must be a plain dataset file name (`{table}_{shard}.csv`, checked by zbugs_synth.manifest) that lands
directly inside `--out`.
URLs are printed only through `redact_url` (zbugs_synth.redact, re-exported here), because users put
credentials in them (`user:pass@`, presigned or SAS query strings).
"""

from __future__ import annotations

from pathlib import Path

from zbugs_synth.manifest import MAX_FILE_BYTES, ManifestError, name_problem
from zbugs_synth.redact import redact_url, scrub_urls

__all__ = ["check_size", "partial_path", "redact_url", "scrub_urls", "target_path"]


def check_size(size: int | None, name: str) -> int:
    """A size reported by the server for a file listed only in manifest.txt."""
    if size is None:
        raise ManifestError(f"the server did not report the size of {name!r}")
    if size < 0 or size > MAX_FILE_BYTES:
        raise ManifestError(f"{name!r} is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}")
    return size


def target_path(out: Path, name: str) -> Path:
    """`out/name`, refusing anything that would not be a direct child of `out`."""
    if name_problem(name) is not None:
        raise ManifestError(f"refusing to write {name!r}: not a plain file name")
    base = out.resolve()
    path = base / name
    if path.parent != base:
        raise ManifestError(f"refusing to write {name!r} outside {out}")
    return path


def partial_path(out: Path, name: str) -> Path:
    """Where a download of `name` accumulates until verified (hidden, so no loader picks it up)."""
    return target_path(out, f".{name}.part")
