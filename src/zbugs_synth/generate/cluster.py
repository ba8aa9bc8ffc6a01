"""`generate-synthetic --scheduler ADDRESS`: the parts of a dataset as tasks on an existing Dask cluster.

One task per part, each writing its shards straight to the destination (a directory every worker
and this client share, or an S3 prefix). Dask does the rest: scheduling, retrying a task that
raised (`retries`), rerunning a task whose worker died (up to `distributed.scheduler.allowed-failures`),
worker management. This module only submits the parts not already complete, shows progress and
combines the part manifests at the end.

Progress: each task reports its part's absolute row counts per table as Dask events (at most every
PROGRESS_INTERVAL seconds); the client keeps the latest counts per part and attempt, so a part that
restarts after a lost worker moves the bars back instead of counting twice.

Workers need the package (`pip install 'zbugs-synth[dask]'`, same version) and, for S3, their own
credentials (the standard AWS chain): no secret travels in a task. The template pack is loaded
here and shipped once, so TEMPLATES_DIR need only exist on the client.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.errors import Cancelled, PermanentError, UserError
from zbugs_synth.generate.driver import Prepared, _announce, generate_part, parts_key, prepare
from zbugs_synth.generate.partitioned import (
    PartsOutcome,
    check_parts_destination,
    combine_if_complete,
    destination_of,
    open_destination,
    parts_of,
)
from zbugs_synth.generate.parts import READ_JOBS, PartSpec, complete_part
from zbugs_synth.generate.sink import Sink, open_sink
from zbugs_synth.progress import NullProgress, Progress, Task
from zbugs_synth.remote.safety import redact_url

PROGRESS_INTERVAL = 0.5
TASK_RETRIES = 3  # a task that raised is retried this many times (a lost worker is Dask's own count)
CONNECT_TIMEOUT = "10s"  # a scheduler that answers at all answers at once


# ---- on the worker -------------------------------------------------------------------------------

class _CountTask:
    def __init__(self, owner: EventProgress, table: str) -> None:
        self.owner, self.table = owner, table

    def advance(self, n: float = 1) -> None:
        self.owner.add(self.table, n)

    def set_total(self, total: float | None) -> None:
        pass

    def done(self, outcome: str = "done") -> None:
        pass


class EventProgress:
    """A `Progress` that sends this part's row counts to the client as Dask events."""

    def __init__(self, topic: str, part: int) -> None:
        from distributed import get_worker

        self.worker = get_worker()
        self.topic, self.part = topic, part
        self.attempt = uuid.uuid4().hex
        self.counts: dict[str, float] = {}
        self.lock = threading.Lock()
        self.last = 0.0

    def send(self, kind: str) -> None:
        self.worker.log_event(self.topic, {"kind": kind, "part": self.part, "attempt": self.attempt,
                                           "worker": self.worker.address, "counts": dict(self.counts)})

    def add(self, table: str, n: float) -> None:
        with self.lock:
            self.counts[table] = self.counts.get(table, 0) + n
            now = time.monotonic()
            if now - self.last >= PROGRESS_INTERVAL:
                self.last = now
                self.send("progress")

    def task(self, name: str, total: float | None, unit: str = "rows") -> Task:
        # Rows only: the client's bars are per table; a part's last uploads end when its task does.
        return _CountTask(self, name) if unit == "rows" else NullProgress().task(name, total, unit)

    def log(self, message: str) -> None:
        pass

    def close(self) -> None:
        with self.lock:
            self.send("progress")


def run_part_task(cfg: GenerateConfig, prep: Prepared, part: int, parts: int, topic: str) -> dict[str, Any]:
    """The Dask task: write one part (skipped if already complete) and say what was written."""
    progress = EventProgress(topic, part)
    progress.send("start")
    try:
        sink = open_sink(destination_of(cfg), endpoint_url=cfg.endpoint_url)
        try:
            r = generate_part(cfg, PartSpec(part, parts), sink, progress, prep)
        finally:
            close = getattr(sink, "close", None)
            if close:
                close()
    except PermanentError as e:  # other errors are raised: Dask retries the part
        return refused(part, parts, progress.worker.address, e)
    progress.close()
    return {"part": part, "skipped": r.skipped, "rows": r.result.rows, "bytes": r.result.bytes,
            "elapsed": r.result.elapsed, "worker": progress.worker.address}


def refused(part: int, parts: int, worker: str, e: UserError) -> dict[str, Any]:
    """A task's result for a part the worker refused for good (no credentials there, say): returned, not
    raised, so that Dask does not retry what would fail the same way, and the client says whose it was."""
    return {"part": part, "refused": f"part {part} of {parts}, on the worker at {worker}: {e}"}


