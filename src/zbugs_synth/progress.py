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
    def done(self, outcome: str = "done") -> None: ...  # outcome: how it ended ("failed", "stopped")
    def note(self, text: str) -> None: ...  # what it is busy with now (shown beside the bar, not logged)


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


_ONE = {"rows": "row", "tables": "table", "indexes": "index", "keys": "key", "calls": "call", "files": "file",
        "parts": "part", "checks": "check"}


def _fmt(n: float, unit: str) -> str:
    if unit == "bytes":
        return human_bytes(n)
    return f"{n:,.0f} {_ONE.get(unit, unit) if round(n) == 1 else unit}"  # "1 table", not "1 tables"


def _short(n: float, unit: str) -> str:
    """Compact for narrow terminals: 1.2 GB, 12.3M rows, 950 rows."""
    if unit == "bytes":
        return human_bytes(n)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.1f}{suffix} {unit}"
    return f"{n:,.0f} {unit}"


def average_rate(done: float, seconds: float) -> float | None:
    """Units per second over the whole run; None when there is nothing sensible to show.

    Work can be taken back (a download restarted, a COPY undone after Ctrl-C): a count at or below
    zero has no rate, rather than a negative one."""
    if done <= 0 or seconds <= 0:
        return None
    return done / seconds


def eta_seconds(total: float | None, done: float, rate: float | None) -> float | None:
    if not total or rate is None or rate <= 0:
        return None
    return max(total - done, 0.0) / rate


# ---- null ----------------------------------------------------------------------------------------

class _NullTask:
    def advance(self, n: float = 1) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def set_total(self, total: float | None) -> None:
        pass

    def done(self, outcome: str = "done") -> None:
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
        self.now = ""

    def advance(self, n: float = 1) -> None:
        with self.owner.lock:
            self.count += n
            now = time.monotonic()
            if now - self.last >= self.owner.interval:
                self.last = now
                self.owner.line(self._status(now))

    def set_total(self, total: float | None) -> None:
        self.total = total

    def note(self, text: str) -> None:
        self.now = text
        self.advance(0)  # a periodic line names it when one is due (a slow step would otherwise show none)

    def done(self, outcome: str = "done") -> None:
        with self.owner.lock:
            if not self.closed:
                self.closed = True
                self.owner.line(self._status(time.monotonic(), final=outcome))

    def _status(self, now: float, final: str = "") -> str:
        elapsed = max(now - self.start, 1e-9)
        rate = average_rate(self.count, elapsed)
        parts = [f"{self.name}: {_fmt(max(self.count, 0), self.unit)}"]
        if self.total and not final:
            pct = 100.0 * max(self.count, 0) / self.total
            parts.append(f"of {_fmt(self.total, self.unit)} ({pct:.0f}%)")
            eta = eta_seconds(self.total, self.count, rate)
            if eta is not None:
                parts.append(f"ETA {eta:,.0f}s")
        if rate is not None:
            parts.append(f"{_fmt(rate, self.unit)}/s")
        if final:
            parts.append(f"{final} in {elapsed:,.1f}s")
        elif self.now:
            parts.append(f"now: {self.now}")
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

    def note(self, text: str) -> None:
        self.owner.bars.update(self.task_id, note=text)  # type: ignore[arg-type]

    def done(self, outcome: str = "done") -> None:
        task = self.owner.bars.tasks[self.task_id]
        note = "" if outcome == "done" else outcome  # a bar that did not finish says how it ended
        self.owner.bars.update(self.task_id, total=task.completed, note=note)  # type: ignore[arg-type]
        self.owner.bars.stop_task(self.task_id)  # type: ignore[arg-type]


WIDE = 130  # at least this many columns: full numbers and notes; below, compact ones that fit 80 columns


