"""COPY format by measurement: CSV vs binary, server-side CPU, into a table truncated in the same transaction.

    .venv/bin/python bench/bench_copy_format.py --dataset /tmp/bench-1m [--tables issue,comment] [--repeat 3]

Starts its own server (fresh state directory, free port) at wal_level=minimal (as a seed into the
embedded server runs) and, per table: loads the table's first CSV shard once, writes it back out with
`COPY ... TO STDOUT (FORMAT binary)` (the bytes a binary-emitting generator would send), then times
`BEGIN; TRUNCATE; COPY ... FROM STDIN (FORMAT x, FREEZE); COMMIT` for each format, repeated. Figures:
the backend's CPU seconds (from /proc/<backend pid>/stat: what the server spends parsing and
writing, whatever else runs on the machine), wall seconds, and bytes on the wire.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_seed import _free_port
from zbugs_synth.db import connect as dbconnect
from zbugs_synth.db import server
from zbugs_synth.db.names import qi, qt
from zbugs_synth.db.schema import migrate
from zbugs_synth.db.server import walmode
from zbugs_synth.tables import HEADERS

TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _copy(conn: psycopg.Connection, table: str, fmt: str, data: bytes, header: bool) -> tuple[float, float]:
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
    cols = ", ".join(qi(c) for c in HEADERS[table])
    opts = f"FORMAT {fmt}, FREEZE true" + (", HEADER true" if header else "")
    c0, t0 = _cpu(pid), time.perf_counter()
    with conn.transaction():
        conn.execute(f"TRUNCATE {qt(table)}")
        with conn.cursor() as cur, cur.copy(f"COPY {qt(table)} ({cols}) FROM STDIN WITH ({opts})") as cp:
            view = memoryview(data)
            for i in range(0, len(data), 1 << 20):
                cp.write(view[i:i + (1 << 20)])
    return _cpu(pid) - c0, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, default=Path("/tmp/bench-1m"))
    ap.add_argument("--tables", default="issue,comment,issueLabel")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="zbugs-bench-copy-"))
    os.chmod(root, 0o711)
    state = root / "state"
    try:
        server.up(state, _free_port())
        url = server.status(state).url()  # type: ignore[union-attr]
        dbconnect.create_database(url, server.DATABASE)
        migrate.migrate(url)
        walmode.enter_minimal(state)
        url = server.status(state).url()  # type: ignore[union-attr]
        with psycopg.connect(url, autocommit=True) as conn:
            print("wal_level:", conn.execute("SHOW wal_level").fetchone()[0], " load avg:", os.getloadavg())  # type: ignore[index]
            for t in ("issueLabel", "comment", "issue", "label"):  # no FKs, triggers, indexes but the pkeys
                conn.execute(f"ALTER TABLE {qt(t)} DISABLE TRIGGER ALL")
            for table in args.tables.split(","):
                shard = sorted(args.dataset.glob(f"{table}_*.csv"))[0]
                csv = shard.read_bytes()
                for ix in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", (table,)).fetchall():
                    conn.execute(f'ALTER TABLE {qt(table)} DROP CONSTRAINT IF EXISTS {qi(ix[0])} CASCADE')
                    conn.execute(f"DROP INDEX IF EXISTS {qi(ix[0])} CASCADE")
                _copy(conn, table, "csv", csv, True)
                buf = bytearray()
                cols = ", ".join(qi(c) for c in HEADERS[table])
                with conn.cursor() as cur, cur.copy(f"COPY {qt(table)} ({cols}) TO STDOUT (FORMAT binary)") as cp:
                    for block in cp:
                        buf += block
                binary = bytes(buf)
                res: dict[str, list[tuple[float, float]]] = {"csv": [], "binary": []}
                for _ in range(args.repeat):
                    res["csv"].append(_copy(conn, table, "csv", csv, True))
                    res["binary"].append(_copy(conn, table, "binary", binary, False))
                rows = conn.execute(f"SELECT count(*) FROM {qt(table)}").fetchone()[0]  # type: ignore[index]
                best = {k: min(v) for k, v in res.items()}
                print(f"{table}: {rows:,} rows; csv {len(csv) / 1e6:.0f} MB, binary {len(binary) / 1e6:.0f} MB")
                for k, v in res.items():
                    print(f"  {k:<7} backend CPU " + " ".join(f"{c:.2f}" for c, _ in v)
                          + "  wall " + " ".join(f"{w:.2f}" for _, w in v))
                print(f"  binary / csv backend CPU (best of {args.repeat}): {best['binary'][0] / best['csv'][0]:.2f}")
    finally:
        walmode.leave_minimal(state)
        server.down(state)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
