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

from typing import Protocol

import numpy as np


class TableSink(Protocol):
    """One table's destination. Calls come from one thread, rows in order."""

    def write_rows(self, buf: np.ndarray, ends: np.ndarray, n_rows: int) -> None:
        """Append `n_rows` rows: `buf[:ends[n_rows - 1]]`, row i ending (exclusive) at `ends[i]`.
        `buf` is reused by the caller after this returns: a sink must consume or copy it now."""

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

    def write_rows(self, buf: np.ndarray, ends: np.ndarray, n_rows: int) -> None:
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
