"""Benchmark `db-seed-synthetic` against the sequential floor, on one server, in one run.

    NUM_ISSUES=1000000 OUTPUT_DIR=/tmp/bench-1m .venv/bin/zbugs-synth generate-synthetic
    .venv/bin/python bench/bench_seed.py --dataset /tmp/bench-1m

The script starts its own PostgreSQL (zbugs_synth.db.server, in a fresh state directory under a
temporary directory, on a free port) with db-up's settings: durability ON (fsync, synchronous
commit, full-page writes: PostgreSQL's defaults), wal_level=logical, shared_buffers etc. at the
server's defaults. Each variant loads the dataset into a freshly migrated database of its own:

- `floor`: what the original loader and a plain `\\copy` script do: one connection, user triggers
  disabled, foreign keys and non-primary-key indexes dropped, every file COPYed one after another,
  indexes created one after another, foreign keys added one after another, triggers enabled,
  ANALYZE. Session memory: the guide's maintenance_work_mem 2GB and work_mem 256MB, all for its
  one connection (the loader's 2GB is a budget for the whole load, split across its connections:
  2GB / jobs each, at least 64MB; so with one job the two match, with more the loader's index
  builds each get less than the floor's).
- `loader`: zbugs_synth.db.load.loader with its defaults (tuning knobs can be varied with
  `--variant name:ENV=value,ENV=value`, e.g. `--variant keep-pk:ZBUGS_SEED_DROP_PKEYS=false`).

A CHECKPOINT runs before each variant so none inherits another's dirty buffers. Figures printed:
wall time per variant and phase, the ratio to the floor, and the machine's load average (other
processes share the CPUs; the figures are only comparable within one run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from zbugs_synth.commands.seed import print_timeline
from zbugs_synth.config import build
from zbugs_synth.config.seed import SeedConfig, Tuning
from zbugs_synth.db import connect as dbconnect
from zbugs_synth.db import server
from zbugs_synth.db.load.dataset import inspect_dataset
from zbugs_synth.db.load.loader import seed
from zbugs_synth.db.load.objects import SavedForeignKey, SavedIndex, SavedTrigger, capture
from zbugs_synth.db.names import qi, qt
from zbugs_synth.db.schema import migrate
from zbugs_synth.tables import TABLES

TEMPLATE = "bench_template"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _timed(name: str, fn: Callable[[], dict[str, float]]) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    busy0, total0 = _cpu_busy()
    t = time.perf_counter()
    phases = fn()
    elapsed = time.perf_counter() - t
    busy1, total1 = _cpu_busy()
    util = (busy1 - busy0) / max(total1 - total0, 1)
    print(f"  {name}: {elapsed:.1f}s (machine CPU busy {util:.0%}, load avg {load_before:.2f} -> "
          f"{os.getloadavg()[0]:.2f})", flush=True)
    return {"name": name, "elapsed": elapsed, "phases": phases, "cpu": util}


# ---- the sequential floor ------------------------------------------------------------------------

def run_floor(url: str, dataset_dir: Path) -> dict[str, float]:
    ds = inspect_dataset(dataset_dir, checksums=False)
    phases: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("SET maintenance_work_mem = '2GB'")
        c.execute("SET work_mem = '256MB'")
        t = time.perf_counter()
        saved = capture(c, TABLES, include_primary_keys=False)
        for o in saved:
            if isinstance(o, SavedForeignKey):
                c.execute(o.drop_sql())
        for o in saved:
            if isinstance(o, SavedIndex):
                c.execute(o.drop_sql())
        for t_ in TABLES:
            c.execute(f"ALTER TABLE {qt(t_)} DISABLE TRIGGER USER")
        phases["drop"] = time.perf_counter() - t
        t = time.perf_counter()
        for f in ds.files:
            cols = ", ".join(qi(x) for x in f.columns)
            with c.cursor() as cur, cur.copy(f"COPY {qt(f.table)} ({cols}) FROM STDIN WITH (FORMAT csv, HEADER true)") \
                    as cp, open(f.path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    cp.write(chunk)
        phases["copy"] = time.perf_counter() - t
        t = time.perf_counter()
        for o in saved:
            if isinstance(o, SavedIndex):
                c.execute(o.definition)
                if o.constraint:
                    c.execute(o.attach_sql() or "")
        phases["indexes"] = time.perf_counter() - t
        t = time.perf_counter()
        for o in saved:
            if isinstance(o, SavedForeignKey):
                c.execute(o.add_sql(not_valid=False))
        phases["foreign keys"] = time.perf_counter() - t
        t = time.perf_counter()
        for o in saved:
            if isinstance(o, SavedTrigger):
                c.execute(o.restore_sql())
        for t_ in TABLES:
            c.execute(f"ANALYZE {qt(t_)}")
        phases["triggers+analyze"] = time.perf_counter() - t
    return phases


# ---- the loader ----------------------------------------------------------------------------------

def run_loader(url: str, dataset_dir: Path, env: dict[str, str], jobs: int) -> dict[str, float]:
    cfg = build(SeedConfig, None, {"ZERO_UPSTREAM_DB": url, "ZERO_SEED_DATA_DIR": str(dataset_dir),
                                   "ZERO_SEED_JOBS": str(jobs)})
    tuning = build(Tuning, None, env)
    result = seed(cfg, tuning)
    assert result.status == "loaded", result
    if os.environ.get("BENCH_JOB_TIMES"):
        print_timeline(result.job_times, min_secs=0.5)
    return result.phases


def _check(url: str, expected: dict[str, int]) -> None:
    from zbugs_synth.db import schema

    with psycopg.connect(url) as c:
        diffs = schema.differences(c)
        counts = {t: c.execute(f"SELECT count(*) FROM {qt(t)}").fetchone()[0] for t in TABLES}  # type: ignore[index]
    expected = {**expected, "project": expected["project"] + 1}
    assert not diffs, diffs
    assert counts == expected, (counts, expected)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, default=Path("/tmp/bench-1m"))
    ap.add_argument("--jobs", type=int, default=0, help="loader connections (0: CPU cores)")
    ap.add_argument("--variant", action="append", default=[],
                    help="extra loader variant name:ENV=value[,ENV=value] (repeatable)")
    ap.add_argument("--skip-floor", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the server's directory (printed)")
    args = ap.parse_args()

    dataset = inspect_dataset(args.dataset, checksums=False)
    rows = {t: 0 for t in TABLES}
    manifest_rows = (dataset.manifest or {}).get("tables", {})
    for t in TABLES:
        rows[t] = int(manifest_rows.get(t, {}).get("rows", 0))
    print(f"dataset {args.dataset}: {dataset.total_bytes / 1e9:.2f} GB, rows {rows}")
    print(f"machine: {os.cpu_count()} CPUs, load avg {os.getloadavg()}")

    root = Path(tempfile.mkdtemp(prefix="zbugs-bench-seed-"))
    os.chmod(root, 0o711)
    state = root / "state"
    results = []
    try:
        running = server.up(state, _free_port()).running  # db-up's settings: durable, wal_level=logical
        admin = running.url("postgres")
        with psycopg.connect(admin, autocommit=True) as c:
            settings = {k: c.execute(f"SHOW {k}").fetchone()[0] for k in (  # type: ignore[index]
                "server_version", "shared_buffers", "max_wal_size", "wal_level", "fsync", "synchronous_commit",
                "full_page_writes", "data_checksums", "max_parallel_maintenance_workers")}
        print("server:", ", ".join(f"{k}={v}" for k, v in settings.items()))
        dbconnect.create_database(admin, TEMPLATE)
        migrate.migrate(running.url(TEMPLATE))
        variants: list[tuple[str, Callable[[str], dict[str, float]]]] = []
        if not args.skip_floor:
            variants.append(("floor (sequential)", lambda u: run_floor(u, args.dataset)))
        variants.append(("loader", lambda u: run_loader(u, args.dataset, {}, args.jobs)))
        for spec in args.variant:
            name, _, envs = spec.partition(":")
            env = dict(kv.split("=", 1) for kv in envs.split(",") if kv)
            variants.append((f"loader {name}", lambda u, env=env: run_loader(u, args.dataset, env, args.jobs)))
        for i, (name, fn) in enumerate(variants):
            db = f"bench_{i}"
            dbconnect.create_database(admin, db, template=TEMPLATE, if_missing=False)
            url = running.url(db)
            with psycopg.connect(admin, autocommit=True) as c:
                c.execute("CHECKPOINT")
            results.append(_timed(name, lambda fn=fn, url=url: fn(url)))
            _check(url, rows)
            dbconnect.drop_database(admin, db)
    finally:
        server.down(state)
        if args.keep:
            print(f"server directory kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    print()
    floor = next((r for r in results if r["name"].startswith("floor")), None)
    for r in results:
        ratio = f"  {r['elapsed'] / floor['elapsed']:.2f}x floor" if floor else ""
        print(f"{r['name']:<28}{r['elapsed']:7.1f}s{ratio}  (CPU busy {r['cpu']:.0%})")
        print("    " + ", ".join(f"{k} {v:.1f}s" for k, v in r["phases"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