def _identity(x: Any) -> Any:
    return x


# ---- on the client -------------------------------------------------------------------------------

@dataclass
class _Attempt:
    attempt: str
    counts: dict[str, float]


class ProgressAggregator:
    """Sums the latest counts of every part into one bar per table."""

    def __init__(self, progress: Progress, totals: dict[str, float]) -> None:
        self.progress, self.totals = progress, totals
        self.tasks: dict[str, Task] = {}
        self.latest: dict[int, _Attempt] = {}
        self.starts: dict[int, int] = {}
        self.lock = threading.Lock()

    def _task(self, table: str) -> Task:
        if table not in self.tasks:
            self.tasks[table] = self.progress.task(table, self.totals.get(table))
        return self.tasks[table]

    def __call__(self, event: tuple[float, dict[str, Any]]) -> None:
        _, msg = event
        with self.lock:
            part = int(msg["part"])
            if msg["kind"] == "start":
                self.starts[part] = self.starts.get(part, 0) + 1
                if self.starts[part] > 1:
                    self.progress.log(f"part {part}: started again on {msg['worker']} (attempt {self.starts[part]})")
            prev = self.latest.get(part)
            old = prev.counts if prev else {}
            new = {k: float(v) for k, v in msg["counts"].items()}
            self.latest[part] = _Attempt(msg["attempt"], new)
            for table in sorted(set(old) | set(new)):
                delta = new.get(table, 0.0) - old.get(table, 0.0)
                if delta:
                    self._task(table).advance(delta)

    def done(self) -> None:
        for t in self.tasks.values():
            t.done()


def import_distributed() -> Any:
    """The `distributed` package, or the one line that says how to install it."""
    try:
        import distributed
    except ImportError:
        raise UserError("--scheduler: Dask is not installed here; pip install 'zbugs-synth[dask]' "
                        "(on the client and on every worker)") from None
    return distributed


def _connect(address: str) -> Any:
    from distributed import Client
    from distributed.comm.addressing import parse_address
    from distributed.security import Security

    # Checked before a Client exists: one that fails on its address half-builds and hangs at exit.
    try:
        scheme = parse_address(address)[0]
    except (ValueError, TypeError):
        raise UserError(f"--scheduler {redact_url(address)}: not an address Dask can connect to "
                        "(expected tcp://host:port)") from None
    if scheme in ("tls", "wss") and Security().get_connection_args("client").get("ssl_context") is None:
        raise UserError(f"--scheduler {redact_url(address)}: {scheme}:// needs Dask's TLS settings "
                        "(distributed.comm.tls.* in the Dask configuration)")
    try:
        return Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as e:
        raise UserError(f"--scheduler {redact_url(address)}: cannot connect to the Dask scheduler "
                        f"({type(e).__name__}: {redact_url(str(e))[:200]})") from None
    except (ValueError, TypeError) as e:  # never its whole text: it may repeat the address
        raise UserError(f"--scheduler {redact_url(address)}: Dask cannot connect there "
                        f"({type(e).__name__})") from None


def check_scheduler(address: str) -> None:
    """Connect once and let go: a wrong or unreachable scheduler is refused before anything is written
    or any table emptied (the run connects again for its tasks)."""
    import_distributed()
    _connect(address).close()


# submit(client, the shared Prepared's future, part, progress topic) -> the part's future
Submit = Callable[[Any, Any, int, str], Any]


