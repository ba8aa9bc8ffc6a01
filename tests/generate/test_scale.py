"""Statistical claims at the scale the issue states them (1 M issues), counted straight from the
kernel's output without writing files; and flat memory at larger scale (slow, opt-in)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import numpy as np
import pytest

from zbugs_synth.config import build
from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.generate import small_tables
from zbugs_synth.generate.plan import Buffers, KernelPlan, chunk_ranges
from zbugs_synth.generate.textpool import compile_pack
from zbugs_synth.templates import load_pack


def counts_at(n: int, **env: str) -> tuple[int, int, int]:
    cfg = build(GenerateConfig, None, {"NUM_ISSUES": str(n), **env})
    pack = load_pack()
    projects = small_tables.plan_projects(pack, cfg.num_projects, cfg.seed)
    plan = KernelPlan(cfg, projects, compile_pack(pack, small_tables.mention_logins(cfg.num_users, pack.people)))
    bufs = Buffers()
    comments = labels = max_line_issue = 0
    for a, b in chunk_ranges(n, 65536):
        c = plan.run(a, b, bufs)
        comments += c.n_comments
        labels += c.n_labels
        ends = bufs.issue_ends[: b - a]
        max_line_issue = max(max_line_issue, int(np.diff(ends).max()))
    return comments, labels, max_line_issue


@pytest.mark.parametrize("mean", ["3.0", "2.0"])
def test_comment_mean_within_one_percent_at_one_million(mean: str) -> None:
    comments, labels, _ = counts_at(1_000_000, COMMENTS_PER_ISSUE=mean)
    assert abs(comments / 1_000_000 - float(mean)) / float(mean) < 0.01
    assert abs(labels / 1_000_000 - 1.5) < 0.005


SLOW = pytest.mark.skipif(os.environ.get("ZBUGS_SLOW") != "1", reason="scale test: set ZBUGS_SLOW=1")


@SLOW
@pytest.mark.slow
def test_memory_is_flat_as_issues_grow(tmp_path) -> None:
    def peak_rss(n: int) -> int:
        code = ("import resource, sys; from zbugs_synth.cli import main; "
                f"main(['generate-synthetic', '--progress', 'none', '--num-issues', '{n}', "
                f"'--output-dir', '{tmp_path / str(n)}']); "
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return int(out.stdout.strip().splitlines()[-1])

    small, big = peak_rss(1_000_000), peak_rss(10_000_000)
    assert big < small * 1.10, (small, big)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0
