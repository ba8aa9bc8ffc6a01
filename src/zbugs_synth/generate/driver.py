"""`generate-synthetic`: plan, write the small tables, run the kernel on every core, publish.

Chunks of CHUNK_ISSUES issues are generated on a thread pool (the kernel releases the GIL) and
written by this thread strictly in order, with a bounded number in flight so memory stays flat
however large NUM_ISSUES is. Chunk size, worker count and shard size never change the bytes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xxhash

from zbugs_synth import __version__
from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.cpus import usable_cpus
from zbugs_synth.disk import check_room
from zbugs_synth.errors import Cancelled, UserError
from zbugs_synth.generate import estimate
from zbugs_synth.generate.ids import LABEL_BITS
from zbugs_synth.generate.lock import hold
from zbugs_synth.generate.parts import PartSpec, complete_part, part_key, part_manifest, read_part
from zbugs_synth.generate.plan import Buffers, Chunk, KernelPlan, chunk_ranges
from zbugs_synth.generate.sink import LocalSink, Sink
from zbugs_synth.generate.sinks import Lease, TableSink
from zbugs_synth.generate.small_tables import (
    label_ids,
    label_rows,
    mention_logins,
    plan_projects,
    project_rows,
    user_pref_rows,
    user_rows,
)
from zbugs_synth.generate.textpool import compile_pack
from zbugs_synth.generate.writer import ShardedWriter
from zbugs_synth.manifest import (
    INCOMPLETE_MARKER,
    MANIFEST_NAME,
    MANIFEST_TXT,
    FileEntry,
    Manifest,
    ManifestError,
    parse_manifest,
    read_manifest,
    write_manifest,
)
from zbugs_synth.progress import NullProgress, Progress
from zbugs_synth.tables import GUIDE_TABLES, TABLES, parse_shard_name
from zbugs_synth.templates import TemplatePack, load_pack
from zbugs_synth.templates.markdown import load_markdown

CHUNK_ISSUES = 16384
DAY_MS = 86_400_000
MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
LABEL_TABLE_MAX = 4_000_000  # label ids kept in memory for the kernel: 84 MB at most


@dataclass
class TableStats:
    rows: int = 0
    shards: int = 0
    bytes: int = 0


@dataclass
class Result:
    directory: Path | str  # a directory, or the display form of a sink (an s3:// prefix)
    manifest: Manifest
    tables: dict[str, TableStats] = field(default_factory=dict)
    elapsed: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables.values())

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.tables.values())


def pack_digest(pack: TemplatePack) -> str:
    h = xxhash.xxh3_64()
    for c in pack.categories:
        h.update(repr((c.name, c.projects, c.labels, c.titles, c.descriptions, c.comments,
                       sorted(c.pools.items()))).encode())
    h.update(repr((sorted(pack.default_pools.items()), pack.people)).encode())
    h.update(load_markdown().digest_text().encode())  # the markdown kinds shape the text too
    return h.hexdigest()


def dataset_id(cfg: GenerateConfig, digest: str) -> str:
    payload = json.dumps({**cfg.content_config(), "templates": digest}, sort_keys=True)
    return xxhash.xxh3_64_hexdigest(payload.encode())


def check_against_pack(cfg: GenerateConfig, pack: TemplatePack) -> None:
    smallest = min(pack.categories, key=lambda c: len(c.labels))
    if math.ceil(cfg.labels_per_issue) > len(smallest.labels):
        raise UserError(
            f"LABELS_PER_ISSUE={cfg.labels_per_issue:g}: expected at most {len(smallest.labels)} "
            f"(category {smallest.name!r} of the template pack has only {len(smallest.labels)} labels)")
    biggest = max(len(c.labels) for c in pack.categories)
    if biggest >= 1 << LABEL_BITS:
        raise UserError(f"TEMPLATES_DIR: a category has {biggest} labels; at most {(1 << LABEL_BITS) - 1}")
    if cfg.comments_per_issue >= cfg.comments_max:
        raise UserError(f"COMMENTS_PER_ISSUE={cfg.comments_per_issue:g}: expected less than COMMENTS_MAX "
                        f"({cfg.comments_max})")
    # Timestamps are epoch milliseconds >= 0 (the kernel writes unsigned digits) and stay in years
    # PostgreSQL and JavaScript dates agree on.
    start = cfg.time_end - int(cfg.time_span_days * DAY_MS)
    if start < 0 or cfg.time_end > MAX_TIME_MS:
        raise UserError(f"TIME_END={cfg.time_end} with TIME_SPAN_DAYS={cfg.time_span_days:g}: expected a window "
                        "inside 1970-01-01 .. 9999-12-31 (TIME_END is epoch milliseconds or an ISO-8601 date)")


def _is_ours(name: str) -> bool:
    return (parse_shard_name(name) is not None or name in (MANIFEST_NAME, MANIFEST_TXT, INCOMPLETE_MARKER)
            or (name.startswith(".") and name.endswith((".csv.partial", ".tmp"))))


def make_directory(cfg: GenerateConfig) -> Path:
    out = cfg.output_dir
    if out.exists() and not out.is_dir():
        raise UserError(f"OUTPUT_DIR={str(out)!r}: is a file, not a directory; choose a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):  # a parent is a file
        blocker = next((p for p in out.parents if p.exists() and not p.is_dir()), out)
        raise UserError(f"OUTPUT_DIR={str(out)!r}: {str(blocker)!r} is a file, not a directory") from None
    except OSError as e:
        raise UserError(f"OUTPUT_DIR={str(out)!r}: cannot create directory ({e.strerror})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UserError(f"OUTPUT_DIR={str(out)!r}: directory is not writable")
    return out


def files_to_replace(cfg: GenerateConfig, out: Path, ds_id: str) -> list[str]:
    """Our files of an earlier run in `out`, which this run replaces; refused (UserError) if they are
    another configuration's dataset and --force is not given."""
    existing = [n for n in os.listdir(out) if _is_ours(n)]
    if existing and not cfg.force:
        try:
            old = read_manifest(out)
        except (ValueError, OSError):  # unreadable or not ours: treated as "another dataset"
            old = None
        same = old is not None and old.dataset_id == ds_id
        broken = old is None and MANIFEST_NAME in existing
        if not same and (old is not None or broken or any(parse_shard_name(n) for n in existing)):
            what = ("another configuration's dataset" if old else f"a {MANIFEST_NAME} that does not parse"
                    if broken else "CSV shards without a manifest")
            raise UserError(f"OUTPUT_DIR={str(out)!r}: holds {what}; use --force to replace it "
                            "or choose another OUTPUT_DIR")
    return existing


