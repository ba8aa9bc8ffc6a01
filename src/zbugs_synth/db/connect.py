"""Which database a DB command talks to, and opening connections without leaking the password.

Resolution (one rule for every DB command): `--db-url` > `ZERO_UPSTREAM_DB` (environment, then
`.env`) > the local server that `db-up` started in the state directory (`--data-dir` /
`ZBUGS_PG_DATA`, default `.zbugs/postgres`). Nothing found is a one-line `UserError`.

Passwords never reach output: URLs are shown through `mask_url`, and error text from libpq goes
through `scrub` (libpq may echo parts of a connection string back).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from zbugs_synth.config.database import ENV_URL, URL_FORMAT, DbConfig
from zbugs_synth.db import server
from zbugs_synth.db.server import walmode
from zbugs_synth.errors import UserError

MASK = "****"


def resolve_db_url(cfg: DbConfig) -> str:
    """The URL a DB command should use (contains the password: never print it, see `mask_url`)."""
    if cfg.db_url:
        if names_local_server(cfg):
            walmode.restore_abandoned(cfg.data_dir)  # as below: the URL is just another name for it
        return cfg.db_url
    # A load killed while the server ran at wal_level=minimal: back to its usual settings first.
    walmode.restore_abandoned(cfg.data_dir)
    running = server.status(cfg.data_dir)
    if running is not None:
        return running.url()
    raise UserError(f"no database: no local server is running in {server.where_looked(cfg.data_dir)} "
                    f"and {ENV_URL} is not set; start one with `zbugs-synth db-up`")


def names_local_server(cfg: DbConfig) -> bool:
    """Whether `cfg`'s URL (ZERO_UPSTREAM_DB, --db-url, .env) is the server db-up runs here: its
    host (loopback), port and database. Then it is ours to restart for a WAL-free load, as without
    the URL: `db-up --print-env >> .env` must not quietly turn the local server into an external one."""
    if not cfg.db_url:
        return True
    try:
        cluster = server.load(cfg.data_dir)  # whether or not it runs: a killed load may have left it down
        running = server.status(cfg.data_dir) if cluster is not None else None
    except UserError:  # a state directory we cannot read: not ours to restart
        return False
    if cluster is None:
        return False
    try:
        parts = conninfo_to_dict(cfg.db_url)
        port = int(parts.get("port") or 5432)
    except (psycopg.Error, ValueError):
        return False
    host = str(parts.get("host") or parts.get("hostaddr") or "")
    return (host in ("127.0.0.1", "localhost", "::1") and port == (running.port if running else cluster.port)
            and str(parts.get("dbname") or "") == cluster.database)


# ---- showing URLs --------------------------------------------------------------------------------

# scheme://user:PASSWORD@host... ; the password runs to the last '@' so that an unencoded '@' in it is
# still hidden (masking too much is the safe direction).
_URL_PASSWORD = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@]*:)(.*)@", re.DOTALL)  # a pasted \n too
_PARAM_PASSWORD = re.compile(r"(?i)([?&]password=)[^&#]*")
_KV_PASSWORD = re.compile(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")


def mask_url(url: str) -> str:
    """`url` with any password replaced by ****; works for URLs and key=value strings, never raises."""
    if "://" in url:
        masked = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}@", url, count=1)
        return _PARAM_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}", masked)
    return _KV_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}", url)


def _passwords(url: str) -> list[str]:
    found: list[str] = []
    if "://" in url:
        m = _URL_PASSWORD.match(url)
        if m:
            found.append(m.group(2))
        found += [p.split("=", 1)[1] for p in re.findall(r"(?i)[?&]password=[^&#]*", url)]
    else:
        found += [v.strip("'") for _k, v in _KV_PASSWORD.findall(url)]
    return [s for p in found for s in {p, unquote(p)} if len(s) >= 3]


def scrub(text: str, url: str) -> str:
    """`text` as one line, with every occurrence of `url`'s password replaced by ****."""
    for secret in sorted(_passwords(url), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return " ".join(text.split())


def with_database(url: str, database: str) -> str:
    """The same server and credentials, another database."""
    if "://" in url:
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path="/" + quote(database, safe="")))
    return make_conninfo(url, dbname=database)


# ---- connecting ----------------------------------------------------------------------------------

def connect(url: str, *, autocommit: bool = False, **kwargs: Any) -> psycopg.Connection[Any]:
    """Open a psycopg connection; any failure is a one-line UserError with the password masked."""
    try:
        conninfo_to_dict(url)
    except psycopg.Error:
        # libpq's parse errors (and even our masking, on a malformed string) may show fragments of
        # the password: name nothing from the string.
        raise UserError(f"the database URL is not a valid PostgreSQL connection string "
                        f"(expected {URL_FORMAT})") from None
    kwargs.setdefault("connect_timeout", 10)
    try:
        return psycopg.connect(url, autocommit=autocommit, **kwargs)
    except psycopg.Error as e:
        raise UserError(f"cannot connect to {mask_url(url)}: {scrub(str(e), url)}") from None


def database_exists(admin: psycopg.Connection[Any], name: str) -> bool:
    return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def create_database(url: str, name: str, *, template: str | None = None, if_missing: bool = True) -> bool:
    """Create database `name` on `url`'s server (via its `postgres` database); True if created."""
    with connect(with_database(url, "postgres"), autocommit=True) as admin:
        if if_missing and database_exists(admin, name):
            return False
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt = sql.SQL("{} TEMPLATE {}").format(stmt, sql.Identifier(template))
        try:
            admin.execute(stmt)
        except psycopg.Error as e:
            raise UserError(f"cannot create database {name!r} on {mask_url(url)}: "
                            f"{scrub(str(e), url)}") from None
    return True


def drop_database(url: str, name: str) -> None:
    with connect(with_database(url, "postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def database_name(url: str) -> str:
    """The database `url` names (libpq's default: the user name)."""
    params = conninfo_to_dict(url)
    return str(params.get("dbname") or params.get("user") or "")
