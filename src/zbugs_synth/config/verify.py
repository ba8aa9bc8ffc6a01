"""Settings of `verify`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zbugs_synth.config import integer, number, optional_path, setting
from zbugs_synth.config.database import DbConfig


@dataclass(frozen=True)
class VerifyConfig(DbConfig):
    statement_timeout: float = setting(
        3600.0, env="VERIFY_STATEMENT_TIMEOUT", flag="--statement-timeout", parse=number(0.0, 7 * 86400.0),
        help="time limit for each SQL statement, in seconds (0: no limit); a check that hits it FAILs")
    samples: int = setting(5, env="VERIFY_SAMPLES", flag="--samples", parse=integer(0, 1000),
                           help="example rows shown per failing check")
    report: Path | None = setting(None, env=None, flag="--report", parse=optional_path,
                                  help="also write a self-contained HTML report with charts to this file")