def _clear(out: Path, existing: list[str]) -> None:
    for n in existing:  # only files of ours; anything else in the directory is left alone
        (out / n).unlink(missing_ok=True)
    (out / INCOMPLETE_MARKER).write_text("zbugs-synth generate-synthetic is writing here\n")


SMALL_TABLES = ("user", "project", "label", "userPref")  # plain Python before the kernel runs; by part 1 only
KERNEL_EXTRA = ("emoji", "issueNotifications", "viewState")  # with ALL_TABLES, from the kernel


def written_tables(cfg: GenerateConfig) -> tuple[str, ...]:
    """The tables this configuration writes, in load order. userPref is keyed by (key, user) and
    users are shared by every batch, so it is written with the users: never with SKIP_USERS (a
    later batch would repeat the first batch's rows)."""
    tables = TABLES if cfg.all_tables else GUIDE_TABLES
    skip = {"user", "userPref"} if cfg.skip_users else set()
    return tuple(t for t in tables if t not in skip)


@dataclass
class Prepared:
    pack: TemplatePack
    digest: str
    dataset_id: str


def prepare(cfg: GenerateConfig, pack: TemplatePack | None = None) -> Prepared:
    """Load (unless given) and check the template pack; the dataset's identity."""
    pack = pack or load_pack(cfg.templates_dir)
    check_against_pack(cfg, pack)
    digest = pack_digest(pack)
    return Prepared(pack, digest, dataset_id(cfg, digest))


def manifest_config(cfg: GenerateConfig, digest: str) -> dict[str, Any]:
    config = {**cfg.content_config(), "templates": str(cfg.templates_dir or "bundled"),
              "templatesDigest": digest, "shardSize": cfg.shard_size}
    config.pop("shard_size", None)
    return config


def parts_key(cfg: GenerateConfig, prep: Prepared) -> str:
    """parts.part_key of the part manifests this configuration writes."""
    return part_key(parts_manifest(cfg, prep))


def parts_manifest(cfg: GenerateConfig, prep: Prepared) -> Manifest:
    """A part manifest of this configuration, but for its files and part numbers."""
    return Manifest(dataset_id=prep.dataset_id, config=manifest_config(cfg, prep.digest), files=[],
                    tool_version=__version__)


