"""Shards reach the disk before the manifest that vouches for them is written."""

from __future__ import annotations

import os

import pytest

from zbugs_synth.config import build
from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.generate.driver import generate
from zbugs_synth.manifest import MANIFEST_NAME, read_manifest


def test_shards_and_their_names_are_fsynced_before_the_manifest(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []  # inodes, in the order they were fsynced
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    out = tmp_path / "data"
    generate(build(GenerateConfig, None, {"OUTPUT_DIR": str(out), "NUM_ISSUES": "3000", "SHARD_SIZE": "1000"}))
    manifest_at = synced.index((out / MANIFEST_NAME).stat().st_ino)
    before = synced[:manifest_at]
    shards = read_manifest(out).files
    assert len(shards) > 6
    for f in shards:
        assert (out / f.name).stat().st_ino in before, f"{f.name} not fsynced before the manifest"
    # The directory (the shards' final names) too, after the last shard was renamed into place.
    assert out.stat().st_ino in before


def test_small_table_text_with_a_stray_newline_is_refused(tmp_path) -> None:
    """A row count that does not match the text's lines would shift every later row: an error, not an assert."""
    from zbugs_synth.generate.writer import ShardedWriter

    w = ShardedWriter(tmp_path, "project", 10)
    with pytest.raises(ValueError, match="3 rows expected, the text holds 2 lines"):
        w.write_text("a,b\nc,d\n", 3)
    w.abort()
