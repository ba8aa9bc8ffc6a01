"""verify's HTML report: one self-contained file (inline CSS and SVG, no script, no network).

Charts (SVG, drawn by db/verify/charts.py): issues per project (sorted, log scale), comments per
issue and labels per issue (histograms), and, when the four extra tables hold rows, theirs
(db/verify/extra_charts.py). All text that comes from the database (names, ids, samples) is
HTML-escaped.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from zbugs_synth.db.verify import fidelity
from zbugs_synth.db.verify.charts import HIST_CAP, Bar, bar_chart, grid, histogram_bars, histogram_section
from zbugs_synth.db.verify.checks import FAIL, PASS, WARN, Report
from zbugs_synth.db.verify.extra_charts import ExtraTables, extra_sections
from zbugs_synth.manifest import write_atomic

__all__ = ["HIST_CAP", "MAX_PROJECT_BARS", "Bar", "bar_chart", "histogram_bars", "render_html", "write_report"]

MAX_PROJECT_BARS = 2000  # beyond this, plot evenly spaced ranks: the curve's shape is what matters

_BAR = "#3b6fb6"
_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d2330;
       background: #f4f6fa; }
main { max-width: 1160px; margin: 0 auto; padding: 16px 20px 40px; }
header.verdict { padding: 16px max(20px, calc((100% - 1120px) / 2)); color: #fff; }
header.pass { background: #23844c; } header.fail { background: #b3261e; }
header h1 { margin: 0 0 4px; font-size: 22px; } header p { margin: 2px 0; }
section { background: #fff; border-radius: 8px; box-shadow: 0 1px 3px rgba(0,0,0,.12); margin: 16px 0;
          padding: 12px 16px; }
h2 { font-size: 17px; margin: 4px 0 10px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e3e7ee; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; min-width: 40px; text-align: center; border-radius: 4px; color: #fff;
         font-weight: 600; font-size: 12px; padding: 1px 6px; }
.PASS { background: #23844c; } .WARN { background: #c77700; } .FAIL { background: #b3261e; }
ul.samples { margin: 4px 0 0; padding-left: 18px; color: #4a5263; font: 12px/1.4 ui-monospace, monospace; }
.caption { color: #4a5263; font-size: 12px; margin: 4px 0 0; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.grid2 > section { margin: 0; } .grid2 { margin: 16px 0; }
ul#problems { margin: 8px 0 0; padding: 0; list-style: none; } ul#problems li { margin: 3px 0; }
ul#problems .badge { border: 1px solid rgba(255,255,255,.6); }
svg text { font: 11px system-ui, sans-serif; fill: #4a5263; }
svg .axis { stroke: #8a93a5; stroke-width: 1; } svg .grid { stroke: #e3e7ee; stroke-width: 1; }
svg .bar { fill: """ + _BAR + """; } svg .bar:hover { fill: #f08c00; }
"""


def write_report(report: Report, path: Path, extra: ExtraTables | None = None) -> None:
    """Write the page atomically (temp file + rename: never a half-written report)."""
    write_atomic(path, render_html(report, extra))


