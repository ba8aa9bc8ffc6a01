"""`zbugs-synth quickstart`: the whole path in one command, on the embedded PostgreSQL.

db-up -> db-migrate -> generate-synthetic (small) -> db-seed-synthetic -> verify, each step the same
function its subcommand runs, given settings of quickstart's own (so quickstart proves the documented
path works, and a shell set up for the guide's batches cannot change what it does), with a summary
at the end. Safe to rerun: every step is idempotent, and the dataset is re-seeded with force only
into the local server, and only when that server holds nothing but quickstart's own data (anything
else needs `--force`: quickstart never silently replaces a dataset you loaded).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from zbugs_synth.commands import add_progress_flag
from zbugs_synth.config import ParseError, build, directory_value, integer
from zbugs_synth.errors import UserError

if TYPE_CHECKING:
    from zbugs_synth.config.generate import GenerateConfig
    from zbugs_synth.config.seed import SeedConfig

DEFAULT_DIR = Path("db/seed-data/quickstart/")

DESCRIPTION = """Start the embedded PostgreSQL, create the zbugs schema, generate a small dataset (10,000 issues by
default), bulk-load it and verify it. Rerunning is safe.

quickstart is hermetic: its dataset is set by its own flags only. The generator's and the loader's
variables (NUM_ISSUES, SEED, SKIP_USERS, NUM_PROJECTS, OUTPUT_DIR, ZERO_SEED_APPEND, ZERO_SEED_DATA_DIR,
... in the environment or .env) are ignored, so a shell set up for the guide's batches runs the same
quickstart. Only where the local server lives is read: ZBUGS_PG_PORT and ZBUGS_PG_DATA. ZERO_UPSTREAM_DB
is refused (quickstart uses the embedded server only).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quickstart",
        help="db-up, db-migrate, generate a small dataset, seed it, verify (the README's first command)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
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


def run(args: argparse.Namespace) -> int:
    from zbugs_synth.commands import db, generate_synthetic, seed, verify
    from zbugs_synth.config.database import DbConfig, ServerConfig
    from zbugs_synth.config.seed import SeedConfig, Tuning
    from zbugs_synth.config.verify import VerifyConfig
    from zbugs_synth.db.connect import names_local_server

    try:
        n = integer(1, 10**9)(args.num_issues)
    except ValueError as e:
        raise UserError(f"--num-issues {args.num_issues!r}: {e}") from None
    given = build(DbConfig)
    # From the environment or .env, a URL would redirect every step; one naming the local server
    # itself (as `db-up --print-env >> .env` writes it, which db-up's output suggests) does not.
    if given.db_url and not names_local_server(given):
        raise UserError("ZERO_UPSTREAM_DB is set (environment or .env): quickstart uses the embedded "
                        "PostgreSQL only; unset it, or run the steps one by one against your server")
    # Where the local server lives is the only thing read from the environment; everything else is
    # quickstart's own, built here explicitly (defaults plus quickstart's flags).
    server_cfg = build(ServerConfig)
    local = DbConfig(data_dir=server_cfg.data_dir, db_url=None)
    data = Path(args.output_dir)
    # Before step 1, not after replacing the database's data.
    try:
        directory_value(args.output_dir)
    except ParseError as e:
        raise UserError(f"--output-dir {args.output_dir}: {e}") from None
    verify.check_writable(Path(args.report))

    seed_cfg = SeedConfig(data_dir=local.data_dir, db_url=None, seed_dir=data, force=True)

    def generate_step() -> int:
        return generate_synthetic.generate_dataset(_generate_config(n, data), args.progress)

    steps: list[tuple[str, str, Callable[[], int]]] = [
        ("start PostgreSQL", "zbugs-synth db-up", lambda: db.up(server_cfg, hints=False)),
        ("create the zbugs schema", "zbugs-synth db-migrate", lambda: db.migrate_schema(local)),
        (f"generate {n:,} issues",
         f"zbugs-synth generate-synthetic --num-issues {n} --output-dir {data} --all-tables --force",
         generate_step),
        ("bulk-load the dataset", f"zbugs-synth db-seed-synthetic --seed-data-dir {data} --force",
         lambda: seed.load(seed_cfg, Tuning(), args.progress, command="quickstart")),
        ("verify", f"zbugs-synth verify --report {args.report}",
         lambda: verify.verify_database(
             VerifyConfig(data_dir=local.data_dir, db_url=None, report=Path(args.report)), args.progress)),
    ]
    timings = []
    for i, (title, equivalent, step) in enumerate(steps, 1):
        if step is generate_step:
            # The seed step forces: refuse here, before the work of generating, if that would replace
            # data that is not quickstart's own (the database is up and migrated by now), or could not
            # (another dataset's interrupted load is open: --force does not undo it).
            _refuse_to_replace_other_data(seed_cfg, _dataset_id(n, data), open_only=args.force)
        print(f"\n== [{i}/{len(steps)}] {title}: {equivalent}", flush=True)
        t = time.perf_counter()
        try:
            code = step()
        except UserError:
            print(f"\nquickstart stopped: step {i} ({title}) failed", flush=True)
            raise
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


def _generate_config(n: int, data: Path) -> GenerateConfig:
    from zbugs_synth.config.generate import GenerateConfig

    return GenerateConfig(num_issues=n, output_dir=data, all_tables=True, force=True)


def _dataset_id(n: int, data: Path) -> str:
    from zbugs_synth.generate.driver import prepare

    return prepare(_generate_config(n, data)).dataset_id


def _refuse_to_replace_other_data(cfg: SeedConfig, dataset_id: str, *, open_only: bool = False) -> None:
    """Seeding uses force: make sure that only ever replaces quickstart's own dataset (`open_only`,
    with --force: only that no interrupted load of another dataset is open, its own directory's
    included (another --num-issues), which the seed step would refuse after generating)."""
    from zbugs_synth.db.connect import connect, resolve_db_url
    from zbugs_synth.db.load.bookkeeping import has_bookkeeping, loaded_datasets

    output_dir = cfg.seed_dir
    with connect(resolve_db_url(cfg)) as conn:
        issues = conn.execute('SELECT EXISTS (SELECT 1 FROM "issue")').fetchone()[0]
        users = conn.execute('SELECT EXISTS (SELECT 1 FROM "user")').fetchone()[0]
        loads = loaded_datasets(conn) if has_bookkeeping(conn) else []
    ours = Path(output_dir).resolve()
    others = [d for d in loads if Path(d.source).resolve() != ours]
    stuck = [d for d in loads if not d.finished and d.dataset_id != dataset_id]
    if stuck and (open_only or all(Path(d.source).resolve() == ours for d in stuck)):
        raise UserError(f"an interrupted load of {stuck[0].source} (another dataset than this run's) is open in the "
                        "local database; --force does not undo it: run `ZERO_SEED_RESET=true zbugs-synth "
                        "db-seed-synthetic` first, then quickstart again")
    if open_only:
        return
    if others or ((issues or users) and not loads):
        what = ", ".join(sorted({d.source for d in others})) or "rows not loaded by zbugs-synth"
        raise UserError(f"the local database already holds other data ({what}); quickstart would replace it. "
                        "Rerun with --force to replace it, or `zbugs-synth db-down` and use another "
                        "ZBUGS_PG_DATA for quickstart")
