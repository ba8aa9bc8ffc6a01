"""One writer at a time per output directory, or per part of one.

Two runs into one OUTPUT_DIR used to interleave: each cleared the other's files and renamed its own
shards into place, and the survivor's manifest.json vouched for a mix of both datasets. An
advisory lock (flock) makes the second run stop at once with one line. The kernel drops a lock
with its holder, however it ends (kill -9 included), so a lock never goes stale.

A whole run locks the directory itself, exclusively: no lock file is left in a dataset. Runs of
parts (any number at once, from several machines on a shared directory) lock it shared, which
keeps a whole run out, and each locks its own part's file (beside the part manifests) exclusively.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from zbugs_synth.errors import UserError

# flock failures that mean "no locking here" (NFS without a lock manager, or one that emulates flock
# with POSIX locks and wants a file open for writing), not "someone holds it".
_NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.EBADF, errno.EINVAL})


@contextmanager
def hold(path: Path, what: str, *, shared: bool = False) -> Iterator[None]:
    """Lock `path` for the block: a directory itself, or a lock file (created, and removed when the
    block succeeds). `what` names the destination in the refusal (e.g. "OUTPUT_DIR='/data/x'")."""
    is_dir = path.is_dir()
    try:
        fd = os.open(path, (os.O_RDONLY | os.O_DIRECTORY if is_dir else os.O_RDWR | os.O_CREAT) | os.O_CLOEXEC,
                     0o644)
    except OSError as e:
        raise UserError(f"{what}: cannot open {path.name} to lock it ({e.strerror})") from None
    try:
        locked = True
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = "" if is_dir else os.pread(fd, 32, 0).decode(errors="replace").strip()
            by = f" (process {holder})" if holder.isdigit() else ""
            raise UserError(f"{what}: another zbugs-synth run{by} is writing there; wait for it to "
                            "finish, or choose another destination") from None
        except OSError as e:
            if e.errno not in _NO_LOCKS:
                raise UserError(f"{what}: cannot lock {path.name} ({e.strerror or e})") from None
            locked = False  # a file system without locks (some NFS set-ups): go on as before locks existed
        if locked and not is_dir and not shared:  # who holds it, for the refusal above
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
        if not is_dir:
            # Done: no file left behind. A run that opened it before this and locks it after gets the
            # removed file and goes ahead, but it finds the part complete and writes nothing.
            path.unlink(missing_ok=True)
    finally:
        os.close(fd)  # releases the lock