def render_html(report: Report, extra: ExtraTables | None = None) -> str:
    """The page; `extra`: the four extra tables' figures (extra_charts.collect), charted where they have rows."""
    # Order: what failed, then the charts, then the full tables: the first screenful answers
    # "is it good, and does the data have the intended shape?".
    state = "pass" if report.ok else "fail"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>zbugs-synth verify: {escape(report.verdict.split(':')[0])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f'<header class="verdict {state}"><h1>zbugs-synth verify</h1>',
        f'<p id="verdict"><strong>{escape(report.verdict)}</strong></p>',
        f"<p>{escape(report.target)} &middot; {escape(report.started_at)}</p>",
        _problems(report),
        "</header><main>",
        _projects(report),
        '<div class="grid2">',
        histogram_section("Comments per issue", "chart-comments-per-issue", report.comments_per_issue, log=True,
                          x_label="comments on the issue", extra=_buckets(report)),
        histogram_section("Labels per issue", "chart-labels-per-issue", report.labels_per_issue, log=False,
                          x_label="labels on the issue"),
        "</div>",
        grid(extra_sections(extra)) if extra is not None else "",
        fidelity.section(report.comments_per_issue, report.labels_per_issue, extra.text if extra else None),
        '<div class="grid2">',
        _counts(report),
        _top_projects(report),
        "</div>",
        _checks(report),
        _loads(report),
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _problems(report: Report) -> str:
    bad = report.failed + report.warned
    if not bad:
        return ""
    items = "".join(f'<li><span class="badge {c.status}">{c.status}</span> {escape(c.name)}: '
                    f"{escape(c.summary)}</li>" for c in bad)
    return f'<ul id="problems">{items}</ul>'


# ---- tables --------------------------------------------------------------------------------------

def _checks(report: Report) -> str:
    rows = []
    for c in report.checks:
        extra = ""
        items = (c.details if len(c.details) > 1 else []) + [f"e.g. {s}" for s in c.samples]
        if items:
            extra = '<ul class="samples">' + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"
        rows.append(f'<tr class="check" data-status="{c.status}"><td><span class="badge {c.status}">{c.status}'
                    f"</span></td><td>{escape(c.name)}</td><td>{escape(c.summary)}{extra}</td>"
                    f'<td class="num">{c.seconds:.2f}s</td></tr>')
    counts = {s: sum(1 for c in report.checks if c.status == s) for s in (PASS, WARN, FAIL)}
    head = f"Checks ({counts[FAIL]} failed, {counts[WARN]} warnings, {counts[PASS]} passed)"
    return (f"<section><h2>{head}</h2><table id=\"checks\"><tr><th>status</th><th>check</th><th>result</th>"
            f'<th class="num">time</th></tr>{"".join(rows)}</table></section>')


def _counts(report: Report) -> str:
    exp = report.expected or {}
    rows = []
    for table, n in report.counts.items():
        found = "missing" if n is None else f"{n:,}"
        expected = f"{exp[table]:,}" if table in exp else "&ndash;"
        status = "" if table not in exp else (PASS if exp[table] == n else FAIL)
        badge = f'<span class="badge {status}">{status}</span>' if status else ""
        rows.append(f'<tr><td>{escape(table)}</td><td class="num">{found}</td><td class="num">{expected}</td>'
                    f"<td>{badge}</td></tr>")
    note = "" if report.expected else '<p class="caption">No finished load is recorded: nothing to compare.</p>'
    return (f'<section><h2>Row counts</h2><table id="counts"><tr><th>table</th><th class="num">rows</th>'
            f'<th class="num">expected</th><th></th></tr>{"".join(rows)}</table>{note}</section>')


def _loads(report: Report) -> str:
    if not report.loads:
        return ""
    rows = "".join(
        f"<tr><td>{d.id}</td><td>{escape(d.dataset_id)}</td><td>{escape(d.mode)}</td><td>{escape(d.source)}</td>"
        f'<td class="num">{sum(d.rows.values()):,}</td><td>{d.started_at:%Y-%m-%d %H:%M:%S}</td>'
        f"<td>{f'{d.finished_at:%Y-%m-%d %H:%M:%S}' if d.finished_at else '<b>not finished</b>'}</td></tr>"
        for d in report.loads)
    return ("<section><h2>Loaded datasets</h2><table><tr><th>#</th><th>dataset</th><th>mode</th><th>source</th>"
            f'<th class="num">rows</th><th>started</th><th>finished</th></tr>{rows}</table></section>')


def _projects(report: Report) -> str:
    projects = report.projects
    shown = projects
    caption = f"{len(projects):,} projects, most issues first; log scale. Hover a bar for its project."
    if len(projects) > MAX_PROJECT_BARS:
        step = len(projects) / MAX_PROJECT_BARS
        shown = [projects[int(i * step)] for i in range(MAX_PROJECT_BARS)]
        caption += f" Every {step:.1f}th project by rank is drawn ({MAX_PROJECT_BARS:,} bars)."
    bars = [Bar(f"#{i + 1} {p.name if p.name is not None else '(missing project)'} ({p.id})", p.issues)
            for i, p in enumerate(shown)]
    empty = sum(1 for p in projects if p.issues == 0)
    if empty:
        caption += f" {empty:,} project(s) without issues (empty bars at the end)."
    chart = bar_chart("chart-issues-per-project", bars, log=True, width=1100, height=300,
                      x_label="projects, ranked by issues", y_label="issues (log)", tick_labels=False)
    return f"<section><h2>Issues per project</h2>{chart}<p class=\"caption\">{escape(caption)}</p></section>"


def _top_projects(report: Report) -> str:
    top = "".join(f'<tr><td class="num">{i}</td><td>{escape(p.name if p.name is not None else "(missing project)")}'
                  f'</td><td><code>{escape(p.id)}</code></td><td class="num">{p.issues:,}</td></tr>'
                  for i, p in enumerate(report.top_projects, 1))
    return (f"<section><h2>Top {len(report.top_projects)} projects by issues</h2>"
            f'<table id="top-projects"><tr><th class="num">#</th><th>project</th><th>id</th>'
            f'<th class="num">issues</th></tr>{top}</table></section>')


def _buckets(report: Report) -> str:
    total = sum(n for _, n in report.comment_buckets) or 1
    rows = "".join(f'<tr><td>{label}</td><td class="num">{n:,}</td><td class="num">{100 * n / total:.1f}%</td></tr>'
                   for label, n in report.comment_buckets)
    return (f'<table id="comment-buckets"><tr><th>comments</th><th class="num">issues</th>'
            f'<th class="num">share</th></tr>{rows}</table>')


