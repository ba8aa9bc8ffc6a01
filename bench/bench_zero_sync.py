"""Benchmark zero-cache's initial sync of a loaded dataset (the figures the README quotes).

    .venv/bin/python bench/bench_zero_sync.py                    # 10K issues
    .venv/bin/python bench/bench_zero_sync.py --sizes 10000,1000000

For each size, as a user does it with our CLI: a fresh PostgreSQL (`db-up` in a temporary state
directory on a free port, db-up's durable settings), `db-migrate`, `generate-synthetic`,
`db-seed-synthetic`; then zero-cache 1.9.0 (the test suite's pinned install, tests/zerocache) with its
own CVR and change databases on that server. Printed per size: rows loaded, seconds from starting
zero-cache to "zero-cache ready", the initial sync itself as zero-cache logs it ("Synced N rows ...
total: ms"), and the machine's load average (the machine is shared: compare within one run).
Everything is deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "zerocache"))

from zero_harness import (  # the harness lives with the tests that use it
    create_database,
    generate_dataset,
    install_zero,
    pg_counts,
    published_tables,
    replica_counts,
    seed,
    start_zero_cache,
    with_database,
    zbugs,
)

SYNCED = re.compile(r"Synced ([\d,]+) rows of (\d+) tables.*?total: ([\d.]+) ms")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_size(issues: int, work: Path) -> dict[str, float]:
    state = work / f"pg-{issues}"
    env = {"ZBUGS_PG_DATA": str(state), "ZBUGS_PG_PORT": str(_free_port())}
    for step in (("db-up",), ("db-migrate",)):
        done = zbugs(*step, env=env)
        if done.returncode != 0:
            raise SystemExit(f"{step[0]} failed: {done.stderr.strip()[-300:]}")
    try:
        url = zbugs("db-status", "--show-url", env=env).stdout.strip().splitlines()[-1].split("=", 1)[-1]
        data = generate_dataset(work / f"data-{issues}", issues)
        t = time.monotonic()
        seed(url, data)
        seed_s = time.monotonic() - t
        cvr = create_database(with_database(url, "postgres"), "zero_cvr")
        change = create_database(with_database(url, "postgres"), "zero_cdc")
        zc_dir = work / f"zero-{issues}"
        zc_dir.mkdir()
        zc = start_zero_cache(install_zero(), url, cvr, change, zc_dir, timeout=1800)
        try:
            tables = published_tables(url)
            assert replica_counts(zc.install, zc.replica_file, tables) == pg_counts(url, tables)
            m = SYNCED.search(zc.log_text())
            return {"rows": float(m.group(1).replace(",", "")) if m else float("nan"), "seed_s": seed_s,
                    "ready_s": zc.ready_seconds or float("nan"),
                    "sync_s": float(m.group(3)) / 1000 if m else float("nan"),
                    "load": os.getloadavg()[0]}
        finally:
            zc.stop()
    finally:
        zbugs("db-down", env=env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000", help="comma-separated NUM_ISSUES values")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-zero-"))
    os.chmod(work, 0o711)  # the PostgreSQL OS user (when we are root) must pass through
    try:
        print(f"{'issues':>10} {'rows':>10} {'seed s':>8} {'ready s':>8} {'sync s':>8} {'load':>6}")
        for n in (int(s) for s in args.sizes.split(",")):
            r = run_size(n, work)
            print(f"{n:>10,} {int(r['rows']):>10,} {r['seed_s']:>8.1f} {r['ready_s']:>8.1f} {r['sync_s']:>8.2f} "
                  f"{r['load']:>6.1f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
