"""The generator's CSV rows as PostgreSQL's binary COPY format, for the COPY stream sinks.

Measured (bench/bench_copy_format.py, 500K rows into a table truncated in the transaction, at
wal_level=minimal): the server spends 0.60x the CPU on binary rows of issue and comment that it
spends parsing the same rows as CSV; a direct load is bound by the server's CPU. The encoding is
C (`_pgbinary`, built with the kernel; see its header for why it starts from the CSV bytes) and
optional: without it the sinks send CSV, as before.

ZBUGS_SEED_COPY_FORMAT=auto|binary|csv chooses (auto: binary when the extension is built).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from zbugs_synth.errors import UserError
from zbugs_synth.tables import HEADERS

try:
    from zbugs_synth.generate.sinks import _pgbinary
except ImportError:  # no C compiler at install time
    _pgbinary = None  # type: ignore[assignment]

# Per table, one letter per CSV column (tables.HEADERS order): t text/varchar, b boolean,
# f double precision, i integer. tests/generate/test_pgbinary.py compares them with the
# migrated catalog, so a schema change cannot slip past this table.
KINDS: dict[str, str] = {
    "user": "tttttit",
    "project": "ttt",
    "label": "ttt",
    "issue": "ttbffttttt",
    "comment": "ttftt",
    "issueLabel": "ttt",
    "emoji": "tttttf",
    "issueNotifications": "ttbf",
    "viewState": "ttf",
    "userPref": "ttt",
}
assert all(len(KINDS[t]) == len(HEADERS[t]) for t in HEADERS)

# "PGCOPY\n\377\r\n\0", then no flags (no OIDs) and no header extension.
SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
TRAILER = b"\xff\xff"  # a field count of -1


def available() -> bool:
    return _pgbinary is not None


def use_binary(choice: str) -> bool:
    """Whether a COPY stream sends binary under ZBUGS_SEED_COPY_FORMAT=`choice`."""
    if choice == "csv":
        return False
    if choice == "binary" and _pgbinary is None:
        raise UserError("ZBUGS_SEED_COPY_FORMAT=binary: the C extension zbugs_synth.generate.sinks._pgbinary is "
                        "not built (reinstall with a C compiler, or use auto or csv)")
    return _pgbinary is not None


PIECE_BYTES = 4 << 20  # the output buffer: rows are encoded and sent a few MB at a time


class EncodeError(ValueError):
    """Rows the encoder cannot read: the sinks report it as the server's data errors are reported
    (the same rows sent as CSV would have been refused by COPY, or the generator wrote them wrong)."""


class Encoder:
    """One table's rows into binary COPY tuples, a piece at a time in a buffer of its own that is
    reused: each piece is valid until the next is asked for (psycopg copies what it sends before
    `Copy.write` returns). A row bigger than the buffer grows it."""

    def __init__(self, table: str, columns: tuple[str, ...] | None = None, *, numbered: bool = False,
                 piece_bytes: int = PIECE_BYTES) -> None:
        if _pgbinary is None:
            raise RuntimeError("the _pgbinary extension is not built")
        if columns is not None and tuple(columns) != HEADERS[table]:
            # Binary values are read by position and type: another column list would load garbage.
            raise RuntimeError(f"binary COPY of {table}: columns {columns} are not the CSV's {HEADERS[table]}")
        self.table = table
        self.kinds = KINDS[table].encode()
        self.numbered = numbered  # a leading int4 column (issue.shortID), numbered from `first_number`
        self.piece_bytes = piece_bytes
        self.buffer = bytearray()  # allocated on first use, no bigger than the first rows need
        self.rows_before = 0  # rows encoded by earlier calls: error messages count rows from the table's start

    def pieces(self, data: bytes | memoryview, n_rows: int, first_number: int = -1) -> Iterator[memoryview]:
        """The `n_rows` CSV rows of `data`, encoded (numbered from `first_number` if `numbered`)."""
        assert _pgbinary is not None
        if self.numbered and not 0 <= first_number <= 2**31 - 1:
            raise ValueError(f"first_number {first_number}: a numbered encoder needs an int4 start")
        view = memoryview(data)
        if not self.buffer:
            # Room for all of a small table's rows at once (a float8 from one digit grows 8 bytes).
            need = len(view) + n_rows * (2 + 12 * len(self.kinds) + 8) + 64
            self.buffer = bytearray(min(self.piece_bytes, need))
        pos = rows = 0
        try:
            while pos < len(view):
                try:
                    written, n, read = _pgbinary.encode(view[pos:], self.kinds, self.buffer,
                                                        first_number + rows if self.numbered else -1)
                except ValueError as e:
                    raise EncodeError(f"generated {self.table}: cannot encode for binary COPY: "
                                      f"{_renumbered(e, self.rows_before + rows)}") from None
                if n == 0:  # one row bigger than the buffer
                    self.buffer = bytearray(2 * len(self.buffer))
                    continue
                pos += read
                rows += n
                yield memoryview(self.buffer)[:written]
        finally:
            self.rows_before += rows
        if rows != n_rows:
            raise EncodeError(f"generated {self.table}: {rows:,} rows encoded where {n_rows:,} were given")

    def send(self, write: Callable[[memoryview], object], data: bytes | memoryview, n_rows: int,
             first_number: int = -1) -> None:
        """`write` each piece of the encoded rows (a COPY's `write`: it copies them before returning)."""
        for piece in self.pieces(data, n_rows, first_number):
            write(piece)

    def encode(self, data: bytes | memoryview, n_rows: int, first_number: int = -1) -> bytes:
        """All of it at once (tests)."""
        return b"".join(bytes(p) for p in self.pieces(data, n_rows, first_number))


def _renumbered(e: ValueError, before: int) -> str:
    """The C message's row number counts from the piece; make it count from the table's first row."""
    text = str(e)
    head, sep, rest = text.partition(", ")
    if head.startswith("row ") and head[4:].isdigit():
        return f"row {int(head[4:]) + before:,}{sep}{rest}"
    return text
