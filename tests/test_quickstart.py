"""The README's first command, end to end, as a new user runs it: a fresh directory, one command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg

from zbugs_synth.db.load.bookkeeping import LOADED_DATASETS, record_load_started
from zbugs_synth.tables import TABLES


def test_quickstart_end_to_end_and_rerun(reachable_tmpdir: Callable[[str], Path],
                                         free_tcp_port: Callable[[], int]) -> None:
    work = reachable_tmpdir("zbugs-quickstart-")
    env = {k: v for k, v in os.environ.items() if k not in ("ZERO_UPSTREAM_DB", "ZBUGS_PG_DATA")}
    env["ZBUGS_PG_PORT"] = str(free_tcp_port())
    # The guide's batch-2 shell: quickstart is hermetic, none of this may change what it does.
    batch2 = {"NUM_ISSUES": "1000000", "NUM_PROJECTS": "1000", "SKIP_USERS": "true", "SEED": "99",
              "OUTPUT_DIR": "db/seed-data/synthetic-batch-2/", "ZERO_SEED_APPEND": "true",
              "ZERO_SEED_DATA_DIR": "db/seed-data/synthetic-batch-2/", "SHARD_SIZE": "7", "COMMENTS_MAX": "1"}
    cmd = [sys.executable, "-m", "zbugs_synth"]

    def zbugs(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cmd, *args], cwd=work, env=env, capture_output=True, text=True, timeout=600)

    try:
        env.update(batch2)
        (work / ".env").write_text("NUM_USERS=5\nLABELS_PER_ISSUE=9\n")
        first = zbugs("quickstart", "--num-issues", "3000", "--progress", "plain")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        for k in batch2:
            del env[k]
        (work / ".env").unlink()
        assert not (work / "db" / "seed-data" / "synthetic-batch-2").exists()
        shards = sorted(p.name for p in (work / "db" / "seed-data" / "quickstart").glob("*.csv"))
        # default shard size, users written, all ten tables (quickstart uses ALL_TABLES)
        assert shards == sorted(f"{t}_000.csv" for t in TABLES)
        out = first.stdout
        for step in ("[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]", "quickstart done"):
            assert step in out
        assert "next: " not in out  # db-up's hints of what to run next: quickstart runs it
        report = work / "quickstart-report.html"
        assert report.exists() and report.stat().st_size > 2000
        url = zbugs("db-status", "--show-url").stdout.strip().splitlines()[-1].split("=", 1)[-1]
        assert url.startswith("postgres")
        password = re.search(r"://[^:]+:([^@]+)@", url)
        assert password and password.group(1) not in out + first.stderr  # never printed
        with psycopg.connect(url) as conn:
            counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                      for t in ("user", "project", "issue", "comment", "issueLabel")}
        assert counts["issue"] == 3000 and counts["project"] == 101  # + the built-in Zero project
        assert counts["user"] == 100 and 1.3 < counts["issueLabel"] / 3000 < 1.7
        # Rerun: idempotent, same end state.
        second = zbugs("quickstart", "--num-issues", "3000", "--progress", "none")
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
        with psycopg.connect(url) as conn:
            assert conn.execute('SELECT count(*) FROM "issue"').fetchone()[0] == 3000
        # Data quickstart did not load is never replaced silently...
        assert zbugs("generate-synthetic", "--num-issues", "500", "--output-dir", "mine", "--progress", "none",
                     ).returncode == 0
        env["ZERO_SEED_DATA_DIR"], env["ZERO_SEED_FORCE"] = "mine", "true"
        assert zbugs("db-seed-synthetic", "--progress", "none").returncode == 0
        del env["ZERO_SEED_DATA_DIR"], env["ZERO_SEED_FORCE"]
        third = zbugs("quickstart", "--num-issues", "3000", "--progress", "none")
        assert third.returncode == 2 and "already holds other data (mine)" in third.stderr
        assert "[3/5] generate" not in third.stdout  # refused before the work of generating
        with psycopg.connect(url) as conn:
            assert conn.execute('SELECT count(*) FROM "issue"').fetchone()[0] == 500
        # ... only with --force; and a ZERO_UPSTREAM_DB in .env is honoured as "not the local server".
        assert zbugs("quickstart", "--num-issues", "3000", "--progress", "none", "--force").returncode == 0
        (work / ".env").write_text("ZERO_UPSTREAM_DB=postgresql://someone:secret@db.example:5432/prod\n")
        fourth = zbugs("quickstart", "--progress", "none")
        assert fourth.returncode == 2 and "ZERO_UPSTREAM_DB is set" in fourth.stderr
        assert "secret" not in fourth.stdout + fourth.stderr
        # The line db-up suggests writing (`db-up --print-env >> .env`) names the local server: no refusal.
        printed = zbugs("db-up", "--print-env")
        assert printed.returncode == 0, printed.stderr
        (work / ".env").write_text(printed.stdout)
        fifth = zbugs("quickstart", "--num-issues", "3000", "--progress", "none")
        assert fifth.returncode == 0, fifth.stdout[-2000:] + fifth.stderr[-2000:]
        (work / ".env").unlink()
        # Another dataset's load left open: --force cannot replace it; said before generating.
        with psycopg.connect(url) as conn:
            record_load_started(conn, dataset_id="0" * 16, source=str(work / "mine"), manifest=None, mode="force")
        sixth = zbugs("quickstart", "--num-issues", "3000", "--progress", "none", "--force")
        assert sixth.returncode == 2 and f"an interrupted load of {work / 'mine'} (another dataset" in sixth.stderr
        assert "[3/5] generate" not in sixth.stdout
        # Its own directory's load of another dataset (another --num-issues) open: the same, without --force.
        with psycopg.connect(url) as conn:
            conn.execute(f"DELETE FROM {LOADED_DATASETS} WHERE finished_at IS NULL")
            record_load_started(conn, dataset_id="1" * 16, source=str(work / "db" / "seed-data" / "quickstart"),
                                manifest=None, mode="force")
        seventh = zbugs("quickstart", "--num-issues", "3000", "--progress", "none")
        assert seventh.returncode == 2 and "(another dataset than this run's) is open" in seventh.stderr
        assert "[3/5] generate" not in seventh.stdout
    finally:
        zbugs("db-down")
        shutil.rmtree(work, ignore_errors=True)
