"""Free disk space, asked before a long write rather than discovered when the disk fills.

At the guide's scale a run writes for an hour (100 M issues: ~190 GB of CSV, ~320 GB of database);
running out of space near the end wastes that hour. generate-synthetic and db-seed-synthetic
estimate what they will write (generate/estimate.py, db/load/space.py) and refuse up front when
the disk clearly cannot hold it. The estimates are within ~10 % of what is written; a run that
still fills its disk stops with one line, as before.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from zbugs_synth.errors import UserError
from zbugs_synth.progress import human_bytes

SKIP_HINT = "or set ZBUGS_SKIP_SPACE_CHECK=true (--skip-space-check) to try anyway"


def free_bytes(path: Path) -> int | None:
    """Bytes an unprivileged writer may still use on the file system that holds `path` (or would:
    its nearest existing parent); None if that cannot be asked."""
    p = path.absolute()
    try:
        while not p.exists() and p != p.parent:
            p = p.parent
        return shutil.disk_usage(p).free  # statvfs f_bavail: what is left once root's reserve is set aside
    except OSError:  # a parent we may not search
        return None


def check_room(need: int, where: Path, what: str, *, freed: int = 0, advice: str = "free space") -> None:
    """Refuse (UserError) when `need` bytes will not fit on `where`'s file system, counting `freed`
    bytes this run deletes there first. `what`: the subject of the message ("this dataset")."""
    free = free_bytes(where)
    if free is None or need <= free + freed:
        return
    have = f"{human_bytes(free)} free" + (f" (+{human_bytes(freed)} this run frees)" if freed else "")
    raise UserError(f"not enough disk space: {what} needs about {human_bytes(need)} in {where}, {have}; "
                    f"{advice}, {SKIP_HINT}")

