"""`manifest.json`: what a dataset directory holds, written last by the generator.

It lists every shard with its table, rows, bytes and checksum (xxh3-128: ~30 GB/s, so hashing
never shows up next to generation; sha256 would cost ~1 CPU-second per GB), plus the full
configuration and tool version. The loader uses it to know what to expect; `get-data` treats it
as untrusted input and checks every name and size (see `check_file_entry`).

No timestamps are written: the same configuration must give a byte-identical manifest too.
"""

from __future__ import annotations

import json
import os
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
    if any(ord(c) < 32 or c == "\x7f" for c in name):
        raise ManifestError(f"{where}: file name contains control characters")
    if "/" in name or "\\" in name or name in (".", "..") or ".." in name or os.path.isabs(name):
        raise ManifestError(f"{where}: {name!r} is not a plain file name")
    parsed = parse_shard_name(name)
    if parsed is None:
        raise ManifestError(f"{where}: {name!r} does not look like a dataset file ({{table}}_{{shard}}.csv)")
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
    with open(tmp, "wb") as f:
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


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

