"""The generator's sinks: every sink receives exactly the bytes generate-synthetic writes to its CSV shards."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zbugs_synth.config import build
from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.generate.driver import generate, write_tables
from zbugs_synth.generate.sinks import NullSink
from zbugs_synth.progress import NullProgress
from zbugs_synth.tables import TABLES
from zbugs_synth.templates import load_pack

SETTINGS = {"NUM_ISSUES": "2500", "NUM_PROJECTS": "12", "NUM_USERS": "30", "SEED": "3", "SHARD_SIZE": "700",
            "WORKERS": "2"}


class Recorder:
    """A sink that keeps what it is given (and checks it is called as the protocol says)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.rows = 0
        self.finished = 0

    def write_rows(self, buf: np.ndarray, ends: np.ndarray, n_rows: int) -> None:
        assert self.finished == 0
        if n_rows:
            self.data += memoryview(buf)[: int(ends[n_rows - 1])]
            self.rows += n_rows

    def write_text(self, text: str, n_rows: int) -> None:
        assert self.finished == 0
        self.data += text.encode()
        self.rows += n_rows

    def finish(self) -> None:
        self.finished += 1

    def abort(self) -> None:
        raise AssertionError("not aborted in a successful run")


def _csv_body(directory: Path, table: str) -> bytes:
    """A table's shards concatenated, each without its header line."""
    return b"".join(p.read_bytes().partition(b"\n")[2] for p in sorted(directory.glob(f"{table}_*.csv")))


def test_a_sink_gets_the_csv_bytes_without_headers(tmp_path: Path) -> None:
    cfg = build(GenerateConfig, None, {"OUTPUT_DIR": str(tmp_path / "csv"), **SETTINGS})
    result = generate(cfg)
    sinks = {t: Recorder() for t in TABLES}
    write_tables(cfg, load_pack(cfg.templates_dir), sinks, NullProgress(), {})
    for table in result.tables:  # the tables this configuration writes
        assert bytes(sinks[table].data) == _csv_body(result.directory, table), table
        assert sinks[table].rows == result.tables[table].rows
        assert sinks[table].finished == 1  # once each, small tables included


def test_skip_users_leaves_the_user_sink_alone_and_null_sinks_count(tmp_path: Path) -> None:
    cfg = build(GenerateConfig, None, {"OUTPUT_DIR": str(tmp_path / "csv"), **SETTINGS, "SKIP_USERS": "true"})
    sinks = {t: NullSink() for t in TABLES}
    write_tables(cfg, load_pack(cfg.templates_dir), sinks, NullProgress(), {})
    assert sinks["user"].rows == 0 and sinks["user"].bytes == 0
    assert sinks["issue"].rows == 2500
    assert sinks["comment"].rows > 0 and sinks["issueLabel"].rows > 0
