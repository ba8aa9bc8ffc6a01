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
        # Counts older than the table's growth say no too: rows added since the last ANALYZE.
        c.execute("SET session_replication_role = replica")  # no triggers: rows as a load adds them
        c.execute('INSERT INTO issue (id, title, open, modified, created, "creatorID", "assigneeID", description, '
                  'visibility, "projectID") SELECT \'~\' || substr(id, 2), title, open, modified, created, '
                  '"creatorID", "assigneeID", description, visibility, "projectID" FROM issue')
        assert not all_visible(c, "issue")


def test_the_loader_merges_the_checks_that_can(fresh_db: str, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A load's last stage runs each qualifying check inside merge_anti_join, and only those."""
    from zbugs_synth.db.load import jobs

    merged: list[str] = []
    real_merge, real_validate = jobs.merge_anti_join, jobs.validate_fk
    inside: list[bool] = []

    def recording_merge(conn: psycopg.Connection) -> object:
        inside.append(True)
        return real_merge(conn)

    def recording_validate(conn: psycopg.Connection, fk: SavedForeignKey) -> None:
        if conn.execute("SHOW enable_hashjoin").fetchone() == ("off",):
            merged.append(fk.name)
        real_validate(conn, fk)

    monkeypatch.setattr(jobs, "merge_anti_join", recording_merge)
    monkeypatch.setattr(jobs, "validate_fk", recording_validate)
    ran = seed_cli(fresh_db, None, capsys, monkeypatch, ZERO_SEED_GENERATE="true", NUM_ISSUES="3000", SEED="6")
    assert ran.code == 0, ran.text
    # The keys between tables streamed whole (all-visible); never one that cannot merge. (The small
    # tables', such as label's and those to project, loaded apart from the stream, merge or not as
    # their pages came out marked and counted: either is right for a few pages.)
    assert {"comment_issueID_fkey", "issue_creatorID_fkey", "issue_assigneeID_fkey"} <= set(merged), merged
    assert set(merged) <= {"comment_issueID_fkey", "issue_creatorID_fkey", "issue_assigneeID_fkey",
                           "issue_projectID_fkey", "label_projectID_fkey", "issueNotifications_userID_fkey",
                           "viewState_userID_fkey"}, merged
    assert len(inside) == len(merged)
