"""Scaling benchmark: generate, CSV load, direct load (--generate) and verify at 1M and 10M issues (100M opt-in).

    .venv/bin/python bench/bench_scale.py --issues 1000000                    # one size
    .venv/bin/python bench/bench_scale.py --issues 1000000 --issues 10000000  # the README's table
    .venv/bin/python bench/bench_scale.py --issues 100000000 --work /big/disk  # opt-in: ~100 GB CSV + ~200 GB DB

Every step runs as its own process (the real CLI), one after another, against a PostgreSQL this
script starts in a fresh state directory with db-up's durable settings (wal_level=logical, fsync
on): the server the tool "runs itself", so seed loads go WAL-free (wal_level=minimal) as they would
for a user. Steps per size, in this order (direct and verify first: they need no CSV, and one
written just before would still be flushing to disk and crowd the page cache during them):

- `direct`: db-seed-synthetic --generate (no CSV), into a fresh database;
- `verify`: zbugs-synth verify of the direct load;
- `generate`: generate-synthetic into WORK/ds-N (CSV on disk; also whenever floor or csv needs it);
- `floor`: the sequential reference of bench_seed.py (one connection: psql-like COPY of each shard,
  then each index and foreign key one at a time, ANALYZE) at wal_level=logical;
- `csv`: db-seed-synthetic of those CSVs (seed, into a freshly migrated database).

Figures per step: wall seconds; client CPU (user+sys of the command's process, from wait4); server
CPU (PostgreSQL's processes, sampled from /proc every 0.2 s: its postmaster's own and reaped
children's time, so a server restart loses at most 0.2 s of it); the command's peak RSS; the
database size after the step (pg_database_size); disk used: the dataset directory (generate) or
the cluster's directory, WAL included (loads); and the machine's busy share (other processes
share the CPUs: compare figures within one run). Ratios printed: direct / floor, and each size's
time over the smallest size's.
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
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

from bench_seed import _cpu_busy, _free_port, run_floor
from zbugs_synth.db import connect as dbconnect
from zbugs_synth.db import server
from zbugs_synth.db.schema import migrate

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def _du(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
    return total


class ServerCpu:
    """CPU seconds PostgreSQL's processes spent, sampled from /proc (see the module docstring)."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self.postmasters: dict[int, float] = {}  # pid -> last seen own + reaped children's time
        self.live: dict[int, float] = {}  # non-postmaster pid -> own time, last sample
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        try:
            postmaster = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            postmaster = -1
        live: dict[int, float] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if Path(os.readlink(entry / "cwd")) != self.pgdata:
                    continue
                fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
            except OSError:
                continue
            ut, st, cut, cst = (int(x) / TICK for x in fields[11:15])
            pid = int(entry.name)
            if pid == postmaster:  # its reaped children's time is in cutime/cstime
                self.postmasters[pid] = ut + st + cut + cst
            else:
                live[pid] = ut + st
        self.live = live

    def total(self) -> float:
        return sum(self.postmasters.values()) + sum(self.live.values())

    def __enter__(self) -> ServerCpu:
        self._sample()
        self.start = self.total()

        def loop() -> None:
            while not self._stop.wait(0.2):
                self._sample()

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._sample()
        self.seconds = self.total() - self.start


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """(wall, CPU user+sys, peak RSS bytes, output) of one command run as a child process."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out_chunks: list[str] = []
    reader = threading.Thread(target=lambda: out_chunks.append(proc.stdout.read() if proc.stdout else ""))
    reader.start()
    _pid, status, usage = os.wait4(proc.pid, 0)
    reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    out = "".join(out_chunks)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, out


def _env(state: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZERO_", "ZBUGS_", "NUM_", "SEED"))}
    env.update({"ZBUGS_PG_DATA": str(state), **extra})
    return env


def _fresh_db(state: Path) -> str:
    running = server.status(state)
    assert running is not None
    url = running.url()
    dbconnect.drop_database(url, server.DATABASE)
    dbconnect.create_database(url, server.DATABASE)
    migrate.migrate(url)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CHECKPOINT")
    return url


def _db_size(state: Path) -> int:
    running = server.status(state)
    assert running is not None
    with psycopg.connect(running.url(), autocommit=True) as c:
        return int(c.execute("SELECT pg_database_size(current_database())").fetchone()[0])  # type: ignore[index]


def _step(name: str, issues: int, fn: Any, state: Path | None, disk: Path) -> dict[str, Any]:
    busy0, total0 = _cpu_busy()
    load0 = os.getloadavg()[0]
    pgdata = server.load(state).pgdata if state is not None and server.load(state) else None  # type: ignore[union-attr]
    if pgdata is not None:
        with ServerCpu(pgdata) as scpu:
            wall, cpu, rss, out = fn()
        server_cpu = scpu.seconds
    else:
        wall, cpu, rss, out = fn()
        server_cpu = 0.0
    busy1, total1 = _cpu_busy()
    row = {"step": name, "issues": issues, "wall": wall, "cpu": cpu, "server_cpu": server_cpu, "rss": rss,
           "db_size": _db_size(state) if state is not None and name != "generate" else 0,
           "disk": _du(disk), "busy": (busy1 - busy0) / max(total1 - total0, 1), "load": load0}
    print(f"  {name:<9} {wall:8.1f}s wall  client CPU {cpu:7.1f}s  server CPU {server_cpu:7.1f}s  "
          f"peak RSS {rss / 2**20:6.0f} MB  DB {row['db_size'] / 1e9:6.2f} GB  disk {row['disk'] / 1e9:6.2f} GB  "
          f"(machine busy {row['busy']:.0%}, load {load0:.1f})", flush=True)
    if os.environ.get("BENCH_VERBOSE"):
        print(out[-2500:])
    return row


def _floor(url: str, dataset: Path) -> tuple[float, float, int, str]:
    before = resource.getrusage(resource.RUSAGE_SELF)
    t = time.perf_counter()
    phases = run_floor(url, dataset)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, 0, json.dumps(phases)


def bench_size(issues: int, work: Path, state: Path, steps: list[str], floor_max: int) -> list[dict[str, Any]]:
    print(f"\n{issues:,} issues", flush=True)
    cli = [sys.executable, "-m", "zbugs_synth"]
    ds = work / f"ds-{issues}"
    gen_env = {"NUM_ISSUES": str(issues), "SEED": "42"}
    rows = []
    pgdata = server.load(state).pgdata  # type: ignore[union-attr]
    # The direct load and its verify first: they need no CSV, and a CSV written just before (19 GB at
    # 10 M) would still be flushing to disk during them and push the database out of the page cache
    # (measured at 10 M: the direct load 405 s at 68 % busy instead of 339 s, verify 60 s instead of 24).
    if "direct" in steps:
        _fresh_db(state)
        rows.append(_step("direct", issues, lambda: _run(
            [*cli, "db-seed-synthetic", "--generate", "--progress", "none"], _env(state, **gen_env)), state, pgdata))
    if "verify" in steps:
        rows.append(_step("verify", issues, lambda: _run([*cli, "verify"], _env(state)), state, pgdata))
    csv_steps = ("floor" in steps and issues <= floor_max) or "csv" in steps
    if "generate" in steps or (csv_steps and not ds.exists()):
        shutil.rmtree(ds, ignore_errors=True)
        rows.append(_step("generate", issues, lambda: _run(
            [*cli, "generate-synthetic", "--progress", "none"],
            _env(state, OUTPUT_DIR=str(ds), **gen_env)), None, ds))
    if "floor" in steps and issues <= floor_max:
        url = _fresh_db(state)
        rows.append(_step("floor", issues, lambda: _floor(url, ds), state, pgdata))
    if "csv" in steps:
        _fresh_db(state)
        rows.append(_step("csv", issues, lambda: _run(
            [*cli, "db-seed-synthetic", "--progress", "none"],
            _env(state, ZERO_SEED_DATA_DIR=str(ds))), state, pgdata))
    if os.environ.get("BENCH_DROP_CSV"):
        shutil.rmtree(ds, ignore_errors=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--issues", type=int, action="append", help="NUM_ISSUES (repeatable; default 1000000)")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "zbugs-bench-scale",
                    help="where datasets go (kept between runs: an existing one is reused unless 'generate' "
                         "is among the steps)")
    ap.add_argument("--steps", default="generate,floor,csv,direct,verify")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--floor-max", type=int, default=1_000_000,
                    help="run the (slow, sequential) floor only at sizes up to this many issues")
    args = ap.parse_args()
    sizes = args.issues or [1_000_000]
    steps = args.steps.split(",")
    args.work.mkdir(parents=True, exist_ok=True)
    os.chmod(args.work, 0o755)
    root = Path(tempfile.mkdtemp(prefix="zbugs-bench-scale-pg-"))
    os.chmod(root, 0o711)
    state = root / "state"
    print(f"machine: {os.cpu_count()} CPUs, load avg {os.getloadavg()}")
    results: list[dict[str, Any]] = []
    try:
        server.up(state, _free_port())  # db-up's settings: durable, wal_level=logical
        running = server.status(state)
        assert running is not None
        dbconnect.create_database(running.url(), server.DATABASE)
        with psycopg.connect(running.url(), autocommit=True) as c:
            shown = {k: c.execute(f"SHOW {k}").fetchone()[0] for k in (  # type: ignore[index]
                "server_version", "shared_buffers", "max_wal_size", "wal_level", "fsync")}
        print("server:", ", ".join(f"{k}={v}" for k, v in shown.items()))
        for n in sizes:
            results += bench_size(n, args.work, state, steps, args.floor_max)
    finally:
        server.down(state)
        shutil.rmtree(root, ignore_errors=True)
    _summary(results, sizes)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _summary(results: list[dict[str, Any]], sizes: list[int]) -> None:
    print("\n| issues | step | wall s | client CPU s | server CPU s | peak RSS MB | DB GB | disk GB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['issues']:,} | {r['step']} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['server_cpu']:.1f} | "
              f"{r['rss'] / 2**20:.0f} | {r['db_size'] / 1e9:.2f} | {r['disk'] / 1e9:.2f} |")
    by = {(r["issues"], r["step"]): r["wall"] for r in results}
    for n in sizes:
        if (n, "direct") in by and (n, "floor") in by:
            print(f"{n:,}: direct / floor = {by[n, 'direct'] / by[n, 'floor']:.2f}x"
                  + (f", csv / floor = {by[n, 'csv'] / by[n, 'floor']:.2f}x" if (n, "csv") in by else ""))
    base = sizes[0]
    for n in sizes[1:]:
        for step in ("generate", "csv", "direct", "verify", "floor"):
            if (n, step) in by and (base, step) in by:
                print(f"{step}: {n:,} / {base:,} = {by[n, step] / by[base, step]:.1f}x")


if __name__ == "__main__":
    sys.exit(main())
