"""Benchmark appends into a big database: keep vs rebuild secondary indexes, and the loader before this change.

    NUM_ISSUES=1000000 SEED=1 OUTPUT_DIR=/tmp/b/base zbugs-synth generate-synthetic
    NUM_ISSUES=10000 SEED=2 SKIP_USERS=true OUTPUT_DIR=/tmp/b/add10k zbugs-synth generate-synthetic
    NUM_ISSUES=1000000 SEED=3 SKIP_USERS=true OUTPUT_DIR=/tmp/b/add1m zbugs-synth generate-synthetic
    .venv/bin/python bench/bench_append.py --base /tmp/b/base --batch /tmp/b/add10k --batch /tmp/b/add1m \\
        [--old-src /tmp/main/src]

One PostgreSQL with db-up's settings (durable, wal_level=logical) in a temporary directory. The base
dataset is seeded once into a database that becomes a template; each (batch, variant) gets a fresh
copy of it, a CHECKPOINT, and then the command `zbugs-synth db-seed-synthetic` with
ZERO_SEED_APPEND=true as its own process: the time printed is end to end (start-up, file checks
with checksums, copy, indexes, finish), what a user waits for. Variants: `keep`, `rebuild`, `auto`
(ZERO_SEED_INDEXES), and `old` (the loader of another source tree, e.g. `git archive main src`,
given with --old-src: it dropped and rebuilt every key, index and foreign key).

The crossover for ZERO_SEED_INDEXES=auto (db.load.append.REBUILD_RATIO) comes from the keep/rebuild
pairs: rebuilding pays once the batch is a sizeable fraction of the table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from zbugs_synth.db import connect as dbconnect
from zbugs_synth.db import server
from zbugs_synth.db.schema import migrate

SRC = Path(__file__).resolve().parents[1] / "src"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load(url: str, data: Path, src: Path, **env: str) -> tuple[float, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("ZERO_", "ZBUGS_"))}
    full.update({"ZERO_UPSTREAM_DB": url, "ZERO_SEED_DATA_DIR": str(data), "PYTHONPATH": str(src), **env})
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "zbugs_synth", "db-seed-synthetic", "--progress", "none"],
                          env=full, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"load of {data} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    phases = next((ln for ln in done.stdout.splitlines() if ln.startswith("phases:")), "")
    return elapsed, phases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=Path, required=True)
    ap.add_argument("--batch", type=Path, action="append", required=True)
    ap.add_argument("--variant", action="append", default=None, help="keep, rebuild, auto, old (default: all)")
    ap.add_argument("--old-src", type=Path, default=None, help="src/ of the loader to compare with")
    ap.add_argument("--src", type=Path, default=SRC, help="src/ of the loader to measure (default: this checkout)")
    args = ap.parse_args()
    variants = args.variant or ["auto", "keep", "rebuild"] + (["old"] if args.old_src else [])
    print(f"machine: {os.cpu_count()} CPUs, load avg {os.getloadavg()}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="zbugs-bench-append-"))
    os.chmod(root, 0o711)
    state = root / "state"
    results: list[tuple[str, str, float, str]] = []
    try:
        running = server.up(state, _free_port()).running
        admin = running.url("postgres")
        dbconnect.create_database(admin, "base")
        migrate.migrate(running.url("base"))
        t = time.perf_counter()
        load(running.url("base"), args.base, args.src)
        print(f"base {args.base} seeded in {time.perf_counter() - t:.1f}s", flush=True)
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute("ALTER DATABASE base WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
        for batch in args.batch:
            for variant in variants:
                db = "bench_run"
                dbconnect.create_database(admin, db, template="base", if_missing=False)
                with psycopg.connect(admin, autocommit=True) as c:
                    c.execute("CHECKPOINT")
                src = args.old_src if variant == "old" else args.src
                env = {"ZERO_SEED_APPEND": "true"}
                if variant != "old":
                    env["ZERO_SEED_INDEXES"] = variant
                elapsed, phases = load(running.url(db), batch, src, **env)
                print(f"  {batch.name} {variant:<8} {elapsed:7.1f}s   {phases}", flush=True)
                results.append((batch.name, variant, elapsed, phases))
                dbconnect.drop_database(admin, db)
    finally:
        server.down(state)
        shutil.rmtree(root, ignore_errors=True)
    print()
    for name, variant, elapsed, _phases in results:
        print(f"{name:<12}{variant:<10}{elapsed:8.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
