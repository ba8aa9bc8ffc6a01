"""`db-up`, `db-down`, `db-status`, `db-migrate`: a local PostgreSQL and the zbugs schema.

The server's password is printed only on explicit request (`db-up --print-env`,
`db-status --show-url`), on stdout alone so it can be appended to `.env`; every other line
shows the URL masked.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from typing import TextIO

import psycopg

from zbugs_synth.config import add_arguments, build
from zbugs_synth.config.database import ENV_URL, DbConfig, ServerConfig, StateConfig
from zbugs_synth.db import server
from zbugs_synth.db.connect import (
    connect,
    create_database,
    database_name,
    mask_url,
    resolve_db_url,
)
from zbugs_synth.db.load.session import loader_at_work
from zbugs_synth.db.load.state import has_open_run
from zbugs_synth.db.schema.migrate import migrate, pending
from zbugs_synth.db.server import walmode
from zbugs_synth.errors import UserError

Say = Callable[[str], None]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db-up", help="start a local PostgreSQL for zbugs (idempotent)",
                       description="Start (initialising on first use) a local PostgreSQL on 127.0.0.1 with "
                                   "logical replication, or report the one already running.")
    add_arguments(p, ServerConfig)
    p.add_argument("--print-env", action="store_true",
                   help=f"print only the full {ENV_URL}=... line (contains the password) on stdout")
    p.set_defaults(func=run_up)

    p = sub.add_parser("db-down", help="stop the local PostgreSQL started by db-up",
                       description="Stop the local PostgreSQL that db-up started for this project (a fast "
                                   "shutdown: open transactions are rolled back, data is kept). Only our own "
                                   "server process is ever signalled. Start it again with db-up.")
    add_arguments(p, StateConfig)
    p.set_defaults(func=run_down)

    p = sub.add_parser("db-status", help="say which PostgreSQL DB commands use and whether it is up "
                                         "(exit 1 if not)",
                       description="Say whether the local PostgreSQL started by db-up runs (and where its state "
                                   "is), and which database the DB commands use: ZERO_UPSTREAM_DB when set, "
                                   "otherwise the local server. Exit 0 when that database is reachable, 1 if not.")
    add_arguments(p, DbConfig)
    p.add_argument("--show-url", action="store_true",
                   help="print only the full URL DB commands use (contains the password) on stdout")
    p.set_defaults(func=run_status)

    p = sub.add_parser("db-migrate", help="create or update the zbugs schema (idempotent)",
                       description="Apply the zbugs migrations not yet applied (tables, indexes, foreign keys, "
                                   "triggers, the zero_zbugs publication and the built-in Zero project) to the "
                                   "database the DB commands use; creates the local server's database if "
                                   "missing. Running it again applies nothing.")
    add_arguments(p, DbConfig)
    p.set_defaults(func=run_migrate)


_VERBS = {
    "initialized": "initialized and started",
    "started": "started",
    "adopted": "already running",
    "recovered": "restarted after an unclean stop",
}


def run_up(args: argparse.Namespace) -> int:
    return up(build(ServerConfig, args), print_env=args.print_env)


def up(cfg: ServerConfig, *, print_env: bool = False, hints: bool = True) -> int:
    """db-up with explicit settings (quickstart calls this too, without the `hints` of what to run next:
    its own next steps follow)."""
    restored = walmode.restore_abandoned(cfg.data_dir)  # a killed load's wal_level=minimal does not outlive it
    result = server.up(cfg.data_dir, cfg.port, data_checksums=cfg.data_checksums)
    running = result.running
    url = running.url()
    created = create_database(url, running.cluster.database)
    out = sys.stderr if print_env else sys.stdout
    say = _printer(out)
    if restored:  # else "already running" would hide the restart (a crash campaign)
        say("local PostgreSQL: restarted at wal_level=logical (an interrupted load had left it at minimal, "
            "or stopped)")
    if result.created_os_user:
        say(f"created system user {result.created_os_user!r} to run PostgreSQL (it refuses to run as root; "
            f"remove it with `userdel {result.created_os_user}` once no server needs it)")
    say(f"PostgreSQL {_VERBS[result.action]} on {server.HOST}:{running.port} (pid {running.pid})")
    if running.cluster.os_user:
        say(f"  runs as OS user {running.cluster.os_user!r} (we are root)")
    if result.action == "adopted" and cfg.port is not None and running.port != cfg.port:
        say(f"  note: it listens on {running.port}, not {cfg.port}; "
            "run `zbugs-synth db-down` first to move it")
    say(f"  data: {running.cluster.pgdata}")
    if not running.cluster.home.is_relative_to(running.cluster.state_dir):
        say(f"        (outside {cfg.data_dir}: OS user {running.cluster.os_user} cannot enter that directory)")
    if created:
        say(f"  created database {running.cluster.database!r}")
    _note_checksums(say, url, cfg.data_checksums, running.cluster.pgdata)
    say(f"  URL:  {mask_url(url)}")
    _note_env_override(say, url)
    if print_env:
        print(f"{ENV_URL}={url}")
    elif hints:
        say(f"  full {ENV_URL}= line (shows the password): zbugs-synth db-up --print-env >> .env")
        say(f"  next: {_next_step(url)}")
    return 0


def _note_checksums(say: Say, url: str, wanted: bool, pgdata: object) -> None:
    """--data-checksums asked for a cluster made without them: it applies only when db-up makes one."""
    if not wanted:  # clusters made before db-up turned them off keep them, silently (README says how)
        return
    with connect(url) as conn:
        row = conn.execute("SHOW data_checksums").fetchone()
    if row and row[0] != "on":
        say("  note: this cluster was made without data checksums (ZBUGS_PG_DATA_CHECKSUMS applies when db-up "
            f"makes a cluster); to add them: zbugs-synth db-down, then PostgreSQL's pg_checksums --enable -D "
            f"{pgdata} as the server's OS user")


def _next_step(url: str) -> str:
    """What to run after db-up, from what the database already holds."""
    if pending(url):
        return "zbugs-synth db-migrate"
    with connect(url) as conn:
        open_load = _open_load_note(conn)
        if open_load:  # not "holds data: verify" while its indexes, keys or triggers are off
            return open_load.removeprefix("note: ")
        has_issues = conn.execute('SELECT EXISTS (SELECT 1 FROM "issue")').fetchone()
    if has_issues and has_issues[0]:
        return "the schema is up to date and holds data: zbugs-synth verify (or point zero-cache at it)"
    return "the schema is up to date: zbugs-synth generate-synthetic, then zbugs-synth db-seed-synthetic"


def run_down(args: argparse.Namespace) -> int:
    cfg = build(StateConfig, args)
    stopped = server.down(cfg.data_dir)
    walmode.forget_abandoned(cfg.data_dir)  # else the next command would start it again for a dead load
    if stopped is None:
        print(f"no PostgreSQL is running for {server.where_looked(cfg.data_dir)}")
    else:
        print(f"stopped PostgreSQL on {server.HOST}:{stopped.port} (pid {stopped.pid})")
    return 0


def run_status(args: argparse.Namespace) -> int:
    cfg = build(DbConfig, args)
    # --show-url is for `$(...)`: the URL alone, unless something is wrong or was repaired.
    held: list[str] = []
    say = held.append if args.show_url else _printer(sys.stdout)
    if walmode.restore_abandoned(cfg.data_dir):
        _printer(sys.stderr if args.show_url else sys.stdout)(
            "local PostgreSQL: restarted at wal_level=logical (an interrupted load had left it at minimal, "
            "or stopped)")
    running = server.status(cfg.data_dir)
    if running is not None:
        say(f"local PostgreSQL: running on {server.HOST}:{running.port} (pid {running.pid}), "
            f"data {running.cluster.pgdata}")
        if cfg.pg_port is not None and cfg.pg_port != running.port:
            say(f"  note: ZBUGS_PG_PORT={cfg.pg_port}, but it listens on {running.port} (db-up started it there); "
                "run `zbugs-synth db-down` then `db-up` to move it")
    elif server.load(cfg.data_dir) is not None:
        say(f"local PostgreSQL: stopped (state in {cfg.data_dir}; start it with `zbugs-synth db-up`)")
    else:
        say(f"local PostgreSQL: none in {server.where_looked(cfg.data_dir)}; start one with `zbugs-synth db-up`")
    if cfg.db_url:
        up = _reachable(cfg.db_url, say)
    else:
        up = running is not None
        if running is not None:
            say(f"DB commands use the local server: {mask_url(running.url())}")
    if up:
        _note_open_load(resolve_db_url(cfg), say)
    if args.show_url:
        if not up:
            for line in held:
                print(line, file=sys.stderr)
            print("zbugs-synth db-status: error: no reachable database to show the URL of", file=sys.stderr)
            return 1
        for line in held:  # the notes still matter (an open load, a port elsewhere): stderr, not $(...)
            if line.lstrip().startswith("note:"):
                print(line, file=sys.stderr)
        print(resolve_db_url(cfg))
    return 0 if up else 1


INTERRUPTED_NOTE = ("note: a db-seed-synthetic load was interrupted here, so some indexes, keys or triggers are off "
                    "until it ends: run that load again to finish it, or ZERO_SEED_RESET=true zbugs-synth "
                    "db-seed-synthetic to undo it")


def _open_load_note(conn: psycopg.Connection) -> str | None:
    """A load that is not over: its rows, indexes, keys or triggers are not all there yet."""
    if not has_open_run(conn):
        return None
    return "note: a db-seed-synthetic load is at work on this database" if loader_at_work(conn) else INTERRUPTED_NOTE


def _note_open_load(url: str, say: Say) -> None:
    """db-status's `_open_load_note` (it said nothing of an open load, from an audit). Unreadable (no
    schema yet, no rights): nothing to say."""
    try:
        with connect(url) as conn:
            note = _open_load_note(conn)
    except (UserError, psycopg.Error):
        return
    if note:
        say(note)


def run_migrate(args: argparse.Namespace) -> int:
    return migrate_schema(build(DbConfig, args))


def migrate_schema(cfg: DbConfig) -> int:
    """db-migrate with explicit settings (quickstart calls this too)."""
    url = resolve_db_url(cfg)
    if cfg.db_url is None and create_database(url, database_name(url)):
        print(f"created database {database_name(url)!r}")
    result = migrate(url)
    if result.applied:
        print(f"applied {len(result.applied)} migration(s) to {mask_url(url)}: {', '.join(result.applied)}")
    else:
        print(f"nothing to apply: {mask_url(url)} is up to date ({result.already} migrations)")
    with connect(url) as conn:
        row = conn.execute("SHOW wal_level").fetchone()
        # Up to date is about migrations; a load stopped midway leaves indexes, keys or triggers off.
        interrupted = _open_load_note(conn) == INTERRUPTED_NOTE
    if row and row[0] != "logical":
        print(f"note: this server has wal_level={row[0]}; zero-cache needs wal_level=logical to replicate")
    if interrupted:
        print(INTERRUPTED_NOTE)
    return 0


def _reachable(url: str, say: Say) -> bool:
    try:
        with connect(url) as conn:
            conn.execute("SELECT 1")
    except UserError as e:
        say(f"DB commands use {ENV_URL}: {mask_url(url)}: NOT reachable ({e})")
        return False
    say(f"DB commands use {ENV_URL}: {mask_url(url)} (reachable)")
    return True


def _note_env_override(say: Say, local_url: str) -> None:
    other = build(DbConfig).db_url
    if other and other != local_url:
        say(f"  note: {ENV_URL} is set ({mask_url(other)}): DB commands use that server, not this one")


def _printer(out: TextIO) -> Say:
    return functools.partial(print, file=out)
