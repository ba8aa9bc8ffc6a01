"""Charts of the four tables beyond the guide's six (emoji, issueNotifications, viewState, userPref)
for verify's report: reactions per issue and per comment, the emoji picked (with the annotation
zbugs stores), subscriptions per issue, views per issue and how many of them are unread, and the
emoji skin tones users chose.

`collect` runs one aggregate statement per table, and only for tables that hold rows (a database
loaded without ALL_TABLES gets no query and no chart); it also reads the fidelity table's text
shapes from a sample of issue and comment (fidelity.sample_text). Each statement scans its table once and
returns one row per distinct count (or per emoji value / skin tone), never a row per issue: the
report stays fast at 10M issues. Subjects, issues and users with no row at all are the table's
count minus those seen, from the counts verify already took.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any

import psycopg
from psycopg import sql

from zbugs_synth.db.connect import connect, scrub
from zbugs_synth.db.load.bookkeeping import LoadedDataset
from zbugs_synth.db.verify.charts import Bar, bar_chart, histogram_section
from zbugs_synth.db.verify.fidelity import TextShapes, sample_text

MAX_EMOJI_BARS = 40  # more distinct values than this: the rest is one "other" bar
SKIN_TONE_KEY = "emojiSkinTone"  # the userPref key zbugs stores the picker's skin tone under
# zbugs' skin tones, as the number it stores: 0 is the default (no modifier), 1..5 the Fitzpatrick modifiers.
SKIN_TONES = {"0": "default", "1": "light", "2": "medium-light", "3": "medium", "4": "medium-dark", "5": "dark"}
NOT_SET = "not set"
WORK_MEM = "256MB"  # per sort or hash of the aggregates (the loader's ZERO_SEED_WORK_MEM default too)


@dataclass(frozen=True)
class Reactions:
    per_issue: dict[int, int]  # k -> issues with exactly k reactions
    per_comment: dict[int, int]  # k -> comments with exactly k reactions
    orphans: int  # reactions whose subject is neither an issue nor a comment
    values: list[tuple[str, str | None, int]]  # (value, annotation, reactions), most picked first


@dataclass(frozen=True)
class Subscriptions:
    subscribed: dict[int, int]  # k -> issues with exactly k subscribed users
    unsubscribed: dict[int, int]  # k -> issues with exactly k users who unsubscribed


@dataclass(frozen=True)
class Views:
    per_issue: dict[int, int]  # k -> issues viewed by exactly k users
    views: int
    unread: int  # views older than their issue's last modification (zbugs lists the issue as unread)
    issues_unread: int  # issues with at least one such view


@dataclass(frozen=True)
class SkinTones:
    users: dict[str, int]  # stored value (or NOT_SET) -> users
    other_keys: dict[str, int]  # userPref keys besides SKIN_TONE_KEY -> rows


@dataclass
class ExtraTables:
    reactions: Reactions | None = None  # None: the table is empty or missing
    subscriptions: Subscriptions | None = None
    views: Views | None = None
    skin_tones: SkinTones | None = None
    text: TextShapes | None = None  # the fidelity table's text figures (a sample of issue and comment)
    errors: dict[str, str] = field(default_factory=dict)  # table -> why it could not be charted
    scope: str = ""  # which issues the per-issue charts count, when not all of them (see `covered`)


# Tables a batch writes only with ALL_TABLES (userPref goes with the users, shared by every batch).
_PER_BATCH = ("emoji", "issueNotifications", "viewState")


def covered(counts: dict[str, int | None], loads: list[LoadedDataset]) -> tuple[dict[str, int | None], str]:
    """The issue and comment counts the extra tables' charts count against, and a caption saying so
    when those are not all of them. A batch loaded without ALL_TABLES has no reactions,
    subscriptions or views at all: counted, its issues would all show as never viewed (a 1 M batch
    beside a 10 K ALL_TABLES one: 99 % "never viewed"). From the recorded loads: the finished ones
    whose dataset wrote those tables; without a record of every load (rows copied some other
    way), all rows."""
    finished = [d for d in loads if d.finished]
    with_extra = [d for d in finished if _wrote_extra(d)]
    if not finished or len(with_extra) == len(finished) or not with_extra:
        return counts, ""
    recorded = sum(d.rows.get("issue", 0) for d in finished)
    if recorded != (counts.get("issue") or 0):
        return counts, ""  # rows beyond the recorded loads: no telling which batch they came with
    scoped = dict(counts)
    for table in ("issue", "comment"):
        scoped[table] = sum(d.rows.get(table, 0) for d in with_extra)
    return scoped, (f"Per issue and per comment: the {scoped['issue']:,} issues of the {len(with_extra)} of "
                    f"{len(finished)} loaded datasets written with ALL_TABLES (the others have no reactions, "
                    "subscriptions or views).")


def _wrote_extra(d: LoadedDataset) -> bool:
    config = (d.manifest or {}).get("config") or {}
    if "all_tables" in config:
        return bool(config["all_tables"])
    return any(d.rows.get(t) for t in _PER_BATCH)


# ---- queries -------------------------------------------------------------------------------------

# One scan of emoji feeds both groupings (hashed grouping sets); the CTE is read twice, emoji once.
# Subjects are classified after the aggregation: one probe per reacted subject, not per reaction.
_EMOJI = """
WITH g AS (SELECT "subjectID" AS s, value, annotation, count(*) AS n, GROUPING("subjectID") AS by_value
             FROM emoji GROUP BY GROUPING SETS (("subjectID"), (value, annotation)))
