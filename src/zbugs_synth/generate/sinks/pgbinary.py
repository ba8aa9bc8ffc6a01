"""The generator's CSV rows as PostgreSQL's binary COPY format, for the COPY stream sinks.

Measured (bench/bench_copy_format.py, 500K rows into a table truncated in the transaction, at
wal_level=minimal): the server spends 0.60x the CPU on binary rows of issue and comment that it
spends parsing the same rows as CSV; a direct load is bound by the server's CPU. The encoding is
C (`_pgbinary`, built with the kernel; see its header for why it starts from the CSV bytes) and
optional: without it the sinks send CSV, as before.

ZBUGS_SEED_COPY_FORMAT=auto|binary|csv chooses (auto: binary when the extension is built).
"""

from __future__ import annotations

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


class Encoder:
    """One table's rows into binary COPY tuples, in a buffer of its own that is reused: the result
    is valid until the next call (psycopg copies what it sends before `Copy.write` returns)."""

    def __init__(self, table: str, *, numbered: bool = False) -> None:
        if _pgbinary is None:
            raise RuntimeError("the _pgbinary extension is not built")
        self.table = table
        self.kinds = KINDS[table].encode()
        self.numbered = numbered  # a leading int4 column (issue.shortID), numbered from `first_number`
        self.buffer = bytearray()

    def bound(self, n_bytes: int, n_rows: int) -> int:
        """Room enough for `n_rows` CSV rows of `n_bytes`: per row a 2-byte field count; per field
        a 4-byte length and at most 8 bytes more than its CSV text (a float8 from one digit); the
        row number's 8 bytes."""
        return n_bytes + n_rows * (2 + 12 * len(self.kinds) + (8 if self.numbered else 0))

    def encode(self, data: bytes | memoryview, n_rows: int, first_number: int = -1) -> memoryview:
        need = self.bound(len(data), n_rows)
        if len(self.buffer) < need:
            self.buffer = bytearray(need)
        assert _pgbinary is not None
        try:
            written, rows = _pgbinary.encode(data, self.kinds, self.buffer, first_number if self.numbered else -1)
        except ValueError as e:
            # Our own rows: a mismatch here is a bug (or a template pack the CSV kernel mis-wrote).
            raise RuntimeError(f"generated {self.table}: cannot encode for binary COPY: {e}") from None
        if rows != n_rows:
            raise RuntimeError(f"generated {self.table}: {rows:,} rows encoded where {n_rows:,} were given")
        return memoryview(self.buffer)[:written]
