"""verify --report: a self-contained HTML page whose charts hold the database's real numbers, and
that a real browser (headless Chromium) renders."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import psycopg
import pytest
from report_helpers import expected_bars, histogram, parse, write_report
from verify_helpers import load_dir, read_png

from zbugs_synth.cli import main
from zbugs_synth.config import build
from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.db.verify.checks import ProjectCount, Report, buckets
from zbugs_synth.db.verify.report import HIST_CAP, MAX_PROJECT_BARS, Bar, bar_chart, histogram_bars, render_html
from zbugs_synth.generate.driver import generate

BAR_RGB = (0x3B, 0x6F, 0xB6)
PASS_RGB = (0x23, 0x84, 0x4C)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report-ds") / "ds"
    generate(build(GenerateConfig, None, {"NUM_ISSUES": "2000", "NUM_PROJECTS": "20", "OUTPUT_DIR": str(out)}))
    return out


def test_report_charts_hold_the_databases_numbers(fresh_db: str, dataset: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    load_dir(fresh_db, dataset)
    html = write_report(fresh_db, tmp_path / "r.html", capsys)
    page = parse(html)
    assert set(page.charts) == {"chart-issues-per-project", "chart-comments-per-issue", "chart-labels-per-issue"}

    with psycopg.connect(fresh_db) as c:
        per_project = dict(c.execute('SELECT p.id, count(i.id) FROM project p LEFT JOIN issue i '
                                     'ON i."projectID" = p.id GROUP BY p.id').fetchall())
    bars = page.charts["chart-issues-per-project"]
    assert len(bars) == len(per_project) == 21  # one bar per project, the empty Zero project included
    values = [v for _, v, _ in bars]
    assert values == sorted(per_project.values(), reverse=True)
    for label, v, _ in bars:
        project_id = label.rsplit("(", 1)[1].rstrip(")")
        assert per_project[project_id] == v
    heights = [h for _, _, h in bars]
    assert heights == sorted(heights, reverse=True) and heights[-1] == 0 and heights[0] > 0
    # log scale: differences of height are proportional to differences of log(issues)
    (_, v0, h0), (_, v1, h1), (_, v2, h2) = bars[0], bars[len(bars) // 2], bars[-2]
    assert v0 > v1 > v2 > 0
    assert (h0 - h1) / (h1 - h2) == pytest.approx(math.log(v0 / v1) / math.log(v1 / v2), rel=0.02)

    for chart, child in (("chart-comments-per-issue", "comment"), ("chart-labels-per-issue", "issueLabel")):
        bars = page.charts[chart]
        assert [(label, v) for label, v, _ in bars] == expected_bars(histogram(fresh_db, child))
        assert sum(v for _, v, _ in bars) == 2000

    # Self-contained: no script, no external resource of any kind.
    assert not {"script", "link", "img", "iframe", "object"} & page.tags
    assert not {"src", "href"} & page.attrs
    assert "url(" not in html and "@import" not in html
    assert 'id="problems"' not in html  # nothing failed or warned


def test_report_escapes_database_text(fresh_db: str, dataset: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    load_dir(fresh_db, dataset)
    with psycopg.connect(fresh_db) as c:
        c.execute("""UPDATE project SET name = '<script>alert(1)</script>&"' WHERE id =
                     (SELECT "projectID" FROM issue GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1)""")
    html = write_report(fresh_db, tmp_path / "r.html", capsys)
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;" in html


def test_failures_are_listed_at_the_top(fresh_db: str, dataset: Path, tmp_path: Path) -> None:
    load_dir(fresh_db, dataset)
    with psycopg.connect(fresh_db, autocommit=True) as c:
        c.execute("DROP INDEX issue_created_idx")
    path = tmp_path / "r.html"
    assert main(["verify", "--db-url", fresh_db, "--progress", "none", "--report", str(path)]) == 1
    html = path.read_text()
    header = html.split("</header>")[0]
    assert 'class="verdict fail"' in header and "issue_created_idx" in header
    assert "<title>zbugs-synth verify: FAIL</title>" in html


# ---- without a database --------------------------------------------------------------------------

def test_histogram_bars_fill_gaps_and_sum_the_tail() -> None:
    assert [(b.label, b.value) for b in histogram_bars({0: 5, 3: 2})] == [("0", 5), ("1", 0), ("2", 0), ("3", 2)]
    bars = histogram_bars({1: 4, HIST_CAP - 1: 1, HIST_CAP: 2, 500: 3})
    assert len(bars) == HIST_CAP + 1 and bars[-1] == Bar(f"{HIST_CAP}+", 5) and bars[HIST_CAP - 1].value == 1
    assert histogram_bars({}) == []


def test_guide_buckets_from_a_histogram() -> None:
    hist = {0: 1, 1: 2, 2: 3, 3: 4, 5: 5, 6: 6, 10: 7, 11: 8, 400: 9}
    assert buckets(hist) == [("0", 1), ("1-2", 5), ("3-5", 9), ("6-10", 13), ("10+", 17)]


def test_many_projects_are_drawn_by_rank_sample() -> None:
    n = MAX_PROJECT_BARS * 3 + 7
    report = Report(target="t", started_at="s",
                    projects=[ProjectCount(f"p{i}", f"P{i}", n - i) for i in range(n)])
    page = parse(render_html(report))
    bars = page.charts["chart-issues-per-project"]
    assert len(bars) == MAX_PROJECT_BARS
    assert bars[0][1] == n and [v for _, v, _ in bars] == sorted((v for _, v, _ in bars), reverse=True)
    assert bars[-1][1] < n // 3 + 10  # the tail is represented, not cut off


def test_linear_and_log_scales() -> None:
    lin = parse(bar_chart("c", [Bar("a", 10), Bar("b", 20)], log=False, width=300, height=200,
                          x_label="x", y_label="y", tick_labels=True)).charts["c"]
    assert lin[1][2] == pytest.approx(2 * lin[0][2])
    log = parse(bar_chart("c", [Bar("a", 10), Bar("b", 100), Bar("c", 1000)], log=True, width=300, height=200,
                          x_label="x", y_label="y", tick_labels=False)).charts["c"]
    assert log[2][2] - log[1][2] == pytest.approx(log[1][2] - log[0][2])


# ---- rendering in a browser ----------------------------------------------------------------------

def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_renders_in_headless_chromium(fresh_db: str, dataset: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (CI installs it: apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    load_dir(fresh_db, dataset)
    html = tmp_path / "report.html"
    write_report(fresh_db, html, capsys)
    png = tmp_path / "shot.png"
    with tempfile.TemporaryDirectory(prefix="verify-chromium-") as profile:
        proc = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1200,1600", html.as_uri()],
            capture_output=True, text=True, timeout=180, check=False)
    assert png.exists(), proc.stderr[-2000:]
    assert png.stat().st_size > 30_000
    pixels = read_png(png)[:, :, :3]
    assert pixels.shape == (1600, 1200, 3)
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 100  # text, badges, antialiasing: far from a blank page
    # The charts really drew: many pixels of the bar colour, inside the first screen.
    bar_px = int(np.all(pixels == BAR_RGB, axis=2).sum())
    assert bar_px > 20_000, bar_px
    # The verdict banner at the top is green (everything passed).
    banner = pixels[:60, :, :]
    assert int(np.all(banner == PASS_RGB, axis=2).sum()) > 30_000
