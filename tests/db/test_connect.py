"""Finding the database (flag > env > .env > local server) and never showing its password."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path
from typing import Any

import pytest

from zbugs_synth.cli import main
from zbugs_synth.config import build
from zbugs_synth.config.database import DbConfig
from zbugs_synth.db.connect import connect, mask_url, resolve_db_url, scrub, with_database
from zbugs_synth.errors import UserError


@pytest.mark.parametrize(("url", "masked", "secret"), [
    ("postgresql://zbugs:s3cr3tpw@127.0.0.1:6434/zbugs", "postgresql://zbugs:****@127.0.0.1:6434/zbugs",
     "s3cr3tpw"),
    ("postgres://u:p%40ss%2Fword@db.example:5432/app?sslmode=require",
     "postgres://u:****@db.example:5432/app?sslmode=require", "p%40ss"),
    ("postgresql://u:pa@ss:w@host/db", "postgresql://u:****@host/db", "pa@ss"),
    ("postgresql://host/db?user=u&password=hunter22&x=1", "postgresql://host/db?user=u&password=****&x=1",
     "hunter22"),
    ("postgresql://u@host/db", "postgresql://u@host/db", None),
    ("host=h user=u password='se cret' dbname=d", "host=h user=u password=**** dbname=d", "se cret"),
    ("host=h password = hunter22 dbname=d", "host=h password = **** dbname=d", "hunter22"),
    # A line break in the password (a pasted value) must not end the match early (from an audit).
    ("postgresql://u:SECRETPW\n@127.0.0.1:6622/x", "postgresql://u:****@127.0.0.1:6622/x", "SECRETPW"),
    ("postgresql://u:SEC\r\nRET@h/x", "postgresql://u:****@h/x", "SEC"),
])
def test_mask_url(url: str, masked: str, secret: str | None) -> None:
    assert mask_url(url) == masked
    if secret:
        assert secret not in mask_url(url)


def test_scrub_hides_raw_and_decoded_password_and_joins_lines() -> None:
    url = "postgresql://u:p%40ssword@h/d"
    text = "failed for p@ssword\n\tand p%40ssword"
    assert scrub(text, url) == "failed for **** and ****"


def test_with_database() -> None:
    assert with_database("postgresql://u:pw@h:1/a?sslmode=disable", "b c") == \
        "postgresql://u:pw@h:1/b%20c?sslmode=disable"
    assert "dbname=other" in with_database("host=h dbname=a", "other")


def _cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, flag: str | None = None,
         env: dict[str, str] | None = None, dotenv: str | None = None) -> DbConfig:
    """`env` None: the process environment (emptied of the URL) plus `.env`, as the CLI reads them."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ZERO_UPSTREAM_DB", raising=False)
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
    args = argparse.Namespace(cfg_db_url=flag, cfg_data_dir=str(tmp_path / "state"))
    return build(DbConfig, args, environ=env)


def test_precedence_flag_env_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dot = "ZERO_UPSTREAM_DB=postgresql://d@h/dotenv\n"
    env = {"ZERO_UPSTREAM_DB": "postgresql://e@h/env"}
    assert resolve_db_url(_cfg(tmp_path, monkeypatch, flag="postgresql://f@h/flag", env=env, dotenv=dot)) \
        == "postgresql://f@h/flag"
    assert resolve_db_url(_cfg(tmp_path, monkeypatch, env=env, dotenv=dot)) == "postgresql://e@h/env"
    assert resolve_db_url(_cfg(tmp_path, monkeypatch, dotenv=dot)) == "postgresql://d@h/dotenv"


