"""The order of the foreign key checks: the stage lasts as long as its busiest table's checks (one
table's take turns), so they must start first. Checked on the zbugs contract's keys and indexes, with
the sizes of 10 M issues, by playing the pool's schedule with the check times measured there."""

from __future__ import annotations

from zbugs_synth.db import schema
from zbugs_synth.db.load.jobs import fk_priorities
from zbugs_synth.db.load.loader import Loader
from zbugs_synth.db.load.objects import Present, SavedForeignKey, SavedIndex

ROWS = {"user": 100.0, "project": 100.0, "label": 4930.0, "issue": 10e6, "comment": 30e6, "issueLabel": 15e6}
# Seconds per check at 10 M issues (64MB, each alone); the rest are tables with no rows.
MEASURED = {"issueLabel_issueID_projectID_fkey": 13.7, "comment_creatorID_fkey": 5.8,
            "comment_issueID_fkey": 4.2, "issueLabel_labelID_projectID_fkey": 2.4,
            "issue_creatorID_fkey": 2.0, "issue_projectID_fkey": 2.0, "issue_assigneeID_fkey": 1.2}


def _fks() -> list[SavedForeignKey]:
    return [SavedForeignKey(fk.table, name, fk.ref_table, "", fk.columns, fk.ref_columns, True)
            for name, fk in schema.FOREIGN_KEYS.items()]


def _indexed() -> dict[str, list[tuple[str, ...]]]:
    out: dict[str, list[tuple[str, ...]]] = {}
    for ix in schema.INDEXES.values():
        out.setdefault(ix.table, []).append(ix.columns)
    return out


def _makespan(fks: list[SavedForeignKey], priority: dict[str, float], workers: int = 2) -> float:
    """The pool's rule: whenever a worker is free, the highest-priority check whose table is not busy."""
    pending = sorted(fks, key=lambda fk: -priority[fk.name])
    running: list[tuple[float, SavedForeignKey]] = []
    now = 0.0
    while pending or running:
        busy = {fk.table for _, fk in running}
        ready = [fk for fk in pending if fk.table not in busy]
        if ready and len(running) < workers:
            fk = ready[0]
            pending.remove(fk)
            running.append((now + MEASURED.get(fk.name, 0.0), fk))
            continue
        running.sort(key=lambda r: r[0])
        now, _ = running.pop(0)
    return now


def test_the_busiest_tables_checks_start_first_costliest_first() -> None:
    fks = _fks()
    priority = fk_priorities(fks, ROWS, _indexed())
    order = [fk.name for fk in sorted(fks, key=lambda fk: -priority[fk.name]) if fk.name in MEASURED]
    # issueLabel's and comment's checks (each table ~16 and ~10 s of them) before issue's (~5 s).
    assert {fk.split("_")[0] for fk in order[:4]} == {"issueLabel", "comment"}
    assert order.index("issueLabel_issueID_projectID_fkey") < order.index("issueLabel_labelID_projectID_fkey")
    assert order.index("comment_creatorID_fkey") < order.index("comment_issueID_fkey")  # no index: the heap
    # Played on two workers: no later than any order can (the busiest table's 16.1 s, or half the 31.3 s).
    assert _makespan(fks, priority) <= 16.1 + 0.01
    # What a 10 M load did before (issue's checks ranked above issueLabel's, by row counts taken before
    # the COPY): issueLabel's long check waited for issue's and then ran alone, 21.3 s.
    before = {fk.name: {"comment": 3.0, "issue": 2.0, "issueLabel": 1.0}.get(fk.table, 0.0) for fk in fks}
    assert _makespan(fks, before) > 21.0


def test_an_index_on_the_key_makes_a_check_cheaper_than_the_same_table_without_one() -> None:
    fks = [fk for fk in _fks() if fk.name in ("comment_creatorID_fkey", "comment_issueID_fkey")]
    with_index = fk_priorities(fks, ROWS, _indexed())
    assert with_index["comment_creatorID_fkey"] > with_index["comment_issueID_fkey"]
    without = fk_priorities(fks, ROWS, {})  # no index at all: both read the heap; issueID also hashes issue
    assert without["comment_issueID_fkey"] > without["comment_creatorID_fkey"]


def _saved_indexes() -> list[SavedIndex]:
    return [SavedIndex(ix.table, name, "", ix.columns, ix.unique) for name, ix in schema.INDEXES.items()]


def test_keys_from_a_big_table_to_a_small_one_are_checked_during_the_index_builds() -> None:
    """Stage 1 checks the keys that read a big table's heap (no index leads with their columns) and
    reference a small table (its index builds are instant, so the key's lock on it waits for
    nothing), while that heap is still cached. A key to a big table (issue) waits for the end, as do
    keys an index covers (issue's: cheap, and early they would queue behind all 12 of issue's builds)
    and one already added (a resumed load validates it then)."""
    fks = _fks()
    nothing = Present(set(), {}, {}, {}, {})
    early = {fk.name for fk in Loader._early_fks(fks, nothing, ROWS, _saved_indexes())}
    assert early == {"comment_creatorID_fkey", "issueLabel_labelID_projectID_fkey"}
    added = Present(set(), {("comment", "comment_creatorID_fkey"): False}, {}, {}, {})
    assert "comment_creatorID_fkey" not in {fk.name for fk in Loader._early_fks(fks, added, ROWS, _saved_indexes())}
    # No unique index on the referenced columns (it could not be added): left to the end.
    no_user_key = [ix for ix in _saved_indexes() if ix.table != "user"]
    left = {fk.name for fk in Loader._early_fks(fks, nothing, ROWS, no_user_key)}
    assert left == {"issueLabel_labelID_projectID_fkey"}
    # An index on the key's columns: read instead of the heap, at the end.
    with_index = [*_saved_indexes(), SavedIndex("comment", "c_creator", "", ("creatorID", "id"), False)]
    assert "comment_creatorID_fkey" not in {fk.name for fk in Loader._early_fks(fks, nothing, ROWS, with_index)}
