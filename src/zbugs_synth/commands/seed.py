"""`db-seed-synthetic`: bulk-load a dataset directory into the zbugs database (guide step 4)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from typing import TYPE_CHECKING

from zbugs_synth.commands import add_progress_flag
from zbugs_synth.config import add_arguments, build, settings_of
from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.config.seed import SeedConfig
from zbugs_synth.errors import UserError

if TYPE_CHECKING:
    from zbugs_synth.config.seed import Tuning
    from zbugs_synth.db.load.loader import SeedResult

# generate-synthetic settings about where its files go and how the work is split: none changes the rows.
GENERATE_ONLY = ("output_dir", "shard_size", "force", "part", "endpoint_url", "skip_space_check")

DESCRIPTION = """\
Load the CSV shards of a dataset directory (written by generate-synthetic or get-data, or by the
original tool) into the zbugs database with COPY. Without manifest.json, manifest.txt (if present)
names the files to load: a listed file that is missing, or a CSV it does not list, is refused.
Bulk loading is the only mode (ZERO_SEED_BULK is accepted and ignored): every session sets
maintenance_work_mem and work_mem. A seed or force load disables user triggers and drops foreign
keys, indexes and primary keys (their definitions and each table's replica identity saved in the
database first); shards are copied over several connections; indexes are rebuilt in parallel,
foreign keys re-validated, triggers and replica identities restored, tables analyzed.

An append (ZERO_SEED_APPEND) changes no schema: keys, indexes and foreign keys stay, triggers are
silenced per session (session_replication_role = replica; without the right to set it, ALTER TABLE
... DISABLE TRIGGER USER, said), each shard's references are checked before its rows go in; a
running zero-cache sees inserts only. ZERO_SEED_INDEXES chooses otherwise for big batches.

A logical replication slot means a zero-cache: an active one makes seed, force and reset refuse
(stop zero-cache first; ZERO_SEED_IGNORE_ACTIVE_SLOT=true loads anyway), an inactive one is reported
with the WAL the load will keep on disk for it.

Memory: the guide's maintenance_work_mem of 2GB is the budget of the whole load, shared by the
connections that build indexes at once: each gets 2GB / jobs (at least 64MB), e.g. 1GB with 2
jobs, 128MB with 16. Index builds sort with 16MB (ZBUGS_SEED_INDEX_SORT_MEM) and foreign key
checks hash or sort with 64MB (ZBUGS_SEED_FK_SORT_MEM): in pieces that fit the CPU caches, then
merged, which measured faster than one big sort or hash in memory. Setting
ZERO_SEED_MAINTENANCE_WORK_MEM (--maintenance-work-mem) gives every connection exactly that value
for everything instead (the server may then be asked for jobs times as much).

