"""Our data's shapes beside zbugs' own (issue 11's reference figures): generates NUM issues with
all tables into a temporary directory and prints one line per measure.

    python bench/bench_fidelity.py [NUM_ISSUES]
"""

from __future__ import annotations

import csv
import io
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from zbugs_synth.config import build
from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.generate import seams
from zbugs_synth.generate.driver import generate


def read(directory: Path, table: str) -> list[list[str]]:
    out: list[list[str]] = []
    for p in sorted(directory.glob(f"{table}_*.csv")):
        out += list(csv.reader(io.StringIO(p.read_text(encoding="utf-8"), newline="")))[1:]
    return out


def pct(xs: list[int], ps: tuple[int, ...] = (5, 50, 95)) -> str:
    return " / ".join(f"{np.percentile(xs, p):,.0f}" for p in ps)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ds"
        generate(build(GenerateConfig, None, {"NUM_ISSUES": str(n), "ALL_TABLES": "true", "OUTPUT_DIR": str(out)}))
        issues, comments = read(out, "issue"), read(out, "comment")
        labels = read(out, "issueLabel")
    desc, body = [r[7] for r in issues], [r[3] for r in comments]
    per = Counter(r[1] for r in comments)
    k = np.array([per.get(r[0], 0) for r in issues])
    buckets = [np.mean(k == 0), np.mean((k >= 1) & (k <= 2)), np.mean((k >= 3) & (k <= 5)),
               np.mean((k >= 6) & (k <= 10)), np.mean(k > 10)]
    lab = Counter(r[1] for r in labels)
    nl = np.array([lab.get(r[0], 0) for r in issues])
    created = {r[0]: int(r[4]) for r in issues}
    first: dict[str, int] = {}
    for r in comments:
        first.setdefault(r[1], int(r[2]))
    ages = np.array([first[i] - created[i] for i in first]) / 3.6e6
    mention = re.compile(r"(?<![\w/])@[a-z]")
    lines = [
        ("comments per issue 0/1-2/3-5/6-10/11+ %", " / ".join(f"{100 * b:.1f}" for b in buckets),
         "38.8 / 37.0 / 16.1 / 6.8 / 1.4 (at mean 1.79; ours at COMMENTS_PER_ISSUE)"),
        ("labels per issue 0/1/2/3/4+ %", " / ".join(f"{100 * np.mean(nl == j):.1f}" for j in range(4))
         + f" / {100 * np.mean(nl >= 4):.1f} (mean {nl.mean():.2f})", "20 / 53 / 19 / 7 / 1 (mean 1.17)"),
        ("title length p5/p50/p95", pct([len(r[1]) for r in issues]), "17 / 44 / 85"),
        ("description length p5/p50/p95", pct([len(d) for d in desc]), "0 / 290 / 1,700"),
        ("empty descriptions %", f"{100 * np.mean([d == '' for d in desc]):.1f}", "5"),
        ("comment length p5/p50/p95", pct([len(b) for b in body]), "18 / 171 / 1,324"),
        ("code block: descriptions / comments %", f"{100 * np.mean(['```' in d for d in desc]):.1f} / "
         f"{100 * np.mean(['```' in b for b in body]):.1f}", "13 / 7"),
        ("link: descriptions / comments %", f"{100 * np.mean(['http' in d for d in desc]):.1f} / "
         f"{100 * np.mean(['http' in b for b in body]):.1f}", "53 / 28"),
        ("@mention in comments %", f"{100 * np.mean([bool(mention.search(seams.prose(b))) for b in body]):.1f}", "16"),
        ("first reply hours p10/p50/p90", " / ".join(f"{np.percentile(ages, p):,.1f}" for p in (10, 50, 90)),
         "0.2 / 180 / 3,100"),
        ("open issues %", f"{100 * np.mean([r[2] == 'true' for r in issues]):.1f}", "30 (ours: OPEN_FRACTION)"),
        ("seams in descriptions, comments, titles", str(sum(len(seams.find(t)) for t in desc + body
                                                             + [r[1] for r in issues])), "0 expected"),
    ]
    width = max(len(a) for a, _, _ in lines)
    print(f"{'measure':<{width}}  ours  |  zbugs")
    for a, ours, ref in lines:
        print(f"{a:<{width}}  {ours}  |  {ref}")


if __name__ == "__main__":
    main()
