"""Foreign key checks that can read both sides from indexes merge them (jobs.merge_anti_join) instead
of hashing the referenced table, which the planner prefers but which measured 1.6-2.4 times slower;
only over all-visible tables, where an index-only scan never reads the heap."""

from __future__ import annotations

import psycopg
import pytest
from loader_helpers import seed_cli

from zbugs_synth.db.load.jobs import all_visible, merge_anti_join, merge_checkable
from zbugs_synth.db.load.objects import SavedForeignKey, SavedIndex, capture
from zbugs_synth.tables import TABLES

# comment.issueID -> issue(id) as PostgreSQL's own check asks it (RI_Initial_Check).
CHECK = ('SELECT fk."issueID" FROM ONLY comment fk LEFT OUTER JOIN ONLY issue pk ON pk.id = fk."issueID" '
         'WHERE pk.id IS NULL AND fk."issueID" IS NOT NULL')


def _plan(conn: psycopg.Connection) -> str:
    return "\n".join(str(r[0]) for r in conn.execute("EXPLAIN " + CHECK).fetchall())


def test_indexed_keys_are_checked_by_merging_two_indexes(fresh_db: str, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ran = seed_cli(fresh_db, None, capsys, monkeypatch, ZERO_SEED_GENERATE="true", NUM_ISSUES="3000", SEED="5")
    assert ran.code == 0, ran.text
    with psycopg.connect(fresh_db, autocommit=True) as c:
        saved = capture(c, TABLES, include_primary_keys=True)
        indexes = [o for o in saved if isinstance(o, SavedIndex)]
        fks = [o for o in saved if isinstance(o, SavedForeignKey)]
        # The contract's one-column keys led by an index of their table; not comment.creatorID (no
        # index) nor issueLabel's two-column keys.
        assert {fk.name for fk in fks if merge_checkable(fk, indexes)} == {
            "comment_issueID_fkey", "issue_creatorID_fkey", "issue_assigneeID_fkey", "issue_projectID_fkey",
            "label_projectID_fkey", "issueNotifications_userID_fkey", "viewState_userID_fkey"}
        # One COPY FREEZE per table (the streamed load) marks every page all-visible.
        assert all_visible(c, "comment", "issue")
        with merge_anti_join(c):
            plan = _plan(c)
        assert "Merge Anti Join" in plan and plan.count("Index Only Scan") == 2, plan
        assert c.execute("SHOW enable_hashjoin").fetchone() == ("on",)


def test_tables_not_all_visible_keep_the_planners_choice(fresh_db: str, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A row written since the load (an append's, an update's) clears its page's all-visible mark (until
    a VACUUM sets it again): an index-only scan would then read the heap for those pages, row by row."""
    ran = seed_cli(fresh_db, None, capsys, monkeypatch, ZERO_SEED_GENERATE="true", NUM_ISSUES="3000", SEED="5")
    assert ran.code == 0, ran.text
    with psycopg.connect(fresh_db, autocommit=True) as c:
        assert all_visible(c, "comment", "issue")
        c.execute("UPDATE comment SET created = created WHERE id < 'M'")
        c.execute("ANALYZE comment")
        assert not all_visible(c, "comment", "issue") and all_visible(c, "issue")
