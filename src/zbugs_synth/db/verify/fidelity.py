"""The fidelity table of verify's report: our distributions beside zbugs' own data (the `github`
seed dataset the zbugs app ships: 516 issues, 924 comments), as issue 11 gives them."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

import psycopg

# (label, low, high) buckets of comments per issue, and zbugs' share of issues in each. "10+" is the
# guide's own label for more than 10 (its query's ELSE after 6-10), as verify's console table says.
COMMENT_BUCKETS = (("0", 0, 0, 38.8), ("1-2", 1, 2, 37.0), ("3-5", 3, 5, 16.1), ("6-10", 6, 10, 6.8),
                   ("10+", 11, 10**9, 1.4))
LABEL_SHARES = ((0, 20.0), (1, 53.0), (2, 19.0), (3, 7.0), (4, 1.0))
SAMPLE_ROWS = 20_000  # text shapes are read from a sample of about this many rows per table
PCTS = "ARRAY[0.05, 0.5, 0.95]"


@dataclass(frozen=True)
class TextShapes:
    """Lengths (characters, p5 / p50 / p95) and markdown shares (%) of a sample of the loaded text."""

    issues: int  # rows sampled
    comments: int
    title: tuple[int, int, int]
    description: tuple[int, int, int]
    body: tuple[int, int, int]
    empty_description: float
    code: tuple[float, float]  # descriptions, comments holding a fenced code block
    link: tuple[float, float]  # ... holding a URL


def _sample(conn: psycopg.Connection[Any], table: str) -> str:
    """TABLESAMPLE clause reading about SAMPLE_ROWS rows (by the planner's row estimate), the same
    pages on every run (REPEATABLE): the report's figures do not move between two runs."""
    row = conn.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (f'public."{table}"',)).fetchone()
    estimate = float(row[0]) if row and row[0] and row[0] > 0 else 0.0
    percent = 100.0 if estimate <= SAMPLE_ROWS else max(0.001, 100.0 * SAMPLE_ROWS / estimate)
    return f"TABLESAMPLE SYSTEM ({percent:.6f}) REPEATABLE (0)"


def sample_text(conn: psycopg.Connection[Any]) -> TextShapes | None:
    """The text shapes of a sample of issue and comment (None: no rows sampled)."""
    ni, title, desc, empty, dcode, dlink = conn.execute(
        f"""SELECT count(*), percentile_disc({PCTS}) WITHIN GROUP (ORDER BY length(title)),
                   percentile_disc({PCTS}) WITHIN GROUP (ORDER BY length(coalesce(description, ''))),
                   avg((coalesce(description, '') = '')::int), avg((description LIKE '%```%')::int),
                   avg((description LIKE '%http%')::int)
              FROM issue {_sample(conn, "issue")}""").fetchone() or (0,) * 6
    nc, body, ccode, clink = conn.execute(
        f"""SELECT count(*), percentile_disc({PCTS}) WITHIN GROUP (ORDER BY length(body)),
                   avg((body LIKE '%```%')::int), avg((body LIKE '%http%')::int)
              FROM comment {_sample(conn, "comment")}""").fetchone() or (0,) * 4
    if not ni:
        return None
    body = body or [0, 0, 0]

    def pct(x: Any) -> float:
        return 100.0 * float(x or 0)

    return TextShapes(int(ni), int(nc), tuple(title), tuple(desc), tuple(body),  # type: ignore[arg-type]
                      pct(empty), (pct(dcode), pct(ccode)), (pct(dlink), pct(clink)))


def text_rows(t: TextShapes) -> list[tuple[str, str, str, str]]:
    """(measure, bucket, ours, zbugs) for the text figures."""
    def three(v: tuple[int, int, int]) -> str:
        return " / ".join(f"{x:,}" for x in v)

    return [
        ("title length", "p5 / p50 / p95", three(t.title), "17 / 44 / 85"),
        ("description length", "p5 / p50 / p95", three(t.description), "0 / 290 / 1,700"),
        ("comment length", "p5 / p50 / p95", three(t.body), "18 / 171 / 1,324"),
        ("empty descriptions", "share", f"{t.empty_description:.1f}%", "5%"),
        ("fenced code block", "descriptions / comments", f"{t.code[0]:.1f}% / {t.code[1]:.1f}%", "13% / 7%"),
        ("link or image", "descriptions / comments", f"{t.link[0]:.1f}% / {t.link[1]:.1f}%", "53% / 28%"),
    ]


def _share(hist: dict[int, int], lo: int, hi: int) -> float:
    total = sum(hist.values()) or 1
    return 100.0 * sum(n for k, n in hist.items() if lo <= k <= hi) / total


def rows(comments: dict[int, int], labels: dict[int, int]) -> list[tuple[str, str, float | None, float]]:
    """(measure, bucket, ours %, zbugs %) for each reference figure."""
    out: list[tuple[str, str, float | None, float]] = []
    for name, lo, hi, ref in COMMENT_BUCKETS:
        out.append(("comments per issue", name, _share(comments, lo, hi) if comments else None, ref))
    for k, ref in LABEL_SHARES:
        out.append(("labels per issue", str(k), _share(labels, k, k) if labels else None, ref))
    return out


def section(comments: dict[int, int], labels: dict[int, int], text: TextShapes | None = None) -> str:
    table: list[tuple[str, str, str, str]] = [
        (escape(m), escape(b), "&ndash;" if ours is None else f"{ours:.1f}%", f"{ref:.1f}%")
        for m, b, ours, ref in rows(comments, labels)]
    if text is not None:
        table += [tuple(escape(x) for x in r) for r in text_rows(text)]  # type: ignore[misc]
    body = "".join(f'<tr><td>{m}</td><td>{b}</td><td class="num">{o}</td><td class="num">{r}</td></tr>'
                   for m, b, o, r in table)
    note = ("zbugs' own data has 1.79 comments and 1.17 labels per issue; COMMENTS_PER_ISSUE and "
            "LABELS_PER_ISSUE set ours (3.0 and 1.5 by default), so shares differ by design where the means do. ")
    if text is not None:
        note += (f"Text figures from a sample of {text.issues:,} issues and {text.comments:,} comments; "
                 "@mentions and reply times are measured by bench/bench_fidelity.py.")
    else:
        note += "Text shapes (lengths, markdown, reply times) are measured by bench/bench_fidelity.py."
    return (f'<section><h2>Fidelity: this data beside zbugs\' own</h2><table id="fidelity"><tr><th>measure</th>'
            f'<th>bucket</th><th class="num">ours</th><th class="num">zbugs</th></tr>{body}</table>'
            f'<p class="caption">{escape(note)}</p></section>')
