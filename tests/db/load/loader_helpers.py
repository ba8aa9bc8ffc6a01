"""Helpers for the loader's tests: datasets, running the command (in-process or as a process), reading back."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from zbugs_synth.cli import main
from zbugs_synth.config import build
from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.db import schema
from zbugs_synth.generate.driver import generate
from zbugs_synth.manifest import MANIFEST_NAME, read_manifest
from zbugs_synth.tables import GUIDE_TABLES, TABLES

ZERO = schema.ZERO_PROJECT_ID
Cap = pytest.CaptureFixture[str]  # the fixtures' types, as the loader's tests annotate them
Mp = pytest.MonkeyPatch
SRC = Path(__file__).resolve().parents[3] / "src"

# Small, but several shards per big table so per-shard progress and resumption are exercised.
BATCH1 = {"NUM_ISSUES": "3000", "SHARD_SIZE": "1000", "NUM_PROJECTS": "40", "NUM_USERS": "60", "SEED": "42"}
# Batch 2 as in the guide: its own seed, no user file, the same users (NUM_USERS as batch 1).
BATCH2 = {"NUM_ISSUES": "2000", "SHARD_SIZE": "1000", "NUM_PROJECTS": "30", "NUM_USERS": "60", "SKIP_USERS": "true",
          "SEED": "99"}


def make_dataset(out: Path, env: dict[str, str]) -> Path:
    generate(build(GenerateConfig, None, {"OUTPUT_DIR": str(out), "WORKERS": "2", **env}))
    return out


def expected_rows(*dirs: Path) -> dict[str, int]:
    """Rows per table after loading `dirs` (manifest rows, or CSV records), plus the Zero project
    (the guide's six always, ALL_TABLES' four when the datasets hold rows of them)."""
    out = dict.fromkeys(TABLES, 0)
    for d in dirs:
        manifest = read_manifest(d)
        if manifest is not None:
            for t, n in manifest.rows_by_table().items():
                out[t] += n
        else:
            for t in TABLES:
                out[t] += sum(csv_records(p) for p in sorted(d.glob(f"{t}_*.csv")))
    out["project"] += 1
    return {t: k for t, k in out.items() if t in GUIDE_TABLES or k}  # the same tables `counts` shows


def csv_records(path: Path) -> int:
    with open(path, newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.reader(f)) - 1


def copy_without_manifest(src: Path, dst: Path) -> Path:
    """A manifest-less copy (like an original-tool dataset) whose files a test may edit."""
    dst.mkdir(parents=True)
    for p in src.glob("*.csv"):
        shutil.copyfile(p, dst / p.name)
    assert not (dst / MANIFEST_NAME).exists()
    return dst


# ---- running the command -------------------------------------------------------------------------

@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def seed_cli(url: str, data_dir: Path | None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
             *args: str, **env: str) -> Ran:
    """`zbugs-synth db-seed-synthetic` in this process, ZERO_UPSTREAM_DB=url."""
    capsys.readouterr()
    with monkeypatch.context() as m:
        for k in [k for k in os.environ if k.startswith(("ZERO_SEED_", "ZBUGS_SEED_"))]:
            m.delenv(k)
        m.setenv("ZERO_UPSTREAM_DB", url)
        if data_dir is not None:
            m.setenv("ZERO_SEED_DATA_DIR", str(data_dir))
        for k, v in env.items():
            m.setenv(k, v)
        code = main(["db-seed-synthetic", "--progress", "plain", *args])
    cap = capsys.readouterr()
    return Ran(code, cap.out, cap.err)


CRASH_RUNNER = Path(__file__).with_name("crash_runner.py")


def seed_process(url: str, data_dir: Path | None, cwd: Path, **env: str) -> Ran:
    """The command as its own process; with ZBUGS_TEST_CRASH_AT, run by crash_runner.py, which kills it
    at that point (the loader itself has no test hook)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("ZERO_", "ZBUGS_SEED_", "ZBUGS_TEST_"))}
    full.update({"ZERO_UPSTREAM_DB": url, "PYTHONPATH": str(SRC), **env})
    if data_dir is not None:
        full["ZERO_SEED_DATA_DIR"] = str(data_dir)
    command = ([sys.executable, str(CRASH_RUNNER)] if "ZBUGS_TEST_CRASH_AT" in env
               else [sys.executable, "-m", "zbugs_synth", "db-seed-synthetic"])
    done = subprocess.run([*command, "--progress", "plain"],
                          cwd=cwd, env=full, capture_output=True, text=True, timeout=300)
    return Ran(done.returncode, done.stdout, done.stderr)


def last_line(text: str) -> str:
    """The command's last line of output: where it says how it ended."""
    return text.strip().splitlines()[-1]


# ---- reading the database back -------------------------------------------------------------------

def query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as c:
        cur = c.execute(sql, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def counts(url: str) -> dict[str, int]:
    """Rows per table: the guide's six always, ALL_TABLES' four when they hold rows."""
    with psycopg.connect(url) as c:
        n = {t: int(c.execute(f'SELECT count(*) FROM public."{t}"').fetchone()[0]) for t in TABLES}  # type: ignore[index]
    return {t: k for t, k in n.items() if t in GUIDE_TABLES or k}


def differences(url: str) -> list[str]:
    with psycopg.connect(url) as c:
        return schema.differences(c)


def loads(url: str) -> list[tuple[Any, ...]]:
    """(dataset_id, source, mode, rows, finished) of each recorded load, oldest first."""
    return query(url, "SELECT dataset_id, source, mode, rows, finished_at IS NOT NULL "
                      "FROM zbugs_synth.loaded_datasets ORDER BY id")


def open_runs(url: str) -> int:
    rows = query(url, "SELECT count(*) FROM zbugs_synth.seed_runs")
    return int(rows[0][0])


def digest(url: str) -> dict[str, Any]:
    """Every row of every zbugs table (as text, in key order) and the shortID sequence's state."""
    keys = {"issueLabel": '"labelID", "issueID"', "issueNotifications": '"userID", "issueID"',
            "userPref": '"key", "userID"', "viewState": '"userID", "issueID"'}
    out: dict[str, Any] = {}
    with psycopg.connect(url) as c:
        for t in schema.COLUMNS:
            order = keys.get(t, "id")
            row = c.execute(f'SELECT md5(coalesce(string_agg(x::text, E\'\\n\' ORDER BY {order}), \'\')), count(*) '
                            f'FROM public."{t}" x').fetchone()
            out[t] = row
        out["sequence"] = c.execute('SELECT last_value, is_called FROM public."issue_shortID_seq"').fetchone()
    return out


def issue_ids_in_file_order(directory: Path) -> list[str]:
    ids: list[str] = []
    for p in sorted(directory.glob("issue_*.csv")):
        with open(p, newline="", encoding="utf-8") as f:
            ids += [r["id"] for r in csv.DictReader(f)]
    return ids


def timeline_jobs(out: str) -> list[str]:
    """The jobs of ZBUGS_SEED_TIMELINE=1's listing after the summary, in start order."""
    lines = out.split("timeline (start, duration, job):\n", 1)[1].splitlines()
    return [line.split()[-1] for line in lines if line.startswith("  ")]