def _announce(cfg: GenerateConfig, progress: Progress, where: str) -> None:
    # Say what is being made before making it: a misspelled variable (NUM_ISSUE=...) shows up here.
    progress.log(f"generating {cfg.num_issues:,} issues, {cfg.num_projects:,} projects, {cfg.num_users:,} users"
                 f"{' (users not written)' if cfg.skip_users else ''}; ~{cfg.comments_per_issue:g} comments and "
                 f"~{cfg.labels_per_issue:g} labels per issue; seed {cfg.seed}; templates "
                 f"{cfg.templates_dir or 'bundled'}{'; all ten tables' if cfg.all_tables else ''} -> {where}")


def _small_tables(cfg: GenerateConfig, pack: TemplatePack, writers: dict[str, ShardedWriter] | None,
                  progress: Progress) -> tuple[Any, list[str] | None]:
    """Users, projects and labels, written when `writers` is given; the project plan and label ids
    (which every part's kernel needs) either way."""
    if writers is not None and not cfg.skip_users:
        task = progress.task("user", cfg.num_users)
        batch: list[str] = []
        for row in user_rows(cfg.num_users, pack.people):
            batch.append(row)
            if len(batch) == 10000:
                writers["user"].write_text("".join(batch), len(batch))
                task.advance(len(batch))
                batch = []
        writers["user"].write_text("".join(batch), len(batch))
        task.advance(len(batch))
        task.done()
    if writers is not None and "userPref" in written_tables(cfg):
        for n, text in user_pref_rows(cfg.num_users, cfg.user_pref_fraction):
            writers["userPref"].write_text(text, n)
    projects = plan_projects(pack, cfg.num_projects, cfg.seed)
    if writers is not None:
        rows = list(project_rows(projects))
        writers["project"].write_text("".join(rows), len(rows))
    label_ids: list[str] | None = []
    for ids, text in label_rows(projects, pack, cfg.seed):
        if writers is not None:
            writers["label"].write_text(text, len(ids))
        if label_ids is not None:
            label_ids.extend(ids)
            if len(label_ids) > LABEL_TABLE_MAX:
                label_ids = None  # the kernel derives label ids itself instead
                if writers is None:
                    break
    return projects, label_ids


def _check_room(cfg: GenerateConfig, plan: KernelPlan, out: Path, first: int, end: int,
                what: str = "this dataset", freed: int = 0) -> None:
    """Refuse before the big tables when their CSV will clearly not fit in `out` (disk.py), counting
    the `freed` bytes of an earlier run's files that this run deletes first."""
    if cfg.skip_space_check:
        return
    need = estimate.total_bytes(estimate.big_tables(plan, first, end))
    check_room(need, out, f"{what} ({end - first:,} issues)", freed=freed,
               advice="free space, choose another OUTPUT_DIR, or generate it in --parts on several disks")


def _kernel_plan(cfg: GenerateConfig, pack: TemplatePack, projects: Any, label_ids: list[str] | None) -> KernelPlan:
    text_pool = compile_pack(pack, mention_logins(cfg.num_users, pack.people), cfg.num_issues)
    plan = KernelPlan(cfg, projects, text_pool, label_ids)
    plan.run(0, min(cfg.num_issues, 1))  # first call loads (or compiles) the kernel
    return plan


def generate(cfg: GenerateConfig, progress: Progress | None = None) -> Result:
    progress = progress or NullProgress()
    started = time.perf_counter()
    prep = prepare(cfg)
    if not isinstance(cfg.output_dir, Path):  # s3:// destinations go through parts (see commands)
        raise RuntimeError(f"generate() writes to a local directory, not {cfg.output_dir}")
    out = make_directory(cfg)
    with hold(out, f"OUTPUT_DIR={str(out)!r}"):  # runs of parts hold it shared
        replaced = files_to_replace(cfg, out, prep.dataset_id)
        # The kernel's plan before anything in OUTPUT_DIR changes: the space check samples its rows,
        # and an earlier dataset stays until the new one is known to fit beside what it frees.
        t = time.perf_counter()
        plan = kernel_plan(cfg, prep.pack)
        _check_room(cfg, plan, out, 0, cfg.num_issues, freed=_bytes_of(out, replaced))
        phases = {"prepare kernel": time.perf_counter() - t}
        _clear(out, replaced)
        _announce(cfg, progress, f"{out}/")
        return _write_whole(cfg, prep, out, progress, started, plan, phases)


