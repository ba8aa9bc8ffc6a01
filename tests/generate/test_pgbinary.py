"""The binary COPY encoder: CSV rows re-encoded give exactly the rows PostgreSQL's own CSV reader gives.

Each case loads the same CSV bytes twice into a real server, once with `COPY ... (FORMAT csv)` and
once through `pgbinary.Encoder` with `COPY ... (FORMAT binary)`, and compares the rows (floats by
their bits, so -0 and values past 2^53 count).
"""

from __future__ import annotations

import struct
from typing import Any

import psycopg
import pytest

from zbugs_synth.generate.sinks import pgbinary
from zbugs_synth.tables import HEADERS

pytestmark = pytest.mark.skipif(not pgbinary.available(), reason="the _pgbinary extension is not built")

# One column of each kind, then a second text column last (a row's last field ends at '\n').
KINDS = "tbfit"
TABLE = "CREATE TEMP TABLE {name} (n serial, t varchar, b boolean, f double precision, i integer, u text)"
CASES = [
    b"plain,true,1700000000123,42,x\n",
    b'"quoted, with a comma",false,0,-7,"two\nlines"\n',
    b'"a ""doubled"" quote",t,-0,2147483647,""\n',           # "" quoted: an empty string, not NULL
    b",f,,,\n",                                                # empty unquoted: NULL in every kind
    b'ab"c,d"e,true,123456789012345678,-2147483648,"\xc3\xa9t\xc3\xa9 \xf0\x9f\x90\x9b"\n',  # a quote mid-field
    b'"",false,1.5,0,"ends with a quote """\n',
    b"x,true,9007199254740993,1,y\n",                          # above 2^53: rounds like strtod
    b"x,true,1e3,1,y\n",
    b"x,true,-12.75e-2,1,y\n",
]


def _rows(conn: psycopg.Connection[Any], name: str) -> list[tuple[Any, ...]]:
    rows = conn.execute(f"SELECT t, b, f, i, u FROM {name} ORDER BY n").fetchall()
    return [(t, b, None if f is None else struct.pack(">d", f), i, u) for t, b, f, i, u in rows]


def _load_both(url: str, data: bytes, n_rows: int) -> tuple[list[Any], list[Any]]:
    enc = pgbinary.Encoder("issue")
    enc.kinds = KINDS.encode()  # a table of our own, one column of each kind
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(TABLE.format(name="via_csv"))
        conn.execute(TABLE.format(name="via_binary"))
        with conn.cursor() as cur, cur.copy("COPY via_csv (t, b, f, i, u) FROM STDIN (FORMAT csv)") as cp:
            cp.write(data)
        with conn.cursor() as cur, cur.copy("COPY via_binary (t, b, f, i, u) FROM STDIN (FORMAT binary)") as cp:
            cp.write(pgbinary.SIGNATURE)
            cp.write(enc.encode(data, n_rows))
            cp.write(pgbinary.TRAILER)
        return _rows(conn, "via_csv"), _rows(conn, "via_binary")


def test_every_case_reads_as_the_servers_csv_reader_reads_it(fresh_db: str) -> None:
    via_csv, via_binary = _load_both(fresh_db, b"".join(CASES), len(CASES))
    assert len(via_csv) == len(CASES)
    assert via_binary == via_csv
    # The cases do what their comments say (so the comparison covers them).
    assert via_csv[2][0] == 'a "doubled" quote' and via_csv[2][4] == ""
    assert via_csv[3] == (None, False, None, None, None)
    assert via_csv[2][2] == struct.pack(">d", -0.0)
    assert via_csv[4][0] == "abc,de"


def test_a_chunk_of_generated_rows_reads_the_same(fresh_db: str) -> None:
    """Real kernel output, every table the direct load sends through the encoder."""
    from zbugs_synth.config import build
    from zbugs_synth.config.generate import GenerateConfig
    from zbugs_synth.generate.driver import write_tables
    from zbugs_synth.progress import NullProgress
    from zbugs_synth.templates import load_pack

    class Keep:
        def __init__(self) -> None:
            self.data, self.rows = bytearray(), 0

        def write_rows(self, buf: Any, ends: Any, n_rows: int, lease: Any = None) -> None:
            if n_rows:
                self.data += memoryview(buf)[: int(ends[n_rows - 1])]
                self.rows += n_rows

        def write_text(self, text: str, n_rows: int) -> None:
            self.data += text.encode()
            self.rows += n_rows

        def finish(self) -> None:
            return None

        def abort(self) -> None:
            return None

    cfg = build(GenerateConfig, None, {"NUM_ISSUES": "400", "NUM_PROJECTS": "6", "NUM_USERS": "20", "SEED": "8",
                                       "ALL_TABLES": "true", "WORKERS": "1"})
    sinks = {t: Keep() for t in HEADERS}
    write_tables(cfg, load_pack(None), sinks, NullProgress(), {})  # type: ignore[arg-type]
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        for table, sink in sinks.items():
            assert sink.rows > 0, table
            cols = ", ".join(f'"{c}"' for c in HEADERS[table])
            conn.execute(f'CREATE TEMP TABLE "a_{table}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING IDENTITY)')
            conn.execute(f'CREATE TEMP TABLE "b_{table}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING IDENTITY)')
            with conn.cursor() as cur, cur.copy(f'COPY "a_{table}" ({cols}) FROM STDIN (FORMAT csv)') as cp:
                cp.write(bytes(sink.data))
            with conn.cursor() as cur, cur.copy(f'COPY "b_{table}" ({cols}) FROM STDIN (FORMAT binary)') as cp:
                cp.write(pgbinary.SIGNATURE)
                # Small pieces: the kernel's rows cut at many piece boundaries.
                cp.write(pgbinary.Encoder(table, piece_bytes=4096).encode(bytes(sink.data), sink.rows))
                cp.write(pgbinary.TRAILER)
            # Rows as text: float8 text is exact (shortest round trip) and tells -0 from 0, which = does not.
            a, b = f'SELECT a::text FROM "a_{table}" a', f'SELECT b::text FROM "b_{table}" b'
            diff = conn.execute(f"SELECT count(*) FROM (({a} EXCEPT ALL {b}) UNION ALL ({b} EXCEPT ALL {a})) d"
                                ).fetchone()
            assert diff == (0,), table
            assert conn.execute(f'SELECT count(*) FROM "b_{table}"').fetchone() == (sink.rows,)


