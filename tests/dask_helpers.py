"""Killing a Dask worker while it runs one of our part tasks (the cluster tests of generate and load)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any


def kill_mid_part(client: Any, task_prefix: str, ready: Callable[[], bool],
                  timeout: float = 60) -> tuple[threading.Thread, list[str]]:
    """A started thread that SIGKILLs the worker of the first task named `task_prefix...` it sees running
    once `ready()` (e.g. some rows written); the returned list gets that worker's address."""
    pid_of = client.run(os.getpid)
    killed: list[str] = []

    def killer() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not killed:
            for worker, keys in client.processing().items():
                if any(str(k).startswith(task_prefix) for k in keys) and ready():
                    os.kill(pid_of[worker], signal.SIGKILL)
                    killed.append(worker)
                    return
            time.sleep(0.01)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    return t, killed
