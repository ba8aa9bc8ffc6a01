"""`zbugs-synth quickstart`: the whole path in one command, on the embedded PostgreSQL.

db-up -> db-migrate -> generate-synthetic (small) -> db-seed-synthetic -> verify, each step the same
subcommand a user would run by hand (so quickstart proves the documented path works), with a
summary at the end. Safe to rerun: every step is idempotent, and the dataset is re-seeded with
force only into the local server, and only when that server holds nothing but quickstart's own
data (anything else needs `--force`: quickstart never silently replaces a dataset you loaded).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from zbugs_synth.commands import add_progress_flag
from zbugs_synth.config import build, integer
from zbugs_synth.errors import UserError

DEFAULT_DIR = Path("db/seed-data/quickstart/")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quickstart",
        help="db-up, db-migrate, generate a small dataset, seed it, verify (the README's first command)",
        description="Start the embedded PostgreSQL, create the zbugs schema, generate a small dataset "
        "(10,000 issues by default), bulk-load it and verify it. Rerunning is safe.",
    )
    p.add_argument("--num-issues", default="10000", metavar="N", help="issues to generate (default: 10000)")
    p.add_argument("--output-dir", default=str(DEFAULT_DIR), metavar="DIR",
                   help=f"where the CSVs go (default: {DEFAULT_DIR})")
    p.add_argument("--report", default="quickstart-report.html", metavar="FILE",
                   help="verify's HTML report (default: quickstart-report.html)")
    p.add_argument("--force", action="store_true",
                   help="replace data in the local database that quickstart did not load")
    add_progress_flag(p)
    p.set_defaults(func=run)


@contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run(args: argparse.Namespace) -> int:
    from zbugs_synth.cli import main

    try:
        n = integer(1, 10**9)(args.num_issues)
    except ValueError as e:
        raise UserError(f"--num-issues {args.num_issues!r}: {e}") from None
    from zbugs_synth.config.database import DbConfig

    if build(DbConfig).db_url:  # from the environment or .env: both would redirect every step
        raise UserError("ZERO_UPSTREAM_DB is set (environment or .env): quickstart uses the embedded "
                        "PostgreSQL only; unset it, or run the steps one by one against your server")
    progress = ["--progress", args.progress]
    steps: list[tuple[str, list[str], dict[str, str]]] = [
        ("start PostgreSQL", ["db-up"], {}),
        ("create the zbugs schema", ["db-migrate"], {}),
        (f"generate {n:,} issues", ["generate-synthetic", "--num-issues", str(n), "--output-dir",
                                    args.output_dir, "--force", *progress], {}),
        ("bulk-load the dataset", ["db-seed-synthetic", *progress],
         {"ZERO_SEED_DATA_DIR": args.output_dir, "ZERO_SEED_FORCE": "true"}),
        ("verify", ["verify", "--report", args.report], {}),
    ]
    timings = []
    for i, (title, argv, env) in enumerate(steps, 1):
        if argv[0] == "db-seed-synthetic" and not args.force:
            _refuse_to_replace_other_data(args.output_dir)
        shown = " ".join(f"{k}={v}" for k, v in env.items())
        print(f"\n== [{i}/{len(steps)}] {title}: {shown + ' ' if shown else ''}zbugs-synth {' '.join(argv)}",
              flush=True)
        t = time.perf_counter()
        with _env(**env):
            code = main(argv)
        timings.append((title, time.perf_counter() - t))
        if code:
            print(f"\nquickstart stopped: step {i} ({title}) exited with {code}")
            return code
    print("\n== quickstart done")
    for title, secs in timings:
        print(f"  {title:<28} {secs:6.1f}s")
    print(f"  report: {Path(args.report).resolve()}")
    print("  connection: `zbugs-synth db-status --show-url` prints ZERO_UPSTREAM_DB for zero-cache")
    return 0


def _refuse_to_replace_other_data(output_dir: str) -> None:
    """Seeding uses ZERO_SEED_FORCE: make sure that only ever replaces quickstart's own dataset."""
    from zbugs_synth.config.database import DbConfig
    from zbugs_synth.db.connect import connect, resolve_db_url
    from zbugs_synth.db.load.bookkeeping import has_bookkeeping, loaded_datasets

    with connect(resolve_db_url(build(DbConfig))) as conn:
        issues = conn.execute('SELECT EXISTS (SELECT 1 FROM "issue")').fetchone()[0]
        users = conn.execute('SELECT EXISTS (SELECT 1 FROM "user")').fetchone()[0]
        loads = loaded_datasets(conn) if has_bookkeeping(conn) else []
    ours = Path(output_dir).resolve()
    others = [d for d in loads if Path(d.source).resolve() != ours]
    if others or ((issues or users) and not loads):
        what = ", ".join(sorted({d.source for d in others})) or "rows not loaded by zbugs-synth"
        raise UserError(f"the local database already holds other data ({what}); quickstart would replace it. "
                        "Rerun with --force to replace it, or `zbugs-synth db-down` and use another "
                        "ZBUGS_PG_DATA for quickstart")
