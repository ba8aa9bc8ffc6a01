"""SVG bar charts for verify's report, and the page sections built from them.

Every bar is a `<rect class="bar">` with `data-label`/`data-value` and a `<title>` tooltip, so the
page is both readable and checkable by a parser. All text is HTML-escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

HIST_CAP = 60  # histogram bars 0..59 one by one, then one "60+" bar


@dataclass(frozen=True)
class Bar:
    label: str  # tooltip, and the x-axis label unless `tick` is given
    value: int
    tick: str = ""  # a shorter x-axis label, where the full one would overlap its neighbours


def histogram_section(title: str, chart_id: str, hist: dict[int, int], *, log: bool, x_label: str,
                      unit: str = "issue", extra: str = "", note: str = "") -> str:
    """A section with one histogram ({k: how many `unit`s have k}) and a caption on its maximum and tail."""
    bars = histogram_bars(hist)
    chart = bar_chart(chart_id, bars, log=log, width=540, height=280, x_label=x_label,
                      y_label=f"{unit}s (log)" if log else f"{unit}s", tick_labels=True)
    most = max(hist, default=0)
    caption = f"max {most:,} on one {unit}" + (f"; bars above {HIST_CAP - 1} are summed into {HIST_CAP}+"
                                               if most >= HIST_CAP else "")
    if note.strip():
        caption += f". {note.strip()}"
    return f"<section><h2>{escape(title)}</h2>{chart}<p class=\"caption\">{escape(caption)}</p>{extra}</section>"


def grid(sections: Sequence[str]) -> str:
    """Sections two by two, side by side."""
    return "".join(f'<div class="grid2">{"".join(sections[i:i + 2])}</div>' for i in range(0, len(sections), 2))


def histogram_bars(hist: dict[int, int]) -> list[Bar]:
    """One bar per count 0..max (gaps included, so the x axis is linear), the tail summed at HIST_CAP."""
    if not hist:
        return []
    top = max(hist)
    if top < HIST_CAP:
        return [Bar(str(k), hist.get(k, 0)) for k in range(top + 1)]
    bars = [Bar(str(k), hist.get(k, 0)) for k in range(HIST_CAP)]
    return [*bars, Bar(f"{HIST_CAP}+", sum(v for k, v in hist.items() if k >= HIST_CAP))]


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / ticks
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


def _fmt(v: float) -> str:
    if v >= 1_000_000:
        return f"{v / 1_000_000:g}M"
    if v >= 1000:
        return f"{v / 1000:g}k"
    return f"{v:g}"


def bar_chart(chart_id: str, bars: Sequence[Bar], *, log: bool, width: int, height: int, x_label: str,
              y_label: str, tick_labels: bool) -> str:
    left, right, top, bottom = 58, 12, 14, 46
    pw, ph = width - left - right, height - top - bottom
    peak = max((b.value for b in bars), default=0)
    out = [f'<svg id="{chart_id}" xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {width} {height}" '
           f'role="img" aria-label="{escape(y_label)} by {escape(x_label)}">']
    if log:
        lo, hi = math.log10(0.5), max(math.log10(max(peak, 1)), 1.0)  # 0.5: a bar of 1 is still visible
        hi = math.ceil(hi)

        def y_of(v: float) -> float:
            return 0.0 if v <= 0 else ph * (math.log10(v) - lo) / (hi - lo)
        ticks = [10.0 ** e for e in range(0, hi + 1)]
    else:
        step = _nice_step(max(peak, 1))
        vmax = step * math.ceil(max(peak, 1) / step)

        def y_of(v: float) -> float:
            return ph * v / vmax
        ticks = [step * i for i in range(round(vmax / step) + 1)]
    for t in ticks:
        y = top + ph - y_of(t)
        out.append(f'<line class="grid" x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    n = max(len(bars), 1)
    slot = pw / n
    gap = slot * 0.18 if slot >= 4 else 0.0
    label_every = max(1, math.ceil(n / 20))
    for i, b in enumerate(bars):
        h = y_of(b.value)
        x = left + i * slot + gap / 2
        out.append(f'<rect class="bar" x="{x:.2f}" y="{top + ph - h:.2f}" width="{max(slot - gap, 0.5):.2f}" '
                   f'height="{h:.2f}" data-label="{escape(b.label)}" data-value="{b.value}">'
                   f"<title>{escape(b.label)}: {b.value:,}</title></rect>")
        if tick_labels and i % label_every == 0:
            out.append(f'<text x="{x + (slot - gap) / 2:.1f}" y="{top + ph + 14}" text-anchor="middle">'
                       f"{escape(b.tick or b.label)}</text>")
    if not bars:
        out.append(f'<text x="{left + pw / 2}" y="{top + ph / 2}" text-anchor="middle">no data</text>')
    out.append(f'<line class="axis" x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}"/>'
               f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}"/>'
               f'<text x="{left + pw / 2}" y="{height - 8}" text-anchor="middle">{escape(x_label)}</text>'
               f'<text transform="translate(14 {top + ph / 2}) rotate(-90)" text-anchor="middle">'
               f"{escape(y_label)}</text></svg>")
    return "".join(out)
