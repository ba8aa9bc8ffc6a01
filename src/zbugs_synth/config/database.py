"""Settings of the database commands: where the local server lives, which database to use."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zbugs_synth.config import ParseError, boolean, directory_value, integer, setting
from zbugs_synth.db.server import DEFAULT_PORT, DEFAULT_STATE_DIR, HOST, PROJECT_MARKER, find_state_dir

ENV_URL = "ZERO_UPSTREAM_DB"
URL_FORMAT = "postgresql://user:password@host:port/database"


def _url(text: str) -> str | None:
    s = text.strip()
    if not s:
        return None  # an empty ZERO_UPSTREAM_DB= line means "not set"
    if "://" not in s and "=" not in s:
        raise ParseError(f"expected a connection URL like {URL_FORMAT}")
    if "://" in s:
        # libpq ends the user info at the first '@': a raw '@' in a password would make the rest of the
        # password part of the host name, and that host name part of libpq's error message.
        authority = s.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
        if authority.count("@") > 1:
            raise ParseError("expected at most one '@' before the host: write an '@' in the user name or "
                             "password as %40")
    return s


@dataclass(frozen=True)
class StateConfig:
    """Where the local server started by `db-up` keeps its state."""

    data_dir: Path = setting(
        None, env="ZBUGS_PG_DATA", flag="--data-dir", parse=directory_value,
        help="state directory of the local PostgreSQL started by db-up",
        shown=f"{DEFAULT_STATE_DIR} of the working directory, or of the nearest parent directory that has "
              f"{PROJECT_MARKER}/")

    def __post_init__(self) -> None:
        if self.data_dir is None:  # not set: the project's, found from anywhere inside it (like git)
            object.__setattr__(self, "data_dir", find_state_dir())


@dataclass(frozen=True)
class DbConfig(StateConfig):
    """What every DB command needs to find its database."""

    db_url: str | None = setting(
        None, env=ENV_URL, flag="--db-url", parse=_url, secret=True,
        help=f"PostgreSQL URL ({URL_FORMAT}); default: the local server started by db-up")
    # db-up's port, read here only to be checked: the local server is found by its state directory
    # and listens where db-up started it (a bad value was ignored by every other command).
    pg_port: int | None = setting(None, env="ZBUGS_PG_PORT", parse=integer(1, 65535),
                                  help="the port db-up starts the local server on (the other commands find it "
                                       "where it runs)")


@dataclass(frozen=True)
class ServerConfig(StateConfig):
    port: int | None = setting(None, env="ZBUGS_PG_PORT", flag="--port", parse=integer(1, 65535),
                               help=f"TCP port on {HOST} for the local PostgreSQL",
                               shown=f"the port it used last; {DEFAULT_PORT} for a new server")
    data_checksums: bool = setting(False, env="ZBUGS_PG_DATA_CHECKSUMS", flag="--data-checksums", parse=boolean,
                                   help="initialise a new cluster with data checksums (off by default: verifying "
                                        "them costs about a seventh of every scan, for synthetic data that can be "
                                        "made again; an existing cluster keeps what it has)")


