"""Stop signals as the commands see them: SIGTERM and SIGHUP (a `kill`, `timeout`, a CI job cancelled,
the terminal closed) end a command the way Ctrl-C does, so every path that tidies up after a Ctrl-C
(a load put back at wal_level=logical and said to be open, a progress bar closed, temporary files
removed) also runs for them; and a few steps that must not be cut in the middle (restarting the
local server) finish first, then stop.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """A stop signal other than Ctrl-C, raised where a KeyboardInterrupt would be."""

    def __init__(self, signum: int) -> None:
        self.signum = signal.Signals(signum)
        super().__init__(self.signum.name)


def _raise(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


def _signal_of(e: BaseException) -> int:
    """The signal behind `e`, a KeyboardInterrupt or one that wraps it as its `cause` (LoadInterrupted,
    the templates' Interrupted)."""
    cause = getattr(e, "cause", None)
    if isinstance(cause, BaseException) and cause is not e:
        return _signal_of(cause)
    return e.signum if isinstance(e, Terminated) else signal.SIGINT


def describe(e: BaseException) -> str:
    signum = _signal_of(e)
    return "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"


def exit_code(e: BaseException) -> int:
    """128 + the signal's number, as a shell reports a command a signal ended (Ctrl-C: 130)."""
    return 128 + _signal_of(e)


def say_stopped(line: str) -> None:
    """Print to stderr, unless the terminal is gone (a hang-up makes writes to it fail: the stop must
    still end as one, not as an OSError's traceback)."""
    with contextlib.suppress(OSError):
        print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _handling(signals: tuple[int, ...], handler: Callable[[int, FrameType | None], None]) -> Iterator[dict]:
    """`handler` for `signals` during the body (main thread only: elsewhere nothing changes); yields the
    handlers it replaced, put back after."""
    if threading.current_thread() is not threading.main_thread():
        yield {}
        return
    before = {s: signal.signal(s, handler) for s in signals}
    try:
        yield before
    finally:
        for s, previous in before.items():
            signal.signal(s, signal.SIG_DFL if previous is None else previous)  # None: set outside Python


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """For the body (a command), SIGTERM and SIGHUP raise Terminated in the main thread; not where they
    are ignored (`nohup`, `trap '' HUP`: a load meant to outlive its terminal must)."""
    watched = tuple(s for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN)
    with _handling(watched, _raise):
        yield


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Ctrl-C and the stop signals wait for the end of the body, then take effect (once, the first
    one): for steps that leave things worse when cut halfway, such as a server restart."""
    caught: list[int] = []
    with _handling((signal.SIGINT, *STOP_SIGNALS), lambda signum, _frame: caught.append(signum)) as before:
        yield
    if not caught:
        return
    signum = caught[0]
    handler = before[signal.Signals(signum)]
    if handler is signal.SIG_IGN:
        return
    if callable(handler):
        handler(signum, None)  # Ctrl-C's raises KeyboardInterrupt; stop_signals_interrupt's, Terminated
    elif signum == signal.SIGINT:
        raise KeyboardInterrupt
    else:
        raise Terminated(signum)


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, with the stop signals ending `main` the way asyncio ends it for Ctrl-C: by cancelling
    it (its `finally` blocks run, an HTTP client closes), then raising Terminated. Raised from the
    handler instead, mid-step, Terminated left the coroutine suspended in its clean-up, and Python
    printed "Exception ignored in <coroutine ...>" with a traceback after the command's last line."""
    import asyncio  # only generate-templates runs an event loop: not on every command's start

    caught: list[int] = []

    async def guarded() -> T:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        watched = [s for s in STOP_SIGNALS if callable(signal.getsignal(s))]  # not where ignored (nohup)
        if threading.current_thread() is threading.main_thread() and task is not None:
            for s in watched:
                loop.add_signal_handler(s, lambda s=s: (caught.append(s), task.cancel()))
        try:
            result = await main
        except asyncio.CancelledError:
            if caught:
                raise Terminated(caught[0]) from None
            raise
        if caught:  # the cancellation was absorbed (an error handled at the same moment): still a stop
            raise Terminated(caught[0])
        return result

    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    try:
        return asyncio.run(guarded())
    finally:
        # The loop's handlers are gone with it, leaving the default action: put the command's back.
        if threading.current_thread() is threading.main_thread():
            for s, previous in before.items():
                signal.signal(s, signal.SIG_DFL if previous is None else previous)
