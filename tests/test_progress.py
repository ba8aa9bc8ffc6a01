"""Progress backends: one line per bar at 80 columns, no negative rates or ETAs, real averages when done."""

from __future__ import annotations

import io
import re
import time

from rich.cells import cell_len
from rich.console import Console

from zbugs_synth.progress import PlainProgress, RichProgress

NEGATIVE = re.compile(r"-\d")


def _render(p: RichProgress) -> list[str]:
    p.console.print(p.bars.get_renderable())
    text = p.console.file.getvalue()  # type: ignore[attr-defined]
    p.console.file.truncate(0)  # type: ignore[attr-defined]
    p.console.file.seek(0)  # type: ignore[attr-defined]
    return [ln for ln in text.splitlines() if ln.strip()]


def _bars(width: int) -> RichProgress:
    console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
    return RichProgress(console, start=False)


def _busy(p: RichProgress) -> None:
    """The widest realistic tasks: long names, ten-digit row counts, terabytes."""
    a = p.task("issueLabel rows", 1_234_567_890)
    a.advance(987_654_321)
    b = p.task("download dataset", 9_876_543_210_000, unit="bytes")
    b.advance(1_234_567_890_123)
    c = p.task("verify", 42, unit="checks")
    c.note("no orphans: issueLabel(labelID, projectID) -> label(id, projectID)")
    c.advance(17)


def test_every_bar_is_one_line_at_80_columns() -> None:
    for width in (80, 100, 129, 130, 200):
        p = _bars(width)
        _busy(p)
        time.sleep(0.05)
        lines = _render(p)
        assert len(lines) == 3, (width, lines)
        assert all(cell_len(ln) <= width for ln in lines), (width, lines)


def test_no_negative_rate_or_eta_after_work_is_taken_back() -> None:
    p = _bars(120)
    t = p.task("download", 10_000_000, unit="bytes")
    t.advance(4_000_000)
    time.sleep(0.05)
    t.advance(-4_000_000)  # an interrupted download rewinds what it had counted
    time.sleep(0.05)
    t.advance(10)
    lines = _render(p)
    assert not any(NEGATIVE.search(ln) for ln in lines), lines
    plain_out = io.StringIO()
    plain = PlainProgress(plain_out, interval=0.0)
    q = plain.task("download", 10_000_000, unit="bytes")
    q.advance(4_000_000)
    q.advance(-5_000_000)
    q.done()
    assert not NEGATIVE.search(plain_out.getvalue()), plain_out.getvalue()


def test_finished_bars_show_the_average_rate() -> None:
    p = _bars(200)
    t = p.task("issue", 50_000)
    time.sleep(0.2)
    t.advance(50_000)
    t.done()
    (line,) = _render(p)
    rate = re.search(r"([\d,]+) rows/s", line)
    assert rate, line
    assert 50_000 < int(rate.group(1).replace(",", "")) < 50_000 / 0.15, line  # ~50,000 / 0.2 s
    out = io.StringIO()
    plain = PlainProgress(out, interval=60.0)
    q = plain.task("issue", 50_000)
    time.sleep(0.2)
    q.advance(50_000)
    q.done()
    rate = re.search(r"([\d,]+) rows/s, done in", out.getvalue())
    assert rate and 50_000 < int(rate.group(1).replace(",", "")) < 50_000 / 0.15, out.getvalue()


def test_log_lines_print_above_the_bars() -> None:
    console = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None)
    p = RichProgress(console)
    p.task("comment", 100).advance(50)
    for i in range(15):
        p.log(f"loaded comment_{i:03}.csv: 1,000 rows")
    p.close()
    text = console.file.getvalue()  # type: ignore[attr-defined]
    last = text.rsplit("loaded comment_014.csv", 1)[1]
    assert "comment" in last and "50" in last  # the bar is drawn again below the last log line


def test_plain_lines_name_the_step_under_way() -> None:
    out = io.StringIO()
    plain = PlainProgress(out, interval=0.0)
    t = plain.task("verify", 3, unit="checks")
    t.note("no orphans: comment.issueID -> issue.id")
    t.advance(1)
    t.done()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("verify: 0 checks, of 3 checks (0%)") and "now: no orphans" in lines[0]
    assert lines[-1].startswith("verify: 1 check,") and "done in" in lines[-1] and "now:" not in lines[-1]


def test_one_of_a_unit_is_singular() -> None:
    """'analyze: 1 tables' (a walkthrough)."""
    out = io.StringIO()
    plain = PlainProgress(out, interval=60.0)
    for unit, one, many in (("tables", "1 table", "2 tables"), ("indexes", "1 index", "2 indexes")):
        t = plain.task("x", None, unit=unit)
        t.advance(1)
        t.done()
        t = plain.task("y", None, unit=unit)
        t.advance(2)
        t.done()
        text = out.getvalue()
        assert f"x: {one}," in text and f"y: {many}," in text, text
