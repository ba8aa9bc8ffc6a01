"""verify's time per check against a database that is already loaded (no load, no reset).

    .venv/bin/python bench/bench_verify.py                       # the server of ZBUGS_PG_DATA / .zbugs
    .venv/bin/python bench/bench_verify.py --state /work/x/pg --runs 2 --full
    .venv/bin/python bench/bench_verify.py --url postgresql://...  # any server (no server CPU figure)

Prints, per run: the load average before it (other processes share the CPUs: compare figures taken
at similar loads), verify's wall seconds, PostgreSQL's CPU seconds (when the server is the local
one: its processes' time sampled from /proc), and each check's seconds, slowest first. verify
reports a step's time split evenly over the checks the step reports; the distributions (no check)
appear as their step title. Row counts of the database come first so the figures have a size.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import ServerCpu
from zbugs_synth.db import server
from zbugs_synth.db.verify import checks


def _sizes(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as c:
        rows = c.execute("""SELECT c.relname, c.reltuples::bigint, pg_table_size(c.oid), pg_indexes_size(c.oid)
                              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                             WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.reltuples > 0
                             ORDER BY 3 DESC""").fetchall()
    return "; ".join(f"{t} ~{n:,} rows, heap {h / 2**30:.2f} GB, indexes {i / 2**30:.2f} GB" for t, n, h, i in rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state", type=Path, help="the server's state directory (default: ZBUGS_PG_DATA or .zbugs)")
    ap.add_argument("--url", help="a database URL instead of a local server")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--full", action="store_true", help="verify --full (scan where foreign keys would answer)")
    args = ap.parse_args()
    pgdata: Path | None = None
    url = args.url
    if url is None:
        state = args.state or (Path(os.environ["ZBUGS_PG_DATA"]) if os.environ.get("ZBUGS_PG_DATA")
                               else server.find_state_dir())
        running = server.status(state)
        if running is None:
            print(f"no server running for {state}", file=sys.stderr)
            return 2
        url = running.url()
        cluster = server.load(state)
        pgdata = cluster.pgdata if cluster else None
    print(_sizes(url))
    for run in range(1, args.runs + 1):
        load = os.getloadavg()
        t0 = time.perf_counter()
        if pgdata is not None:
            with ServerCpu(pgdata) as cpu:
                report = checks.verify(url, full=args.full)
            server_cpu = f", server CPU {cpu.seconds:.1f} s"
        else:
            report = checks.verify(url, full=args.full)
            server_cpu = ""
        wall = time.perf_counter() - t0
        mode = " --full" if args.full else ""
        print(f"run {run}: load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; verify{mode} "
              f"{wall:.1f} s wall{server_cpu}; {report.verdict}")
        for c in sorted(report.checks, key=lambda c: -c.seconds):
            if c.seconds >= 0.05:
                print(f"  {c.seconds:7.2f} s  {c.status:4}  {c.name}")
        steps = getattr(report, "step_seconds", {})  # an older verify (PYTHONPATH) has none
        for name, secs in sorted(steps.items(), key=lambda kv: -kv[1]):
            if secs >= 0.05:
                print(f"  {secs:7.2f} s  step  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