def _bytes_of(out: Path, names: list[str]) -> int:
    total = 0
    for n in names:
        with contextlib.suppress(OSError):
            total += (out / n).stat().st_size
    return total


def _write_whole(cfg: GenerateConfig, prep: Prepared, out: Path, progress: Progress, started: float,
                 plan: KernelPlan, phases: dict[str, float]) -> Result:
    pack, digest, ds_id = prep.pack, prep.digest, prep.dataset_id
    writers = {t: ShardedWriter(out, t, cfg.shard_size) for t in TABLES}
    try:
        t = time.perf_counter()
        _small_tables(cfg, pack, writers, progress)
        phases["small tables"] = time.perf_counter() - t

        t = time.perf_counter()
        _generate_big_tables(cfg, plan, writers, progress, 0, cfg.num_issues)
        phases["issues, comments, labels"] = time.perf_counter() - t

        entries: list[FileEntry] = []
        for table in written_tables(cfg):
            writers[table].finish()
            entries.extend(writers[table].publish())
    except OSError as e:
        for w in writers.values():
            w.abort()
        # Disk full, I/O error, directory removed under us: one line, and no shard left behind.
        raise UserError(f"OUTPUT_DIR={str(out)!r}: writing failed ({e.strerror or e}); nothing was kept") from None
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    manifest = Manifest(dataset_id=ds_id, config=manifest_config(cfg, digest), files=entries,
                        tool_version=__version__)
    write_manifest(out, manifest)
    (out / INCOMPLETE_MARKER).unlink(missing_ok=True)
    return _result(out, manifest, time.perf_counter() - started, phases)


def _result(where: Path | str, manifest: Manifest, elapsed: float, phases: dict[str, float]) -> Result:
    result = Result(where, manifest, elapsed=elapsed, phases=phases)  # type: ignore[arg-type]
    for e in manifest.files:
        s = result.tables.setdefault(e.table, TableStats())
        s.rows += e.rows
        s.shards += 1
        s.bytes += e.bytes
    return result


# ---- one part of a partitioned run ---------------------------------------------------------------

@dataclass
class PartResult:
    spec: PartSpec
    result: Result
    skipped: bool  # already complete: nothing was written


def dataset_manifest(sink: Sink) -> tuple[bool, Manifest | None]:
    """(whether `sink` has a manifest.json, the manifest if it parses)."""
    raw = sink.read(MANIFEST_NAME)
    if raw is None:
        return False, None
    try:
        return True, parse_manifest(raw.decode("utf-8"))
    except (ManifestError, UnicodeDecodeError):
        return True, None


def drop_dataset_manifest(cfg: GenerateConfig, sink: Sink, *, ours: bool = False, parsed: bool = True) -> None:
    """Remove manifest.json/.txt: for our own damaged dataset (`ours`), or another configuration's (or
    one that does not parse: not `parsed`) only with --force (else refused)."""
    if not ours and not cfg.force:
        what = "another configuration's dataset" if parsed else f"a {MANIFEST_NAME} that does not parse"
        raise UserError(f"OUTPUT_DIR={sink.display!r}: holds {what}; use --force to replace it or choose "
                        "another OUTPUT_DIR")
    sink.delete(MANIFEST_NAME)
    sink.delete(MANIFEST_TXT)


def _check_destination(cfg: GenerateConfig, sink: Sink, ds_id: str) -> bool:
    """Refuse another dataset's manifest (unless --force); True if this very dataset is complete."""
    present, old = dataset_manifest(sink)
    if not present:
        return False
    if old is not None and old.dataset_id == ds_id:
        return True
    drop_dataset_manifest(cfg, sink, parsed=old is not None)
    return False


def generate_part(cfg: GenerateConfig, spec: PartSpec, sink: Sink, progress: Progress | None = None,
                  prep: Prepared | None = None) -> PartResult:
    """Write part `spec` of the dataset into `sink`, unless it is already complete there."""
    progress = progress or NullProgress()
    started = time.perf_counter()
    prep = prep or prepare(cfg)
    if _check_destination(cfg, sink, prep.dataset_id):
        return PartResult(spec, _result(sink.display, Manifest(prep.dataset_id, {}, [], __version__), 0.0, {}),
                          True)
    with sink.hold(spec.lock_name, f": part {spec.part} of {spec.parts}"):
        return _write_part(cfg, spec, sink, progress, prep, started)


