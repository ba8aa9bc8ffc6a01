"""Settings of `db-seed-synthetic` (light to import: the CLI builds its --help from these)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from zbugs_synth.config import ParseError, boolean, choice, integer, path_value, setting
from zbugs_synth.db.connect import DbConfig

# The generator's default OUTPUT_DIR (zbugs_synth.generate.config.DEFAULT_OUTPUT_DIR, not imported
# here because that module pulls in numpy; a test keeps the two equal).
DEFAULT_DATA_DIR = Path("db/seed-data/synthetic/")

_MEMORY = re.compile(r"^\s*\d+\s*(kB|MB|GB|TB)?\s*$")


def memory_value(text: str) -> str:
    if not _MEMORY.match(text):
        raise ParseError("expected a PostgreSQL memory size such as 256MB or 2GB")
    return text.strip()


@dataclass(frozen=True)
class SeedConfig(DbConfig):
    seed_dir: Path = setting(DEFAULT_DATA_DIR, env="ZERO_SEED_DATA_DIR", flag="--seed-data-dir", parse=path_value,
                             help="dataset directory to load (CSV shards, with or without manifest.json)")
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
    maintenance_work_mem: str = setting("2GB", env="ZERO_SEED_MAINTENANCE_WORK_MEM", flag="--maintenance-work-mem",
                                        parse=memory_value, help="maintenance_work_mem of every loader session")
    work_mem: str = setting("256MB", env="ZERO_SEED_WORK_MEM", flag="--work-mem", parse=memory_value,
                            help="work_mem of every loader session")
    checksums: bool = setting(True, env="ZERO_SEED_CHECKSUMS", parse=boolean,
                              help="check every file against manifest.json's checksum before loading")

    @property
    def mode(self) -> str:
        return "force" if self.force else "append" if self.append else "seed"


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
    autovacuum_off: bool = setting(True, env="ZBUGS_SEED_AUTOVACUUM_OFF", parse=boolean,
                                   help="turn autovacuum off on the loaded tables while loading")
