"""The generator's sinks: every sink receives exactly the bytes generate-synthetic writes to its CSV shards."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zbugs_synth.config import build
from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.generate.driver import generate, write_tables
from zbugs_synth.generate.sinks import Lease, NullSink
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

    def write_rows(self, buf: np.ndarray, ends: np.ndarray, n_rows: int, lease: Lease | None = None) -> None:
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


class Holder(Recorder):
    """A sink that keeps the chunks' buffers lent (`Lease`) and reads them only much later, as a COPY
    stream's sending thread does: the generator must not reuse a buffer while it is held."""

    def __init__(self, keep: int) -> None:
        super().__init__()
        self.keep = keep
        self.held: list[tuple[memoryview, int, Lease]] = []
        self.max_held = 0

    def write_rows(self, buf: np.ndarray, ends: np.ndarray, n_rows: int, lease: Lease | None = None) -> None:
        assert lease is not None, "the generator lends its chunk buffers"
        if n_rows:
            lease.hold()
            self.held.append((memoryview(buf)[: int(ends[n_rows - 1])], n_rows, lease))
            self.max_held = max(self.max_held, len(self.held))
            while len(self.held) > self.keep:
                self._take()

    def _take(self) -> None:
        view, n, lease = self.held.pop(0)
        self.data += view
        self.rows += n
        lease.release()

    def finish(self) -> None:
        while self.held:
            self._take()
        super().finish()


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


def test_a_sink_may_hold_the_chunk_buffers_and_read_them_later(tmp_path: Path) -> None:
    """Leases: bytes read after later chunks were generated are still their own chunk's (a buffer given
    back too early would hold a later chunk's rows), and holding them slows generation, not memory."""
    cfg = build(GenerateConfig, None, {"OUTPUT_DIR": str(tmp_path / "csv"), **SETTINGS, "NUM_ISSUES": "120000"})
    result = generate(cfg)
    sinks = {t: Recorder() for t in TABLES}
    sinks["comment"] = Holder(keep=1)  # one table a chunk behind
    write_tables(cfg, load_pack(cfg.templates_dir), sinks, NullProgress(), {})
    assert sinks["comment"].max_held == 2  # held across the next chunk: there was more than one
    for table in result.tables:
        assert bytes(sinks[table].data) == _csv_body(result.directory, table), table
