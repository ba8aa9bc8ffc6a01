"""What a dataset directory holds, checked before the loader touches the database.

A directory is loadable when no generate-synthetic or get-data run is still writing it (the
incomplete marker), every table has its files (the user table may be absent in a SKIP_USERS
batch), the files agree with manifest.json when there is one (names, sizes and checksums; rows are
checked again as each shard is loaded), and every header names columns of its table.

Without manifest.json, manifest.txt (one file name per line: what get-data writes for an
original-tool source) says which files make the dataset: every listed file must be there and no
other CSV may be (a directory mixing two datasets is a mistake, not something to guess about).
A directory with neither (the original tool's own output) is taken as it is: every shard-named
CSV, identified by names and sizes.

Checksums are the one expensive part (every byte is read): the loader asks for them separately
(`check_checksums`), after the cheap questions to the database (already seeded? users there?).

An s3:// or http(s):// location is read without a local copy (see `remote`): its files carry a
`RemoteFile`, and their checksums are verified while they stream into COPY instead of up front.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xxhash

from zbugs_synth.checksum import file_checksum
from zbugs_synth.db.load.bookkeeping import DIR_PREFIX, dir_dataset_id
from zbugs_synth.db.load.csv_check import HeaderError, check_header, read_header
from zbugs_synth.db.load.remote import RemoteFile, inspect_remote, is_remote
from zbugs_synth.errors import UserError
from zbugs_synth.manifest import (
    INCOMPLETE_MARKER,
    MANIFEST_NAME,
    MANIFEST_TXT,
    Manifest,
    ManifestError,
    dataset_files,
    parse_manifest,
    parse_manifest_txt,
)
from zbugs_synth.progress import NullProgress, Progress
from zbugs_synth.tables import GUIDE_TABLES, TABLES, parse_shard_name

_READ_CHUNK = 8 << 20


@dataclass(frozen=True)
class DataFile:
    name: str
    table: str
    shard: int
    path: Path
    bytes: int
    rows: int | None  # from the manifest; None for an original-tool dataset
    columns: tuple[str, ...]  # the header: COPY's column list
    remote: RemoteFile | None = field(default=None, compare=False)  # streamed from object storage
    expected: int | None = field(default=None, compare=False)  # rows a generated table will about have

    @property
    def display(self) -> str:
        return self.remote.display if self.remote is not None else str(self.path)

    @property
    def rows_estimate(self) -> float:
        """Rows, for cost hints only: the manifest's count, the generator's expectation, or ~150 bytes a row."""
        if self.rows is not None:
            return float(self.rows)
        return float(self.expected) if self.expected is not None else self.bytes / 150


# How a generated dataset's source reads (stream.describe), in messages and in the bookkeeping
# (seed_runs.source): a resumed load knows by it that its dataset is a configuration, not a directory.
GENERATED_SOURCE = "generated ("


def generated_source(source: str) -> bool:
    return source.startswith(GENERATED_SOURCE)


@dataclass(frozen=True)
class Dataset:
    """A dataset as the loader sees it: CSV shards in a directory or behind a URL, or (GeneratedDataset)
    a generator configuration whose rows are made while they load."""

    directory: Path | None  # None: a remote dataset (`source` is its URL, credentials redacted)
    source: str  # the directory as the user gave it
    dataset_id: str
    manifest: dict[str, Any] | None  # manifest.json as parsed JSON (stored in loaded_datasets)
    files: tuple[DataFile, ...]  # in load order: table order, then shard
    parsed: Manifest | None = None  # manifest.json, validated (its checksums: `check_checksums`)

    @property
    def num_users(self) -> int | None:
        """NUM_USERS the dataset was generated with (manifest.json's config), if it says."""
        if self.parsed is None:
            return None
        value = self.parsed.config.get("num_users")
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None

    def files_of(self, table: str) -> list[DataFile]:
        return [f for f in self.files if f.table == table]

    def bytes_of(self, table: str) -> int:
        return sum(f.bytes for f in self.files_of(table))

    @property
    def generated(self) -> bool:
        """Rows made on the fly (--generate), not files: GeneratedDataset says so."""
        return False

    @property
    def has_users(self) -> bool:
        return any(f.table == "user" for f in self.files)

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for f in self.files)