SELECT 'value', value, annotation, n, 0 FROM g WHERE by_value = 1
UNION ALL
SELECT CASE WHEN i.id IS NOT NULL THEN 'issue' WHEN c.id IS NOT NULL THEN 'comment' ELSE 'orphan' END,
       NULL, NULL, g.n, count(*)
  FROM g
  LEFT JOIN issue i ON i.id = g.s
  LEFT JOIN comment c ON i.id IS NULL AND c.id = g.s
 WHERE g.by_value = 0
 GROUP BY 1, 4
"""

_SUBSCRIPTIONS = """
SELECT s, u, count(*) FROM (SELECT count(*) FILTER (WHERE subscribed) AS s, count(*) FILTER (WHERE NOT subscribed) AS u
                              FROM "issueNotifications" GROUP BY "issueID") g
 GROUP BY 1, 2
"""

_VIEWS = """
SELECT n, unread, count(*) FROM (SELECT count(*) AS n, count(*) FILTER (WHERE i.modified > v.viewed) AS unread
                                   FROM "viewState" v JOIN issue i ON i.id = v."issueID"
                                  GROUP BY v."issueID") g
 GROUP BY 1, 2
"""

_PREFS = sql.SQL("""SELECT key, CASE WHEN key = {} THEN value END, count(*) FROM "userPref" GROUP BY 1, 2""")


def collect(url: str, counts: dict[str, int | None], *, statement_timeout: float = 0.0,
            loads: list[LoadedDataset] | None = None) -> ExtraTables:
    """The figures of every extra table that holds rows (`counts`: verify's row counts, None: missing;
    `loads`: the recorded loads, which scope the per-issue figures: see `covered`)."""
    out = ExtraTables()
    which = counts
    if loads is not None:
        which, out.scope = covered(counts, loads)
    todo = [(table, attr, read) for table, attr, read in _READERS if counts.get(table)]
    if counts.get("issue"):
        todo.append(("issue", "text", lambda conn, _counts: sample_text(conn)))
    if not todo:
        return out
    with connect(url, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = on")
        conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(int(statement_timeout * 1000))))
        # A group per issue (or per reacted subject): at the server's default 4MB the hash
        # aggregates spill to disk from ~100K issues on. This session's own setting only.
        conn.execute(sql.SQL("SET work_mem = {}").format(sql.Literal(WORK_MEM)))
        for table, attr, read in todo:
            try:
                setattr(out, attr, read(conn, which))
            except psycopg.Error as e:  # one table's failure (a timeout) leaves the rest of the report
                out.errors[table] = scrub(str(e), url).strip().splitlines()[0]
    return out


def _with_zero(hist: dict[int, int], total: int | None) -> dict[int, int]:
    """Add the rows nobody counted (no child row at all) as k = 0."""
    missing = (total or 0) - sum(hist.values())
    if missing > 0:
        hist[0] = hist.get(0, 0) + missing
    return dict(sorted(hist.items()))


def _reactions(conn: psycopg.Connection[Any], counts: dict[str, int | None]) -> Reactions:
    per: dict[str, dict[int, int]] = {"issue": {}, "comment": {}, "orphan": {}}
    values: list[tuple[str, str | None, int]] = []
    for kind, value, annotation, n, subjects in conn.execute(_EMOJI).fetchall():
        if kind == "value":
            values.append((str(value), annotation, int(n)))
        else:
            per[kind][int(n)] = int(subjects)
    values.sort(key=lambda v: (-v[2], v[0]))
    return Reactions(per_issue=_with_zero(per["issue"], counts.get("issue")),
                     per_comment=_with_zero(per["comment"], counts.get("comment")),
                     orphans=sum(k * s for k, s in per["orphan"].items()), values=values)


def _subscriptions(conn: psycopg.Connection[Any], counts: dict[str, int | None]) -> Subscriptions:
    sub: dict[int, int] = {}
    unsub: dict[int, int] = {}
    for s, u, issues in conn.execute(_SUBSCRIPTIONS).fetchall():
        sub[int(s)] = sub.get(int(s), 0) + int(issues)
        unsub[int(u)] = unsub.get(int(u), 0) + int(issues)
    return Subscriptions(subscribed=_with_zero(sub, counts.get("issue")),
                         unsubscribed=_with_zero(unsub, counts.get("issue")))


def _views(conn: psycopg.Connection[Any], counts: dict[str, int | None]) -> Views:
    hist: dict[int, int] = {}
    views = unread = issues_unread = 0
    for n, u, issues in conn.execute(_VIEWS).fetchall():
        hist[int(n)] = hist.get(int(n), 0) + int(issues)
        views += int(n) * int(issues)
        unread += int(u) * int(issues)
        issues_unread += int(issues) if u else 0
    return Views(per_issue=_with_zero(hist, counts.get("issue")), views=views, unread=unread,
                 issues_unread=issues_unread)


def _skin_tones(conn: psycopg.Connection[Any], counts: dict[str, int | None]) -> SkinTones:
    users: dict[str, int] = {}
    other: dict[str, int] = {}
    for key, value, n in conn.execute(_PREFS.format(sql.Literal(SKIN_TONE_KEY))).fetchall():
        if key == SKIN_TONE_KEY:
            users[str(value)] = int(n)
        else:
            other[str(key)] = other.get(str(key), 0) + int(n)
    # (key, userID) is the primary key: each user holds the key at most once.
    unset = (counts.get("user") or 0) - sum(users.values())
    return SkinTones(users={NOT_SET: max(unset, 0), **users}, other_keys=dict(sorted(other.items())))


# table, ExtraTables field, reader
_READERS: tuple[tuple[str, str, Callable[[psycopg.Connection[Any], dict[str, int | None]], Any]], ...] = (
    ("emoji", "reactions", _reactions), ("issueNotifications", "subscriptions", _subscriptions),
    ("viewState", "views", _views), ("userPref", "skin_tones", _skin_tones),
)


# ---- sections ------------------------------------------------------------------------------------

def extra_sections(extra: ExtraTables) -> list[str]:
    """The report's sections for the extra tables, in page order; none for a table without rows."""
    out: list[str] = []
    if extra.scope and (extra.reactions or extra.subscriptions or extra.views):
        out.append(f'<section><p class="caption">{escape(extra.scope)}</p></section>')
    if (r := extra.reactions) is not None:
        orphans = f"{r.orphans:,} reaction(s) on neither an issue nor a comment are left out." if r.orphans else ""
        out.append(histogram_section("Reactions per issue", "chart-reactions-per-issue", r.per_issue, log=True,
                                     x_label="emoji reactions on the issue", note=_none_share(r.per_issue, "issue")
                                     + orphans))
        if r.per_comment:
            out.append(histogram_section("Reactions per comment", "chart-reactions-per-comment", r.per_comment,
                                         log=True, x_label="emoji reactions on the comment", unit="comment",
                                         note=_none_share(r.per_comment, "comment")))
        out.append(_emoji_values(r.values))
    if (t := extra.skin_tones) is not None:  # beside the emoji values: the tone zbugs' picker applies to them
        out.append(_skin_tone_section(t))
    if (s := extra.subscriptions) is not None:
        out.append(histogram_section("Subscribed users per issue", "chart-subscribed-per-issue", s.subscribed,
                                     log=True, x_label="users subscribed to the issue",
                                     note=_total(s.subscribed, "subscription")))
        out.append(histogram_section("Unsubscribed users per issue", "chart-unsubscribed-per-issue",
                                     s.unsubscribed, log=True, x_label="users who unsubscribed from the issue",
                                     note=_total(s.unsubscribed, "unsubscription")))
    if (v := extra.views) is not None:
        out.append(histogram_section("Views per issue", "chart-views-per-issue", v.per_issue, log=True,
                                     x_label="users who viewed the issue (viewState rows)",
                                     note=_none_share(v.per_issue, "issue", "never viewed")))
        out.append(_unread(v))
    out += [f"<section><h2>{escape(table)}</h2><p class=\"caption\">not charted: {escape(why)}</p></section>"
            for table, why in extra.errors.items()]
    return out


