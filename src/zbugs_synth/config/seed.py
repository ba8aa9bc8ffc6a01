"""Settings of `db-seed-synthetic` (light to import: the CLI builds its --help from these)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from zbugs_synth.config import ParseError, boolean, choice, integer, looks_like_url, path_value, setting
from zbugs_synth.config.remote import DATA_URL_FORMS, data_url, endpoint
from zbugs_synth.db.connect import DbConfig

# The generator's default OUTPUT_DIR (zbugs_synth.config.generate.DEFAULT_OUTPUT_DIR, not imported
# here because that module pulls in numpy; a test keeps the two equal).
DEFAULT_DATA_DIR = Path("db/seed-data/synthetic/")

_MEMORY = re.compile(r"^\s*(\d+)\s*(kB|MB|GB|TB)?\s*$")
_KB = {"kB": 1, "MB": 1 << 10, "GB": 1 << 20, "TB": 1 << 30}

# The guide's 2GB maintenance_work_mem is what the whole load may use: with N connections at work
# at once, each gets 2GB / N (never under 64MB: the foreign key checks hash with that much, and the
# control connection's DDL runs with the share). Index builds and checks use less of it (Tuning).
# 16 connections at 2GB each would ask a server for 32GB.
MAINTENANCE_BUDGET_KB = 2 << 20
MAINTENANCE_FLOOR_KB = 64 << 10


def seed_location(text: str) -> Path | str:
    """A dataset directory, or an s3:// or http(s):// prefix read without a local copy (kept as text)."""
    if "://" not in text:
        if looks_like_url(text):  # s3:/bucket/x: a URL with a slash missing, not a directory "s3:"
            raise ParseError(f"expected a directory, {DATA_URL_FORMS}")
        return path_value(text)
    try:
        return data_url(text)
    except ParseError:
        raise ParseError(f"expected a directory, {DATA_URL_FORMS}") from None


def memory_value(text: str) -> str:
    if not _MEMORY.match(text):
        raise ParseError("expected a PostgreSQL memory size such as 256MB or 2GB")
    return text.strip()


def memory_kb(text: str) -> int:
    """A memory size as PostgreSQL reads it (no unit: kB) in kB."""
    m = _MEMORY.match(text)
    if not m:
        raise ValueError(f"not a memory size: {text!r}")
    return int(m.group(1)) * _KB[m.group(2) or "kB"]


def memory_text(kb: int) -> str:
    """kB as the largest whole unit: 1048576 -> '1GB' (what SHOW prints too)."""
    for unit in ("TB", "GB", "MB"):
        if kb and kb % _KB[unit] == 0:
            return f"{kb // _KB[unit]}{unit}"
    return f"{kb}kB"


