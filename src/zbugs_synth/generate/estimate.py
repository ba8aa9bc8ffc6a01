"""How many rows and CSV bytes a run will write, known before it writes them.

Every row is a pure function of (seed, row), so a few short ranges of the kernel's own output,
spread over the run, tell its mean row sizes and row counts; scaled to the run, they estimate
what it writes (within a few percent at the defaults: comment counts are Pareto draws, and the
sample holds 16,384 issues). Used to refuse up front a run whose output cannot fit on its disk.
The small tables (users, projects, labels) are left out: a few MB at the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the plan pulls in numpy and the kernel: not needed to name a TableSize
    from zbugs_synth.generate.plan import Chunk, KernelPlan

SAMPLES = 8  # ranges, spread over the run (rows late in a run are not like early ones in every setting)
SAMPLE_ISSUES = 2048  # issues per range


@dataclass(frozen=True)
class TableSize:
    rows: int
    bytes: int  # as CSV text, one line per row, no header


def _sizes(c: Chunk, all_tables: bool) -> dict[str, tuple[int, int]]:
    b = c.buffers
    parts = {"issue": (b.issue_ends, c.i1 - c.i0), "comment": (b.comment_ends, c.n_comments),
             "issueLabel": (b.label_ends, c.n_labels)}
    if all_tables:
        parts |= {"emoji": (b.emoji_ends, c.n_emoji), "issueNotifications": (b.notify_ends, c.n_notify),
                  "viewState": (b.view_ends, c.n_view)}
    return {t: (n, int(ends[n - 1]) if n else 0) for t, (ends, n) in parts.items()}


def big_tables(plan: KernelPlan, first: int, end: int) -> dict[str, TableSize]:
    """Rows and bytes that issues [first, end) give each kernel table (issue, comment, issueLabel,
    and with ALL_TABLES emoji, issueNotifications, viewState)."""
    n = end - first
    if n <= 0:
        return {}
    if n <= SAMPLES * SAMPLE_ISSUES:
        ranges = [(first, end)]  # small enough to count exactly
    else:
        step = (n - SAMPLE_ISSUES) // (SAMPLES - 1)
        ranges = [(first + k * step, first + k * step + SAMPLE_ISSUES) for k in range(SAMPLES)]
    sampled = sum(b - a for a, b in ranges)
    rows: dict[str, int] = {}
    size: dict[str, int] = {}
    for a, b in ranges:
        for table, (r, nbytes) in _sizes(plan.run(a, b), plan.cfg.all_tables).items():
            rows[table] = rows.get(table, 0) + r
            size[table] = size.get(table, 0) + nbytes
    scale = n / sampled
    return {t: TableSize(round(rows[t] * scale), round(size[t] * scale)) for t in rows}


def total_bytes(sizes: dict[str, TableSize]) -> int:
    return sum(s.bytes for s in sizes.values())