def _none_share(hist: dict[int, int], unit: str, what: str = "without a reaction") -> str:
    total = sum(hist.values())
    return f"{100 * hist.get(0, 0) / total:.1f}% of {total:,} {unit}s {what}. " if total else ""


def _total(hist: dict[int, int], what: str) -> str:
    return f"{sum(k * n for k, n in hist.items()):,} {what}s in all."


def _emoji_values(values: list[tuple[str, str | None, int]]) -> str:
    shown, rest = values[:MAX_EMOJI_BARS], values[MAX_EMOJI_BARS:]
    bars = [Bar(f"{v} {a}" if a else v, n, tick=v) for v, a, n in shown]
    if rest:
        bars.append(Bar(f"other ({len(rest):,} values)", sum(n for *_, n in rest), tick="other"))
    chart = bar_chart("chart-emoji-values", bars, log=False, width=540, height=280, x_label="emoji value",
                      y_label="reactions", tick_labels=True)
    total = sum(n for *_, n in values) or 1
    rows = "".join(f'<tr><td>{escape(v)}</td><td>{escape(a or "")}</td><td class="num">{n:,}</td>'
                   f'<td class="num">{100 * n / total:.1f}%</td></tr>' for v, a, n in values)
    return ("<section><h2>Emoji values</h2>" + chart
            + f'<p class="caption">{len(values):,} distinct (value, annotation) pairs, most picked first.</p>'
            + '<table id="emoji-values"><tr><th>value</th><th>annotation</th><th class="num">reactions</th>'
            + f'<th class="num">share</th></tr>{rows}</table></section>')


