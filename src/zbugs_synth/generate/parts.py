"""Partitioned generation: the layout that lets N parts of one dataset be written anywhere, at once.

Part K of N (1-based, like tpchgen-cli) holds issues [(K-1)·n/N, K·n/N) with their comments and
issue labels; part 1 also holds the small tables (users, projects, labels). Every value is a pure
function of (seed, table, row), so the rows of all parts, in part order, are exactly the rows of a
whole run.

Shard names must not clash between parts and must sort in dataset order, yet no part knows how many
shards another will write (comment counts are only known once generated). So a part's shard
numbers are fixed-width and derived from the part alone: shard = (K-1)·10⁴ + i for the part's i-th
shard of a table, zero-padded to (digits of N-1) + 4. Every name of a dataset has the same width,
so names sort numerically, and they stay `{table}_{digits}.csv` (what the original tools and
`get-data` accept). A part may write at most 10⁴ shards per table (5·10⁹ rows at the default
SHARD_SIZE): more parts or a bigger SHARD_SIZE otherwise.

Each part ends by writing its part manifest, `parts/part-K-of-N.json` (the manifest format plus the
part's number and issue range): a part whose manifest is there and whose files are all present is
complete and is skipped by a rerun. `combine` turns the N part manifests into the dataset's
manifest.json and manifest.txt, refusing parts of different configurations.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from zbugs_synth.errors import UserError
from zbugs_synth.generate.sink import Sink
from zbugs_synth.manifest import (
    INCOMPLETE_MARKER,
    MANIFEST_NAME,
    MANIFEST_TXT,
    FileEntry,
    Manifest,
    ManifestError,
    manifest_txt,
    parse_manifest,
)
from zbugs_synth.tables import TABLES, parse_shard_name, shard_file_name

LOCAL_DIGITS = 4
MAX_LOCAL_SHARDS = 10**LOCAL_DIGITS
MAX_PARTS = 99_999  # keeps names within the 9 digits the dataset layout allows
PARTS_DIR = "parts"
READ_JOBS = 16
_PART_MANIFEST_RE = re.compile(r"^part-([0-9]+)-of-([0-9]+)\.json$")


@dataclass(frozen=True)
class PartSpec:
    part: int  # 1-based
    parts: int

    def __post_init__(self) -> None:
        if not 1 <= self.parts <= MAX_PARTS:
            raise UserError(f"--parts {self.parts}: expected a whole number from 1 to {MAX_PARTS:,}")
        if not 1 <= self.part <= self.parts:
            raise UserError(f"--part {self.part}: expected a whole number from 1 to {self.parts} (--parts)")

    @property
    def first(self) -> bool:
        return self.part == 1

    def issue_range(self, num_issues: int) -> tuple[int, int]:
        return (self.part - 1) * num_issues // self.parts, self.part * num_issues // self.parts

    @property
    def digits(self) -> int:
        return len(str(self.parts - 1)) + LOCAL_DIGITS

    def shard_name(self, table: str, index: int) -> str:
        if index >= MAX_LOCAL_SHARDS:
            raise UserError(f"part {self.part} of {self.parts} needs more than {MAX_LOCAL_SHARDS:,} {table} shards: "
                            "use more --parts or a bigger SHARD_SIZE")
        return shard_file_name(table, (self.part - 1) * MAX_LOCAL_SHARDS + index, self.digits)

    def owns(self, name: str) -> bool:
        """Whether `name` is a shard file name of this part's layout (any table)."""
        parsed = parse_shard_name(name)
        return (parsed is not None and len(name) == len(parsed.table) + 1 + self.digits + 4
                and parsed.shard // MAX_LOCAL_SHARDS == self.part - 1)

    @property
    def manifest_name(self) -> str:
        return part_manifest_name(self.part, self.parts)

    @property
    def lock_name(self) -> str:
        """The part's writer lock beside its manifest, hidden (generate.lock)."""
        directory, _, name = self.manifest_name.rpartition("/")
        return f"{directory}/.{name.removesuffix('.json')}.lock"

    def list_own(self, sink: Sink) -> dict[str, int]:
        """This part's files in `sink` (name -> bytes): one listing per table, by name prefix, so a
        part never lists the whole dataset (thousands of parts would list it thousands of times)."""
        out: dict[str, int] = {}
        for table in TABLES:
            out.update((n, size) for n, size in sink.list(f"{table}_{self.part - 1:0{self.digits - LOCAL_DIGITS}d}")
                       .items() if self.owns(n))
        return out


def part_manifest_name(part: int, parts: int) -> str:
    width = len(str(parts))
    return f"{PARTS_DIR}/part-{part:0{width}d}-of-{parts:0{width}d}.json"


def part_manifest(manifest: Manifest, spec: PartSpec, issue_range: tuple[int, int]) -> Manifest:
    manifest.extra = {"part": spec.part, "parts": spec.parts, "issueRange": list(issue_range)}
    return manifest


@dataclass
class PartInfo:
    spec: PartSpec
    manifest: Manifest
    name: str


def read_part(sink: Sink, name: str) -> PartInfo:
    raw = sink.read(name)
    if raw is None:
        raise UserError(f"{sink.display}{name}: missing")
    try:
        text = raw.decode("utf-8")
        manifest = parse_manifest(text)
        extra = json.loads(text)
        spec = PartSpec(int(extra["part"]), int(extra["parts"]))
    except (ManifestError, UnicodeDecodeError, KeyError, TypeError, ValueError, UserError) as e:
        raise UserError(f"{sink.display}{name}: not a part manifest ({e})") from None
    return PartInfo(spec, manifest, name)


def read_parts(sink: Sink, names: list[str]) -> list[PartInfo]:
    """Part manifests, fetched a few at a time (thousands of parts on S3: one GET each)."""
    with ThreadPoolExecutor(max_workers=READ_JOBS, thread_name_prefix="zbugs-parts") as pool:
        return list(pool.map(lambda n: read_part(sink, n), names))


def list_parts(sink: Sink) -> dict[str, int]:
    return {n: size for n, size in sink.list(f"{PARTS_DIR}/part-").items()
            if _PART_MANIFEST_RE.match(n.rpartition("/")[2])}


def missing_files(manifest: Manifest, present: dict[str, int]) -> list[str]:
    """Files a manifest lists that are absent or of another size in `present` (name -> bytes)."""
    return [f.name for f in manifest.files if present.get(f.name) != f.bytes]


def complete_part(sink: Sink, spec: PartSpec, key: str, present: dict[str, int] | None = None) -> bool:
    """Whether part `spec` of the parts with `key` (part_key) is already complete in `sink` (a rerun skips it)."""
    if (raw := sink.read(spec.manifest_name)) is None:
        return False
    try:
        manifest = parse_manifest(raw.decode("utf-8"))
    except (ManifestError, UnicodeDecodeError):
        return False
    if part_key(manifest) != key:
        return False
    return not missing_files(manifest, present if present is not None else sink.list())


# Where the templates were read from: parts made on other machines read the same pack from other
# paths (its content is in the dataset id, through templatesDigest).
_NOT_PART_OF_KEY = ("templates",)


def _key_fields(m: Manifest) -> dict[str, Any]:
    """What the parts of one dataset share: its id and its settings (the shard size too: the files of
    parts cut at other sizes would not make the dataset one run writes), not where the templates were."""
    return {"datasetId": m.dataset_id, **{k: v for k, v in m.config.items() if k not in _NOT_PART_OF_KEY}}


def part_key(m: Manifest) -> str:
    """`_key_fields` as one comparable text."""
    return json.dumps(_key_fields(m), sort_keys=True)


def key_difference(there: Manifest, here: Manifest) -> str:
    """Up to three settings two part manifests of other keys differ in, as `name A against B` text."""
    a, b = _key_fields(there), _key_fields(here)
    names = [k for k in (*a, *(k for k in b if k not in a)) if a.get(k) != b.get(k)]
    shown = [n for n in names if n != "datasetId"] or names
    return ", ".join(f"{n} {a.get(n)} against {b.get(n)}" for n in shown[:3]) + (" …" if len(shown) > 3 else "")


@dataclass
class Combined:
    manifest: Manifest
    parts: int
    written: bool = True  # False: the manifest was there already (nothing combined by this run)


def combine(sink: Sink, *, force: bool = False, expect: tuple[str, int] | None = None) -> Combined | None:
    """Write manifest.json/.txt for the parts in `sink` once all are there (else a UserError).

    `expect` (part_key, parts): the configuration a generate run just wrote; part manifests of any
    other are refused, or deleted with `force` (None then if that leaves parts to make again).
    Without it every part manifest must agree.
    """
    names = sorted(list_parts(sink))
    if not names:
        raise UserError(f"{sink.display}: no part manifests ({PARTS_DIR}/part-K-of-N.json); "
                        "run generate-synthetic --parts N --part K first")
    infos = read_parts(sink, names)
    if expect is not None and force:
        others = [i for i in infos if (part_key(i.manifest), i.spec.parts) != expect]
        for i in others:
            sink.delete(i.name)
        infos = [i for i in infos if i not in others]
        if len(infos) < expect[1]:
            return None  # the parts made with other settings are to be made again
    keys = {part_key(i.manifest) for i in infos}
    counts = {i.spec.parts for i in infos}
    if len(keys) > 1 or len(counts) > 1:
        first = infos[0]
        other = next(i for i in infos if part_key(i.manifest) != part_key(first.manifest)
                     or i.spec.parts != first.spec.parts)
        how = (f"{first.spec.parts} against {other.spec.parts} parts" if other.spec.parts != first.spec.parts
               else key_difference(first.manifest, other.manifest))
        raise UserError(f"{sink.display}: {first.name} and {other.name} are parts of different configurations "
                        f"({how}); refusing to combine them: make the odd part again with the others' settings "
                        "(generate-synthetic --parts N --part K --force), or delete it")
    parts = counts.pop()
    have = {i.spec.part: i for i in infos}
    missing = [k for k in range(1, parts + 1) if k not in have]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" …" if len(missing) > 10 else "")
        raise UserError(f"{sink.display}: {len(missing)} of {parts} parts not finished yet (part {shown}); "
                        "combine once every part is there")
    present = sink.list()
    files: list[FileEntry] = []
    for k in range(1, parts + 1):
        info = have[k]
        if lost := missing_files(info.manifest, present):
            raise UserError(f"{sink.display}: part {k} lists {lost[0]}, which is missing or has another size; "
                            f"rerun that part (generate-synthetic --parts {parts} --part {k})")
        files.extend(info.manifest.files)
    order = {t: i for i, t in enumerate(TABLES)}
    files.sort(key=lambda f: (order[f.table], f.shard))
    listed = {f.name for f in files}
    strays = sorted(n for n in present if "/" not in n and parse_shard_name(n) and n not in listed)
    if strays:
        if not force:
            more = f" (and {len(strays) - 1} more)" if len(strays) > 1 else ""
            raise UserError(f"{sink.display}: {strays[0]}{more} belongs to no part of this dataset; "
                            "use --force to delete such files")
        for n in strays:
            sink.delete(n)
    first = have[1].manifest
    manifest = Manifest(dataset_id=first.dataset_id, config=first.config, files=files,
                        tool_version=first.tool_version, extra={"parts": parts})
    # manifest.txt first and manifest.json last: a reader that sees manifest.json sees everything.
    sink.put(MANIFEST_TXT, manifest_txt(f.name for f in files).encode())
    sink.put(MANIFEST_NAME, manifest.to_json().encode())
    sink.delete(INCOMPLETE_MARKER)
    return Combined(manifest, parts)