def test_explicit_environ_reads_no_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`build(..., environ=...)` is the whole environment: a `.env` in the working directory is ignored."""
    monkeypatch.setenv("ZERO_UPSTREAM_DB", "postgresql://p@h/process")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ZERO_UPSTREAM_DB=postgresql://d@h/dotenv\nZBUGS_PG_DATA=elsewhere\n")
    cfg = build(DbConfig, None, environ={})
    assert cfg.db_url is None and cfg.data_dir == DbConfig().data_dir
    assert build(DbConfig, None, environ={"ZBUGS_PG_DATA": "x"}).data_dir == Path("x")


def test_no_database_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _cfg(tmp_path, monkeypatch, env={"ZERO_UPSTREAM_DB": ""})  # empty means unset
    with pytest.raises(UserError) as err:
        resolve_db_url(cfg)
    msg = str(err.value)
    assert "zbugs-synth db-up" in msg and "ZERO_UPSTREAM_DB" in msg and "\n" not in msg


def test_bad_env_value_is_not_echoed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError) as err:
        _cfg(tmp_path, monkeypatch, env={"ZERO_UPSTREAM_DB": "hunter22secret"})
    assert "ZERO_UPSTREAM_DB" in str(err.value) and "hunter22secret" not in str(err.value)


def test_local_server_found_from_state_dir(pg_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(pg_server.cluster.state_dir.parent)
    cfg = build(DbConfig, argparse.Namespace(cfg_db_url=None, cfg_data_dir=str(pg_server.cluster.state_dir)),
                environ={})
    assert resolve_db_url(cfg) == pg_server.url()
    with connect(with_database(resolve_db_url(cfg), "postgres")) as c:
        assert c.execute("SELECT current_user").fetchone() == ("zbugs",)


def test_wrong_password_is_masked_one_line(pg_server: Any) -> None:
    url = f"postgresql://zbugs:Wr0ngPassw0rd@127.0.0.1:{pg_server.port}/postgres"
    with pytest.raises(UserError) as err:
        connect(url)
    msg = str(err.value)
    assert "password authentication failed" in msg
    assert "Wr0ngPassw0rd" not in msg and "zbugs:****@" in msg and "\n" not in msg


def test_refused_connection_is_one_line() -> None:
    with socket.socket() as s:  # a port nobody listens on: bound but not listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(UserError) as err:
            connect(f"postgresql://u:Sekr1tPass@127.0.0.1:{port}/db")
    msg = str(err.value)
    assert "refused" in msg.lower() and "Sekr1tPass" not in msg and "\n" not in msg


def test_malformed_connection_string_shows_nothing_of_it() -> None:
    with pytest.raises(UserError) as err:
        connect("host=127.0.0.1 password=abc def ghi")
    assert "abc" not in str(err.value) and "def" not in str(err.value)


def test_cli_errors_never_print_password(pg_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    bad = f"postgresql://zbugs:N0tThePassw0rd@127.0.0.1:{pg_server.port}/zbugs"
    assert main(["db-migrate", "--db-url", bad]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "N0tThePassw0rd" not in err and "****" in err
    monkeypatch.setenv("ZERO_UPSTREAM_DB", bad)
    assert main(["db-status"]) == 1
    out = capsys.readouterr().out
    assert "NOT reachable" in out and "N0tThePassw0rd" not in out


def test_cli_status_with_reachable_url(pg_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # no local server here: only the URL counts
    url = pg_server.url("postgres")
    monkeypatch.setenv("ZERO_UPSTREAM_DB", url)
    assert main(["db-status"]) == 0
    out = capsys.readouterr().out
    assert "local PostgreSQL: none" in out and "(reachable)" in out
    assert pg_server.cluster.password() not in out
    assert main(["db-status", "--show-url"]) == 0
    captured = capsys.readouterr()
    assert captured.out == url + "\n"  # the explicit request is the one place the secret is shown
    assert pg_server.cluster.password() not in captured.err


@pytest.mark.parametrize("command", ["db-migrate", "verify", "db-seed-synthetic"])
def test_a_raw_at_sign_in_the_password_is_refused_without_showing_any_of_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str) -> None:
    # libpq would read 'Wr0ngPart@127.0.0.1' as the host and print it in its "cannot resolve" error.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZERO_UPSTREAM_DB", "postgresql://zbugs:Secr3t@Wr0ngPart@127.0.0.1:1/zbugs")
    assert main([command]) == 2
    err = capsys.readouterr().err
    assert "ZERO_UPSTREAM_DB: expected at most one '@' before the host" in err and "%40" in err
    assert "Secr3t" not in err and "Wr0ngPart" not in err and err.count("\n") == 1
    monkeypatch.setenv("ZERO_UPSTREAM_DB", "postgresql://zbugs:Secr3t%40Wr0ngPart@127.0.0.1:1/zbugs?x=a@b")
    assert main([command]) == 2  # encoded: accepted, then the server (none on port 1) is what fails
    err = capsys.readouterr().err
    assert "expected at most one" not in err and "Secr3t" not in err and "Wr0ngPart" not in err


@pytest.mark.parametrize("command", ["db-status", "db-migrate", "verify", "db-seed-synthetic"])
def test_a_bad_zbugs_pg_port_is_refused_by_every_db_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str], command: str) -> None:
    """Only db-up read ZBUGS_PG_PORT: elsewhere -1 or 'abc' passed without a word (a walkthrough)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZBUGS_PG_PORT", "abc")
    assert main([command]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"zbugs-synth {command}: error: ZBUGS_PG_PORT='abc': expected a whole "
                                        "number from 1 to 65,535"]


def test_db_status_says_when_zbugs_pg_port_is_not_where_the_server_listens(
        pg_server: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ZERO_UPSTREAM_DB", raising=False)
    other = pg_server.port + 1 if pg_server.port < 65535 else pg_server.port - 1
    monkeypatch.setenv("ZBUGS_PG_PORT", str(other))
    assert main(["db-status", "--data-dir", str(pg_server.cluster.state_dir)]) == 0
    out = capsys.readouterr().out
    assert f"note: ZBUGS_PG_PORT={other}, but it listens on {pg_server.port}" in out
    # --show-url: the URL alone on stdout, the note still said, on stderr (a review)
    assert main(["db-status", "--data-dir", str(pg_server.cluster.state_dir), "--show-url"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("\n") == 1 and captured.out.startswith("postgresql://")
    assert "note: ZBUGS_PG_PORT" in captured.err and "running on" not in captured.err
    monkeypatch.setenv("ZBUGS_PG_PORT", str(pg_server.port))
    assert main(["db-status", "--data-dir", str(pg_server.cluster.state_dir)]) == 0
    assert "note: ZBUGS_PG_PORT" not in capsys.readouterr().out
