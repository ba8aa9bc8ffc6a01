"""A small progress-reporting interface with interchangeable backends.

Producers call `progress.task(name, total, unit)` and `task.advance(n)`; they never know whether a
rich bar (terminal), plain periodic lines (CI logs, pipes) or nothing at all is shown.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Protocol, TextIO


class Task(Protocol):
    def advance(self, n: float = 1) -> None: ...
    def set_total(self, total: float | None) -> None: ...
    def done(self) -> None: ...


class Progress(Protocol):
    def task(self, name: str, total: float | None, unit: str = "rows") -> Task: ...
    def log(self, message: str) -> None: ...
    def close(self) -> None: ...


def human_bytes(n: float) -> str:
    """1234567 -> '1.2 MB' (decimal units, as disks and networks count)."""
    for suffix in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or suffix == "TB":
            return f"{n:,.0f} {suffix}" if suffix == "B" else f"{n:,.1f} {suffix}"
        n /= 1000
    return f"{n:,.1f} TB"


def _fmt(n: float, unit: str) -> str:
    return human_bytes(n) if unit == "bytes" else f"{n:,.0f} {unit}"


# ---- null ----------------------------------------------------------------------------------------

class _NullTask:
    def advance(self, n: float = 1) -> None:
        pass

    def set_total(self, total: float | None) -> None:
        pass

    def done(self) -> None:
        pass


class NullProgress:
    def task(self, name: str, total: float | None, unit: str = "rows") -> Task:
        return _NullTask()

    def log(self, message: str) -> None:
        pass

    def close(self) -> None:
        pass


# ---- plain lines ---------------------------------------------------------------------------------

class _PlainTask:
    def __init__(self, owner: PlainProgress, name: str, total: float | None, unit: str) -> None:
        self.owner, self.name, self.total, self.unit = owner, name, total, unit
        self.count = 0.0
        self.start = self.last = time.monotonic()
        self.closed = False

    def advance(self, n: float = 1) -> None:
        with self.owner.lock:
            self.count += n
            now = time.monotonic()
            if now - self.last >= self.owner.interval:
                self.last = now
                self.owner.line(self._status(now))

    def set_total(self, total: float | None) -> None:
        self.total = total

    def done(self) -> None:
        with self.owner.lock:
            if not self.closed:
                self.closed = True
                self.owner.line(self._status(time.monotonic(), final=True))

    def _status(self, now: float, final: bool = False) -> str:
        elapsed = max(now - self.start, 1e-9)
        rate = self.count / elapsed
        parts = [f"{self.name}: {_fmt(self.count, self.unit)}"]
        if self.total and not final:
            pct = 100.0 * self.count / self.total
            parts.append(f"of {_fmt(self.total, self.unit)} ({pct:.0f}%)")
            if rate > 0:
                parts.append(f"ETA {max(self.total - self.count, 0) / rate:.0f}s")
        parts.append(f"{_fmt(rate, self.unit)}/s")
        if final:
            parts.append(f"done in {elapsed:.1f}s")
        return ", ".join(parts)


class PlainProgress:
    """One line per task every `interval` seconds and one when it finishes."""

    def __init__(self, stream: TextIO | None = None, interval: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self.lock = threading.RLock()

    def line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def task(self, name: str, total: float | None, unit: str = "rows") -> Task:
        return _PlainTask(self, name, total, unit)

    def log(self, message: str) -> None:
        with self.lock:
            self.line(message)

    def close(self) -> None:
        pass


# ---- rich bars -----------------------------------------------------------------------------------

class _RichTask:
    def __init__(self, owner: RichProgress, task_id: int) -> None:
        self.owner, self.task_id = owner, task_id

    def advance(self, n: float = 1) -> None:
        self.owner.bars.advance(self.task_id, n)  # type: ignore[arg-type]

    def set_total(self, total: float | None) -> None:
        self.owner.bars.update(self.task_id, total=total)  # type: ignore[arg-type]

    def done(self) -> None:
        task = self.owner.bars.tasks[self.task_id]
        self.owner.bars.update(self.task_id, total=task.completed)  # type: ignore[arg-type]
        self.owner.bars.stop_task(self.task_id)  # type: ignore[arg-type]


class RichProgress:
    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, ProgressColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichBars
        from rich.text import Text

        class CountsColumn(ProgressColumn):
            """`1.2 GB / 3.4 GB  150.0 MB/s` or `12,345 / 99,999 rows  50,000 rows/s`."""

            def render(self, task):  # type: ignore[no-untyped-def]
                unit = task.fields.get("unit", "rows")
                total = f" / {_fmt(task.total, unit)}" if task.total else ""
                return Text(f"{_fmt(task.completed, unit)}{total}  {_fmt(task.speed or 0, unit)}/s")

        class EtaColumn(ProgressColumn):
            def render(self, task):  # type: ignore[no-untyped-def]
                if task.finished or not task.total or not task.speed:
                    return Text("")
                return Text(f"ETA {max(task.total - task.completed, 0) / task.speed:,.0f}s")

        self.console = Console(stderr=True)
        self.bars = RichBars(
            TextColumn("[bold]{task.description:<18}"),
            BarColumn(),
            TaskProgressColumn(),
            CountsColumn(),
            TimeElapsedColumn(),
            EtaColumn(),
            console=self.console,
            refresh_per_second=8,
        )
        self.bars.start()

    def task(self, name: str, total: float | None, unit: str = "rows") -> Task:
        tid = self.bars.add_task(name, total=total, unit=unit)
        return _RichTask(self, tid)

    def log(self, message: str) -> None:
        self.bars.console.print(message, markup=False, highlight=False)

    def close(self) -> None:
        self.bars.stop()


def make_progress(mode: str = "auto", stream: TextIO | None = None) -> Progress:
    """`auto`: bars on a terminal, plain lines otherwise; or force `bar`, `plain`, `none`."""
    stream = stream or sys.stderr
    if mode == "none":
        return NullProgress()
    if mode == "bar" or (mode == "auto" and stream.isatty()):
        return RichProgress()
    return PlainProgress(stream)
