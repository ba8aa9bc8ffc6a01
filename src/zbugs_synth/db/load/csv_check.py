"""CSV headers and line numbers for the loader: check a file before COPY, explain a COPY error after.

The loader builds each COPY's column list from the file's own header (zbugs tools exchange files
whose columns may come in any order), so the header is checked against the table first: every
name must be a column of the table, once, and the columns that have no default must be there.

PostgreSQL's COPY error CONTEXT says `COPY issue, line 5, ...`: the physical line on which the
failing record ends (a quoted value may span several lines); `record_lines` finds where it starts.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path

from zbugs_synth.db import schema

MAX_HEADER_BYTES = 64 * 1024
_BOM = "\ufeff"
_COPY_CONTEXT = re.compile(r"\bCOPY [^,]+, line (\d+)(?:, column ([^:]+))?")


class HeaderError(ValueError):
    """The message is one line that names the file."""


def table_columns(table: str) -> tuple[str, ...]:
    return tuple(c.name for c in schema.COLUMNS[table])


def required_columns(table: str) -> tuple[str, ...]:
    """Columns a file must provide: NOT NULL without a default (the identity column fills itself)."""
    identity = schema.IDENTITY["column"] if table == schema.IDENTITY["table"] else None
    return tuple(c.name for c in schema.COLUMNS[table] if c.not_null and c.default is None and c.name != identity)


def read_header(path: Path) -> list[str]:
    """The column names in the first line of a CSV file (raises HeaderError, OSError)."""
    with open(path, "rb") as f:
        raw = f.readline(MAX_HEADER_BYTES + 1)
    return parse_header(raw, path)


def parse_header(data: bytes, path: Path | str) -> list[str]:
    """The column names in the first line of `data` (a file's first bytes; `path` names it in errors)."""
    raw = data.split(b"\n", 1)[0] + (b"\n" if b"\n" in data else b"")
    if not raw.strip():
        raise HeaderError(f"{path}: line 1: empty file, expected a header row naming the columns")
    if len(raw) > MAX_HEADER_BYTES:
        raise HeaderError(f"{path}: line 1: header row longer than {MAX_HEADER_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HeaderError(f"{path}: line 1: header row is not valid UTF-8") from None
    text = text.removeprefix(_BOM)
    try:
        fields = next(csv.reader(io.StringIO(text), strict=True))
    except (csv.Error, StopIteration) as e:
        raise HeaderError(f"{path}: line 1: header row is not valid CSV ({e})") from None
    return fields


def check_header(path: Path | str, table: str, fields: Sequence[str]) -> tuple[str, ...]:
    """Validate a header against `table`; returns the column list for COPY."""
    known = table_columns(table)
    where = f"{path}: line 1"
    for name in fields:
        if name not in known:
            hint = f"; did you mean {name.strip()!r}?" if name.strip() in known else ""
            raise HeaderError(f"{where}: {name!r} is not a column of table {table} "
                              f"(columns: {', '.join(known)}){hint}")
    seen: set[str] = set()
    for name in fields:
        if name in seen:
            raise HeaderError(f"{where}: column {name!r} appears twice in the header")
        seen.add(name)
    missing = [c for c in required_columns(table) if c not in seen]
    if missing:
        raise HeaderError(f"{where}: header lacks required column(s) {', '.join(missing)} of table {table} "
                          f"(found: {','.join(fields)})")
    return tuple(fields)


def copy_error_location(context: str | None) -> tuple[int, str | None] | None:
    """(line, column) from a COPY error CONTEXT, or None if it names none."""
    if not context:
        return None
    m = _COPY_CONTEXT.search(context)
    if not m:
        return None
    return int(m.group(1)), (m.group(2).strip() if m.group(2) else None)


def record_lines(path: Path, line: int) -> tuple[int, int]:
    """(first, last) physical line of the CSV record that ends on `line`.

    COPY's CONTEXT gives the line where the failing record ends (a quoted value may span several
    lines); an editor wants where it starts. Parsed like COPY's CSV mode; only used on the error
    path, so a plain scan of the file is fine. (line, line) if no record ends there.
    """
    start = 1
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            reader = csv.reader(f)
            for _row in reader:
                end = reader.line_num
                if end >= line:
                    return (start, end) if end == line else (line, line)
                start = end + 1
    except (OSError, csv.Error):
        pass
    return line, line
