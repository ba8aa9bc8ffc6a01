"""The size of a run, estimated from a sample of the kernel's rows, against what the run writes;
and generate-synthetic refusing, before it changes anything, a dataset its disk cannot hold."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Dataset
from zbugs_synth.cli import main
from zbugs_synth.disk import free_bytes
from zbugs_synth.generate import estimate
from zbugs_synth.generate.driver import kernel_plan
from zbugs_synth.manifest import read_manifest
from zbugs_synth.tables import MAX_ISSUES
from zbugs_synth.templates import load_pack

SRC = Path(__file__).resolve().parents[2] / "src"


def written(ds: Dataset) -> dict[str, tuple[int, int]]:
    """(rows, bytes without the header lines) of each table the run wrote."""
    out: dict[str, tuple[int, int]] = {}
    for table, stats in ds.result.tables.items():
        headers = sum(len(f.open("rb").readline()) for f in ds.files(table))
        out[table] = (stats.rows, stats.bytes - headers)
    return out


def estimated(ds: Dataset) -> dict[str, estimate.TableSize]:
    return estimate.big_tables(kernel_plan(ds.cfg, load_pack(ds.cfg.templates_dir)), 0, ds.cfg.num_issues)


def test_a_run_that_fits_in_the_sample_is_counted_exactly(generate_into: Callable[..., Dataset]) -> None:
    ds = generate_into(NUM_ISSUES="9000", SEED="3")
    est = estimated(ds)
    assert set(est) == {"issue", "comment", "issueLabel"}
    for table, size in est.items():
        assert (size.rows, size.bytes) == written(ds)[table], table


@pytest.mark.parametrize("env", [{}, {"ALL_TABLES": "true", "COMMENTS_PER_ISSUE": "6"}])
def test_the_sampled_estimate_is_within_a_few_percent(generate_into: Callable[..., Dataset],
                                                      env: dict[str, str]) -> None:
    ds = generate_into(NUM_ISSUES="120000", **env)
    est = estimated(ds)
    real = written(ds)
    extra = {"emoji", "issueNotifications", "viewState"} if env else set()
    assert set(est) == {"issue", "comment", "issueLabel"} | extra
    for table, size in est.items():
        rows, nbytes = real[table]
        assert abs(size.rows / rows - 1) < 0.05, (table, size.rows, rows)
        assert abs(size.bytes / nbytes - 1) < 0.05, (table, size.bytes, nbytes)


def _too_big_for_this_disk(where: Path) -> None:
    free = free_bytes(where)
    assert free is not None
    if free > 3 * 10**12:  # MAX_ISSUES issues need about 3.9 TB
        pytest.skip(f"{free:,} bytes free: even the largest dataset would fit")


def test_a_dataset_too_big_for_the_disk_is_refused_before_the_old_one_is_touched(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        generate_into: Callable[..., Dataset]) -> None:
    old = generate_into("data", NUM_ISSUES="500")
    _too_big_for_this_disk(old.dir)
    before = {p.name: p.read_bytes() for p in old.dir.iterdir()}
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OUTPUT_DIR", str(old.dir))
    monkeypatch.setenv("NUM_ISSUES", str(MAX_ISSUES))
    assert main(["generate-synthetic", "--progress", "none", "--force"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"not enough disk space: this dataset ({MAX_ISSUES:,} issues) needs about " in err
    assert " TB in " in err and "ZBUGS_SKIP_SPACE_CHECK=true" in err
    assert {p.name: p.read_bytes() for p in old.dir.iterdir()} == before
    assert read_manifest(old.dir).dataset_id == old.result.manifest.dataset_id


def test_the_switch_writes_anyway(tmp_path: Path) -> None:
    out = tmp_path / "data"
    _too_big_for_this_disk(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZBUGS_", "NUM_", "OUTPUT_DIR"))}
    env |= {"PYTHONPATH": str(SRC), "NUM_ISSUES": str(MAX_ISSUES), "OUTPUT_DIR": str(out),
            "ZBUGS_SKIP_SPACE_CHECK": "true"}
    proc = subprocess.Popen([sys.executable, "-m", "zbugs_synth", "generate-synthetic", "--progress", "none"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if any("issue" in p.name for p in out.glob("*")):
                break  # past the check: the issue shards are being written
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert any("issue" in p.name for p in out.glob("*"))
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