def maintenance_per_session(explicit: str | None, jobs: int) -> str:
    """maintenance_work_mem for each of `jobs` loader connections: the user's value as given, else
    the 2GB budget shared by the connections (at least 64MB each)."""
    if explicit is not None:
        return explicit
    return memory_text(max(MAINTENANCE_FLOOR_KB, MAINTENANCE_BUDGET_KB // max(jobs, 1)))


@dataclass(frozen=True)
class SeedConfig(DbConfig):
    seed_dir: Path | str = setting(DEFAULT_DATA_DIR, env="ZERO_SEED_DATA_DIR", flag="--seed-data-dir",
                                   parse=seed_location, secret=True,
                                   help="dataset directory to load (CSV shards; manifest.json, else manifest.txt, "
                                        "if there, says which), or s3://bucket/prefix/ or https://host/prefix/ "
                                        "to stream it from object storage, verified, without a local copy "
                                        f"(default: {DEFAULT_DATA_DIR})")
    endpoint_url: str | None = setting(None, env="AWS_ENDPOINT_URL", flag="--endpoint-url", parse=endpoint,
                                       secret=True, help="S3 API endpoint of an S3-compatible store "
                                                         "(with an s3:// ZERO_SEED_DATA_DIR)")
    force: bool = setting(False, env="ZERO_SEED_FORCE", flag="--force", parse=boolean,
                          help="empty the zbugs tables first, then load (as into a freshly migrated database)")
    append: bool = setting(False, env="ZERO_SEED_APPEND", flag="--append", parse=boolean,
                           help="add this dataset to the data already there (batch workflow)")
    reset: bool = setting(False, env="ZERO_SEED_RESET", flag="--reset", parse=boolean,
                          help="undo an interrupted load (remove its rows, restore every index, foreign key "
                               "and trigger) and forget it; loads nothing")
    bulk: bool = setting(True, env="ZERO_SEED_BULK", flag="--bulk", parse=boolean,
                         help="accepted for compatibility: bulk loading is this command's only mode")
    jobs: int = setting(0, env="ZERO_SEED_JOBS", flag="--jobs", parse=integer(0, 256),
                        help="connections working in parallel (0: the database server's CPU cores)")
    maintenance_work_mem: str | None = setting(
        None, env="ZERO_SEED_MAINTENANCE_WORK_MEM", flag="--maintenance-work-mem", parse=memory_value,
        help="maintenance_work_mem of each loader connection (default: 2GB in total, shared by the connections "
             "that build indexes at once: 2GB / jobs, at least 64MB each, e.g. 1GB with 2 jobs, 128MB with 16; "
             "a value given here is used as it is by every connection, so the total is jobs times it)")
    work_mem: str = setting("256MB", env="ZERO_SEED_WORK_MEM", flag="--work-mem", parse=memory_value,
                            help="work_mem of every loader session")
    indexes: str = setting("auto", env="ZERO_SEED_INDEXES", flag="--indexes",
                           parse=choice("auto", "keep", "rebuild", "full"),
                           help="append: keep every index, key and foreign key (no DDL; the rows are checked and "
                                "indexed as they go in), rebuild only the secondary indexes after the copy, or "
                                "full: drop and rebuild everything as a seed does (fastest for a batch as big as "
                                "the data); auto: keep, or full when the batch adds at least a fifth of the issues "
                                "there and at least 50,000. Nothing is rebuilt while a logical replication slot "
                                "(zero-cache) is active")
    ignore_active_slot: bool = setting(
        False, env="ZERO_SEED_IGNORE_ACTIVE_SLOT", flag="--ignore-active-slot", parse=boolean,
        help="seed/force/reset even though a logical replication slot is active (a running zero-cache: stop "
             "it instead, it resyncs on start)")
    generate: bool = setting(False, env="ZERO_SEED_GENERATE", flag="--generate", parse=boolean,
                             help="generate the dataset on the fly and stream it into COPY (no CSV on disk); the "
                                  "generator's settings (NUM_ISSUES, SEED, SKIP_USERS, TEMPLATES_DIR, ...) say which")
    skip_space_check: bool = setting(False, env="ZBUGS_SKIP_SPACE_CHECK", flag="--skip-space-check",
                                     parse=boolean, help="load even if the rows and indexes look too big for the "
                                                         "free space of the local server's disk (estimated before "
                                                         "loading; an external server's disk is not checked)")
    checksums: bool = setting(True, env="ZERO_SEED_CHECKSUMS", parse=boolean,
                              help="check every file against manifest.json's checksum before loading")

    @property
    def mode(self) -> str:
        return "force" if self.force else "append" if self.append else "seed"


INDEX_SORT_MEM = "16MB"  # Tuning.index_sort_mem


@dataclass(frozen=True)
class Tuning:
    """Knobs measured by bench/bench_seed.py (environment only; the defaults are the measured winners)."""

    drop_primary_keys: bool = setting(True, env="ZBUGS_SEED_DROP_PKEYS", parse=boolean,
                                      help="drop primary keys too and rebuild them with one sorted build")
    fk_mode: str = setting("validate", env="ZBUGS_SEED_FK_MODE", parse=choice("validate", "add"),
                           help="validate: add NOT VALID, then VALIDATE in parallel; add: plain ADD, one by one")
    parallel_workers: int = setting(-1, env="ZBUGS_SEED_PARALLEL_WORKERS", parse=integer(-1, 64),
                                    help="max_parallel_maintenance_workers per session (-1: cores per connection "
                                         "minus one, i.e. 0 when every core has a connection)")
    freeze_max_bytes: int = setting(2 << 30, env="ZBUGS_SEED_FREEZE_MAX_BYTES", parse=integer(0, 1 << 50),
                                    help="seed/force: load a table of at most this many bytes in one transaction "
                                         "with TRUNCATE + COPY FREEZE (0: never)")
    wal_minimal: bool = setting(True, env="ZBUGS_SEED_WAL_MINIMAL", parse=boolean,
                                help="seed/force into the local server (db-up's, no replication slot): restart it "
                                     "at wal_level=minimal for the load, back to logical at the end")
    toast_compress: bool = setting(False, env="ZBUGS_SEED_TOAST_COMPRESS", parse=boolean,
                                   help="a WAL-free load (ZBUGS_SEED_WAL_MINIMAL) compresses long texts as "
                                        "PostgreSQL does by default; false stores rows up to 8 kB as written: "
                                        "~2.5 CPU-s less per million issues, the database ~2.6 % bigger")
    autovacuum_off: bool = setting(True, env="ZBUGS_SEED_AUTOVACUUM_OFF", parse=boolean,
                                   help="turn autovacuum off on the loaded tables while loading")
    index_sort_mem: str = setting(INDEX_SORT_MEM, env="ZBUGS_SEED_INDEX_SORT_MEM", parse=memory_value,
                                  help="maintenance_work_mem of an index build when ZERO_SEED_MAINTENANCE_WORK_MEM "
                                       "is not set (at most the connection's share of the budget): the sort runs "
                                       "in pieces that stay in the CPU caches and merges them, which measured "
                                       "faster than bigger pieces (see README, Performance)")
    fk_sort_mem: str = setting("64MB", env="ZBUGS_SEED_FK_SORT_MEM", parse=memory_value,
                               help="the same for a foreign key check, whose anti-join hashes or sorts with it "
                                    "(10M issues, the seven checks: 31 s at 64MB, 38 at 1GB)")
    copy_format: str = setting("auto", env="ZBUGS_SEED_COPY_FORMAT", parse=choice("auto", "binary", "csv"),
                               help="--generate: the format the rows stream to COPY in (auto: binary when the C "
                                    "encoder is built; the server reads binary with ~0.6x the CPU of CSV)")
    timeline: bool = setting(False, env="ZBUGS_SEED_TIMELINE", parse=boolean,
                             help="after the summary, print when each copy, index build, foreign key check "
                                  "and ANALYZE started and how long it took")