With --generate there is no dataset directory: the rows are generated on the fly (settings as
generate-synthetic's: NUM_ISSUES, SEED, SKIP_USERS, TEMPLATES_DIR, ...) and streamed into COPY, one
transaction per table; they are exactly the rows of the CSVs generate-synthetic writes for the
same settings, and loading those CSVs afterwards counts as already loaded (same dataset id).
With --generate --scheduler ADDRESS (DASK_SCHEDULER_ADDRESS) [--parts N] the parts are tasks on
that Dask cluster, each COPYing its rows straight into the database in one transaction with its
record (the workers must reach the database; the URL travels in the tasks, never shown); this
command does the steps before and after the COPY once. A part is then the unit of resumption.

A load that is killed or interrupted is resumed by running the same command again (with
--generate: tables already committed are not sent again; the unit of resumption is a table). A CSV the
server rejects stops the load and undoes it (the message names file and line; in an append also a
duplicate key or a reference to nothing). An index or foreign key the data does not allow (a
duplicate, an orphan row) stops a seed resumable: fix the rows and run again, or set
ZERO_SEED_RESET=true to undo it (an append's rows are found again by the keys its files hold;
reset also repairs a replica identity left naming a dropped index).
"""

EPILOG = """\
more settings (environment only):
  ZERO_SEED_CHECKSUMS=false        skip checking files against manifest.json's checksums
  ZBUGS_SEED_FREEZE_MAX_BYTES=N    seed/force: a table of at most N bytes (default 2 GiB) is loaded in
                                   one transaction with TRUNCATE + COPY FREEZE (no later hint-bit
                                   writes or freezing vacuum); bigger tables commit shard by shard
  ZERO_SEED_GENERATE=true          the same as --generate
  ZBUGS_SEED_WAL_MINIMAL=false     seed/force into the local server (db-up's; not ZERO_UPSTREAM_DB) with
                                   no replication slot: do NOT restart it at wal_level=minimal for the load
                                   (by default it is, so rows and indexes are written once, without WAL,
                                   each table in the transaction that truncates it; it goes back to
                                   logical at the end, and a killed load's next command puts it back)
  ZBUGS_SEED_TOAST_COMPRESS=true   a WAL-free load compresses long texts as PostgreSQL does by default
                                   (by default it stores rows of up to 8 kB as written: less CPU, a
                                   database ~2.6 % bigger)
  ZBUGS_SEED_COPY_FORMAT=csv       --generate: send the rows to COPY as CSV (default auto: binary when
                                   the C encoder is built)
  ZBUGS_SEED_INDEX_SORT_MEM=16MB   maintenance_work_mem of an index build; ZBUGS_SEED_FK_SORT_MEM=64MB:
                                   of a foreign key check (unless ZERO_SEED_MAINTENANCE_WORK_MEM is set)
  ZBUGS_SEED_DROP_PKEYS=false      keep primary keys during the load (slower: random-key inserts)
  ZBUGS_SEED_FK_MODE=add           add foreign keys one by one instead of NOT VALID + parallel VALIDATE
  ZBUGS_SEED_PARALLEL_WORKERS=N    max_parallel_maintenance_workers per session (default: leftover
                                   cores per connection, 0 when every core has a connection)
  ZBUGS_SEED_AUTOVACUUM_OFF=false  leave autovacuum on for the loaded tables while loading
  ZBUGS_SEED_TIMELINE=1            after the summary, when each copy, ANALYZE, index build and foreign
                                   key check started and how long it took

exit status: 0 loaded (or this very dataset was already loaded: nothing done, a message says so; or
reset done); 2 refused before loading (bad setting, bad or incomplete dataset, a plain seed into a
database holding other data: set ZERO_SEED_FORCE=true to replace it or ZERO_SEED_APPEND=true to add
to it, an append whose dataset or SEED is already loaded, a SKIP_USERS batch whose users are not in
the database, a CSV error: the load was undone, though a force load's emptied tables stay empty), 3
the load stopped and stays open in the database (an index or foreign key could not be rebuilt, or
the connection was lost): fix the cause (the rows in the database, not the files) and run the same
command again (a full disk: free space first); 130 interrupted (Ctrl-C), 143 and 129 the same for
SIGTERM and SIGHUP: if the load had started, it is open: run the same command again to resume it,
or set ZERO_SEED_RESET=true to undo it.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db-seed-synthetic", help="bulk-load a dataset directory into PostgreSQL (COPY)",
                       description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p, SeedConfig)
    # With --generate, the dataset is generate-synthetic's: the same variables and flags (but where its
    # files would go and how they are split, which do not change the rows).
    gen = p.add_argument_group("generator settings (with --generate; as generate-synthetic's)")
    add_arguments(gen, GenerateConfig, exclude=GENERATE_ONLY)
    add_progress_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from zbugs_synth.config.seed import Tuning

    cfg = build(SeedConfig, args)
    _refuse_ignored_flags(args, cfg)
    # Where generate-synthetic's files would go and how they would be split do not change the rows:
    # not read here (a value only that command uses is not refused here either).
    unused = {f.name: f.default for f in dataclasses.fields(GenerateConfig) if f.name in GENERATE_ONLY}
    generator = build(GenerateConfig, args, **unused) if cfg.generate and not cfg.reset else None
    return load(cfg, build(Tuning, None), args.progress, command=args.command, generator=generator)


def _refuse_ignored_flags(args: argparse.Namespace, cfg: SeedConfig) -> None:
    """A flag typed on the command line that this run would not use is refused, not dropped. (The same
    settings as environment variables are left alone: one shell or .env serves both kinds of load.) A
    reset undoes the open load whatever else is set: the hints say to add ZERO_SEED_RESET=true to the
    command that stopped, so only --reset typed beside --force or --append is refused here (with no
    open load to undo, the loader refuses the pair however it is set: Loader.reset)."""
    if args.cfg_reset is not None and (args.cfg_force is not None or args.cfg_append is not None):
        raise UserError(f"--reset and {'--force' if args.cfg_force is not None else '--append'}: choose one "
                        "(--reset undoes an interrupted load and loads nothing)")
    if cfg.reset:
        return
    seed_fields = {name for name, _ in settings_of(SeedConfig)}
    given = [s.flag for name, s in settings_of(GenerateConfig)
             if s.flag and name not in GENERATE_ONLY and name not in seed_fields
             and getattr(args, f"cfg_{name}", None) is not None]
    if given and not cfg.generate:
        raise UserError(f"{given[0]}: a generator setting, used only with --generate (ZERO_SEED_GENERATE=true); "
                        "without it the rows are read from ZERO_SEED_DATA_DIR")
    if cfg.generate and getattr(args, "cfg_seed_dir", None) is not None:
        raise UserError("--seed-data-dir: not with --generate (the rows are generated, no directory is read)")


def load(cfg: SeedConfig, tuning: Tuning, progress_mode: str, *, command: str = "db-seed-synthetic",
         generator: GenerateConfig | None = None) -> int:
    """db-seed-synthetic with explicit settings (quickstart calls this too)."""
    from zbugs_synth.db.load.loader import LoadInterrupted, seed
    from zbugs_synth.interrupts import describe, exit_code, say_stopped
    from zbugs_synth.progress import NullProgress, make_progress

    # psycopg warns about COPY streams cut short when the server goes away; our own message says it.
    logging.getLogger("psycopg").setLevel(logging.ERROR)
    progress = make_progress(progress_mode)

    def say(message: str) -> None:  # errors and notes show even with --progress none
        if isinstance(progress, NullProgress):
            print(message, file=sys.stderr, flush=True)
        else:
            progress.log(message)

    source = None
    if generator is not None:  # --generate: these settings say which dataset
        from zbugs_synth.db.load.stream import GeneratedSource

        if generator.scheduler or generator.parts:  # the parts as Dask tasks (db/load/cluster_load.py)
            from zbugs_synth.db.load.cluster_load import ClusterSource

            source = ClusterSource(generator, tuning.copy_format)
        else:
            source = GeneratedSource(generator, tuning.copy_format)
    try:
        try:
            result = seed(cfg, tuning, progress, say=say, source=source)
        finally:
            progress.close()
    except LoadInterrupted as e:
        # Ctrl-C (or a stop signal) once the schema objects were dropped: the database is mid-load, say
        # how to get out.
        say_stopped(f"zbugs-synth {command}: {describe(e)}")
        say_stopped(f"zbugs-synth {command}: {e}")
        return exit_code(e)
    for note in result.notes:
        print(note)
    if result.status == "loaded":
        _summary(result)
        if tuning.timeline:
            print_timeline(result.job_times)
    return 0


def _sort_mems(r: SeedResult) -> str:
    """ "(8MB for index builds, 64MB for foreign key checks)": the smaller memories, where they differ."""
    parts = [f"{mem} for {what}" for mem, what in ((r.index_mem, "index builds"), (r.fk_mem, "foreign key checks"))
             if mem and mem != r.maintenance_work_mem]
    if r.index_mem and r.index_mem == r.fk_mem and len(parts) == 2:
        parts = [f"{r.index_mem} for index builds and foreign key checks"]
    return f" ({', '.join(parts)})" if parts else ""


def _summary(r: SeedResult) -> None:
    out = sys.stdout
    total = sum(r.rows.values())
    verb = "resumed and finished" if r.resumed else "loaded"
    print(f"{verb} {r.source} (dataset {r.dataset_id}, mode {r.mode}) with {r.jobs} connection(s), "
          f"maintenance_work_mem {r.maintenance_work_mem} each"
          + _sort_mems(r),
          file=out)
    width = max(len(t) for t in [*r.rows, "total"]) + 2
    print(f"{'table':<{width}}{'rows':>14}", file=out)
    for table, n in r.rows.items():
        print(f"{table:<{width}}{n:>14,}", file=out)
    copied = total - r.rows_before  # a resume's rate counts what it copied, not what was there
    rate = copied / r.elapsed if r.elapsed else 0.0
    this_run = f", {copied:,} of them copied by this run" if r.resumed else ""
    print(f"{'total':<{width}}{total:>14,}   in {r.elapsed:.1f}s ({rate:,.0f} rows/s{this_run})", file=out)
    phases = ", ".join(f"{name} {secs:.1f}s" for name, secs in r.phases.items())
    print(f"phases: {phases}", file=out)
    print("(phases overlap: a table's indexes start as soon as its last shard is in, and its foreign keys to a "
          "small table that no index covers are checked right after them)", file=out)


def print_timeline(job_times: list[tuple[str, float, float]], min_secs: float = 0.0) -> None:
    """Each job's start (seconds into the load) and duration, in start order: where the time went
    (ZBUGS_SEED_TIMELINE; bench/bench_seed.py prints the jobs of `min_secs` or more)."""
    print("timeline (start, duration, job):")
    for key, start, secs in sorted(job_times, key=lambda j: j[1]):
        if secs >= min_secs:
            print(f"  {start:7.1f}s +{secs:6.1f}s  {key}")
