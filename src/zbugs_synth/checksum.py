"""xxh3-128 checksums of files, the algorithm manifest.json records (see zbugs_synth.manifest)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import xxhash

from zbugs_synth.errors import Cancelled

BLOCK = 4 << 20


def new_hasher() -> xxhash.xxh3_128:
    return xxhash.xxh3_128()


def hash_into(
    hasher: xxhash.xxh3_128,
    path: Path,
    on_bytes: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Feed the whole file into `hasher`; returns the number of bytes read."""
    total = 0
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            if stop is not None and stop.is_set():
                raise Cancelled()
            hasher.update(block)
            total += len(block)
            if on_bytes:
                on_bytes(len(block))
    return total


def file_checksum(
    path: Path, on_bytes: Callable[[int], None] | None = None, stop: threading.Event | None = None
) -> str:
    hasher = new_hasher()
    hash_into(hasher, path, on_bytes, stop)
    return hasher.hexdigest()
