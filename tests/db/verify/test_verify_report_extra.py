"""verify --report charts the four extra tables (emoji, issueNotifications, viewState, userPref) of
an ALL_TABLES load with the database's real numbers, and draws none of them when they are empty."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from report_helpers import expected_bars, histogram, parse, write_report
from verify_helpers import load_dir

from zbugs_synth.cli import main
from zbugs_synth.config import build
from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.db.verify.checks import Report
from zbugs_synth.db.verify.extra_charts import (
    NOT_SET,
    SKIN_TONE_KEY,
    SKIN_TONES,
    ExtraTables,
    Reactions,
    SkinTones,
    Views,
    collect,
)
from zbugs_synth.db.verify.report import render_html
from zbugs_synth.generate.driver import generate
from zbugs_synth.tables import EXTRA_TABLES

EXTRA_CHARTS = {"chart-reactions-per-issue", "chart-reactions-per-comment", "chart-emoji-values",
                "chart-subscribed-per-issue", "chart-unsubscribed-per-issue", "chart-views-per-issue",
                "chart-unread-views", "chart-skin-tones"}
ISSUES = 2000


@pytest.fixture(scope="module")
def all_tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report-all") / "ds"
    generate(build(GenerateConfig, None, {"NUM_ISSUES": str(ISSUES), "NUM_PROJECTS": "20", "ALL_TABLES": "true",
                                          "OUTPUT_DIR": str(out)}))
    return out


def rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute(query).fetchall()


def per_subject(url: str, subject: str, condition: str = "true") -> dict[int, int]:
    """{k: subjects with k matching rows}, by a LEFT JOIN from the subject table (the report does not join so)."""
    child, key, match = {"issue": ("emoji", '"subjectID"', "true"), "comment": ("emoji", '"subjectID"', "true"),
                         "notif": ("issueNotifications", '"issueID"', condition)}[subject]
    parent = "issue" if subject == "notif" else subject
    found = rows(url, f'SELECT n, count(*) FROM (SELECT p.id, count(x.{key}) FILTER (WHERE {match}) n FROM {parent} p '
                      f'LEFT JOIN "{child}" x ON x.{key} = p.id GROUP BY p.id) s GROUP BY n')
    return {int(n): int(k) for n, k in found}


def test_extra_tables_are_charted_with_the_databases_numbers(fresh_db: str, all_tables: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    load_dir(fresh_db, all_tables)
    html = write_report(fresh_db, tmp_path / "r.html", capsys)
    page = parse(html)
    assert set(page.charts) >= EXTRA_CHARTS
    assert 'id="problems"' not in html and 'id="fidelity"' in html  # all passed; the fidelity table stays

    def bars(chart: str) -> list[tuple[str, int]]:
        return [(label, v) for label, v, _ in page.charts[chart]]

    # Reactions: heavy-tailed per subject, on issues and on comments.
    (comments,) = rows(fresh_db, "SELECT count(*) FROM comment")[0]
    for chart, subject, total in (("chart-reactions-per-issue", "issue", ISSUES),
                                  ("chart-reactions-per-comment", "comment", comments)):
        truth = per_subject(fresh_db, subject)
        assert bars(chart) == expected_bars(truth)
        assert sum(truth.values()) == total
        assert truth[0] > total / 2 and max(truth) >= 4, truth  # most have none, a few many

    # Emoji values, labelled with their annotation, most picked first.
    values = rows(fresh_db, "SELECT value, annotation, count(*) FROM emoji GROUP BY 1, 2")
    assert sorted(bars("chart-emoji-values")) == sorted((f"{v} {a}", n) for v, a, n in values)
    assert bars("chart-emoji-values")[0] == ("👍 thumbs up", max(n for *_, n in values))
    assert "<td>thumbs up</td>" in html

    # Subscriptions per issue: subscribed and unsubscribed, each over all issues.
    for chart, condition in (("chart-subscribed-per-issue", "x.subscribed"),
                             ("chart-unsubscribed-per-issue", "NOT x.subscribed")):
        truth = per_subject(fresh_db, "notif", condition)
        assert bars(chart) == expected_bars(truth) and sum(truth.values()) == ISSUES
    assert max(per_subject(fresh_db, "notif", "NOT x.subscribed")) >= 1  # some did unsubscribe

    # viewState: views per issue, and the views older than their issue's last change.
    assert bars("chart-views-per-issue") == expected_bars(histogram(fresh_db, "viewState"))
    unread, views = rows(fresh_db, 'SELECT count(*) FILTER (WHERE i.modified > v.viewed), count(*) '
                                   'FROM "viewState" v JOIN issue i ON i.id = v."issueID"')[0]
    assert 0 < unread < views
    assert bars("chart-unread-views") == [("read", views - unread), ("unread", unread)]
    assert f"{unread:,} of {views:,} views ({100 * unread / views:.1f}%)" in html

    # userPref: the skin tone per user, and the users who never set one.
    tones = dict(rows(fresh_db, f"SELECT value, count(*) FROM \"userPref\" WHERE key = '{SKIN_TONE_KEY}' "
                                "GROUP BY 1"))
    (unset,) = rows(fresh_db, 'SELECT count(*) FROM "user" u WHERE NOT EXISTS (SELECT 1 FROM "userPref" p '
                              f"WHERE p.\"userID\" = u.id AND p.key = '{SKIN_TONE_KEY}')")[0]
    expected = [(NOT_SET, unset)] + [(f"{k} {SKIN_TONES[k]}", tones[k]) for k in SKIN_TONES if k in tones]
    assert bars("chart-skin-tones") == expected
    assert len(tones) == len(SKIN_TONES) and unset > 0

    # A table that cannot be read is said on the page; the other tables are still charted.
    counts = {t: rows(fresh_db, f'SELECT count(*) FROM "{t}"')[0][0] for t in ("issue", "comment", "user",
                                                                                *EXTRA_TABLES)}
    with psycopg.connect(fresh_db) as c:
        c.execute('ALTER TABLE "viewState" RENAME TO "viewStateGone"')
    extra = collect(fresh_db, counts)
    assert extra.views is None and 'relation "viewState" does not exist' in extra.errors["viewState"]
    assert extra.reactions is not None and extra.skin_tones is not None and extra.subscriptions is not None
    assert extra.reactions.per_issue == per_subject(fresh_db, "issue")
    page = parse(render_html(Report(target="t", started_at="s"), extra))
    assert set(page.charts) & EXTRA_CHARTS == EXTRA_CHARTS - {"chart-views-per-issue", "chart-unread-views"}


def test_a_database_without_the_extra_tables_shows_no_empty_charts(fresh_db: str, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    generate(build(GenerateConfig, None, {"NUM_ISSUES": "300", "NUM_PROJECTS": "4", "OUTPUT_DIR": str(out)}))
    load_dir(fresh_db, out)
    assert rows(fresh_db, "SELECT (SELECT count(*) FROM emoji) + (SELECT count(*) FROM \"viewState\")")[0][0] == 0
    html = write_report(fresh_db, tmp_path / "r.html", capsys)
    assert not EXTRA_CHARTS & set(parse(html).charts)
    for title in ("Reactions", "Emoji", "Subscribed", "Views per issue", "Unread", "skin tones"):
        assert title not in html


# ---- without a database --------------------------------------------------------------------------

def test_only_the_tables_with_figures_are_charted() -> None:
    report = Report(target="t", started_at="s")
    assert not EXTRA_CHARTS & set(parse(render_html(report, ExtraTables())).charts)
    extra = ExtraTables(views=Views(per_issue={0: 3, 2: 1}, views=2, unread=1, issues_unread=1),
                        skin_tones=SkinTones(users={NOT_SET: 4, "3": 2, "x": 1}, other_keys={"theme": 5}),
                        errors={"emoji": "canceling statement due to statement timeout"})
    html = render_html(report, extra)
    charts = parse(html).charts
    assert set(charts) & EXTRA_CHARTS == {"chart-views-per-issue", "chart-unread-views", "chart-skin-tones"}
    assert [(label, v) for label, v, _ in charts["chart-skin-tones"]] == [(NOT_SET, 4), ("3 medium", 2), ("x", 1)]
    assert "theme (5)" in html and "not charted: canceling statement due to statement timeout" in html


def test_many_emoji_values_end_in_one_other_bar() -> None:
    values = [(f"e{i}", f"name {i}", 100 - i) for i in range(50)]
    html = render_html(Report(target="t", started_at="s"),
                       ExtraTables(reactions=Reactions(per_issue={0: 1}, per_comment={}, orphans=0, values=values)))
    bars = parse(html).charts["chart-emoji-values"]
    assert len(bars) == 41 and bars[-1][:2] == ("other (10 values)", sum(range(51, 61)))
    assert "chart-reactions-per-comment" not in html  # no comments: nothing to chart


def test_fidelity_table_has_the_text_shapes_of_the_data(fresh_db: str, all_tables: Path) -> None:
    """Lengths and markdown shares beside zbugs' figures; at this size the sample is the whole table, so
    they equal the exact figures computed here from every row."""
    import numpy as np

    from zbugs_synth.db.verify import fidelity

    load_dir(fresh_db, all_tables)
    with psycopg.connect(fresh_db) as c:
        text = fidelity.sample_text(c)
    assert text is not None and text.issues == ISSUES
    titles, descs = zip(*rows(fresh_db, "SELECT title, description FROM issue"), strict=True)
    bodies = [b for (b,) in rows(fresh_db, "SELECT body FROM comment")]
    assert text.comments == len(bodies)

    def disc(xs: list[int]) -> tuple[int, ...]:  # percentile_disc: the first value whose rank reaches p
        s = sorted(xs)
        return tuple(s[max(0, int(np.ceil(p * len(s))) - 1)] for p in (0.05, 0.5, 0.95))

    assert text.title == disc([len(t) for t in titles])
    assert text.description == disc([len(d) for d in descs])
    assert text.body == disc([len(b) for b in bodies])
    assert text.code[1] == pytest.approx(100 * np.mean(["```" in b for b in bodies]))
    assert text.link[0] == pytest.approx(100 * np.mean(["http" in d for d in descs]))
    assert text.empty_description == pytest.approx(100 * np.mean([d == "" for d in descs]))
    html = fidelity.section({}, {}, text)
    for measure, _, ours, ref in fidelity.text_rows(text):
        assert measure in html and ours in html and ref in html


def test_the_fidelity_table_labels_comment_buckets_as_the_console_does() -> None:
    """One bucket, one name: the console's table uses the guide's labels ("10+" for more than 10)."""
    from zbugs_synth.db.verify import checks, fidelity

    assert [(n, lo) for n, lo, _hi, _ref in fidelity.COMMENT_BUCKETS] == [
        (n, lo) for n, lo, _hi in checks.COMMENT_BUCKETS]
    assert [b for m, b, _o, _r in fidelity.rows({12: 1}, {}) if m == "comments per issue"][-1] == "10+"


def test_batches_without_the_extra_tables_are_not_counted_as_never_viewed(
        fresh_db: str, all_tables: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An append of a batch made without ALL_TABLES: its issues have no reactions, subscriptions or
    views at all, and the per-issue figures count only the ALL_TABLES batch's issues (a walkthrough
    saw "issues never viewed" counting both)."""
    plain = tmp_path / "plain"
    generate(build(GenerateConfig, None, {"NUM_ISSUES": "3000", "NUM_PROJECTS": "5", "SEED": "9",
                                          "SKIP_USERS": "true", "OUTPUT_DIR": str(plain)}))
    load_dir(fresh_db, all_tables)
    load_dir(fresh_db, plain, mode="append")
    html = write_report(fresh_db, tmp_path / "r.html", capsys)
    (viewed,) = rows(fresh_db, 'SELECT count(DISTINCT "issueID") FROM "viewState"')[0]
    never = ISSUES - viewed
    assert f"{100 * never / ISSUES:.1f}% of {ISSUES:,} issues never viewed" in html
    assert f"the {ISSUES:,} issues of the 1 of 2 loaded datasets written with ALL_TABLES" in html
    page = parse(html)
    assert sum(v for _, v, _ in page.charts["chart-views-per-issue"]) == ISSUES
    assert sum(v for _, v, _ in page.charts["chart-subscribed-per-issue"]) == ISSUES
    # Rows beyond what the loads recorded: no telling which batch they came with, so all issues count.
    with psycopg.connect(fresh_db) as c:
        c.execute('INSERT INTO issue (id, title, open, modified, created, "creatorID", description, '
                  'visibility, "projectID") SELECT \'extra-issue\', title, open, modified, created, '
                  '"creatorID", description, visibility, "projectID" FROM issue LIMIT 1')
    # (verify fails its row-count check now, and still writes the page)
    assert main(["verify", "--db-url", fresh_db, "--progress", "none", "--report", str(tmp_path / "r2.html")]) == 1
    html = (tmp_path / "r2.html").read_text(encoding="utf-8")
    total = ISSUES + 3000 + 1
    assert f"of {total:,} issues never viewed" in html and "loaded datasets written with ALL_TABLES" not in html
