"""A PostgreSQL of the tests' own that the loader may restart (wal_level=minimal loads), and killing
the command at a moment observed from outside (not a hook inside it)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from loader_helpers import SRC, Ran

from zbugs_synth.db import connect, server
from zbugs_synth.db.schema import migrate
from zbugs_synth.db.server import walmode
from zbugs_synth.errors import UserError


@dataclass
class Embedded:
    state: Path
    root: Path

    @property
    def running(self) -> server.Running:
        r = server.status(self.state)
        assert r is not None, "the embedded server is not running"
        return r

    @property
    def url(self) -> str:
        return self.running.url()

    def wal_level(self) -> str:
        with psycopg.connect(self.url, autocommit=True) as c:
            return str(c.execute("SHOW wal_level").fetchone()[0])  # type: ignore[index]

    def at_minimal(self) -> bool:
        return walmode.at_minimal(self.running.cluster)

    def reset_database(self) -> None:
        """The command's database, dropped and migrated afresh."""
        url = self.url
        connect.drop_database(url, server.DATABASE)
        connect.create_database(url, server.DATABASE)
        migrate.migrate(url)


def embedded_server(reachable_tmpdir: Callable[[str], Path], free_port: Callable[[], int]) -> Iterator[Embedded]:
    root = reachable_tmpdir("zbugs-test-embedded-")
    state = root / "state"
    try:
        server.up(state, free_port(), fast=True)
        yield Embedded(state, root)
    finally:
        walmode.leave_minimal(state)
        server.down(state)
        shutil.rmtree(root, ignore_errors=True)


def command_env(state: Path, **env: str) -> dict[str, str]:
    """The environment of a command that talks to the embedded server (no ZERO_UPSTREAM_DB)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("ZERO_", "ZBUGS_", "NUM_", "SEED"))}
    full.update({"ZBUGS_PG_DATA": str(state), "PYTHONPATH": str(SRC), **env})
    return full


def run(cwd: Path, state: Path, *args: str, timeout: float = 600, **env: str) -> Ran:
    done = subprocess.run([sys.executable, "-m", "zbugs_synth", *args], cwd=cwd, env=command_env(state, **env),
                          capture_output=True, text=True, timeout=timeout)
    return Ran(done.returncode, done.stdout, done.stderr)


def default_signals() -> None:
    """For a child that must take Ctrl-C and stop signals as a terminal's command does: a suite started
    in the background (`cmd &` in a script, `nohup`) runs with SIGINT or SIGHUP ignored, which children
    inherit and keep (Python, and zbugs-synth on purpose: nohup must stay effective)."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_DFL)


def kill_when(cwd: Path, state: Path, args: list[str], moment: Callable[[], bool], env: dict[str, str],
              timeout: float = 120.0, sig: int = signal.SIGKILL, group: bool = False,
              victim: Callable[[], int] | None = None) -> Ran:
    """Start the command, send it `sig` (SIGKILL) as soon as `moment()` is true (polled); fails if it
    ended first. For a signal it may handle, its exit as it ends. `group`: to its whole process group,
    as a terminal sends Ctrl-C (the command runs in a session of its own). `victim`: the pid to send
    it to instead (the server's postmaster, say); the command's exit as it ends."""
    proc = subprocess.Popen([sys.executable, "-m", "zbugs_synth", *args], cwd=cwd, env=command_env(state, **env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=default_signals)
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                hit = moment()
            except (psycopg.Error, OSError, AssertionError, UserError):
                hit = False  # the server restarting, a table not there yet: look again
            if hit:
                (os.killpg if group else os.kill)(victim() if victim else proc.pid, sig)
                break
            time.sleep(0.01)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGKILL and victim is None and proc.returncode != -signal.SIGKILL:
        pytest.fail(f"the command ended (exit {proc.returncode}) before the moment to kill it came:\n{out}\n{err}")
    return Ran(proc.returncode, out, err)