def inspect_dataset(directory: Path | str, *, checksums: bool = True, progress: Progress | None = None,
                    endpoint_url: str | None = None) -> Dataset:
    """Check a dataset directory (or s3:// / http(s):// prefix) and describe it; any problem is a
    one-line UserError.

    `checksums=False` leaves out the expensive part; `check_checksums` does it later.
    """
    if is_remote(directory):
        return _inspect_remote(str(directory), endpoint_url)
    dataset = _inspect(Path(directory))
    if checksums:
        check_checksums(dataset, progress)
    return dataset


def _inspect(directory: Path) -> Dataset:
    source = str(directory)
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        raise UserError(f"dataset directory {source} {what} (set ZERO_SEED_DATA_DIR or --seed-data-dir; "
                        "generate one with `zbugs-synth generate-synthetic`)")
    if (directory / INCOMPLETE_MARKER).exists() and (directory / "parts").is_dir():
        raise UserError(f"dataset directory {source} holds a dataset generated in parts that is not complete "
                        f"yet (no {MANIFEST_NAME}): finish the missing parts (generate-synthetic --parts N "
                        f"--part K) or run `zbugs-synth combine-parts {source}`")
    if (directory / INCOMPLETE_MARKER).exists():
        raise UserError(f"dataset directory {source} is incomplete (an interrupted generate-synthetic or "
                        f"get-data: {INCOMPLETE_MARKER} is present): rerun the command that wrote it")
    try:
        present = dataset_files(directory)
    except OSError as e:
        raise UserError(f"cannot list dataset directory {source}: {e.strerror}") from None
    manifest, manifest_json = _read_manifest(directory)
    if manifest is not None:
        entries = _match_manifest(directory, manifest, present)
        skip_users = bool(manifest.config.get("skip_users"))
    else:
        listed = _read_manifest_txt(directory)
        entries = [(n, None) for n in (present if listed is None else _match_list(directory, listed, present))]
        skip_users = True  # unknown: a user-less original batch is allowed (mode decides)
    _check_tables(directory, [n for n, _ in entries], skip_users)
    files = []
    for name, rows in entries:
        shard = parse_shard_name(name)
        if shard is None:
            raise UserError(f"{directory / name}: not a dataset file name ({{table}}_{{shard}}.csv)")
        path = directory / name
        try:
            columns = check_header(path, shard.table, read_header(path))
        except HeaderError as e:
            raise UserError(str(e)) from None
        except OSError as e:
            raise UserError(f"cannot read {path}: {e.strerror}") from None
        files.append(DataFile(name, shard.table, shard.shard, path, path.stat().st_size, rows, columns))
    ds_id = manifest.dataset_id if manifest is not None and manifest.dataset_id else \
        dir_dataset_id(directory)
    return Dataset(directory, source, ds_id, manifest_json, tuple(files), manifest)


def _inspect_remote(url: str, endpoint_url: str | None) -> Dataset:
    listing = inspect_remote(url, endpoint_url=endpoint_url)
    names = [name for name, *_ in listing.files]
    skip_users = bool(listing.manifest.config.get("skip_users")) if listing.manifest is not None else True
    _check_tables(listing.display, names, skip_users)  # type: ignore[arg-type]
    files = []
    for name, size, rows, checksum, columns in listing.files:
        shard = parse_shard_name(name)
        if shard is None:  # _check_tables accepted every name: a bug if this happens
            raise RuntimeError(f"{listing.display}: {name!r} is not a dataset file name")
        files.append(DataFile(name, shard.table, shard.shard, Path(name), size, rows, columns,
                              RemoteFile(listing.source, name, checksum)))
    if listing.manifest is not None and listing.manifest.dataset_id:
        ds_id = listing.manifest.dataset_id
    else:  # as for a manifest-less directory: names and sizes
        entries = sorted(f"{f.name}:{f.bytes}" for f in files)
        ds_id = DIR_PREFIX + xxhash.xxh3_64_hexdigest("\n".join(entries).encode())
    return Dataset(None, listing.display, ds_id, listing.manifest_json, tuple(files), listing.manifest)


