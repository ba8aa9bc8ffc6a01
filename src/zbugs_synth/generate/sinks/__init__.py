"""Where generated rows go: the generator is a source of bytes, a sink takes them (tpchgen-cli's split).

The generator produces each table's rows in order as CSV bytes (the kernel writes bytes, not Python
objects) and hands them to one `TableSink` per table:

- sharded CSV files with a manifest (`zbugs_synth.generate.writer.ShardedWriter`, generate-synthetic),
  in a local directory or on S3 (the file storage of `zbugs_synth.generate.sink`);
- a COPY stream into PostgreSQL (`zbugs_synth.db.load.stream`, db-seed-synthetic --generate);
- `NullSink`: rows already in their destination (a resumed direct load), counted and dropped;

A sink never changes the bytes: the same configuration gives the same rows in every sink.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np


class Lease:
    """A chunk's buffers, lent to the sinks that write them out later (a COPY stream's sending
    thread): they go back to the generator when the last holder lets go. The generator holds one
    count itself and releases it once every sink has the chunk. Holding a lease is also the
    backpressure: the generator has a fixed set of buffers, so a slow sink slows generation down
    instead of making it buffer more."""

    def __init__(self, on_free: Callable[[], None]) -> None:
        self._count = 1
        self._lock = threading.Lock()
        self._on_free = on_free

    def hold(self) -> None:
        with self._lock:
            if self._count <= 0:
                raise RuntimeError("a lease held after its buffers were given back")
            self._count += 1

    def release(self) -> None:
        with self._lock:
            self._count -= 1
            free = self._count == 0
        if free:
            self._on_free()


class TableSink(Protocol):
    """One table's destination. Calls come from one thread, rows in order."""

    def write_rows(self, buf: np.ndarray, ends: np.ndarray, n_rows: int, lease: Lease | None = None) -> None:
        """Append `n_rows` rows: `buf[:ends[n_rows - 1]]`, row i ending (exclusive) at `ends[i]`.
        `buf` is reused by the caller after this returns unless the sink holds `lease` (given when
        the caller can wait): a sink must consume or copy it now, or hold the lease until it has."""

    def write_text(self, text: str, n_rows: int) -> None:
        """Append `n_rows` rows given as CSV text (the small tables)."""

    def finish(self) -> object:
        """The table is complete (called once, possibly before other tables are done)."""

    def abort(self) -> None:
        """Generation failed: undo whatever this sink made visible (called instead of, or after, finish)."""


class NullSink:
    """Counts rows and bytes, keeps nothing."""

    def __init__(self) -> None:
        self.rows = 0
        self.bytes = 0

    def write_rows(self, buf: np.ndarray, ends: np.ndarray, n_rows: int, lease: Lease | None = None) -> None:
        if n_rows:
            self.rows += n_rows
            self.bytes += int(ends[n_rows - 1])

    def write_text(self, text: str, n_rows: int) -> None:
        self.rows += n_rows
        self.bytes += len(text.encode("utf-8"))

    def finish(self) -> None:
        return None

    def abort(self) -> None:
        return None