def test_numbered_rows_get_their_number_first(fresh_db: str) -> None:
    enc = pgbinary.Encoder("issueLabel", numbered=True)
    data = b"l1,i1,p1\nl2,i2,p2\nl3,i3,p3\n"
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE t (n integer, a text, b text, c text)")
        with conn.cursor() as cur, cur.copy("COPY t (n, a, b, c) FROM STDIN (FORMAT binary)") as cp:
            cp.write(pgbinary.SIGNATURE)
            cp.write(enc.encode(data, 3, 3000))
            cp.write(pgbinary.TRAILER)
        assert conn.execute("SELECT * FROM t ORDER BY n").fetchall() == [
            (3000, "l1", "i1", "p1"), (3001, "l2", "i2", "p2"), (3002, "l3", "i3", "p3")]


@pytest.mark.parametrize(("data", "rows", "message"), [
    (b'x,true,1,2,"open\n', 1, "row 1, field 5: a quoted field is not closed"),
    (b"x,true,1,2\n", 1, "row 1, field 4: a row has fewer fields"),
    (b"x,true,1,2,y,z\n", 1, "row 1, field 5: a row has more fields"),
    (b"x,true,1,2,y\nx,yes,1,2,y\n", 2, "row 2, field 2: not true or false"),
    (b"x,true,1O,2,y\n", 1, "row 1, field 3: not a number"),
    (b"x,true,1,2147483648,y\n", 1, "row 1, field 4: not an integer"),
    (b"x,true,1,2,y", 1, "row 1, field 5: the data ends inside a row"),
    (b"x\r,true,1,2,y\n", 1, "row 1, field 1: an unquoted carriage return"),
    (b"x,true,1,2,y\n", 2, "1 rows encoded where 2 were given"),
])
def test_what_the_encoder_cannot_read_is_an_error_naming_the_row(data: bytes, rows: int, message: str) -> None:
    enc = pgbinary.Encoder("issue")
    enc.kinds = KINDS.encode()
    with pytest.raises(pgbinary.EncodeError, match="generated issue: ") as caught:
        enc.encode(data, rows)
    assert message in str(caught.value)


def test_the_kinds_are_the_catalogs_types(fresh_db: str) -> None:
    letter = {"character varying": "t", "text": "t", "boolean": "b", "double precision": "f", "integer": "i"}
    with psycopg.connect(fresh_db) as conn:
        for table, columns in HEADERS.items():
            types = dict(conn.execute("SELECT column_name, data_type FROM information_schema.columns "
                                      "WHERE table_schema = 'public' AND table_name = %s", (table,)).fetchall())
            assert "".join(letter[types[c]] for c in columns) == pgbinary.KINDS[table], table


def test_binary_is_refused_in_one_line_where_the_extension_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from zbugs_synth.errors import UserError

    assert pgbinary.use_binary("auto") and pgbinary.use_binary("binary") and not pgbinary.use_binary("csv")
    monkeypatch.setattr(pgbinary, "_pgbinary", None)
    assert not pgbinary.use_binary("auto")
    with pytest.raises(UserError, match="ZBUGS_SEED_COPY_FORMAT=binary: the C extension"):
        pgbinary.use_binary("binary")


def test_pieces_of_any_size_give_the_same_bytes_and_count_rows_from_the_chunk() -> None:
    data = b"".join(CASES) * 5
    whole = pgbinary.Encoder("issue")
    whole.kinds = KINDS.encode()
    expected = whole.encode(data, 5 * len(CASES))
    for size in (16, 64, 300):  # 16: smaller than one row, the buffer grows
        enc = pgbinary.Encoder("issue", piece_bytes=size)
        enc.kinds = KINDS.encode()
        pieces = [bytes(p) for p in enc.pieces(data, 5 * len(CASES))]
        assert b"".join(pieces) == expected
        assert len(pieces) > 1
    enc = pgbinary.Encoder("issue", piece_bytes=64)
    enc.kinds = KINDS.encode()
    with pytest.raises(pgbinary.EncodeError, match=r"row 11, field 2: not true or false"):
        enc.encode(b"".join(CASES) + b"x,true,1,2,y\nx,yes,1,2,y\n", len(CASES) + 2)