def check_checksums(dataset: Dataset, progress: Progress | None = None) -> None:
    """Every file against manifest.json's checksum (reads every byte; nothing to do without manifest.json).

    A remote dataset's files are verified as they stream into COPY instead (reading them twice would
    double the transfer)."""
    if dataset.parsed is not None and dataset.directory is not None:
        _check_checksums(dataset.directory, dataset.parsed, progress or NullProgress())


def _read_manifest(directory: Path) -> tuple[Manifest | None, dict[str, Any] | None]:
    path = directory / MANIFEST_NAME
    if not path.exists():
        return None, None
    try:
        text = path.read_text(encoding="utf-8")
        return parse_manifest(text), json.loads(text)
    except ManifestError as e:
        raise UserError(f"{path}: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None


def _read_manifest_txt(directory: Path) -> list[str] | None:
    path = directory / MANIFEST_TXT
    if not path.exists():
        return None
    try:
        return parse_manifest_txt(path.read_bytes())
    except ManifestError as e:
        raise UserError(f"{path}: {e}") from None
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None


def _match_list(directory: Path, listed: list[str], present: list[str]) -> list[str]:
    """The files manifest.txt lists, in load order; refuses missing ones and CSVs it does not list."""
    have = set(present)
    missing = [n for n in listed if n not in have]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise UserError(f"{directory / missing[0]}{more} is missing: {directory / MANIFEST_TXT} lists it "
                        "(an incomplete download or copy? run get-data again)")
    wanted = set(listed)
    extra = [n for n in present if n not in wanted]
    if extra:
        shown = ", ".join(extra[:5]) + (f" (and {len(extra) - 5} more)" if len(extra) > 5 else "")
        raise UserError(f"dataset directory {directory} has CSV file(s) {directory / MANIFEST_TXT} does not list: "
                        f"{shown} (two datasets in one directory? remove them, or load from a clean directory)")
    return [n for n in present if n in wanted]


def _match_manifest(directory: Path, manifest: Manifest, present: list[str]) -> list[tuple[str, int | None]]:
    listed = {f.name: f for f in manifest.files}
    for name in present:
        if name not in listed:
            raise UserError(f"{directory / name} is not listed in {directory / MANIFEST_NAME} "
                            "(left over from another run? remove it or regenerate the dataset)")
    order = {t: i for i, t in enumerate(TABLES)}
    out: list[tuple[str, int | None]] = []
    for f in sorted(manifest.files, key=lambda f: (order[f.table], f.shard)):
        path = directory / f.name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise UserError(f"{path} is missing: {MANIFEST_NAME} lists it (an incomplete download or copy?)") \
                from None
        if size != f.bytes:
            raise UserError(f"{path} has {size:,} bytes but {MANIFEST_NAME} says {f.bytes:,} "
                            "(file changed or truncated; regenerate or download it again)")
        out.append((f.name, f.rows))
    return out


def _check_tables(directory: Path, names: list[str], users_optional: bool) -> None:
    tables = {p.table for n in names if (p := parse_shard_name(n))}
    # The guide's six are required; ALL_TABLES' four (emoji, notifications, views, prefs) are optional.
    missing = [t for t in GUIDE_TABLES if t not in tables and not (t == "user" and users_optional)]
    if missing:
        raise UserError(f"dataset directory {directory} has no CSV file for table(s) {', '.join(missing)} "
                        f"(expected files like {missing[0]}_000.csv)")
    by_table: dict[tuple[str, int], str] = {}
    for n in names:
        p = parse_shard_name(n)
        if p is None:
            raise UserError(f"{directory / n}: not a dataset file name ({{table}}_{{shard}}.csv)")
        if (p.table, p.shard) in by_table:
            raise UserError(f"dataset directory {directory} has both {by_table[p.table, p.shard]} and {n}: "
                            "the same shard twice")
        by_table[p.table, p.shard] = n


def _check_checksums(directory: Path, manifest: Manifest, progress: Progress) -> None:
    task = progress.task("checksums", sum(f.bytes for f in manifest.files), "bytes")
    for f in manifest.files:
        path = directory / f.name
        try:
            digest = file_checksum(path, task.advance)
        except OSError as e:
            raise UserError(f"cannot read {path}: {e.strerror}") from None
        if digest != f.checksum:
            raise UserError(f"{path} does not match {MANIFEST_NAME} (xxh3_128 checksum differs: the file "
                            "changed after it was written; regenerate or download it again)")
    task.done()
