"""The generator's CSV rows as PostgreSQL's binary COPY format, for the COPY stream sinks.

Measured (bench/bench_copy_format.py, 500K rows into a table truncated in the transaction, at
wal_level=minimal): the server spends 0.60x the CPU on binary rows of issue and comment that it
spends parsing the same rows as CSV; a direct load is bound by the server's CPU. The encoding is
C (`_pgbinary`, built with the kernel; see its header for why it starts from the CSV bytes) and
optional: without it the sinks send CSV, as before.

ZBUGS_SEED_COPY_FORMAT=auto|binary|csv chooses (auto: binary when the extension is built).
"""

from __future__ import annotations

from collections.abc import Iterator

from zbugs_synth.errors import UserError
from zbugs_synth.tables import HEADERS

try:
    from zbugs_synth.generate.sinks import _pgbinary
except ImportError:  # no C compiler at install time
    _pgbinary = None  # type: ignore[assignment]

# Per table, one letter per CSV column (tables.HEADERS order): t text/varchar, b boolean,
# f double precision, i integer. tests/generate/sinks/test_pgbinary.py compares them with the
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


class Encoder:
    """One table's rows into binary COPY tuples, a piece at a time in a buffer of its own that is
    reused: each piece is valid until the next is asked for (psycopg copies what it sends before
    `Copy.write` returns). A row bigger than the buffer grows it."""

    def __init__(self, table: str, *, numbered: bool = False, piece_bytes: int = PIECE_BYTES) -> None:
        if _pgbinary is None:
            raise RuntimeError("the _pgbinary extension is not built")
        self.table = table
        self.kinds = KINDS[table].encode()
        self.numbered = numbered  # a leading int4 column (issue.shortID), numbered from `first_number`
        self.buffer = bytearray(piece_bytes)

    def pieces(self, data: bytes | memoryview, n_rows: int, first_number: int = -1) -> Iterator[memoryview]:
        """The `n_rows` CSV rows of `data`, encoded (numbered from `first_number` if `numbered`)."""
        assert _pgbinary is not None
        view = memoryview(data)
        pos = rows = 0
        while pos < len(view):
            try:
                written, n, read = _pgbinary.encode(view[pos:], self.kinds, self.buffer,
                                                    first_number + rows if self.numbered else -1)
            except ValueError as e:
                # Our own rows: a mismatch here is a bug (or a template pack the CSV kernel mis-wrote).
                raise RuntimeError(f"generated {self.table}: cannot encode for binary COPY: "
                                   f"{_after(e, rows)}") from None
            if n == 0:  # one row bigger than the buffer
                self.buffer = bytearray(2 * len(self.buffer))
                continue
            pos += read
            rows += n
            yield memoryview(self.buffer)[:written]
        if rows != n_rows:
            raise RuntimeError(f"generated {self.table}: {rows:,} rows encoded where {n_rows:,} were given")

    def encode(self, data: bytes | memoryview, n_rows: int, first_number: int = -1) -> bytes:
        """All of it at once (tests, small tables)."""
        return b"".join(bytes(p) for p in self.pieces(data, n_rows, first_number))


def _after(e: ValueError, rows: int) -> str:
    """The C message's row number counts from the piece; make it count from the chunk."""
    text = str(e)
    head, sep, rest = text.partition(", ")
    if head.startswith("row ") and head[4:].isdigit():
        return f"row {int(head[4:]) + rows}{sep}{rest}"
    return text
