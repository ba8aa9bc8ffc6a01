"""Helpers for the report's tests: parse the page's charts, compute histograms in SQL, write a report."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import psycopg
import pytest

from zbugs_synth.cli import main
from zbugs_synth.db.verify.charts import HIST_CAP


class Page(HTMLParser):
    """Collects the bars of each SVG chart and every tag name/attribute seen."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: dict[str, list[tuple[str, int, float]]] = {}
        self.current: str | None = None
        self.tags: set[str] = set()
        self.attrs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.add(tag)
        self.attrs |= set(a)
        if tag == "svg":
            self.current = a["id"]
            self.charts[self.current or ""] = []
        elif tag == "rect" and a.get("class") == "bar" and self.current:
            self.charts[self.current].append((a["data-label"] or "", int(a["data-value"] or 0),
                                              float(a["height"] or 0)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.current = None


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def histogram(url: str, child: str) -> dict[int, int]:
    with psycopg.connect(url) as c:
        rows = c.execute(f'SELECT n, count(*) FROM (SELECT i.id, count(x."issueID") n FROM issue i '
                         f'LEFT JOIN "{child}" x ON x."issueID" = i.id GROUP BY i.id) s GROUP BY n').fetchall()
    return {int(n): int(k) for n, k in rows}


def expected_bars(truth: dict[int, int]) -> list[tuple[str, int]]:
    """The (label, value) bars a histogram chart must hold for `truth`."""
    top = max(truth)
    if top < HIST_CAP:
        return [(str(k), truth.get(k, 0)) for k in range(top + 1)]
    # one bar per count below the cap, then the tail summed
    return [*((str(k), truth.get(k, 0)) for k in range(HIST_CAP)),
            (f"{HIST_CAP}+", sum(v for k, v in truth.items() if k >= HIST_CAP))]


def write_report(url: str, path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code = main(["verify", "--db-url", url, "--progress", "none", "--report", str(path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"report written to {path}" in out
    return path.read_text(encoding="utf-8")
