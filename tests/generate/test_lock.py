"""One writer per output directory (or per part): a second run into the same place stops at once
with one line, and the first run's dataset is exactly a clean run's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zbugs_synth.cli import main
from zbugs_synth.generate.lock import hold
from zbugs_synth.manifest import INCOMPLETE_MARKER, read_manifest

SMALL = {"NUM_ISSUES": "6000", "SHARD_SIZE": "2000", "NUM_PROJECTS": "20", "NUM_USERS": "30", "WORKERS": "1"}


def gen(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], out: Path, *args: str,
        **env: str) -> tuple[int, str]:
    for k, v in {**SMALL, **env}.items():
        monkeypatch.setenv(k, v)
    rc = main(["generate-synthetic", "--progress", "none", "--output-dir", str(out), *args])
    o, e = capsys.readouterr()
    return rc, o + e


def files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_a_second_run_into_a_directory_being_written_stops_and_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ref = tmp_path / "ref"
    assert gen(monkeypatch, capsys, ref, SEED="9")[0] == 0
    out = tmp_path / "out"
    # A real first run, big enough to still be writing when the second starts.
    env = {**os.environ, **SMALL, "NUM_ISSUES": "400000", "SHARD_SIZE": "100000", "SEED": "42", "OUTPUT_DIR": str(out)}
    first = subprocess.Popen([sys.executable, "-m", "zbugs_synth", "generate-synthetic", "--progress", "none"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / INCOMPLETE_MARKER).exists():  # written once the first run holds the lock
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.02)
        rc, text = gen(monkeypatch, capsys, out, SEED="9")  # another configuration, even
        assert rc == 2 and len(text.strip().splitlines()) == 1, text
        assert "OUTPUT_DIR=" in text and "Traceback" not in text
        # Refused for the lock; on a machine fast enough to finish the first run before the second
        # starts, for its dataset instead (refused all the same).
        assert "another zbugs-synth run is writing there" in text or (
            first.poll() == 0 and "holds another configuration's dataset" in text), text
    finally:
        o, e = first.communicate(timeout=300)
    assert first.returncode == 0, o + e
    m = read_manifest(out)
    assert m is not None and m.config["seed"] == 42 and m.config["num_issues"] == 400_000
    for f in m.files:  # every listed shard is the first run's, whole
        assert (out / f.name).stat().st_size == f.bytes, f.name
    # Once it is done the directory is free again: the second configuration replaces it (--force), exactly.
    assert gen(monkeypatch, capsys, out, "--force", SEED="9")[0] == 0
    assert files(out) == files(ref)


def test_parts_take_turns_by_part_and_keep_a_whole_run_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "parts"
    (out / "parts").mkdir(parents=True)
    # Another process writing part 1 (the lock is per open file, so this process's own lock stands in).
    with hold(out / "parts" / ".part-1-of-2.lock", "test"):
        rc, text = gen(monkeypatch, capsys, out, "--parts", "2", "--part", "1")
        assert rc == 2 and len(text.strip().splitlines()) == 1
        assert f"part 1 of 2: another zbugs-synth run (process {os.getpid()}) is writing there" in text
        assert gen(monkeypatch, capsys, out, "--parts", "2", "--part", "2")[0] == 0  # other parts go ahead
    with hold(out, "test", shared=True):  # a run of parts under way: no whole run meanwhile
        rc, text = gen(monkeypatch, capsys, out, "--force")
        assert rc == 2 and "another zbugs-synth run is writing there" in text, text
        assert gen(monkeypatch, capsys, out, "--parts", "2", "--part", "1")[0] == 0  # but more parts, yes
    assert read_manifest(out) is not None  # both parts in: combined
    assert not list(out.rglob("*.lock"))  # a part's lock file goes with its run
    with hold(out, "test"):  # a whole run under way: no parts
        rc, text = gen(monkeypatch, capsys, out, "--parts", "2", "--part", "1")
        assert rc == 2 and "is writing there" in text, text
