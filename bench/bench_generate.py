#!/usr/bin/env python3
"""Benchmark `generate-synthetic`: CPU-seconds, wall, rows/s, MB/s, peak RSS and phase times.

Each run is a fresh process (as a user runs it), timed with getrusage of the child:

    .venv/bin/python bench/bench_generate.py                 # 100K and 1M issues, warm cache
    .venv/bin/python bench/bench_generate.py --sizes 100000,1000000,10000000 --cold

`--cold` also runs each size once with an empty numba cache: what a fresh install pays once when
the C kernel could not be built and the numba fallback compiles (force it with ZBUGS_KERNEL=numba).
With the C kernel (built by pip at install time) there is nothing to warm up. Output goes to a
temporary directory that is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(n: int, out: Path, workers: int, cache_dir: str | None, extra: tuple[str, ...] = ()) -> dict[str, float]:
    env = {**os.environ, "NUM_ISSUES": str(n), "OUTPUT_DIR": str(out)}
    if workers:
        env["WORKERS"] = str(workers)
    if cache_dir:
        env["NUMBA_CACHE_DIR"] = cache_dir
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "zbugs_synth", "generate-synthetic", "--progress", "none",
                           "--force", *extra], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        sys.exit(f"generate-synthetic failed:\n{proc.stderr}")
    manifest = json.loads((out / "manifest.json").read_text())
    rows = sum(t["rows"] for t in manifest["tables"].values())
    size = sum(t["bytes"] for t in manifest["tables"].values())
    phases = proc.stdout.strip().splitlines()[-1]
    return {
        "user": after.ru_utime - before.ru_utime,
        "sys": after.ru_stime - before.ru_stime,
        "wall": wall,
        "rss_mb": after.ru_maxrss / 1024,  # ru_maxrss of children: the largest child so far
        "rows": rows,
        "bytes": size,
        "phases": phases,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--workers", type=int, default=0, help="0: all cores")
    ap.add_argument("--cold", action="store_true", help="also measure a first run with an empty numba cache")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--all-tables", action="store_true", help="generate all ten tables (ALL_TABLES=true)")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    print(f"{'issues':>11} {'run':>5} {'CPU s':>7} {'user':>6} {'sys':>6} {'wall s':>7} {'rows':>11} "
          f"{'rows/s':>11} {'MB':>7} {'MB/s':>6} {'RSS MB':>7}")
    with tempfile.TemporaryDirectory(prefix="zbugs-bench-") as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            modes = (["cold"] if args.cold else []) + ["warm"] * args.repeat
            if not args.cold:
                run_once(min(n, 1000), Path(tmp) / "w", args.workers, None)  # make sure the cache is warm
            for mode in modes:
                cache = tempfile.mkdtemp(dir=tmp) if mode == "cold" else None
                r = run_once(n, Path(tmp) / "out", args.workers, cache, ("--all-tables",) if args.all_tables else ())
                cpu = r["user"] + r["sys"]
                print(f"{n:>11,} {mode:>5} {cpu:>7.2f} {r['user']:>6.2f} {r['sys']:>6.2f} {r['wall']:>7.2f} "
                      f"{r['rows']:>11,} {r['rows'] / r['wall']:>11,.0f} {r['bytes'] / 1e6:>7.0f} "
                      f"{r['bytes'] / 1e6 / r['wall']:>6.0f} {r['rss_mb']:>7.0f}")
                print(f"{'':>18}{r['phases']}")
                shutil.rmtree(Path(tmp) / "out", ignore_errors=True)


if __name__ == "__main__":
    main()