def _clock(seconds: float) -> str:
    """12:34 or 1:02:03; past 99 hours just '>99h' (fits a fixed-width column)."""
    s = int(seconds)
    if s >= 100 * 3600:
        return ">99h"
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02}:{rest % 60:02}" if h else f"{rest // 60}:{rest % 60:02}"


def _rate(task) -> float | None:  # type: ignore[no-untyped-def]
    """A finished (or stopped) task: its average over the whole run; a running one: rich's recent speed."""
    if task.finished or task.stop_time is not None:
        seconds = task.finished_time if task.finished_time else task.elapsed
        return average_rate(task.completed, seconds or 0.0)
    speed = task.speed
    return speed if speed is not None and speed > 0 else None


class RichProgress:
    """Bars on a terminal. One line per task at any width down to 80 columns: below WIDE the columns
    are compact, and every column truncates rather than wraps. Log lines are printed above the bars."""

    def __init__(self, console=None, *, start: bool = True) -> None:  # type: ignore[no-untyped-def]
        from rich.console import Console
        from rich.progress import BarColumn, ProgressColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichBars
        from rich.table import Column
        from rich.text import Text

        console = console or Console(stderr=True)
        self.console = console

        def cell(width: int | None = None, ratio: int | None = None, min_width: int | None = None) -> Column:
            return Column(no_wrap=True, overflow="ellipsis", width=width, ratio=ratio, min_width=min_width)

        class CountsColumn(ProgressColumn):
            """`987,654,321 / 1,234,567,890 rows` (wide) or `987.7M rows 12.3k/s` (narrow, with the rate)."""

            def __init__(self, compact: bool, width: int) -> None:
                super().__init__(table_column=cell(width))
                self.compact = compact

            def render(self, task):  # type: ignore[no-untyped-def]
                unit = task.fields.get("unit", "rows")
                done = max(task.completed, 0)
                if self.compact:
                    rate = _rate(task)
                    speed = f" {_short(rate, unit).removesuffix(' ' + unit)}/s" if rate else ""
                    return Text(_short(done, unit) + speed)
                if task.total and unit != "bytes":
                    return Text(f"{done:,.0f} / {task.total:,.0f} {unit}")
                return Text(_fmt(done, unit) + (f" / {_fmt(task.total, unit)}" if task.total else ""))

        class RateColumn(ProgressColumn):
            def __init__(self, width: int) -> None:
                super().__init__(table_column=cell(width))

            def render(self, task):  # type: ignore[no-untyped-def]
                rate = _rate(task)
                return Text(f"{_fmt(rate, task.fields.get('unit', 'rows'))}/s" if rate else "")

        class EtaColumn(ProgressColumn):
            def __init__(self) -> None:
                super().__init__(table_column=cell(11))

            def render(self, task):  # type: ignore[no-untyped-def]
                if task.finished or task.stop_time is not None:
                    return Text("")
                eta = eta_seconds(task.total, task.completed, _rate(task))
                return Text("" if eta is None else f"ETA {_clock(eta)}")

        class NoteColumn(ProgressColumn):
            def __init__(self) -> None:
                super().__init__(table_column=cell(ratio=2))

            def render(self, task):  # type: ignore[no-untyped-def]
                return Text(task.fields.get("note", ""))

        class Bars(RichBars):
            """Chooses its columns by the terminal's width at every refresh (it may be resized)."""

            def get_renderables(self):  # type: ignore[no-untyped-def]
                self.columns = wide if console.width >= WIDE else narrow
                yield self.make_tasks_table(self.tasks)

        # Fixed widths for the numbers (they never wrap or squeeze each other); the bar, and the note
        # when wide, share what is left of the line.
        wide = (
            TextColumn("[bold]{task.description}", table_column=cell(18)),
            BarColumn(bar_width=None, table_column=cell(ratio=1, min_width=10)),
            TaskProgressColumn(table_column=cell(4)),
            CountsColumn(compact=False, width=36),
            RateColumn(18),
            TimeElapsedColumn(table_column=cell(7)),
            EtaColumn(),
            NoteColumn(),
        )
        narrow = (
            TextColumn("[bold]{task.description}", table_column=cell(12)),
            BarColumn(bar_width=None, table_column=cell(ratio=1, min_width=6)),
            TaskProgressColumn(table_column=cell(4)),
            CountsColumn(compact=True, width=22),
            TimeElapsedColumn(table_column=cell(7)),
            EtaColumn(),
        )
        self.bars = Bars(*wide, console=console, refresh_per_second=8, expand=True)
        if start:
            self.bars.start()

    def task(self, name: str, total: float | None, unit: str = "rows") -> Task:
        tid = self.bars.add_task(name, total=total, unit=unit, note="")
        return _RichTask(self, tid)

    def log(self, message: str) -> None:
        # Through the live display's console: printed above the bars, which stay together below.
        self.bars.console.print(message, markup=False, highlight=False, soft_wrap=True)

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
