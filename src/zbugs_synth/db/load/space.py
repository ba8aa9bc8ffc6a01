"""Room on the local server's disk for a load, asked before the load changes anything.

A load that fills the disk stops with PostgreSQL's "could not extend file" after most of its work
(the indexes come last), and leaves the load open until space is freed. When the server is the one
db-up runs here, its data directory is on a disk we can see: the loader estimates what the load
adds and refuses up front when it clearly does not fit (disk.check_room). An external server's
disk is not ours to see.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg

from zbugs_synth.config.seed import SeedConfig, Tuning, memory_kb
from zbugs_synth.db.load.dataset import Dataset
from zbugs_synth.db.names import qt
from zbugs_synth.disk import check_room
from zbugs_synth.generate.estimate import TableSize
from zbugs_synth.tables import TABLES

Conn = psycopg.Connection[Any]

# Bytes the database holds per row beyond the row's CSV text: tuple headers and alignment (numbers
# and booleans are smaller in binary than as text) and the contract's indexes, built sorted.
# Measured on loads of 300 K and 1 M issues at the defaults, rows stored as written (README, "Disk
# space"): issue's twelve indexes are most of its figure. An append that keeps the indexes grows
# them by inserts, which leave pages less full: there it is a lower bound.
EXTRA_PER_ROW = {"issue": 823, "comment": 110, "issueLabel": 133, "emoji": 169, "issueNotifications": 68,
                 "viewState": 73, "label": 270, "user": 700, "project": 750, "userPref": 1500}


def dataset_sizes(dataset: Dataset) -> dict[str, TableSize]:
    """Rows and CSV bytes of a dataset directory's tables (rows estimated where the manifest has none)."""
    sizes: dict[str, TableSize] = {}
    for f in dataset.files:
        have = sizes.get(f.table, TableSize(0, 0))
        sizes[f.table] = TableSize(have.rows + round(f.rows_estimate), have.bytes + f.bytes)
    return sizes


def database_bytes(sizes: Mapping[str, TableSize]) -> int:
    """About what PostgreSQL stores for these rows, indexes included."""
    return sum(s.bytes + s.rows * EXTRA_PER_ROW.get(t, 150) for t, s in sizes.items())


def check_local_room(conn: Conn, cfg: SeedConfig, tuning: Tuning, sizes: Mapping[str, TableSize],
                     pgdata: Path) -> None:
    """Refuse (UserError) a load whose rows and indexes clearly do not fit on the disk of `pgdata`.
    force empties the tables first: their files are freed as each table's copy commits, so all but
    the biggest count as room. A load that writes WAL (append, or with a replication slot) also
    needs room for up to max_wal_size of it until the next checkpoint recycles it."""
    need = database_bytes(sizes)
    freed = 0
    if cfg.mode == "force":
        now = [int(n) for (n,) in conn.execute("SELECT pg_total_relation_size(t::regclass) FROM unnest(%s::text[]) t",
                                                 ([qt(t) for t in TABLES],)).fetchall()]
        freed = sum(now) - max(now, default=0)
    slots = conn.execute("SELECT count(*) FROM pg_replication_slots").fetchone()
    if cfg.mode == "append" or not tuning.wal_minimal or (slots is not None and slots[0]):
        row = conn.execute("SELECT current_setting('max_wal_size')").fetchone()
        wal = memory_kb(str(row[0])) * 1024 if row else 0
        need += min(need, wal)
    issues = sizes["issue"].rows if "issue" in sizes else 0
    check_room(need, pgdata, f"this load ({issues:,} issues, with its indexes)", freed=freed,
               advice="free space there, or load fewer issues")
