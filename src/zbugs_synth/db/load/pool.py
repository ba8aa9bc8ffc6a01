"""Run loader jobs on N database connections at once, respecting their dependencies.

A job is a function of a connection. It starts when the jobs it depends on have succeeded and no
job of the same lane is running (a lane serialises jobs that would only queue behind each other's
locks); among ready jobs the highest priority goes first (big index builds before small ones, so
the last minutes are not spent on one long build while the other connections idle).

A failed job blocks the jobs that depend on it; the others go on, so every independent problem is
reported in one run. A job marked `fatal` stops the whole pool instead: queued jobs are dropped and
running ones are cancelled on the server.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import psycopg

from zbugs_synth.errors import Cancelled

Conn = psycopg.Connection[Any]


@dataclass
class Job:
    key: str
    kind: str  # copy | index | fk | analyze: for timings
    fn: Callable[[Conn], None]
    deps: frozenset[str] = frozenset()
    lane: str | None = None
    priority: float = 0.0
    fatal: bool = False  # a failure stops the pool (bad data in a CSV file)
    started: float = 0.0
    ended: float = 0.0


class Blocked(Exception):
    """Not run: a job it depends on failed."""


@dataclass
class Outcome:
    jobs: list[Job]
    failures: dict[str, BaseException] = field(default_factory=dict)
    fatal: BaseException | None = None

    def span(self, kind: str) -> float:
        """Wall time from the first start to the last end of the jobs of one kind."""
        return span_of(self.ran(kind))

    def ran(self, kind: str) -> list[Job]:
        """The jobs of one kind that ran to their end."""
        return [j for j in self.jobs if j.kind == kind and j.ended]


def span_of(jobs: list[Job]) -> float:
    """Wall time from the first start to the last end of `jobs` (which ran to their end)."""
    return max(j.ended for j in jobs) - min(j.started for j in jobs) if jobs else 0.0


class Pool:
    """N worker threads, each with its own connection (opened on first use, reused for every job)."""

    def __init__(self, connect: Callable[[], Conn], size: int, stop: threading.Event | None = None) -> None:
        self._connect = connect
        self.size = max(1, size)
        # Set when the pool stops (a fatal failure, Ctrl-C): for jobs whose work is not a statement the
        # server can cancel, such as generating rows for a COPY (the server discards a cancelled COPY's
        # data, so the client would go on sending it until the job's natural end).
        self.stop = stop or threading.Event()
        self._local = threading.local()
        self._conns: list[Conn] = []
        self._active: dict[str, Conn] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="seed")

    def _conn(self) -> Conn:
        conn: Conn | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def _run_one(self, job: Job) -> None:
        conn = self._conn()
        with self._lock:
            self._active[job.key] = conn
        job.started = time.perf_counter()
        try:
            job.fn(conn)
        finally:
            job.ended = time.perf_counter()
            with self._lock:
                self._active.pop(job.key, None)

    def cancel_running(self) -> None:
        with self._lock:
            conns = list(self._active.values())
        for conn in conns:
            with contextlib.suppress(psycopg.Error, OSError):
                conn.cancel_safe(timeout=5.0)

    def run(self, jobs: list[Job]) -> Outcome:
        outcome = Outcome(jobs)
        pending = {j.key: j for j in jobs}
        done: set[str] = set()
        running: dict[Future[None], Job] = {}
        stopping = False
        try:
            while pending or running:
                if not stopping:
                    self._block_dependents(pending, outcome)
                    busy = {j.lane for j in running.values() if j.lane}
                    ready = sorted((j for j in pending.values() if j.deps <= done and not (j.lane and j.lane in busy)),
                                   key=lambda j: -j.priority)
                    for job in ready:
                        if len(running) >= self.size:
                            break
                        if job.lane and job.lane in busy:
                            continue
                        del pending[job.key]
                        if job.lane:
                            busy.add(job.lane)
                        running[self._executor.submit(self._run_one, job)] = job
                if not running:
                    for key in list(pending):  # nothing can start: dependencies failed
                        outcome.failures.setdefault(key, Blocked(key))
                    break
                finished, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in finished:
                    job = running.pop(fut)
                    err = fut.exception()
                    if err is None:
                        done.add(job.key)
                        continue
                    if stopping and isinstance(err, psycopg.errors.QueryCanceled):
                        err = Cancelled(job.key)
                    outcome.failures[job.key] = err
                    if (job.fatal or not isinstance(err, Exception)) and not stopping:
                        outcome.fatal = err
                        stopping = True
                        for key in pending:
                            outcome.failures[key] = Cancelled(key)
                        pending.clear()
                        self.stop.set()
                        self.cancel_running()
        except BaseException:
            self.stop.set()
            self.cancel_running()
            raise
        return outcome

    @staticmethod
    def _block_dependents(pending: dict[str, Job], outcome: Outcome) -> None:
        changed = True
        while changed:
            changed = False
            for key, job in list(pending.items()):
                if job.deps & outcome.failures.keys():
                    outcome.failures[key] = Blocked(key)
                    del pending[key]
                    changed = True

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(psycopg.Error):
                conn.close()
