"""Dataset manifests, the one home of their formats: `manifest.json` (what a dataset directory holds,
written last by the generator) and the original tools' `manifest.txt` (one file name per line).

It lists every shard with its table, rows, bytes and checksum (xxh3-128: ~30 GB/s, so hashing
never shows up next to generation; sha256 would cost ~1 CPU-second per GB), plus the full
configuration and tool version. The loader uses it to know what to expect; `get-data` treats it
as untrusted input and checks every name and size (see `check_file_entry`).

No timestamps are written: the same configuration must give a byte-identical manifest too.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zbugs_synth.tables import TABLES, parse_shard_name

MANIFEST_NAME = "manifest.json"
MANIFEST_TXT = "manifest.txt"
FORMAT = "zbugs-synth-dataset"
FORMAT_VERSION = 1
CHECKSUM_ALGORITHM = "xxh3_128"
# A marker present while a generator run is writing into a directory: a crash leaves it behind, so
# nobody mistakes a partial directory for a complete (manifest-less, original-style) dataset.
INCOMPLETE_MARKER = ".zbugs-synth-incomplete"
MAX_FILE_BYTES = 1 << 40  # 1 TiB: anything bigger in a manifest is absurd


class ManifestError(ValueError):
    pass


@dataclass(frozen=True)
class FileEntry:
    name: str
    table: str
    shard: int
    rows: int
    bytes: int
    checksum: str  # hex digest, algorithm in Manifest.checksum_algorithm


@dataclass
class Manifest:
    dataset_id: str
    config: dict[str, Any]
    files: list[FileEntry]
    tool_version: str
    checksum_algorithm: str = CHECKSUM_ALGORITHM
    extra: dict[str, Any] = field(default_factory=dict)

    def rows_by_table(self) -> dict[str, int]:
        out = dict.fromkeys(TABLES, 0)
        for f in self.files:
            out[f.table] += f.rows
        return out

    def files_of(self, table: str) -> list[FileEntry]:
        return sorted((f for f in self.files if f.table == table), key=lambda f: f.shard)

    def to_json(self) -> str:
        data = {
            "format": FORMAT,
            "formatVersion": FORMAT_VERSION,
            "tool": {"name": "zbugs-synth", "version": self.tool_version},
            "datasetId": self.dataset_id,
            "checksumAlgorithm": self.checksum_algorithm,
            "config": self.config,
            "tables": {
                t: {"rows": sum(f.rows for f in fs), "bytes": sum(f.bytes for f in fs), "shards": len(fs)}
                for t in TABLES if (fs := self.files_of(t))
            },
            "files": [asdict(f) for f in self.files],
            **self.extra,
        }
        return json.dumps(data, indent=2, sort_keys=False) + "\n"


def check_file_entry(raw: object, index: int) -> FileEntry:
    """Validate one untrusted manifest entry: a plain dataset file name, sane numbers."""
    where = f"manifest files[{index}]"
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: expected an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ManifestError(f"{where}: missing file name")
    check_data_name(name, where)
    parsed = parse_shard_name(name)
    if parsed is None:
        raise ManifestError(f"{where}: {name!r} is not a dataset file name ({{table}}_{{shard}}.csv)")
    table = raw.get("table", parsed.table)
    if table != parsed.table:
        raise ManifestError(f"{where}: table {table!r} does not match file name {name!r}")
    ints = {}
    for key in ("rows", "bytes"):
        v = raw.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0 or v > MAX_FILE_BYTES:
            raise ManifestError(f"{where}: {key} must be a whole number from 0 to {MAX_FILE_BYTES}")
        ints[key] = v
    checksum = raw.get("checksum")
    if not isinstance(checksum, str) or not checksum or any(c not in "0123456789abcdef" for c in checksum):
        raise ManifestError(f"{where}: checksum must be a lowercase hex digest")
    return FileEntry(name, parsed.table, parsed.shard, ints["rows"], ints["bytes"], checksum)


# Far more shards than any sane dataset (1e9 issues at 500k rows/shard is ~8k files), small enough
# that a hostile manifest cannot make us plan millions of downloads.
MAX_FILES = 100_000
# manifest.json for MAX_FILES entries is ~20 MB; anything much bigger is not a manifest.
MAX_MANIFEST_BYTES = 64 << 20
# Manifest-like companions (manifest.json, manifest.txt, manifest.sha256, ...) may be listed in a
# manifest.txt; they are not data, so we skip them rather than download them.
_MANIFEST_LIKE = re.compile(r"^manifest\.[A-Za-z0-9]{1,16}$")


def name_problem(name: str) -> str | None:
    """Why `name` is not a safe plain file name, or None if it is one."""
    if not name:
        return "empty file name"
    if any(ord(c) < 32 or ord(c) == 0x7F for c in name):
        return f"{name!r} contains control characters"
    if "/" in name or "\\" in name or os.path.isabs(name) or (len(name) > 1 and name[1] == ":"):
        return f"{name!r} is not a plain file name (path separators or absolute path)"
    if ".." in name or name in (".", ".."):
        return f"{name!r} is not a plain file name ('..')"
    return None


def check_data_name(name: str, where: str) -> str:
    """Accept `name` only if it is a plain `{table}_{shard}.csv` file name."""
    problem = name_problem(name)
    if problem is None and parse_shard_name(name) is None:
        problem = f"{name!r} does not look like a dataset file ({{table}}_{{shard}}.csv)"
    if problem:
        raise ManifestError(f"{where}: {problem}")
    return name


def is_manifest_like(name: str) -> bool:
    return name_problem(name) is None and bool(_MANIFEST_LIKE.match(name))


def parse_manifest_txt(data: bytes) -> list[str]:
    """The data file names listed in a manifest.txt (one per line), validated.

    Blank lines and manifest companions (manifest.json, ...) are skipped; anything else that is
    not a plain dataset file name, or a name listed twice, rejects the whole manifest.
    """
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"manifest.txt is larger than {MAX_MANIFEST_BYTES:,} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ManifestError("manifest.txt is not UTF-8 text") from None
    names: list[str] = []
    seen: set[str] = set()
    # split("\n") rather than splitlines(): splitlines would silently cut a name at \x0b, \x1c, ...
    # which must be rejected as control characters instead.
    for lineno, line in enumerate(text.split("\n"), start=1):
        name = line.removesuffix("\r").strip(" \t")
        if not name:
            continue
        where = f"manifest.txt line {lineno}"
        if is_manifest_like(name):
            continue
        check_data_name(name, where)
        if name in seen:
            raise ManifestError(f"{where}: {name!r} is listed twice")
        seen.add(name)
        names.append(name)
        if len(names) > MAX_FILES:
            raise ManifestError(f"manifest.txt lists more than {MAX_FILES:,} files")
    return names



def parse_manifest(text: str) -> Manifest:
    """Parse and validate manifest.json text; any malformed content is a ManifestError, never a crash."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise ManifestError(f"manifest is not valid JSON ({e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ManifestError(f"not a {FORMAT} manifest")
    if data.get("formatVersion") != FORMAT_VERSION:
        raise ManifestError(f"unsupported manifest formatVersion {data.get('formatVersion')!r}")
    if data.get("checksumAlgorithm") != CHECKSUM_ALGORITHM:
        raise ManifestError(f"unsupported checksum algorithm {data.get('checksumAlgorithm')!r}")
    files_raw = data.get("files")
    if not isinstance(files_raw, list):
        raise ManifestError("manifest has no 'files' list")
    files = [check_file_entry(f, i) for i, f in enumerate(files_raw)]
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ManifestError(f"manifest lists {dup!r} twice")
    dataset_id = data.get("datasetId", "")
    if not isinstance(dataset_id, str) or len(dataset_id) > 200:
        raise ManifestError("manifest datasetId must be a short string")
    config = data.get("config")
    tool = data.get("tool")
    version = tool.get("version", "") if isinstance(tool, dict) else ""
    return Manifest(
        dataset_id=dataset_id,
        config=config if isinstance(config, dict) else {},
        files=files,
        tool_version=version if isinstance(version, str) else "",
    )


def read_manifest(directory: Path) -> Manifest | None:
    """The directory's manifest, or None if it has none (an original-tool dataset)."""
    path = directory / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not UTF-8 text") from None
    return parse_manifest(text)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write to a temporary name in the same directory, fsync, rename: never a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    payload = data.encode() if isinstance(data, str) else data
    try:
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no temporary file behind
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make renames and new names in `directory` durable (a file's own fsync does not cover its name)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_manifest(directory: Path, manifest: Manifest) -> None:
    write_atomic(directory / MANIFEST_NAME, manifest.to_json())
    write_atomic(directory / MANIFEST_TXT, manifest_txt(f.name for f in manifest.files))


def manifest_txt(file_names: Iterable[str]) -> str:
    """manifest.txt: one file name per line, what the original getData.sh reads."""
    return "".join(f"{name}\n" for name in file_names)


def dataset_files(directory: Path) -> list[str]:
    """Dataset CSV names present in a directory, sorted by table load order then shard."""
    found = [p for n in os.listdir(directory) if (p := parse_shard_name(n))]
    order = {t: i for i, t in enumerate(TABLES)}
    return [p.name for p in sorted(found, key=lambda p: (order[p.table], p.shard))]

