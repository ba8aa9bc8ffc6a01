"""Undoing an interrupted `db-seed-synthetic --generate --append`: its rows are made again.

A CSV append is undone by reading its files again for the primary keys of the rows to remove. A
generated append has no files, but its rows are a pure function of the configuration it recorded
(loaded_datasets.manifest): the generator runs again into sinks that COPY each committed table's
rows into a temporary table of the undo's transaction, and the rows with those keys are deleted.
A Dask load's parts are made again one by one, each only the tables that part committed.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.db.load import append, undo
from zbugs_synth.db.load.state import Run
from zbugs_synth.db.names import qi, qt
from zbugs_synth.errors import UserError
from zbugs_synth.generate.driver import SMALL_TABLES, small_tables, write_tables
from zbugs_synth.generate.parts import PartSpec
from zbugs_synth.generate.sinks import Lease, NullSink, TableSink
from zbugs_synth.progress import NullProgress
from zbugs_synth.tables import HEADERS, TABLES

Conn = psycopg.Connection[Any]

_PART = re.compile(r"^(?P<table>[A-Za-z]+)\.part-(?P<part>\d+)-of-(?P<parts>\d+)$")
_WHOLE = re.compile(r"^(?P<table>[A-Za-z]+)\.generated$")


def config_of(manifest: dict[str, Any] | None) -> GenerateConfig | None:
    """The generator configuration a --generate load recorded, or None (not one, or not readable)."""
    if not manifest or not manifest.get("generated"):
        return None
    config = manifest.get("config") or {}
    names = {f.name for f in dataclasses.fields(GenerateConfig)}
    values = {k: v for k, v in config.items() if k in names}
    templates = config.get("templates")
    values["templates_dir"] = None if templates in (None, "bundled") else Path(str(templates))
    try:
        return GenerateConfig(**values)
    except TypeError:
        return None


def _stage(table: str) -> str:
    return f"zbugs_undo_{table.lower()}"


class _StageSink:
    """One table's generated rows into its temporary table, one COPY per chunk (the undo's connection
    runs one statement at a time, and the generator writes the tables in turn)."""

    def __init__(self, conn: Conn, table: str) -> None:
        self.conn, self.table = conn, table
        self.cols = ", ".join(qi(c) for c in HEADERS[table])

    def _copy(self, data: bytes | memoryview) -> None:
        with self.conn.cursor() as cur, cur.copy(f"COPY {_stage(self.table)} ({self.cols}) FROM STDIN "
                                                 "WITH (FORMAT csv)") as copy:
            copy.write(data)

    def write_rows(self, buf: np.ndarray, ends: np.ndarray, n_rows: int, lease: Lease | None = None) -> None:
        if n_rows:
            self._copy(memoryview(buf)[: int(ends[n_rows - 1])])

    def write_text(self, text: str, n_rows: int) -> None:
        if n_rows:
            self._copy(text.encode())

    def finish(self) -> object:
        return None

    def abort(self) -> None:
        pass


def _committed(run: Run) -> dict[PartSpec | None, set[str]]:
    """The tables each part (None: the whole dataset) committed, from the run's records."""
    out: dict[PartSpec | None, set[str]] = {}
    for name in run.shards:
        if m := _WHOLE.match(name):
            out.setdefault(None, set()).add(m["table"])
        elif m := _PART.match(name):
            out.setdefault(PartSpec(int(m["part"]), int(m["parts"])), set()).add(m["table"])
        else:
            raise UserError(f"cannot tell which rows {name} of {run.source} holds; resume the load instead")
    return out


def delete_generated_rows(conn: Conn, run: Run, manifest: dict[str, Any] | None) -> None:
    """Remove the rows `run` (an interrupted --generate append) committed, inside the caller's
    transaction. Refused (UserError) when its configuration cannot make the same rows again."""
    from zbugs_synth.db.load.stream import GeneratedSource

    cfg = config_of(manifest)
    if cfg is None:
        raise UserError(f"undoing the interrupted append of {run.source} needs the generator settings it recorded, "
                        "which cannot be read; run the same --generate --append command again to finish it instead")
    # Resuming needs the very same rows too: the way out is the pack as it was, where it was.
    pack = (f"put the template pack back as it was at {cfg.templates_dir} (a relative path: from the directory the "
            "load ran in), then reset or resume") if cfg.templates_dir else "resume it with the same version"
    try:
        source = GeneratedSource(cfg)
    except UserError as e:  # the template pack it used is gone or unreadable
        raise UserError(f"undoing the interrupted append of {run.source} makes its rows again: {e}; {pack}") \
            from None
    if source.dataset_id != run.dataset_id:
        raise UserError(f"undoing the interrupted append of {run.source} makes its rows again, but they would differ "
                        f"from the ones it loaded (its template pack changed since?); {pack}")
    committed = _committed(run)
    tables = set().union(*committed.values()) if committed else set()
    for table in tables:
        conn.execute(f"CREATE TEMP TABLE {_stage(table)} ON COMMIT DROP AS SELECT "
                     f"{', '.join(qi(c) for c in HEADERS[table])} FROM {qt(table)} WITH NO DATA")
    for part, part_tables in committed.items():
        sinks: dict[str, TableSink] = {t: _StageSink(conn, t) if t in part_tables else NullSink() for t in TABLES}
        if part_tables <= set(SMALL_TABLES):  # only the small tables are in: no need to make the big ones
            if part is None or part.first:
                small_tables(cfg, source.pack, sinks)
            continue
        write_tables(cfg, source.pack, sinks, NullProgress(), {}, part=part)
    for table in reversed(TABLES):
        if table in tables:
            key = ", ".join(qi(c) for c in append.primary_key(table))
            undo.delete_rows(conn, table, f"({key}) IN (SELECT {key} FROM {_stage(table)})", ())
            conn.execute(f"DROP TABLE {_stage(table)}")