def _unread(v: Views) -> str:
    chart = bar_chart("chart-unread-views", [Bar("read", v.views - v.unread), Bar("unread", v.unread)], log=False,
                      width=540, height=280, x_label="viewState rows: issue.modified > viewed is unread",
                      y_label="views", tick_labels=True)
    share = 100 * v.unread / v.views if v.views else 0.0
    caption = (f"{v.unread:,} of {v.views:,} views ({share:.1f}%) are older than their issue's last change; "
               f"{v.issues_unread:,} issue(s) show as unread to someone.")
    return f'<section><h2>Unread views</h2>{chart}<p class="caption">{escape(caption)}</p></section>'


def _skin_tone_section(t: SkinTones) -> str:
    order = [NOT_SET, *SKIN_TONES]
    keys = [k for k in order if k in t.users] + sorted(k for k in t.users if k not in order)
    bars = [Bar(k if k not in SKIN_TONES else f"{k} {SKIN_TONES[k]}", t.users[k],
                tick="none" if k == NOT_SET else k) for k in keys]
    chart = bar_chart("chart-skin-tones", bars, log=False, width=540, height=280,
                      x_label=f"userPref {SKIN_TONE_KEY} (0 default, 1 light .. 5 dark)", y_label="users",
                      tick_labels=True)
    users = sum(t.users.values())
    caption = f"{users - t.users.get(NOT_SET, 0):,} of {users:,} users chose a skin tone."
    if t.other_keys:
        caption += " Other keys: " + ", ".join(f"{k} ({n:,})" for k, n in t.other_keys.items()) + "."
    return f'<section><h2>Emoji skin tones</h2>{chart}<p class="caption">{escape(caption)}</p></section>'
