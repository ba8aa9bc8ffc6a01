"""The fidelity table of verify's report: our distributions beside zbugs' own data (the `github`
seed dataset the zbugs app ships: 516 issues, 924 comments), as issue 11 gives them."""

from __future__ import annotations

from html import escape

# (label, low, high) buckets of comments per issue, and zbugs' share of issues in each.
COMMENT_BUCKETS = (("0", 0, 0, 38.8), ("1-2", 1, 2, 37.0), ("3-5", 3, 5, 16.1), ("6-10", 6, 10, 6.8),
                   ("11+", 11, 10**9, 1.4))
LABEL_SHARES = ((0, 20.0), (1, 53.0), (2, 19.0), (3, 7.0), (4, 1.0))


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


def section(comments: dict[int, int], labels: dict[int, int]) -> str:
    body = "".join(
        f"<tr><td>{escape(m)}</td><td>{escape(b)}</td>"
        f'<td class="num">{"&ndash;" if ours is None else f"{ours:.1f}%"}</td><td class="num">{ref:.1f}%</td></tr>'
        for m, b, ours, ref in rows(comments, labels))
    note = ("zbugs' own data has 1.79 comments and 1.17 labels per issue; COMMENTS_PER_ISSUE and "
            "LABELS_PER_ISSUE set ours (3.0 and 1.5 by default), so shares differ by design where the means do. "
            "Text shapes (lengths, markdown, reply times) are measured by bench/bench_fidelity.py.")
    return (f'<section><h2>Fidelity: this data beside zbugs\' own</h2><table id="fidelity"><tr><th>measure</th>'
            f'<th>bucket</th><th class="num">ours</th><th class="num">zbugs</th></tr>{body}</table>'
            f'<p class="caption">{escape(note)}</p></section>')
