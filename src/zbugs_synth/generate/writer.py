"""Sharded CSV output: rows in, `{table}_{shard}.csv` files out, each with header and checksum.

A whole run writes shards under a hidden temporary name and gives them their final name only when
the run succeeds (the zero-padding width depends on how many shards a table ends up with, which for
comments is known only at the end). A part of a partitioned run (`name_of` given) knows every
final name up front (see `generate.parts`) and hands each shard to its sink, which makes it visible
under that name when it is complete. A crash therefore never leaves a complete-looking file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

from zbugs_synth.generate.sink import Sink, SinkFile
from zbugs_synth.generate.sinks import Lease
from zbugs_synth.manifest import FileEntry, fsync_dir
from zbugs_synth.tables import HEADERS, shard_digits, shard_file_name


@dataclass
class Shard:
    temp: Path | None  # None: already committed under `name` by a sink
    shard: int
    rows: int
    bytes: int
    checksum: str
    name: str = ""


class ShardedWriter:
    def __init__(self, directory: Path | None, table: str, shard_size: int, *, sink: Sink | None = None,
                 name_of: Callable[[int], str] | None = None) -> None:
        """Either `directory` (a whole run) or `sink` and `name_of` (shard index -> final name)."""
        self.directory, self.table, self.shard_size = directory, table, shard_size
        self.sink, self.name_of = sink, name_of
        self._sink_file: SinkFile | None = None
        self._temp: Path | None = None
        self.header = (",".join(HEADERS[table]) + "\n").encode()
        self.shards: list[Shard] = []
        self._file = None
        self._hash = xxhash.xxh3_128()
        self._rows = 0
        self._bytes = 0
        self.total_rows = 0
        self.total_bytes = 0

    # -- shard lifecycle -----------------------------------------------------------------------------
    def _open(self) -> None:
        n = len(self.shards)
        if self.sink is not None and self.name_of is not None:
            self._sink_file = self.sink.open(self.name_of(n))
            self._file = self._sink_file
        else:
            if self.directory is None:
                raise RuntimeError(f"{self.table}: a writer needs a directory or a storage to write to")
            temp = self.directory / f".{self.table}_{n}.csv.partial"
            self._file = open(temp, "wb", buffering=0)  # noqa: SIM115 - closed in _close
            self._temp = temp
        self._hash = xxhash.xxh3_128()
        self._rows = 0
        self._bytes = 0
        self._put(memoryview(self.header))

    def _put(self, data: memoryview) -> None:
        if self._file is None:
            raise RuntimeError(f"{self.table}: write to a shard that is not open")
        self._file.write(data)
        self._hash.update(data)
        self._bytes += len(data)
        self.total_bytes += len(data)

    def _close(self, sent: Callable[[int], None] | None = None) -> None:
        if self._file is None:
            return
        n = len(self.shards)
        if self._sink_file is not None and self.name_of is not None:
            self._sink_file.commit(sent)
            self._sink_file = None
            self.shards.append(Shard(None, n, self._rows, self._bytes, self._hash.hexdigest(), self.name_of(n)))
        else:
            # On disk before manifest.json vouches for it: a power cut must not leave a listed shard empty.
            os.fsync(self._file.fileno())
            self._file.close()
            self.shards.append(Shard(self._temp, n, self._rows, self._bytes, self._hash.hexdigest()))
        self._file = None

    # -- writing -------------------------------------------------------------------------------------
    def write_rows(self, buf: np.ndarray, ends: np.ndarray, n_rows: int, lease: Lease | None = None) -> None:
        """Append rows whose (exclusive) byte ends within `buf` are `ends[:n_rows]` (written before this
        returns: `lease` is not needed)."""
        view = memoryview(buf)
        done = 0
        start = 0
        while done < n_rows:
            if self._file is None:
                self._open()
            take = min(self.shard_size - self._rows, n_rows - done)
            end = int(ends[done + take - 1])
            self._put(view[start:end])
            self._rows += take
            self.total_rows += take
            done += take
            start = end
            if self._rows == self.shard_size:
                self._close()

    def write_text(self, text: str, n_rows: int) -> None:
        """Append `n_rows` rows given as text (small tables); splits shards on line boundaries."""
        data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        if n_rows == 0:
            return
        # Only small tables come through here; locate row ends. Quoted fields of these tables
        # never contain newlines (names and labels are single-line), so every \n ends a row.
        ends = np.flatnonzero(data == 10) + 1
        if len(ends) != n_rows:  # a multi-line field would shift every later row: never write it
            raise ValueError(f"{self.table}: {n_rows:,} rows expected, the text holds {len(ends):,} lines")
        self.write_rows(data, ends, n_rows)

    def unsent(self) -> int:
        """Bytes of the open shard its sink has yet to store (an S3 upload's last parts), counting the
        header-only file a table with no rows gets."""
        self._open_if_empty()
        return self._sink_file.unsent() if self._sink_file is not None else 0

    def _open_if_empty(self) -> None:
        if self._file is None and not self.shards:
            self._open()  # a table with no rows still gets one header-only file

    def finish(self, sent: Callable[[int], None] | None = None) -> list[Shard]:
        self._open_if_empty()
        self._close(sent)
        return self.shards

    def abort(self) -> None:
        if self._sink_file is not None:
            self._sink_file.abort()  # committed shards stay: the part's rerun overwrites them
            self._sink_file = None
            self._file = None
        if self._file is not None:
            self._file.close()
            self._file = None
        for s in self.shards:
            if s.temp is not None:
                s.temp.unlink(missing_ok=True)
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)

    def publish(self) -> list[FileEntry]:
        """Rename finished shards to their final names; return their manifest entries."""
        if self.name_of is not None:
            return [FileEntry(s.name, self.table, int(s.name[len(self.table) + 1:-4]), s.rows, s.bytes, s.checksum)
                    for s in self.shards]
        if self.directory is None:
            raise RuntimeError(f"{self.table}: nothing to publish without a directory")
        digits = shard_digits(len(self.shards))
        entries = []
        for s in self.shards:
            if s.temp is None:
                raise RuntimeError(f"{self.table}: shard {s.shard} has no file to rename")
            name = shard_file_name(self.table, s.shard, digits)
            os.replace(s.temp, self.directory / name)
            entries.append(FileEntry(name, self.table, s.shard, s.rows, s.bytes, s.checksum))
        fsync_dir(self.directory)  # the final names too, before the manifest naming them is written
        return entries