def _write_part(cfg: GenerateConfig, spec: PartSpec, sink: Sink, progress: Progress, prep: Prepared,
                started: float) -> PartResult:
    i0, i1 = spec.issue_range(cfg.num_issues)
    present = spec.list_own(sink)
    if complete_part(sink, spec, parts_key(cfg, prep), present):
        manifest = read_part(sink, spec.manifest_name).manifest
        return PartResult(spec, _result(sink.display, manifest, 0.0, {}), True)
    # A previous attempt of this part (killed, or another configuration's when forced): its files go.
    sink.delete(spec.manifest_name)
    for name in present:
        sink.delete(name)
    for table in TABLES:
        sink.abort_stale(f"{table}_{(spec.part - 1):0{spec.digits - 4}d}")
    sink.put(INCOMPLETE_MARKER, b"zbugs-synth generate-synthetic is writing here\n")

    tables = [t for t in written_tables(cfg) if spec.first or t not in SMALL_TABLES]
    writers = {t: ShardedWriter(None, t, cfg.shard_size, sink=sink,
                                name_of=lambda i, t=t: spec.shard_name(t, i)) for t in TABLES}
    phases: dict[str, float] = {}
    try:
        t = time.perf_counter()
        projects, label_ids = _small_tables(cfg, prep.pack, writers if spec.first else None, progress)
        plan = _kernel_plan(cfg, prep.pack, projects, label_ids)
        if isinstance(sink, LocalSink):  # object storage: no disk of ours to fill
            _check_room(cfg, plan, sink.directory, i0, i1, f"part {spec.part} of {spec.parts}")
        phases["prepare"] = time.perf_counter() - t
        t = time.perf_counter()
        _generate_big_tables(cfg, plan, writers, progress, i0, i1)
        phases["issues, comments, labels"] = time.perf_counter() - t
        # Every row is made, but on S3 each table's last parts may still be on their way: their own bar,
        # so that nothing says "done" while uploads are still running.
        unsent = sum(writers[table].unsent() for table in tables)
        uploads = progress.task("upload", unsent, unit="bytes") if unsent else None
        entries: list[FileEntry] = []
        for table in tables:
            writers[table].finish(uploads.advance if uploads else None)
            entries.extend(writers[table].publish())
        if uploads:
            uploads.done()
    except OSError as e:
        for w in writers.values():
            w.abort()
        raise UserError(f"OUTPUT_DIR={sink.display!r}: writing part {spec.part} failed ({e.strerror or e})") from None
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    manifest = part_manifest(Manifest(dataset_id=prep.dataset_id, config=manifest_config(cfg, prep.digest),
                                      files=entries, tool_version=__version__), spec, (i0, i1))
    sink.put(spec.manifest_name, manifest.to_json().encode())  # last: the part is complete from here
    return PartResult(spec, _result(sink.display, manifest, time.perf_counter() - started, phases), False)


def small_tables(cfg: GenerateConfig, pack: TemplatePack, sinks: Mapping[str, TableSink]) -> None:
    """Only the small tables (users, projects, labels, userPref) into `sinks`: what write_tables writes
    before the kernel runs."""
    _small_tables(cfg, pack, sinks, NullProgress())  # type: ignore[arg-type]


def kernel_plan(cfg: GenerateConfig, pack: TemplatePack) -> KernelPlan:
    """The kernel's plan of `cfg` (what write_tables makes after the small tables), without writing them:
    the label ids without the label rows' text, which the small tables' writing makes anyway."""
    projects = plan_projects(pack, cfg.num_projects, cfg.seed)
    return _kernel_plan(cfg, pack, projects, label_ids(projects, pack, cfg.seed, LABEL_TABLE_MAX))


