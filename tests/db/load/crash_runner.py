"""Run `zbugs-synth db-seed-synthetic` and kill it at an exact point (the crash tests' process).

    python tests/db/load/crash_runner.py        (ZBUGS_TEST_CRASH_AT=<point>[:args], as below)

Test-only: the loader has no hook of its own. This runner wraps the loader's functions from outside
before calling the CLI, and sends itself SIGKILL (or, with ZBUGS_TEST_CRASH_SIGNAL=INT, SIGINT: what
Ctrl-C does) when the point is reached. Points:

- `before-drop`: every check passed, nothing changed yet (Loader._start not entered);
- `start-committed`: the transaction that saved and dropped the schema objects committed, the loader
  has not yet taken note that the load is open;
- `after-drop`: right after the transaction that saved and dropped the schema objects (before any COPY);
- `copy:<table>[:<k>]`: halfway through sending the k-th shard of `table` (default the first);
- `index[:<k>]` / `fk[:<k>]`: the k-th index build / foreign key validation is sent to the server,
  then the process dies while the server goes on with it alone;
- `after-load`: the load finished (every object back), its summary not yet made;
- `after-constraints`: the foreign keys are added NOT VALID, their validation not started;
- `after-triggers`: triggers are back, ANALYZE and the finish not done.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from zbugs_synth.cli import main
from zbugs_synth.db.load import jobs
from zbugs_synth.db.load.loader import Loader

SPEC = os.environ.get("ZBUGS_TEST_CRASH_AT", "")
SIGNAL = signal.SIGINT if os.environ.get("ZBUGS_TEST_CRASH_SIGNAL", "").upper() in ("INT", "SIGINT") \
    else signal.SIGKILL
POINT, *ARGS = SPEC.split(":") if SPEC else [""]
_lock = threading.Lock()
_counts: dict[str, int] = {}


def die() -> None:
    os.kill(os.getpid(), SIGNAL)


def nth(key: str, k: int) -> bool:
    with _lock:
        _counts[key] = _counts.get(key, 0) + 1
        return _counts[key] == k


def wrap(owner: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    setattr(owner, name, make(getattr(owner, name)))


class _HalfwayFile:
    """A file that kills the process once half of it has been read (the COPY is mid-stream then)."""

    def __init__(self, fh: Any, at: int) -> None:
        self.fh, self.at, self.read_bytes = fh, at, 0

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        before = self.read_bytes
        self.read_bytes += len(data)
        if before < self.at <= self.read_bytes:
            die()
        return data

    def __enter__(self) -> _HalfwayFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.fh.close()


def install() -> None:
    if POINT == "before-drop":
        def before_start(orig: Callable[..., Any]) -> Callable[..., Any]:
            def fn(self: Loader, *a: Any, **kw: Any) -> Any:
                die()
                return orig(self, *a, **kw)
            return fn
        wrap(Loader, "_start", before_start)
    elif POINT == "start-committed":
        def after_start(orig: Callable[..., Any]) -> Callable[..., Any]:
            def fn(self: Loader, *a: Any, **kw: Any) -> Any:
                orig(self, *a, **kw)
                die()
            return fn
        wrap(Loader, "_start", after_start)
    elif POINT == "after-load":
        from zbugs_synth.db import schema

        done: list[bool] = []

        def note_done(orig: Callable[..., Any]) -> Callable[..., Any]:
            def fn(self: Loader, *a: Any, **kw: Any) -> Any:
                out = orig(self, *a, **kw)
                done.append(True)
                return out
            return fn

        def die_once_done(orig: Callable[..., Any]) -> Callable[..., Any]:
            def fn(*a: Any, **kw: Any) -> Any:
                if done:
                    die()
                return orig(*a, **kw)
            return fn
        wrap(Loader, "_load", note_done)
        wrap(schema, "differences", die_once_done)
    elif POINT == "after-drop":
        # The load's first step after the transaction that dropped the objects (the loader knows the
        # load is open by then, as a Ctrl-C at this point must say).
        def before_load(orig: Callable[..., Any]) -> Callable[..., Any]:
            def fn(self: Loader, *a: Any, **kw: Any) -> Any:
                die()
                return orig(self, *a, **kw)
            return fn
        wrap(Loader, "_load", before_load)
    elif POINT == "copy":
        table, k = ARGS[0], int(ARGS[1]) if len(ARGS) > 1 else 1
        armed: dict[str, int] = {}

        def around_copy(orig: Callable[..., Any]) -> Callable[..., Any]:
            def fn(conn: Any, run_id: int, f: Any, *a: Any, **kw: Any) -> Any:
                if f.table == table and nth(table, k):
                    armed[str(f.path)] = f.bytes // 2
                return orig(conn, run_id, f, *a, **kw)
            return fn
        wrap(jobs, "_copy_one", around_copy)

        def crash_open(path: Any, mode: str = "r", *a: Any, **kw: Any) -> Any:
            fh = open(path, mode, *a, **kw)  # noqa: SIM115 - handed to the caller's `with`
            at = armed.pop(str(path), None)
            return fh if at is None else _HalfwayFile(fh, at)
        jobs.open = crash_open  # type: ignore[attr-defined]  # the module's global shadows the builtin
    elif POINT in ("index", "fk"):
        k = int(ARGS[0]) if ARGS else 1
        name, sql = ("build_index", "build_sql") if POINT == "index" else ("validate_fk", "validate_sql")

        def send_and_die(orig: Callable[..., Any]) -> Callable[..., Any]:
            def fn(conn: Any, obj: Any) -> Any:
                if nth(POINT, k):
                    # Hand the statement to the server and die while it runs (the backend goes on alone).
                    conn.pgconn.send_query(getattr(obj, sql)().encode())
                    conn.pgconn.flush()
                    die()
                return orig(conn, obj)
            return fn
        wrap(jobs, name, send_and_die)
    elif POINT in ("after-constraints", "after-triggers"):
        kind = "fk" if POINT == "after-constraints" else "analyze"

        def before_stage(orig: Callable[..., Any]) -> Callable[..., Any]:
            def fn(self: Loader, pool: Any, batch: list[Any]) -> Any:
                if batch and all(j.kind == kind for j in batch):  # the stage itself (stage 1 analyzes too)
                    die()
                return orig(self, pool, batch)
            return fn
        wrap(Loader, "_run", before_stage)
    elif POINT:
        raise SystemExit(f"unknown crash point {SPEC!r}")


if __name__ == "__main__":
    if SIGNAL == signal.SIGINT:
        # A process started in the background by a non-interactive shell inherits SIGINT ignored, and
        # Python then installs no KeyboardInterrupt handler: restore what a terminal's Ctrl-C meets.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    install()
    sys.exit(main(["db-seed-synthetic", *sys.argv[1:]]))
