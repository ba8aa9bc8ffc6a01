"""verify's checks for the four tables beyond the guide's six (emoji, issueNotifications,
viewState, userPref): what zbugs' triggers enforce on emoji while a bulk load has them off, and
the time order the generator promises. Each is a step function for verify's plan: (ctx) -> checks.
"""

from __future__ import annotations

from typing import Any

from zbugs_synth.db.verify.result import FAIL, PASS, Check

EMOJI_SUBJECT = "emoji subjectID is an issue or a comment"
EMOJI_TIMES = "emoji created between its subject's creation and its issue's modification"
VIEW_TIMES = "viewState viewed at or after its issue's creation"

# The subject's creation time and its issue's modification time, for every emoji.
_EMOJI_SUBJECTS = """
    SELECT e.id, e."subjectID", e.created AS ecreated,
           coalesce(i.created, c.created) AS screated, coalesce(i.modified, ci.modified) AS imodified,
           (i.id IS NULL AND c.id IS NULL) AS orphan
      FROM emoji e
      LEFT JOIN issue i ON i.id = e."subjectID"
      LEFT JOIN comment c ON i.id IS NULL AND c.id = e."subjectID"
      LEFT JOIN issue ci ON ci.id = c."issueID"
"""


EMOJI_STEP = "emoji subjects and times"


def emoji(ctx: Any) -> list[Check]:
    """The rule zbugs' emoji_check_subject_bump_issue trigger enforces (no foreign key can), and the
    time order: both from ONE read of emoji joined to its subjects (the join is most of the cost)."""
    (n, early, late, total) = ctx.one(f"""SELECT count(*) FILTER (WHERE orphan),
                                                 count(*) FILTER (WHERE NOT orphan AND ecreated < screated),
                                                 count(*) FILTER (WHERE NOT orphan AND ecreated > imodified),
                                                 count(*) FILTER (WHERE NOT orphan)
                                            FROM ({_EMOJI_SUBJECTS}) s""")
    return [_subjects(ctx, int(n)), _times(int(early), int(late), int(total))]


def _subjects(ctx: Any, n: int) -> Check:
    total = ctx.rows_of("emoji") or 0
    if not n:
        return Check(EMOJI_SUBJECT, PASS, f"all {total:,} emoji", numbers={"orphans": 0})
    rows = ctx.all(f"SELECT id, \"subjectID\" FROM ({_EMOJI_SUBJECTS}) s WHERE orphan LIMIT %s", (ctx.samples,))
    return Check(EMOJI_SUBJECT, FAIL, f"{n:,} of {total:,} emoji point at neither an issue nor a comment (the "
                                      "trigger that refuses them was off while they were written)",
                 samples=[f"emoji {e} subjectID {s}" for e, s in rows], numbers={"orphans": n})


def _times(early: int, late: int, total: int) -> Check:
    numbers = {"beforeSubject": early, "afterIssueModified": late, "emoji": total}
    if early or late:
        return Check(EMOJI_TIMES, FAIL, f"{early:,} emoji older than their subject, {late:,} newer than their "
                                        "issue's modification (zbugs bumps it on every reaction)", numbers=numbers)
    return Check(EMOJI_TIMES, PASS, f"all {total:,} emoji", numbers=numbers)


def view_times(ctx: Any) -> list[Check]:
    (bad, unread, total) = ctx.one("""SELECT count(*) FILTER (WHERE v.viewed < i.created),
                                             count(*) FILTER (WHERE v.viewed < i.modified), count(*)
                                        FROM "viewState" v JOIN issue i ON i.id = v."issueID\"""")
    numbers = {"beforeCreated": int(bad), "unread": int(unread), "views": int(total)}
    if bad:
        return [Check(VIEW_TIMES, FAIL, f"{bad:,} of {total:,} views predate their issue", numbers=numbers)]
    return [Check(VIEW_TIMES, PASS, f"all {total:,} views; {unread:,} older than the issue's last change "
                                    "(shown as unread)", numbers=numbers)]
