"""disk.py: the free-space question asked before long writes, on this machine's real file systems."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from zbugs_synth.disk import check_room, free_bytes
from zbugs_synth.errors import UserError

GB = 10**9


def test_free_bytes_of_a_directory_still_to_be_made_is_its_parent_disk_s(tmp_path: Path) -> None:
    free = free_bytes(tmp_path / "not" / "yet")
    assert free is not None
    assert abs(free - shutil.disk_usage(tmp_path).free) < GB  # others may write meanwhile


def test_too_big_is_refused_in_one_line_with_the_figures_and_the_ways_out(tmp_path: Path) -> None:
    free = free_bytes(tmp_path)
    assert free is not None
    where = tmp_path / "out"
    with pytest.raises(UserError) as e:
        check_room(free + 50 * GB, where, "this dataset (9 issues)", advice="free space")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("not enough disk space: this dataset (9 issues) needs about ")
    assert f"in {where}, " in msg and " free; free space, or set ZBUGS_SKIP_SPACE_CHECK=true" in msg


def test_what_fits_passes_and_what_the_run_frees_counts(tmp_path: Path) -> None:
    free = free_bytes(tmp_path)
    assert free is not None
    check_room(free // 2, tmp_path, "x")
    check_room(free + 5 * GB, tmp_path, "x", freed=10 * GB)
    with pytest.raises(UserError, match=r"\(\+1.0 GB this run frees\)"):
        check_room(free + 5 * GB, tmp_path, "x", freed=GB)