def write_tables(cfg: GenerateConfig, pack: TemplatePack, sinks: Mapping[str, TableSink], progress: Progress,
                 phases: dict[str, float], part: PartSpec | None = None, plan: KernelPlan | None = None,
                 stop: threading.Event | None = None) -> None:
    """Generate every table of `cfg` into `sinks` (one per table of `written_tables(cfg)`):
    db-seed-synthetic --generate's COPY streams (zbugs_synth.generate.sinks says what a sink is).
    With `part`, only that part's rows (its issues; the small tables with part 1): a cluster load's task.

    The small tables are finished as soon as they are written (a COPY sink commits them then); the
    big ones, generated together chunk by chunk, at the end. The caller aborts the sinks on error.
    `plan`: kernel_plan(cfg, pack) if the caller made it already (it takes ~1 s per million issues).
    `stop`: once set, the next chunk raises Cancelled instead (the load stops: see db/load/pool.py).
    """
    t = time.perf_counter()
    small = part is None or part.first
    projects, label_ids = _small_tables(cfg, pack, sinks if small else None, progress)  # type: ignore[arg-type]
    written = written_tables(cfg)
    for table in SMALL_TABLES if small else ():
        if table in written:
            sinks[table].finish()
    phases["small tables"] = time.perf_counter() - t
    t = time.perf_counter()
    if plan is None:
        plan = _kernel_plan(cfg, pack, projects, label_ids)
    phases["prepare kernel"] = time.perf_counter() - t
    t = time.perf_counter()
    i0, i1 = part.issue_range(cfg.num_issues) if part is not None else (0, cfg.num_issues)
    _generate_big_tables(cfg, plan, sinks, progress, i0, i1, stop)  # type: ignore[arg-type]
    phases["issues, comments, labels"] = time.perf_counter() - t
    for table in written:
        if table not in SMALL_TABLES:
            sinks[table].finish()


def _generate_big_tables(cfg: GenerateConfig, plan: KernelPlan, writers: dict[str, ShardedWriter],
                         progress: Progress, first: int, end: int, stop: threading.Event | None = None) -> None:
    """Issues [first, end) with their comments and issue labels; Cancelled once `stop` is set (this
    may run on a thread of its own, where Ctrl-C does not reach: 100 M issues take an hour)."""
    exp_comments, exp_labels = plan.expected_rows()
    share = (end - first) / max(cfg.num_issues, 1)
    tasks = {"issue": progress.task("issue", end - first),
             "comment": progress.task("comment", round(exp_comments * share)),
             "issueLabel": progress.task("issueLabel", round(exp_labels * share))}
    if cfg.all_tables:
        n = end - first
        tasks["emoji"] = progress.task("emoji", round(n * (cfg.emoji_per_issue + cfg.comments_per_issue
                                                                * cfg.emoji_per_comment)))
        tasks["issueNotifications"] = progress.task("issueNotifications", round(n * (1.5 + cfg.comments_per_issue / 2)))
        tasks["viewState"] = progress.task("viewState", round(n * (1.5 + cfg.comments_per_issue / 2
                                                                    + cfg.viewers_per_issue)))
    workers = cfg.resolved_workers()
    # Bounded: memory stays flat whatever NUM_ISSUES is, and more threads than cores would only
    # hold more chunk buffers (each tens of MB) without generating any faster.
    workers = min(workers, usable_cpus())
    in_flight = workers + 2
    free: queue.SimpleQueue[Buffers] = queue.SimpleQueue()
    for _ in range(in_flight):
        free.put(Buffers())

    def run_chunk(i0: int, i1: int) -> Chunk:
        return plan.run(i0, i1, free.get())

    def write(c: Chunk) -> None:
        if stop is not None and stop.is_set():
            raise Cancelled(f"generating issues [{first:,}, {end:,})")
        lease = Lease(lambda: free.put(c.buffers))  # back to the free list once every sink is done with it
        try:
            _write_chunk(c, writers, tasks, lease)
        finally:
            lease.release()

    pending: deque[Future[Chunk]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zbugs-gen") as pool:
        try:
            for a, b in chunk_ranges(end - first, CHUNK_ISSUES):
                pending.append(pool.submit(run_chunk, first + a, first + b))
                if len(pending) >= in_flight:
                    write(pending.popleft().result())
            while pending:
                write(pending.popleft().result())
        except BaseException:
            for f in pending:
                f.cancel()
            raise
    for task in tasks.values():
        task.done()


def _write_chunk(c: Chunk, writers: Mapping[str, TableSink], tasks: dict[str, Any], lease: Lease) -> None:
    b = c.buffers
    parts = [("issue", b.issue, b.issue_ends, c.i1 - c.i0), ("comment", b.comment, b.comment_ends, c.n_comments),
             ("issueLabel", b.label, b.label_ends, c.n_labels)]
    if "emoji" in tasks:
        parts += [("emoji", b.emoji, b.emoji_ends, c.n_emoji),
                  ("issueNotifications", b.notify, b.notify_ends, c.n_notify),
                  ("viewState", b.view, b.view_ends, c.n_view)]
    for table, data, ends, n in parts:
        writers[table].write_rows(data, ends, n, lease)
        tasks[table].advance(n)