def run_parts(cfg: GenerateConfig, prep: Prepared, parts: int, todo: list[int], progress: Progress, *,
              submit: Submit, on_result: Callable[[dict[str, Any]], None], rerun: str,
              error: Callable[[str], Exception] = UserError, stop: threading.Event | None = None) -> None:
    """Run the parts `todo` as tasks on cfg's cluster (generate-synthetic's and a direct load's alike):
    bars for issue, comment and issueLabel fed by the tasks' events, `on_result` with each part's
    result as it completes. A part Dask gave up on raises `error`, its message ending with `rerun`.
    `stop` (a direct load's job runs on a thread Ctrl-C does not reach): once set, the parts not
    finished are cancelled and Cancelled is raised."""
    distributed = import_distributed()
    client = _connect(cfg.scheduler or "")
    topic = f"zbugs-synth-progress-{uuid.uuid4().hex}"
    issues = 0
    for k in todo:
        lo, hi = PartSpec(k, parts).issue_range(cfg.num_issues)
        issues += hi - lo
    aggregator = ProgressAggregator(progress, {
        "issue": issues, "comment": issues * cfg.comments_per_issue, "issueLabel": issues * cfg.labels_per_issue})
    futures: list[Any] = []
    try:
        client.subscribe_topic(topic, aggregator)
        # The pack travels once, as the result of one task (recomputed by Dask if its worker dies),
        # not once per part.
        shared = client.submit(_identity, prep, pure=False, key=f"zbugs-synth-prep-{uuid.uuid4().hex}")
        futures = [submit(client, shared, k, topic) for k in todo]
        completed = distributed.as_completed(futures, loop=client.loop)
        while not completed.is_empty():
            if stop is not None and stop.is_set():
                raise Cancelled("the cluster's parts")
            if not completed.has_ready():
                time.sleep(0.1)  # polled, not blocked on: `stop` must be seen
                continue
            for fut in completed.next_batch(block=False):
                info = fut.result()
                if "refused" in info:
                    raise error(f"{info['refused']} (not retried: it would fail the same way)")
                on_result(info)
        # Events are delivered asynchronously: wait briefly for the last counts before closing the bars.
        time.sleep(2 * PROGRESS_INTERVAL)
    except distributed.client.FutureCancelledError as e:
        raise error(f"the Dask cluster cancelled a part ({e}); {rerun}") from None
    except distributed.KilledWorker as e:
        raise error(f"a part's worker died too often ({e}); {rerun}") from None
    except BaseException:  # Ctrl-C, or a part refused: parts not started are not started
        waiting = [f for f in futures if not f.done()]
        if waiting:
            client.cancel(waiting)
            progress.log(f"{len(waiting)} part(s) not finished were cancelled; any already running on a worker "
                         "finish there on their own (a rerun skips what they complete)")
        raise
    finally:
        aggregator.done()
        try:
            client.unsubscribe_topic(topic)
        finally:
            client.close()


def run_on_cluster(cfg: GenerateConfig, progress: Progress) -> PartsOutcome:
    parts = parts_of(cfg)  # the cheap checks first
    check_scheduler(cfg.scheduler or "")  # before any work: nothing written for a run that cannot start
    # The workers resolve paths from their own working directory: send them this machine's absolute one.
    cfg = dataclasses.replace(cfg, output_dir=destination_of(cfg))
    started = time.perf_counter()
    prep = prepare(cfg)
    sink = open_destination(cfg)
    with sink.hold("", "", shared=True):  # as a local run of parts: no whole run into it meanwhile
        return _run_on_cluster(cfg, prep, sink, parts, progress, started)


def _run_on_cluster(cfg: GenerateConfig, prep: Prepared, sink: Sink, parts: int, progress: Progress,
                    started: float) -> PartsOutcome:
    outcome = PartsOutcome(sink.display, parts)
    _announce(cfg, progress, f"{sink.display} ({parts} parts on the Dask cluster at {redact_url(cfg.scheduler or '')})")
    if check_parts_destination(cfg, sink, prep, parts, progress):
        progress.log("this dataset is already complete there: nothing to do")
        outcome.combined, outcome.present = combine_if_complete(sink, parts, cfg, prep)
        outcome.elapsed = time.perf_counter() - started
        return outcome
    present = sink.list()  # once here, rather than once per part
    with ThreadPoolExecutor(max_workers=READ_JOBS) as pool:  # one GET per part manifest
        key = parts_key(cfg, prep)
        done = list(pool.map(lambda k: complete_part(sink, PartSpec(k, parts), key, present),
                             range(1, parts + 1)))
    todo = [k for k, complete in zip(range(1, parts + 1), done, strict=True) if not complete]
    outcome.skipped = parts - len(todo)
    if len(todo) < parts:
        progress.log(f"{parts - len(todo)} of {parts} parts already complete: skipped")

    def submit(client: Any, shared: Any, k: int, topic: str) -> Any:
        return client.submit(run_part_task, cfg, shared, k, parts, topic, retries=TASK_RETRIES, pure=False,
                             key=f"zbugs-synth-part-{k}-of-{parts}-{uuid.uuid4().hex[:8]}")

    def on_result(info: dict[str, Any]) -> None:
        outcome.add(info["skipped"], info["rows"], info["bytes"])
        progress.log(f"part {info['part']} of {parts}: {info['rows']:,} rows in {info['elapsed']:.1f}s "
                     f"on {info['worker']}")

    run_parts(cfg, prep, parts, todo, progress, submit=submit, on_result=on_result,
              rerun="rerun to finish the missing parts")
    outcome.combined, outcome.present = combine_if_complete(sink, parts, cfg, prep)
    if outcome.combined is None:
        raise UserError(f"{sink.display}: {outcome.present} of {parts} part manifests visible here after every task "
                        "finished: is OUTPUT_DIR a directory the workers and this machine share?")
    outcome.elapsed = time.perf_counter() - started
    return outcome
