"""The loader ranks its jobs by rows: the rows it expects must be the tables' real proportions."""

from __future__ import annotations

from pathlib import Path

from zbugs_synth.config import build
from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.db.load.dataset import DataFile
from zbugs_synth.db.load.stream import GeneratedSource


def test_a_generated_dataset_expects_its_tables_rows() -> None:
    cfg = build(GenerateConfig, None, {"NUM_ISSUES": "200000", "COMMENTS_PER_ISSUE": "3", "LABELS_PER_ISSUE": "1.5"})
    files = {f.table: f for f in GeneratedSource(cfg).dataset().files}
    assert files["issue"].rows is None  # nothing to check the server's count against: not a manifest
    estimates = {t: files[t].rows_estimate for t in ("issue", "comment", "issueLabel")}
    assert estimates == {"issue": 200_000, "comment": 600_000, "issueLabel": 300_000}
    # Ranked by the bytes hint alone, issue (wide rows) came out above comment (3x its rows), and
    # comment's index builds, the longest, ran last with a core idle beside them.
    hint = {t: files[t].bytes / 150 for t in ("issue", "comment")}
    assert hint["issue"] > hint["comment"] and estimates["comment"] > estimates["issue"]


def test_a_manifest_count_wins_and_bytes_are_the_last_resort() -> None:
    f = DataFile("issue_000.csv", "issue", 0, Path("x"), 150_000, 777, ("id",), expected=5)
    assert f.rows_estimate == 777
    assert DataFile("issue_000.csv", "issue", 0, Path("x"), 150_000, None, ("id",), expected=5).rows_estimate == 5
    assert DataFile("issue_000.csv", "issue", 0, Path("x"), 150_000, None, ("id",)).rows_estimate == 1000
