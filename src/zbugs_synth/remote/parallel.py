"""Run one function over many items on a thread pool, stopping everyone at the first failure.

Transfers are I/O-bound, so threads are enough. Workers are expected to check `stop` between
chunks; on the first exception (or Ctrl-C) we set it, let running workers notice, and re-raise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from zbugs_synth.errors import Cancelled

T = TypeVar("T")
R = TypeVar("R")


def run_parallel(
    items: Iterable[T], fn: Callable[[T, threading.Event], R], jobs: int, stop: threading.Event | None = None
) -> list[R]:
    """`[fn(item, stop) for item in items]`, `jobs` at a time; the first real error is re-raised."""
    stop = stop or threading.Event()
    work = list(items)
    if not work:
        return []
    pool = ThreadPoolExecutor(max_workers=max(1, min(jobs, len(work))), thread_name_prefix="zbugs-remote")
    futures: list[Future[R]] = [pool.submit(fn, item, stop) for item in work]
    try:
        _, pending = wait(futures, return_when=FIRST_EXCEPTION)
        if pending:
            stop.set()
            for f in pending:
                f.cancel()  # not started yet: never start
            wait(pending)
    except BaseException:  # Ctrl-C while waiting: tell workers to stop, then let it propagate
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    errors = [e for f in futures if not f.cancelled() and (e := f.exception()) is not None]
    real = [e for e in errors if not isinstance(e, Cancelled)]
    if real or errors:
        raise (real or errors)[0]
    return [f.result() for f in futures]
