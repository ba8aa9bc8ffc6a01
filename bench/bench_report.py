"""What `verify --report` costs on top of `verify` on an ALL_TABLES database: the extra tables' charts.

    .venv/bin/python bench/bench_report.py --issues 1000000
    .venv/bin/python bench/bench_report.py --issues 10000000   # the size the report must stay fast at

Starts a PostgreSQL (db-up's settings) in a temporary state directory, loads NUM_ISSUES issues with
ALL_TABLES=true straight from the generator (db-seed-synthetic --generate), then prints: the rows of
each table; the wall time of `verify` and of `verify --report` (each its own process, the real CLI);
and, in this process, the time of each extra table's aggregate query (db/verify/extra_charts.py) and
of rendering the page.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import _env, _fresh_db, _run
from bench_seed import _free_port
from zbugs_synth.db import connect as dbconnect
from zbugs_synth.db import server
from zbugs_synth.db.verify import extra_charts
from zbugs_synth.db.verify.checks import verify
from zbugs_synth.db.verify.report import render_html
from zbugs_synth.tables import TABLES


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--issues", type=int, default=1_000_000)
    ap.add_argument("--explain", action="store_true", help="print each aggregate's EXPLAIN ANALYZE")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="zbugs-bench-report-"))
    root.chmod(0o711)
    state = root / "state"
    cli = [sys.executable, "-m", "zbugs_synth"]
    try:
        server.up(state, _free_port())
        running = server.status(state)
        assert running is not None
        dbconnect.create_database(running.url(), server.DATABASE)
        url = _fresh_db(state)
        wall, *_ = _run([*cli, "db-seed-synthetic", "--generate", "--progress", "none"],
                        _env(state, NUM_ISSUES=str(args.issues), SEED="42", ALL_TABLES="true"))
        print(f"{args.issues:,} issues, ALL_TABLES: direct load {wall:.1f}s")
        plain, *_ = _run([*cli, "verify", "--progress", "none"], _env(state))
        page = root / "report.html"
        with_report, *_ = _run([*cli, "verify", "--progress", "none", "--report", str(page)], _env(state))
        print(f"verify {plain:.1f}s, verify --report {with_report:.1f}s (+{with_report - plain:.1f}s), "
              f"page {page.stat().st_size / 1e3:.0f} kB")
        report = verify(url)
        for table in TABLES:
            print(f"  {table:<20}{report.counts.get(table) or 0:>14,} rows")
        queries = {"emoji": extra_charts._EMOJI, "issueNotifications": extra_charts._SUBSCRIPTIONS,
                   "viewState": extra_charts._VIEWS}
        with psycopg.connect(url) as c:
            c.execute(f"SET work_mem = '{extra_charts.WORK_MEM}'")  # as collect() does
            for table, q in queries.items():
                t = time.perf_counter()
                c.execute(q).fetchall()
                print(f"  {table:<20} aggregate {time.perf_counter() - t:6.2f}s")
                if args.explain:
                    print("\n".join(r[0] for r in c.execute("EXPLAIN (ANALYZE, COSTS OFF) " + q).fetchall()))
        t = time.perf_counter()
        extra = extra_charts.collect(url, report.counts)
        collected = time.perf_counter() - t
        t = time.perf_counter()
        render_html(report, extra)
        print(f"  all four tables (collect) {collected:.2f}s, render {time.perf_counter() - t:.2f}s")
    finally:
        server.down(state)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
